#!/bin/bash
# The run_code benchmark (bench/run_code.py) against a thawd that
# bench/thawd.sh finds or starts. Report: bench/results/run_code.txt and run_code.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=bench/run_code.py
# shellcheck source=bench/thawd.sh
. bench/thawd.sh

mkdir -p "$results"
set +e
/usr/bin/python3 "$bench" --template "$template" --json "$results/run_code.json" "$@" | tee "$results/run_code.txt"
rc=${PIPESTATUS[0]}
set -e
log "wrote $results/run_code.txt (exit status $rc)"
exit "$rc"
