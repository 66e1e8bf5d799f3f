#!/usr/bin/env bash
# Fetch the Kafka broker jars (and a Log4j 2 backend) into deploy/kafka/libs.
# Idempotent: a no-op when libs/ was completed for the current pom.xml; refetches cleanly
# when pom.xml changed (e.g. a version bump), so old and new jars never mix on the classpath.
# Usage: deploy/kafka/fetch.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
libs="$here/libs"
stamp="$libs/.fetched"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"

is_current() { [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

is_current && exit 0

# Serialise concurrent callers (e.g. parallel test sessions) on one lock file.
exec 9>"$here/.fetch.lock"
flock 9
is_current && exit 0

# Fetch into a scratch dir and swap it in, so an interrupted fetch never leaves a half-filled libs/.
tmp="$(mktemp -d "$here/.libs.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -Dkafka.libs.dir="$tmp" >&2
compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { echo "fetch.sh: no kafka_2.13 jar fetched" >&2; exit 1; }
printf '%s\n' "$want" >"$tmp/.fetched"
rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
echo "fetch.sh: $(find "$libs" -name '*.jar' | wc -l) jars in $libs" >&2
