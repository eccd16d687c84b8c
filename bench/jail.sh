#!/bin/bash
# What the VMM jail costs: the create benchmark against a thawd with
# --jail off (VMMs as root, seeing the host, no seccomp, no cgroups) and
# then --jail on with cgroups (the default), same data dir, same
# template, one run after the other. Prints both reports' headline rows
# side by side and keeps the reports in bench/results/jail-{off,on}.txt.
#   bench/jail.sh [extra thaw-bench-create options, default --n 30 --cold 1]
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${THAW_DATA_DIR:-/var/lib/thaw}
listen=${THAW_LISTEN:-127.0.0.1:7420}
export THAW_API_URL=http://$listen
results=bench/results
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--n 30 --k 2 --cold 1 --paced 10 --exec 30)
mkdir -p "$results" "$data_dir/logs"

log() { printf 'bench: %s\n' "$*" >&2; }

build/bin/thaw health >/dev/null 2>&1 && { log "a thawd already answers at $listen: stop it first"; exit 1; }

run() { # mode: off | on
	local mode=$1 cg=auto
	[ "$mode" = on ] || cg=off
	log "thawd with --jail $mode --cgroups $cg"
	THAW_JAIL=$mode THAW_CGROUPS=$cg build/bin/thawd --data-dir "$data_dir" --listen "$listen" \
		>>"$data_dir/logs/thawd.log" 2>&1 &
	local pid=$!
	for _ in $(seq 1 300); do build/bin/thaw health >/dev/null 2>&1 && break; sleep 0.1; done
	THAW_API_KEY=$(cat "$data_dir/api-key") THAW_DATA_DIR=$data_dir THAW_LISTEN=$listen \
		bench/create.sh "${args[@]}" >/dev/null
	cp "$results/latest.txt" "$results/jail-$mode.txt"
	kill -TERM "$pid"
	wait "$pid" || true
}

run off
run on
rows='^(create, no pools|  server: vmm_start|create \(paced|exec true)'
printf '\n== the jail'"'"'s cost, same host, same template, one run after the other\n'
printf -- '-- --jail off --cgroups off\n'
grep -E "$rows" "$results/jail-off.txt" || true
printf -- '-- --jail on (default)\n'
grep -E "$rows" "$results/jail-on.txt" || true
