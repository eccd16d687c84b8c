#!/bin/bash
# Load (bench/load.py): 16 clients creating, exec'ing and deleting
# sandboxes concurrently for 75 s; errors, p50/p99 of create and exec,
# thawd's RSS after a warm-up and at the end. Arguments go to load.py
# (--clients, --seconds, --warmup, --execs). Report: bench/results/load.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=build/bin/thaw # what thawd.sh checks for; load.py needs only python3
# shellcheck source=bench/thawd.sh
. bench/thawd.sh
python3 bench/load.py --json bench/results/load.json "$@" | tee bench/results/load.txt
