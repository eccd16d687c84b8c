#!/bin/bash
# Fuzzes the parsers of hostile input with libFuzzer (clang), each for a
# bounded time: the guest protocol, API request bodies, template
# metadata, recipes, what a VMM says on QMP, artifact manifests, the
# object store's XML answers, the sandbox list's page tokens, the code
# interpreter's events, the E2B front's Connect envelopes, envd's
# process messages and a WebSocket client's frames. Seeds are in
# tests/fuzz/corpus/NAME; inputs that once crashed are kept in
# tests/fuzz/regress/NAME and replayed first.
# A crash fails the run and leaves its input in build-fuzz/crashes/NAME.
#   scripts/fuzz.sh [SECONDS per target, default 30] [NAME...]
#   scripts/fuzz.sh --replay [NAME...]   every seed and regression input once
#                                        (make check: no fuzzing, seconds)
set -euo pipefail
cd "$(dirname "$0")/.."

replay=0
if [ "${1:-}" = "--replay" ]; then
	replay=1
	seconds=0
else
	seconds=${1:-30}
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proto api_json meta recipe qmp manifest s3xml pagetoken interp connect e2b_process metrics ws)

declare -A srcs=(
	[proto]=""
	[api_json]="src/thawd/api/validate.c src/thawd/api/validate_proc.c src/thawd/net/netpolicy.c"
	[meta]="src/thawd/template/meta.c"
	[recipe]="src/thawd/template/recipe.c"
	[qmp]="src/thawd/vmm/qmp.c"
	[manifest]="$(echo src/objstore/*.c)"
	[s3xml]="src/objstore/s3xml.c"
	[pagetoken]=""
	[ws]=""
	[interp]="src/thawd/guestconn/interp.c src/thawd/e2b/interp_wire.c src/thawd/api/validate.c src/thawd/api/validate_code.c src/thawd/api/validate_proc.c src/thawd/net/netpolicy.c"
	[connect]="src/thawd/e2b/envelope.c"
	[metrics]=""
	[e2b_process]="src/thawd/e2b/process_msg.c src/thawd/e2b/user.c src/thawd/e2b/process_event.c src/thawd/api/validate.c src/thawd/api/validate_proc.c src/thawd/net/netpolicy.c"
)
out=build-fuzz
mkdir -p "$out"
flags=(-g -O1 -std=gnu17 -D_GNU_SOURCE -DTHAW_VERSION='"fuzz"' -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -Isrc/common -Isrc -Isrc/thawd -Isrc/objstore)
libs=$(pkg-config --libs jansson libcrypto libcurl)
# One target: build, replay its regressions, then replay or fuzz. Prints
# its result; non-zero when something crashed.
one() {
	local t=$1 bin work
	bin=$out/fuzz_$t
	# shellcheck disable=SC2086 # word splitting of the source list is wanted
	clang "${flags[@]}" tests/fuzz/fuzz_$t.c ${srcs[$t]} src/common/*.c $libs -lpthread -o "$bin" ||
		{ echo "fuzz: $t: does not build"; return 1; }
	mapfile -t regress < <(find "tests/fuzz/regress/$t" -type f ! -name '.*' 2>/dev/null)
	if [ ${#regress[@]} -gt 0 ] && ! "$bin" "${regress[@]}" >"$out/$t.regress.log" 2>&1; then
		echo "fuzz: $t: a regression input crashes again (log $out/$t.regress.log)"
		return 1
	fi
	if [ "$replay" -eq 1 ]; then
		mapfile -t seeds < <(find "tests/fuzz/corpus/$t" -type f ! -name '.*' 2>/dev/null)
		if [ ${#seeds[@]} -gt 0 ] && ! "$bin" "${seeds[@]}" >"$out/$t.replay.log" 2>&1; then
			echo "fuzz: $t: a seed input crashes (log $out/$t.replay.log)"
			return 1
		else
			echo "fuzz: $t: ${#regress[@]} regression and ${#seeds[@]} seed inputs replayed"
		fi
		return 0
	fi
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
	mkdir -p "$out/crashes/$t"
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$out/crashes/$t/" "$work" >"$out/$t.log" 2>&1; then
		echo "fuzz: $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out/$t.log" | tail -1)," \
			"corpus $(ls "$work" | wc -l) inputs, no crash"
	else
		echo "fuzz: $t: CRASH; input in $out/crashes/$t, log $out/$t.log"
		tail -n 30 "$out/$t.log"
		rm -rf "$work"
		return 1
	fi
	rm -rf "$work"
}

# Targets run side by side, one per core (THAW_FUZZ_JOBS): each still gets
# a whole core for its time, and the run takes half as long on two.
jobs_max=${THAW_FUZZ_JOBS:-$(nproc)}
for t in "${targets[@]}"; do
	(
		rc=0
		one "$t" >"$out/$t.result" 2>&1 || rc=$?
		echo "$rc" >"$out/$t.rc"
	) &
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n || true
	done
done
wait
fail=0
for t in "${targets[@]}"; do
	cat "$out/$t.result"
	[ "$(cat "$out/$t.rc" 2>/dev/null)" = 0 ] || fail=1
	rm -f "$out/$t.result" "$out/$t.rc"
done
exit "$fail"
