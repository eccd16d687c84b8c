#!/bin/bash
# The create benchmark with its defaults, against a thawd (bench/thawd.sh
# finds or starts one).
# Bakes the template first if it is not ready. Writes the report to
# bench/results/latest.txt and every number to bench/results/latest.json.
# Extra arguments go to thaw-bench-create (e.g. --n 100 --strict).
# Exits with the benchmark's status. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=build/bin/thaw-bench-create
# shellcheck source=bench/thawd.sh
. bench/thawd.sh

mkdir -p "$results"
rm -f "$results/latest.json" "$results/latest.txt"
set +e
$bench --template "$template" --json "$results/latest.json" "$@" | tee "$results/latest.txt"
rc=${PIPESTATUS[0]}
set -e
if [ -s "$results/latest.json" ]; then
	log "wrote $results/latest.txt and $results/latest.json (exit status $rc)"
else
	log "the benchmark measured nothing (exit status $rc)"
fi
exit "$rc"
