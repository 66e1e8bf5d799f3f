#!/usr/bin/env bash
# Start a real single-node Kafka broker (KRaft, combined broker + controller) in the background.
#
# Usage: deploy/kafka/start.sh [--keep-data] PORT DATA_DIR [CONTROLLER_PORT]
#   --keep-data      restart on the storage a previous start formatted in DATA_DIR (same cluster id,
#                    topics, offsets): what a broker restart after a crash or an upgrade looks like.
#                    Without it, storage is wiped and formatted with a fresh cluster id on every
#                    start: a log dir formatted for another cluster id refuses to start.
#   PORT             client listener on 127.0.0.1 (bootstrap address printed on success)
#   DATA_DIR         created if missing; holds server.properties, kraft-logs/, logs/, kafka.pid.
#   CONTROLLER_PORT  KRaft controller listener (default PORT+1)
# Environment (all optional):
#   KAFKA_NUM_PARTITIONS  default partitions of auto-created topics (1)
#   KAFKA_AUTO_CREATE_TOPICS  true (default) | false: whether a client's metadata request creates a
#                         missing topic (managed clusters usually say false)
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (60)
#   KAFKA_HEAP_OPTS       ("-Xms128m -Xmx512m")
#   KAFKA_JVM_OPTS        extra JVM options (G1 with short pauses)
#   KAFKA_CDS             1 (default): reuse a class-data-sharing archive of the broker's classes,
#                         recorded on the first clean stop; saves about a second per start. 0: off.
#   JAVA_HOME             Java 17+ (else `java` on PATH)
# Prints the bootstrap address (127.0.0.1:PORT) on stdout when the broker is ready.
# Stop it with deploy/kafka/stop.sh DATA_DIR.
set -euo pipefail

usage() {
    echo "usage: $0 [--keep-data] PORT DATA_DIR [CONTROLLER_PORT]" >&2
    exit 2
}
keep_data=0
if [[ "${1:-}" == --keep-data ]]; then
    keep_data=1
    shift
fi
[[ $# -ge 2 && $# -le 3 ]] || usage
port="$1"
[[ "$port" =~ ^[0-9]+$ ]] || usage
controller_port="${3:-$((10#$port + 1))}"
[[ "$controller_port" =~ ^[0-9]+$ ]] || usage
[[ "$port" != "$controller_port" ]] || { echo "start.sh: PORT and CONTROLLER_PORT must differ" >&2; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
libs="$here/libs"
"$here/fetch.sh"

mkdir -p "$2"
data_dir="$(cd "$2" && pwd)"
pid_file="$data_dir/kafka.pid"
log_dir="$data_dir/logs"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
num_partitions="${KAFKA_NUM_PARTITIONS:-1}"
auto_create="${KAFKA_AUTO_CREATE_TOPICS:-true}"
[[ "$auto_create" == true || "$auto_create" == false ]] || {
    echo "start.sh: KAFKA_AUTO_CREATE_TOPICS must be true or false" >&2
    exit 2
}
timeout="${KAFKA_START_TIMEOUT:-60}"
read -ra heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
read -ra jvm_opts <<<"${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError}"
common_opts=(
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$here/log4j2.properties"
    "-Dkafka.logs.dir=$log_dir"
    -cp "$libs/*"
)

if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "start.sh: a broker is already running from $data_dir (pid $(cat "$pid_file"))" >&2
    exit 1
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$controller_port"; do
    if port_open "$p"; then
        echo "start.sh: port $p on 127.0.0.1 is already in use" >&2
        exit 1
    fi
done

log_tail() {
    local f
    for f in "$log_dir/format.log" "$log_dir/kafka.out" "$log_dir/server.log"; do
        [[ -s "$f" ]] && { echo "--- tail of $f"; tail -n 40 "$f"; }
    done
    return 0
}

if ((keep_data)); then
    # Restart on existing storage: the formatted log dir carries its cluster id (meta.properties).
    if [[ ! -f "$data_dir/kraft-logs/meta.properties" ]]; then
        echo "start.sh: --keep-data: no formatted storage in $data_dir/kraft-logs (start once without it)" >&2
        exit 1
    fi
    rm -f "$data_dir/cds-pending"
    mkdir -p "$log_dir"
    # The previous run's logs stay beside the new ones (*.previous) for inspection.
    for f in "$log_dir/kafka.out" "$log_dir/server.log"; do
        [[ -f "$f" ]] && mv -f "$f" "$f.previous"
    done
fi

template="$(<"$here/server.properties.template")"
template="${template//@PORT@/$port}"
template="${template//@CONTROLLER_PORT@/$controller_port}"
template="${template//@LOG_DIRS@/$data_dir/kraft-logs}"
template="${template//@NUM_PARTITIONS@/$num_partitions}"
template="${template//@AUTO_CREATE_TOPICS@/$auto_create}"

if ((!keep_data)); then
    # Fresh storage every start (see header); keep nothing from a previous run.
    rm -rf "$data_dir/kraft-logs" "$log_dir" "$data_dir/cds-pending"
    mkdir -p "$log_dir"
    printf '%s\n' "$template" >"$data_dir/server.properties"

    # A Kafka cluster id is 16 random bytes, URL-safe base64 without padding; Kafka itself never
    # hands out ids starting with '-' (they read as options), so neither do we.
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done

    # A short-lived JVM: quick-start flags. COLUMNS from some terminals/CI has crashed the tool's help
    # formatter, so it is removed from its environment.
    if ! env -u COLUMNS "$java" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${common_opts[@]}" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$data_dir/server.properties" --standalone \
        >"$log_dir/format.log" 2>&1; then
        echo "start.sh: formatting storage failed" >&2
        log_tail >&2
        exit 1
    fi
else
    printf '%s\n' "$template" >"$data_dir/server.properties"
fi

cds_opts=()
cds_archive="$libs/kafka-broker.jsa"
if [[ "${KAFKA_CDS:-1}" != 0 ]]; then
    if [[ -s "$cds_archive" ]]; then
        cds_opts=("-XX:SharedArchiveFile=$cds_archive")
    else
        # The JVM writes the archive on a clean exit; stop.sh moves it into place, so a broker
        # that was killed never leaves a truncated archive behind.
        cds_tmp="$libs/.kafka-broker.jsa.$$.tmp"
        cds_opts=("-XX:ArchiveClassesAtExit=$cds_tmp" -Xlog:cds=error)
        printf '%s\n%s\n' "$cds_tmp" "$cds_archive" >"$data_dir/cds-pending"
    fi
fi

# stdin/stdout/stderr detached so a caller capturing this script's output is not held open.
"$java" "${heap_opts[@]}" "${jvm_opts[@]}" "${cds_opts[@]}" "${common_opts[@]}" \
    kafka.Kafka "$data_dir/server.properties" </dev/null >"$log_dir/kafka.out" 2>&1 &
pid=$!
echo "$pid" >"$pid_file"

# Ready = the client port accepts connections and the server has logged the end of its start-up
# (the acceptor binds well before the broker can serve requests).
deadline=$((SECONDS + timeout))
until port_open "$port" && grep -q 'Kafka Server started' "$log_dir/server.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: broker exited during start-up" >&2
        rm -f "$pid_file"
        log_tail >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "start.sh: broker not ready after ${timeout}s; stopping it" >&2
        log_tail >&2
        "$here/stop.sh" "$data_dir" >&2 || true
        exit 1
    fi
    sleep 0.1
done

# An archive from another JDK build is ignored with a [cds] warning: drop it so the next clean
# stop records a fresh one.
if [[ ${#cds_opts[@]} -gt 0 && "${cds_opts[0]}" == -XX:SharedArchiveFile=* ]] &&
    grep -q '\[cds\]' "$log_dir/kafka.out"; then
    rm -f "$cds_archive"
fi

echo "127.0.0.1:$port"
