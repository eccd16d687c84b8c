#!/bin/bash
# Drift check for the E2B front (docs/e2b.md): the conformance scenarios
# (tests/e2b/*.test.mjs) run with the latest releases of E2B's SDKs
# (npm e2b@latest, @e2b/code-interpreter@latest) and with the pinned ones
# (tests/e2b/package.json), against the same thawd; a scenario that
# passes pinned and fails latest is drift: E2B changed its wire protocol
# or its SDK's expectations. Not part of `make test` (it needs the npm
# registry); it always exits 0 once it ran, with a DRIFT summary.
#
#   THAW_E2B_URL=http://127.0.0.1:7421 THAW_E2B_KEY=SECRET scripts/e2b-drift.sh
#       against a running thawd started with --e2b-listen
#   scripts/e2b-drift.sh --pytest
#       through tests/e2e/test_e2b.py (root; the e2e harness's own thawd,
#       THAW_E2E_DATA_DIR and the like as for the e2e tests)
#   scripts/e2b-drift.sh --ci
#       what `make test` runs after the e2e tests passed (so the pinned
#       SDKs passed): asks the registry for the latest versions first and
#       stops there when they are the pinned ones (nothing can drift);
#       else --pytest with the latest only. A registry that does not
#       answer is reported, not an error.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
suite=$repo/tests/e2b
pinned_of() { node -p "require('$suite/package.json').dependencies['$1']"; }

if [ "${1:-}" = "--ci" ]; then
	newer=
	for pkg in e2b @e2b/code-interpreter; do
		if ! v=$(timeout 60 npm view "$pkg" version 2>/dev/null) || [ -z "$v" ]; then
			echo "DRIFT: not checked (the npm registry did not answer for $pkg)"
			exit 0
		fi
		[ "$v" = "$(pinned_of "$pkg")" ] || newer+=" $pkg@$v"
	done
	if [ -z "$newer" ]; then
		echo "DRIFT: none possible (the latest e2b and @e2b/code-interpreter are the pinned $(pinned_of e2b) and $(pinned_of @e2b/code-interpreter))"
		exit 0
	fi
	echo "e2b-drift: newer than pinned:$newer"
fi

work=$(mktemp -d /tmp/thaw-e2b-drift.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "e2b-drift: installing e2b@latest and @e2b/code-interpreter@latest in $work"
(cd "$work" && npm init -y >/dev/null &&
	npm install --no-audit --no-fund e2b@latest @e2b/code-interpreter@latest >npm.log 2>&1) || {
	echo "e2b-drift: npm install failed:"
	tail -20 "$work/npm.log"
	exit 1
}
latest="e2b $(node -p "require('$work/node_modules/e2b/package.json').version")"
latest+=", @e2b/code-interpreter $(node -p "require('$work/node_modules/@e2b/code-interpreter/package.json').version")"
pinned="e2b $(pinned_of e2b), @e2b/code-interpreter $(pinned_of @e2b/code-interpreter)"

if [ "${1:-}" = "--ci" ]; then
	# The pinned SDKs passed in this run (make test stops before this
	# when they did not): every scenario file counts as passed pinned.
	for f in "$suite"/*.test.mjs; do echo "PASSED $(basename "$f")"; done >"$work/pinned.txt"
	THAW_E2B_SDK_DIR="$work/node_modules" /usr/bin/python3 -m pytest -q -rA tests/e2e/test_e2b.py 2>&1 |
		sed -n 's/^\(PASSED\|FAILED\|ERROR\) .*test_e2b_sdk\[\([^]]*\)\].*/\1 \2/p' \
		>"$work/latest.txt" || true
elif [ "${1:-}" = "--pytest" ]; then
	# One pytest test per scenario file: compare files, not scenarios.
	run_pytest() { # SDK_DIR (empty: pinned) -> "PASSED|FAILED file" lines
		THAW_E2B_SDK_DIR="$1" /usr/bin/python3 -m pytest -q -rA tests/e2e/test_e2b.py 2>&1 |
			sed -n 's/^\(PASSED\|FAILED\|ERROR\) .*test_e2b_sdk\[\([^]]*\)\].*/\1 \2/p'
	}
	run_pytest "" >"$work/pinned.txt" || true
	run_pytest "$work/node_modules" >"$work/latest.txt" || true
else
	: "${THAW_E2B_URL:?set THAW_E2B_URL and THAW_E2B_KEY (or use --pytest)}" "${THAW_E2B_KEY:?}"
	[ -d "$suite/node_modules/e2b" ] || (cd "$suite" && npm ci --no-audit --no-fund >/dev/null)
	cp "$suite"/*.mjs "$work/"
	run_node() { # DIR -> "PASSED|FAILED file: scenario" lines
		for f in "$suite"/*.test.mjs; do
			name=$(basename "$f")
			# shellcheck disable=SC2015 # a failing scenario is a result, not an error
			(cd "$1" && node --test --test-reporter=tap "$1/$name" 2>&1 || true) |
				sed -n "s/^ok [0-9]* - \(.*\)/PASSED $name: \1/p; s/^not ok [0-9]* - \(.*\)/FAILED $name: \1/p"
		done
	}
	run_node "$suite" >"$work/pinned.txt"
	run_node "$work" >"$work/latest.txt"
fi

drift=$(grep '^PASSED ' "$work/pinned.txt" | sed 's/^PASSED //' | while read -r t; do
	grep -qxF "PASSED $t" "$work/latest.txt" || echo "  $t"
done)
fixed=$(grep '^FAILED ' "$work/pinned.txt" | sed 's/^FAILED //' | while read -r t; do
	grep -qxF "PASSED $t" "$work/latest.txt" && echo "  $t"
done || true)
echo
echo "e2b-drift: pinned ($pinned): $(grep -c '^PASSED' "$work/pinned.txt" || true) passed," \
	"$(grep -c '^FAILED' "$work/pinned.txt" || true) failed"
echo "e2b-drift: latest ($latest): $(grep -c '^PASSED' "$work/latest.txt" || true) passed," \
	"$(grep -c '^FAILED' "$work/latest.txt" || true) failed"
if [ -n "$drift" ]; then
	echo "DRIFT: these pass with the pinned SDKs and not with the latest:"
	echo "$drift"
else
	echo "DRIFT: none (every scenario that passes pinned passes with the latest)"
fi
[ -z "$fixed" ] || printf 'e2b-drift: these fail pinned but pass latest:\n%s\n' "$fixed"
exit 0
