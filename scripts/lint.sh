#!/bin/bash
# Compiles every C file with clang, syntax only. gcc builds the code; this
# catches what gcc lets through silently and clang refuses, above all a
# `goto` that jumps over a _cleanup_ variable (its cleanup would then run
# on garbage). Warnings are gcc's business (-Werror in the Makefile).
# It also holds one rule gcc cannot see: an answer is queued only through
# httpapi's api_queue (respond.c), which adds the request's X-Request-Id.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs="libmicrohttpd jansson libcurl sqlite3 libcrypto libmnl libnftables"
flags=(-fsyntax-only -w -std=gnu17 -D_GNU_SOURCE -DTHAW_VERSION='"lint"'
	-Isrc/common -Isrc -Isrc/thawd -Isrc/lib -Isrc/guest -Isrc/objstore $(pkg-config --cflags $pkgs) $(pkg-config --cflags fuse3 libpq 2>/dev/null))
fail=0
n=0
for f in $(git ls-files -co --exclude-standard 'src/*.c' 'tests/unit/*.c' 'tests/it/*.c' 'bench/*.c'); do
	n=$((n + 1))
	clang "${flags[@]}" "$f" || fail=1
done
if [ "$fail" -ne 0 ]; then
	echo "lint: clang rejected the files above" >&2
	exit 1
fi
stray=$(git ls-files -co --exclude-standard 'src/*.c' | grep -v '^src/httpapi/respond.c$' |
	xargs grep -n 'MHD_queue_response' || true)
if [ -n "$stray" ]; then
	printf '%s\n' "$stray" >&2
	echo "lint: queue answers with api_queue (httpapi.h): it adds X-Request-Id" >&2
	exit 1
fi
echo "lint: $n files clean"
