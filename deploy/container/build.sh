#!/usr/bin/env bash
# Build the alpr-monitor image with podman; prints its reference (localhost/alpr-monitor:<version>-<key>) and
# also tags it <version> (localhost/alpr-monitor:0.1.0, the name compose and the chart use).
#   deploy/container/build.sh
# No registry is needed: the base comes from base.sh (mmdebstrap, cached), the wheels are built here on the
# host, and the build itself runs without network. The tag carries a key of everything that goes into the
# image (sources, pyproject, Containerfile, base), so an unchanged tree is not rebuilt.
# Env: ALPR_IMAGE (repository, default localhost/alpr-monitor), CONTAINERS_CONF (default: containers.conf here).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${ALPR_DEPLOY_CACHE:-$root/.cache/deploy}"
repository="${ALPR_IMAGE:-localhost/alpr-monitor}"
python="${PYTHON:-$root/.venv/bin/python}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

base="$("$here/base.sh")"
version="$("$python" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
  "$root/pyproject.toml")"
key="$(
  cd "$root"
  { echo "$base"; find monitor streams cli -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z \
      | xargs -0 sha256sum; sha256sum pyproject.toml README.md LICENSE "$here/Containerfile"; } | sha256sum | cut -c1-12
)"
image="$repository:$version-$key"

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if podman image exists "$image"; then
  podman tag "$image" "$repository:$version"
  echo "$image"
  exit 0
fi

context="$(mktemp -d "$cache/context.XXXXXX")"
trap 'rm -rf "$context"' EXIT
# The project and its dependencies as wheels for the base's Python (the same 3.11 as this machine's).
"$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$context/wheels" "$root" >&2
podman build --quiet --network=none --pull=never --file "$here/Containerfile" \
  --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" --tag "$image" "$context" >/dev/null
# Bound disk use without pulling an image from under a test session of another checkout on this machine:
# only images of this project (and dangling build stages) older than six hours go.
podman image prune --all --force --filter label=org.opencontainers.image.title=alpr-monitor --filter until=6h \
  >/dev/null 2>&1 || true
podman image prune --force --filter until=6h >/dev/null 2>&1 || true
# The plain version tag (what compose and the chart name) follows the latest build.
podman tag "$image" "$repository:$version"
echo "$image"
