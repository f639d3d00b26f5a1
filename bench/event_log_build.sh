#!/bin/sh
# One `duban build --json` of RAW into a fresh warehouse and Dagster home under WORK/MODE, for timing
# duban's event log against Dagster's own:
#   MODE=pooled  the dagster.yaml duban writes (PooledSqliteEventLogStorage)
#   MODE=plain   the same settings written by hand, without the event log block (Dagster's own class)
# Usage: bench/event_log_build.sh MODE RAW [WORK]   (run from the repository root, after bootstrap)
set -eu
mode=$1; raw=$(cd "$2" && pwd); work=${3:-/tmp/duban-event-log}
repo=$(cd "$(dirname "$0")/.." && pwd)
d=$work/$mode
rm -rf "$d"; mkdir -p "$d/home"
if [ "$mode" = plain ]; then
    printf 'concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n' > "$d/home/dagster.yaml"
fi
cd "$d"
DAGSTER_HOME="$d/home" exec "$repo/.venv/bin/duban" build --raw "$raw" --warehouse "$d/w/duban.duckdb" --json > "$d/out.json" 2> "$d/err.txt"
