#!/bin/bash
# The guest kernel benchmark (bench/kernel.py): the default template on
# thaw's kernel against the same recipe on Debian's cloud kernel, in one
# run, against a thawd (bench/thawd.sh finds or starts one). Bakes both
# (the first bake on a machine compiles thaw's kernel: minutes). Writes
# bench/results/kernel.txt and kernel.json. Extra arguments go to
# kernel.py (--quick, --strict). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=build/bin/thaw-bench-create
# shellcheck source=bench/thawd.sh
. bench/thawd.sh

mkdir -p "$results"
set +e
bench/kernel.py --json "$results/kernel.json" "$@" | tee "$results/kernel.txt"
rc=${PIPESTATUS[0]}
set -e
log "wrote $results/kernel.txt and $results/kernel.json (exit status $rc)"
exit "$rc"
