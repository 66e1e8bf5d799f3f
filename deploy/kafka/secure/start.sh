#!/usr/bin/env bash
# Start a secured single-node Kafka broker (KRaft) in the background, from the jars of deploy/kafka.
#
# Usage: deploy/kafka/secure/start.sh DATA_DIR
# DATA_DIR must hold:
#   certs/      made by make-certs.sh (ca.pem, broker-keystore.pem)
#   users       one user a line: MECHANISM NAME PASSWORD (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN;
#               names and passwords of [A-Za-z0-9_-] only); the first SCRAM-SHA-512 user is the admin
#               (a super user). Keep it mode 0600.
#   ports       SASL_SSL_PORT SSL_PORT INTERNAL_PORT CONTROLLER_PORT MISNAMED_PORT (loopback)
# Environment: KAFKA_START_TIMEOUT (60), KAFKA_HEAP_OPTS, JAVA_HOME, as deploy/kafka/start.sh.
# Storage is wiped and formatted afresh on every start. The format step prints SCRAM salts and keys:
# its output is discarded, never logged. Stop with deploy/kafka/stop.sh DATA_DIR.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DATA_DIR" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka="$(cd "$here/.." && pwd)"
libs="$kafka/libs"
"$kafka/fetch.sh"

data_dir="$(cd "$1" && pwd)"
pid_file="$data_dir/kafka.pid"
log_dir="$data_dir/logs"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
timeout="${KAFKA_START_TIMEOUT:-60}"
read -ra heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
read -ra ports <<<"$(cat "$data_dir/ports")"
[[ ${#ports[@]} -eq 5 ]] || { echo "start.sh: $data_dir/ports must hold 5 ports" >&2; exit 2; }
common_opts=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$kafka/log4j2.properties"
    "-Dkafka.logs.dir=$log_dir" -cp "$libs/*")

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "${ports[@]}"; do
    if port_open "$p"; then echo "start.sh: port $p on 127.0.0.1 is already in use" >&2; exit 1; fi
done

scram_args=()
plain_users=""
admin=""
while read -r mechanism name password; do
    [[ -n "$mechanism" ]] || continue
    [[ "$name$password" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "start.sh: bad user line for $name" >&2; exit 2; }
    case "$mechanism" in
    SCRAM-SHA-512 | SCRAM-SHA-256)
        scram_args+=(--add-scram "$mechanism=[name=$name,password=$password]")
        [[ -n "$admin" || "$mechanism" != SCRAM-SHA-512 ]] || admin="$name"
        ;;
    PLAIN) plain_users+=" user_$name=\"$password\"" ;;
    *) echo "start.sh: unknown mechanism $mechanism" >&2; exit 2 ;;
    esac
done <"$data_dir/users"
[[ -n "$admin" ]] || { echo "start.sh: no SCRAM-SHA-512 user to make admin" >&2; exit 2; }

rm -rf "$data_dir/kraft-logs" "$log_dir"
mkdir -p "$log_dir"
template="$(<"$here/server.properties.template")"
template="${template//@SASL_SSL_PORT@/${ports[0]}}"
template="${template//@SSL_PORT@/${ports[1]}}"
template="${template//@INTERNAL_PORT@/${ports[2]}}"
template="${template//@CONTROLLER_PORT@/${ports[3]}}"
template="${template//@MISNAMED_PORT@/${ports[4]}}"
template="${template//@LOG_DIRS@/$data_dir/kraft-logs}"
template="${template//@CERT_DIR@/$data_dir/certs}"
template="${template//@ADMIN_USER@/$admin}"
template="${template//@PLAIN_USERS@/$plain_users}"
(umask 077 && printf '%s\n' "$template" >"$data_dir/server.properties")

cluster_id="-"
while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done
# The tool echoes every SCRAM credential (salt, salted keys): keep only its exit status, and on
# failure lines that cannot carry one.
if ! format_out="$(env -u COLUMNS "$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${common_opts[@]}" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$data_dir/server.properties" --standalone \
    "${scram_args[@]}" 2>&1)"; then
    echo "start.sh: formatting storage failed:" >&2
    grep -viE 'scram|salt|password|iterations|key' <<<"$format_out" | tail -n 20 >&2 || true
    exit 1
fi
unset format_out

cds_opts=()
[[ "${KAFKA_CDS:-1}" == 0 || ! -s "$libs/kafka-broker.jsa" ]] || cds_opts=("-XX:SharedArchiveFile=$libs/kafka-broker.jsa" -Xshare:auto)
"$java" "${heap_opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError "${cds_opts[@]}" \
    "${common_opts[@]}" kafka.Kafka "$data_dir/server.properties" </dev/null >"$log_dir/kafka.out" 2>&1 &
pid=$!
echo "$pid" >"$pid_file"

log_tail() {
    local f
    for f in "$log_dir/kafka.out" "$log_dir/server.log"; do
        [[ -s "$f" ]] && { echo "--- tail of $f"; tail -n 40 "$f"; }
    done
    return 0
}
deadline=$((SECONDS + timeout))
until port_open "${ports[0]}" && grep -q 'Kafka Server started' "$log_dir/server.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: broker exited during start-up" >&2
        rm -f "$pid_file"
        log_tail >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "start.sh: broker not ready after ${timeout}s; stopping it" >&2
        log_tail >&2
        "$kafka/stop.sh" "$data_dir" >&2 || true
        exit 1
    fi
    sleep 0.1
done
echo "SASL_SSL://127.0.0.1:${ports[0]} SSL://127.0.0.1:${ports[1]}"
