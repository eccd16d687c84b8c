# Sourced by the benchmark scripts: finds or starts a thawd and makes sure
# the template is baked. Expects $bench (the benchmark binary) to be set.
#   - THAW_API_URL set: that thawd, which must be running;
#   - else the one on $THAW_LISTEN (127.0.0.1:7420), started here if none
#     answers (data dir $THAW_DATA_DIR, default /var/lib/thaw) and stopped
#     again (SIGTERM) when the script exits; it also listens for E2B's
#     SDKs on $THAW_E2B_LISTEN (127.0.0.1:7421: bench/e2b.sh).
# shellcheck shell=bash
data_dir=${THAW_DATA_DIR:-/var/lib/thaw}
listen=${THAW_LISTEN:-127.0.0.1:7420}
template=${THAW_BENCH_TEMPLATE:-code-interpreter}
results=bench/results
thaw=build/bin/thaw
started_pid=

log() { printf 'bench: %s\n' "$*" >&2; }

for b in build/bin/thawd "$thaw" "$bench"; do
	[ -x "$b" ] || { log "$b is missing: run make first"; exit 1; }
done

# shellcheck disable=SC2317 # called by the EXIT trap
stop_thawd() {
	[ -n "$started_pid" ] || return 0
	log "stopping the thawd started here (pid $started_pid)"
	kill -TERM "$started_pid" 2>/dev/null || true
	wait "$started_pid" 2>/dev/null || true
}
trap stop_thawd EXIT
# Ctrl-C reaches the benchmark too, which deletes its sandboxes and exits;
# the script must outlive it to stop thawd afterwards.
trap ':' INT

start_thawd() {
	mkdir -p "$data_dir/logs"
	log "no thawd answers at $THAW_API_URL: starting one (data in $data_dir," \
		"log in $data_dir/logs/thawd.log)"
	build/bin/thawd --data-dir "$data_dir" --listen "$listen" \
		--e2b-listen "${THAW_E2B_LISTEN:-127.0.0.1:7421}" \
		>>"$data_dir/logs/thawd.log" 2>&1 &
	started_pid=$!
	for _ in $(seq 1 100); do
		$thaw health >/dev/null 2>&1 && return 0
		kill -0 "$started_pid" 2>/dev/null || break
		sleep 0.1
	done
	log "thawd did not come up; the end of its log:"
	tail -n 20 "$data_dir/logs/thawd.log" >&2
	exit 1
}

if [ -z "${THAW_API_URL:-}" ]; then
	export THAW_API_URL=http://$listen
	$thaw health >/dev/null 2>&1 || start_thawd
	if [ -z "${THAW_API_KEY:-}" ] && [ -r "$data_dir/api-key" ]; then
		THAW_API_KEY=$(cat "$data_dir/api-key")
		export THAW_API_KEY
	fi
elif ! $thaw health >/dev/null; then
	log "THAW_API_URL=$THAW_API_URL does not answer"
	exit 1
fi

if ! $thaw templates | awk -v t="$template" '$1 == t && $2 == "ready" { f = 1 } END { exit !f }'
then
	log "template $template is not ready: baking it (a minute; minutes when it compiles the guest kernel first)"
	$thaw bake "$template"
fi

