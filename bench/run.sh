#!/bin/bash
# All benchmarks (make bench): sandbox creation through the API, the
# lifecycle (fork, pause/resume, snapshot templates), network slots, disk
# clones, templates streamed from object storage (Fleet I; skipped without
# node and npm, or with THAW_BENCH_FLEET=0). Reports go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=${THAW_DATA_DIR:-/var/lib/thaw}
mkdir -p bench/results

bench/create.sh "$@"

echo
bench/lifecycle.sh

echo
bench/run_code.sh

echo
bench/e2b.sh

echo
build/bin/thaw-bench-slots 50 | tee bench/results/slots.txt

echo
build/bin/thaw-bench-usage 200 720 | tee bench/results/usage.txt
echo
build/bin/thaw-bench-observe | tee bench/results/observe.txt

echo
if [ -d "$data_dir/store" ]; then
	build/bin/thaw-bench-disk "$data_dir/store" 30 | tee bench/results/disk.txt
else
	echo "bench: no store in $data_dir yet (start thawd once); disk benchmark skipped"
fi

echo
if [ "${THAW_BENCH_FLEET:-1}" = 0 ]; then
	echo "bench: THAW_BENCH_FLEET=0: fleet benchmark skipped"
elif command -v node >/dev/null && command -v npm >/dev/null; then
	bench/fleet.sh
else
	echo "bench: the fleet benchmark needs node and npm (s3rver); skipped"
fi

echo
# After the fleet benchmark: it bakes the template in the data dir this
# one reuses.
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	bench/control.py --json bench/results/control.json | tee bench/results/control.txt
else
	echo "bench: the control plane benchmark needs PostgreSQL (postgresql-15); skipped"
fi
