#!/bin/bash
# Density (bench/density.py): idle sandboxes created in steps up to 500
# (or the first refusal); memory, idle CPU, thawd's descriptors and
# create/exec/list latency at each step against the empty host in the
# same run; then the time to delete them all. Arguments go to density.py
# (--steps, --max, --idle, --samples). Report: bench/results/density.txt.
# Takes about 10 minutes on the 2-core development machine; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=build/bin/thaw # what thawd.sh checks for; density.py needs only python3
# shellcheck source=bench/thawd.sh
. bench/thawd.sh
python3 bench/density.py --json bench/results/density.json "$@" | tee bench/results/density.txt
