#!/bin/bash
# The PostgreSQL benchmark (bench/postgres.py: restore vs. cold, SELECT 1
# round trip, COPY) against a thawd that bench/thawd.sh finds or starts.
# Report: bench/results/postgres.txt and postgres.json. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=bench/postgres.py
THAW_BENCH_TEMPLATE=postgres
# shellcheck shell=bash source=bench/thawd.sh
. bench/thawd.sh

mkdir -p "$results"
set +e
/usr/bin/python3 "$bench" --json "$results/postgres.json" "$@" | tee "$results/postgres.txt"
rc=${PIPESTATUS[0]}
set -e
log "wrote $results/postgres.txt (exit status $rc)"
exit "$rc"
