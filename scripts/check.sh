#!/bin/bash
# The fast tier (`make check`): no root, no VMs, a few minutes. What a
# change must pass before the full suite (`make test`) is worth running:
# lint, both builds, the unit tests plain and under ASan+UBSan, every fuzz
# seed and regression input replayed, the include-cycle rule, the E2B
# scenario files parsed and the options reference checked against thawd
# itself.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==== %s\n' "$*"; }
start=$(date +%s)

section "lint (clang)"
scripts/lint.sh

section "include cycles"
scripts/include-cycles.py

section "build"
make -j"$(nproc)"

section "unit tests"
make unit

section "build and unit tests (ASan + UBSan)"
make -j"$(nproc)" SAN=1
make SAN=1 unit

section "fuzz inputs replayed"
scripts/fuzz.sh --replay

section "E2B scenarios, benchmark and console test parse (node --check; they run in make test)"
if command -v node >/dev/null; then
	n=0
	for f in tests/e2b/*.mjs bench/e2b.mjs tests/console/*.mjs; do
		node --check "$f"
		n=$((n + 1))
	done
	echo "parsed: $n files"
else
	echo "node is missing: skipped"
fi

section "docs/thawd.md against thawd --help"
scripts/options-doc.py --check

printf '\ncheck: passed in %d s\n' "$(($(date +%s) - start))"
