#!/bin/bash
# The lifecycle benchmark (fork, pause/resume, snapshot-template creates)
# against a thawd (bench/thawd.sh finds or starts one). Writes the report
# to bench/results/lifecycle.txt. Extra arguments go to
# thaw-bench-lifecycle (e.g. --rounds 20 --strict). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=build/bin/thaw-bench-lifecycle
# shellcheck source=bench/thawd.sh
. bench/thawd.sh

mkdir -p "$results"
set +e
$bench --template "$template" "$@" | tee "$results/lifecycle.txt"
rc=${PIPESTATUS[0]}
set -e
log "wrote $results/lifecycle.txt (exit status $rc)"
exit "$rc"
