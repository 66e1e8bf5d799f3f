#!/usr/bin/env bash
# Make the image's base root file system with mmdebstrap and import it into podman (no registry needed).
#   deploy/container/base.sh      prints the base image reference, e.g. localhost/alpr-debian:bookworm-1a2b3c4d5e6f
# Pinned by suite: Debian 12 "bookworm", the release of the machines that build and test it (Python 3.11).
# The tarball is cached under .cache/deploy/ keyed on this script and the apt sources it was made from, so
# a rerun imports nothing new; edit this file (or the sources) to rebuild it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${ALPR_DEPLOY_CACHE:-$root/.cache/deploy}"
suite=bookworm
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

# The host's own apt sources (whatever mirror or proxy it is set up with); mmdebstrap reads them as files.
mapfile -t sources < <(find /etc/apt/sources.list /etc/apt/sources.list.d -maxdepth 1 -type f \
  \( -name '*.list' -o -name '*.sources' \) -size +0 2>/dev/null | sort)
[ ${#sources[@]} -gt 0 ] || { echo "base.sh: no apt sources found under /etc/apt" >&2; exit 1; }

key="$(cat "$here/base.sh" "${sources[@]}" | sha256sum | cut -c1-12)"
image="localhost/alpr-debian:$suite-$key"
tarball="$cache/base-$suite-$key.tar"

mkdir -p "$cache"
exec 9>"$cache/base.lock"
flock 9

if ! podman image exists "$image"; then
  if [ ! -s "$tarball" ]; then
    # python3 (3.11) and ca-certificates (Kafka TLS against the system trust store) at run time; python3-venv
    # to build the virtual environment; tzdata for zoneinfo. No docs, man pages or locales. The merged-usr
    # hook makes the merged /usr layout itself; otherwise the usrmerge package comes in and brings all of
    # Perl (about 47 MB) with it.
    SOURCE_DATE_EPOCH=0 mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --include=python3,python3-venv,ca-certificates,tzdata \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --aptopt='APT::Install-Recommends "false"' \
      "$suite" "$tarball.tmp" "${sources[@]}" >"$cache/base.log" 2>&1 \
      || { tail -n 40 "$cache/base.log" >&2; echo "base.sh: mmdebstrap failed (log: $cache/base.log)" >&2; exit 1; }
    mv "$tarball.tmp" "$tarball"
    # Older tarballs of this base are dead weight.
    find "$cache" -maxdepth 1 -name "base-$suite-*.tar" ! -name "base-$suite-$key.tar" -delete
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'CMD ["/usr/bin/python3"]' \
    --change 'LABEL org.opencontainers.image.title=alpr-debian' "$tarball" "$image" >/dev/null
  # Superseded bases: only those older than six hours, so another checkout's build is never pulled from under it.
  podman image prune --all --force --filter label=org.opencontainers.image.title=alpr-debian --filter until=6h \
    >/dev/null 2>&1 || true
fi
echo "$image"
