#!/bin/bash
# Fleet I (bench/fleet.py): templates streamed from object storage to a
# host that never had their files, against local files and against
# download-then-restore, in one run. Starts its own store (s3rver behind
# fault proxies: +20 ms per request, SigV4 checked) and two thawd hosts
# (data dirs /var/tmp/thaw-bf-a and -b, slots 10.221/16 and 10.222/16),
# and stops and tears down all of it at the end. Arguments go to fleet.py
# (--samples, --templates, --skip-2g, --density, --rebake, --window-kib). Report:
# bench/results/fleet.txt and fleet.json. Needs root, node and npm; about
# 20 minutes on the 2-core development machine with the defaults (10
# samples, both templates, 50 idle sandboxes), more when host A has not
# baked the templates yet.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/bin/thawd build/bin/thaw-lazyfs build/bin/thaw-agent build/tests/it/objstore_it; do
	[ -x "$b" ] || { echo "bench: $b is missing: run make first" >&2; exit 1; }
done
mkdir -p bench/results
# Ctrl-C reaches fleet.py, which stops its hosts and the store before it
# exits; the script waits for that.
trap ':' INT
python3 bench/fleet.py --json bench/results/fleet.json "$@" | tee bench/results/fleet.txt
