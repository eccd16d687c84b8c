#!/bin/bash
# The main job end to end: install, build, start thawd, bake the default
# template, create a sandbox, run Python in it, delete it. thawd keeps
# running afterwards so you can go on with the `thaw` CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=${THAW_DATA_DIR:-/var/lib/thaw}
listen=${THAW_LISTEN:-127.0.0.1:7420}
# E2B's SDKs reach the same thawd here (docs/e2b.md).
e2b_listen=${THAW_E2B_LISTEN:-127.0.0.1:7421}
# Host ports for services in sandboxes (docs/ports.md); `make test`'s
# thawds use 20000-26399, so the demo's never collide with them.
publish_range=${THAW_PUBLISH_RANGE:-127.0.0.1:16000-16099}
# Prometheus metrics without a key (docs/metrics.md): loopback only.
metrics_listen=${THAW_METRICS_LISTEN:-127.0.0.1:7422}
export THAW_API_URL=${THAW_API_URL:-http://$listen}
thaw=build/bin/thaw

step() { printf '\n== %s\n' "$*"; }

step "installing dependencies"
scripts/install-deps.sh

step "building"
make -j"$(nproc)" >/dev/null
echo "built build/bin/thawd, build/bin/thaw, build/bin/thaw-agent"

step "starting thawd ($listen, data in $data_dir)"
if $thaw health >/dev/null 2>&1; then
	echo "thawd is already running"
else
	mkdir -p "$data_dir/logs"
	nohup build/bin/thawd --data-dir "$data_dir" --listen "$listen" --e2b-listen "$e2b_listen" \
		--publish-range "$publish_range" --metrics-listen "$metrics_listen" \
		>>"$data_dir/logs/thawd.log" 2>&1 &
	echo "thawd pid $! (log: $data_dir/logs/thawd.log)"
	for _ in $(seq 1 100); do
		$thaw health >/dev/null 2>&1 && break
		sleep 0.1
	done
	$thaw health >/dev/null || { tail -n 20 "$data_dir/logs/thawd.log"; exit 1; }
fi
export THAW_API_KEY=${THAW_API_KEY:-$(cat "$data_dir/api-key")}

step "baking the default template (code-interpreter; the first bake on a machine also compiles the guest kernel: a few minutes)"
if $thaw templates | awk '$1 == "code-interpreter" && $2 == "ready" { found = 1 } END { exit !found }'; then
	echo "already baked; re-bake with: $thaw bake code-interpreter"
else
	$thaw bake code-interpreter
fi

step "creating a sandbox (snapshot restore, no boot)"
start=$(date +%s%N)
id=$($thaw create)
echo "created $id in $(( ($(date +%s%N) - start) / 1000000 )) ms"

step "running python3 -c 'print(2 ** 10)' in $id"
$thaw exec "$id" -- python3 -c 'print(2 ** 10)'

step "run_code in $id: a pandas DataFrame plotted with matplotlib, back as a PNG"
chart_dir=${THAW_DEMO_OUT:-$data_dir/demo}
mkdir -p "$chart_dir"
$thaw run-code --out-dir "$chart_dir" "$id" -c "$(printf '%s\n' \
	'import pandas as pd, matplotlib.pyplot as plt' \
	'df = pd.DataFrame({"n": range(1, 11)}); df["n_squared"] = df.n ** 2' \
	'df.plot(x="n", y="n_squared", title="made in a thaw sandbox")' \
	'plt.show()' \
	'df.describe().loc["mean"]')"

step "deleting $id"
$thaw rm "$id"

step "a managed PostgreSQL: the postgres template's snapshot holds a database that has run initdb and answered a query (baked once)"
if $thaw templates | awk '$1 == "postgres" && $2 == "ready" { found = 1 } END { exit !found }'; then
	echo "already baked"
else
	$thaw bake postgres
fi
start=$(date +%s%N)
db_out=$(mktemp)
db=$($thaw create --template postgres 2>"$db_out")
echo "created $db in $(( ($(date +%s%N) - start) / 1000000 )) ms, with its own password:"
cat "$db_out"
url=$(sed -n 's/^database: \(postgresql:[^ ]*\)$/\1/p' "$db_out")
password=$(sed -n 's/^password: \([^ ]*\).*/\1/p' "$db_out")
rm -f "$db_out"
if [ -n "$url" ]; then
	echo "psql from this machine, through the published port:"
	PGPASSWORD=$password psql "$url" -Atc "SELECT 'connected to ' || version()"
else
	echo "(this thawd has no --publish-range: use thaw port-forward $db 5432:5432)"
fi
$thaw rm "$db"

printf '\nthawd is still running: try\n  %s create\n  %s exec ID -- uname -a\n  %s metrics ID\nstop it with: pkill -TERM -x thawd\n' "$thaw" "$thaw" "$thaw"
printf '\nThe web console: http://%s/console/ (key: sudo cat %s/api-key)\n' "$listen" "$data_dir"
printf 'Prometheus metrics: curl http://%s/metrics\n' "$metrics_listen"
printf '\nE2B SDK programs run against it unchanged with (docs/e2b.md):\n'
# shellcheck disable=SC2016 # the command is printed for the user to run
printf '  export E2B_API_URL=http://%s E2B_SANDBOX_URL=http://%s E2B_DOMAIN=thaw.local E2B_API_KEY=$(cat %s/api-key)\n' \
	"$e2b_listen" "$e2b_listen" "$data_dir"
