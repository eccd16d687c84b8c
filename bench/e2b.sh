#!/bin/bash
# The E2B front's benchmark (bench/e2b.mjs: each operation through E2B's
# unmodified SDK and through /v1, interleaved) against a thawd that
# bench/thawd.sh finds or starts; that thawd must listen for E2B
# (--e2b-listen, THAW_E2B_URL; make demo's and bench/thawd.sh's do).
# Report: bench/results/e2b.txt and e2b.json.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=bench/e2b.mjs
# shellcheck source=bench/thawd.sh
. bench/thawd.sh

export THAW_E2B_URL=${THAW_E2B_URL:-http://${THAW_E2B_LISTEN:-127.0.0.1:7421}}
if ! curl -fsS -o /dev/null -H "X-API-KEY: $THAW_API_KEY" "$THAW_E2B_URL/v2/sandboxes"; then
	log "no E2B front answers at $THAW_E2B_URL: start thawd with --e2b-listen (or set THAW_E2B_URL)"
	exit 1
fi
(cd tests/e2b && { [ -d node_modules/e2b ] || npm ci --no-audit --no-fund >/dev/null; })
node=node
for n in node /var/cache/thaw/node-*/bin/node; do
	if "$n" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' 2>/dev/null; then
		node=$n
		break
	fi
done

mkdir -p "$results"
set +e
THAW_BENCH_TEMPLATE=$template "$node" "$bench" --json "$results/e2b.json" "$@" | tee "$results/e2b.txt"
rc=${PIPESTATUS[0]}
set -e
log "wrote $results/e2b.txt (exit status $rc)"
exit "$rc"
