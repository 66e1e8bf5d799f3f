#!/usr/bin/env bash
# Stop the broker that deploy/kafka/start.sh started from DATA_DIR.
# Usage: deploy/kafka/stop.sh DATA_DIR
# SIGTERM (controlled shutdown), then SIGKILL after KAFKA_STOP_TIMEOUT seconds (default 20).
# Succeeds when no broker is running from DATA_DIR. Leaves the data and logs for inspection.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 DATA_DIR" >&2; exit 2; }
[[ -d "$1" ]] || exit 0
data_dir="$(cd "$1" && pwd)"
pid_file="$data_dir/kafka.pid"
timeout="${KAFKA_STOP_TIMEOUT:-20}"

[[ -f "$pid_file" ]] || exit 0
pid="$(cat "$pid_file")"
[[ "$pid" =~ ^[0-9]+$ ]] || { echo "stop.sh: bad pid file $pid_file" >&2; exit 1; }

# Signal only our broker: a stale pid file may name a pid since reused by another program.
is_our_broker() {
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$data_dir/server.properties"
}

# A zombie (exited, not yet reaped by whoever adopted it) counts as stopped.
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

killed=0
if is_our_broker; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while alive; do
        if ((SECONDS >= deadline)); then
            echo "stop.sh: broker $pid still running after ${timeout}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            killed=1
            while alive; do sleep 0.1; done
            break
        fi
        sleep 0.1
    done
fi
rm -f "$pid_file"

# Install the class-data-sharing archive the broker recorded at its (clean) exit; see start.sh.
pending="$data_dir/cds-pending"
if [[ -f "$pending" ]]; then
    { read -r cds_tmp && read -r cds_archive; } <"$pending" || true
    if [[ -n "${cds_tmp:-}" && -n "${cds_archive:-}" ]]; then
        if [[ $killed -eq 0 && -s "$cds_tmp" ]]; then
            mv -f "$cds_tmp" "$cds_archive"
        else
            rm -f "$cds_tmp"
        fi
    fi
    rm -f "$pending"
fi
