#!/bin/bash
# The whole test suite, as CI runs it (.ci/run calls `make test`, which
# calls this): dependencies, both builds, unit tests under ASan+UBSan,
# then end-to-end tests that drive real VMs through a sanitized thawd.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==== %s\n' "$*"; }

section "dependencies"
scripts/install-deps.sh

section "lint (clang: jumps over cleanup variables, which gcc accepts)"
scripts/lint.sh

section "build (release: static guest agent, benchmark)"
make -j"$(nproc)"

section "build (ASan + UBSan)"
make -j"$(nproc)" SAN=1

section "unit tests (ASan + UBSan)"
make SAN=1 unit

section "fuzzing (libFuzzer, ${THAW_FUZZ_SECONDS:-20} s per parser)"
scripts/fuzz.sh "${THAW_FUZZ_SECONDS:-20}"

section "end-to-end tests (real QEMU guests, sanitized thawd)"
# Leaks are errors: the harness checks that thawd exits 0 after SIGTERM.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export THAW_BIN_DIR=build-san/bin
/usr/bin/python3 -m pytest -v -rs --durations=40 tests/e2e "$@"

section "E2B SDK drift (a report: the latest SDKs against the pinned ones)"
scripts/e2b-drift.sh --ci || echo "e2b-drift: the check itself failed (a report, not a test failure)"
