/* thaw metrics: a sandbox's usage over time (CPU, memory, disk, network),
 * as a table or as JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* "90", "90s", "15m", "2h", "1d" to seconds; -1 when it is none of those. */
static long duration_s(const char *s)
{
	char *end = NULL;
	long n = strtol(s, &end, 10);
	if (end == s || n < 0 || n > 100000000)
		return -1;
	static const struct {
		const char *unit;
		long secs;
	} units[] = { { "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 } };
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (strcmp(end, units[i].unit) == 0)
			return n * units[i].secs;
	return -1;
}

/* Bytes as B, KiB, MiB or GiB, one decimal past bytes. */
static void size_text(unsigned long long b, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	size_t u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%llu B", b);
	else
		snprintf(out, len, "%.1f %s", v, unit[u]);
}

static void metrics_table(const thaw_metrics *m)
{
	static const char *const headers[] = { "TIME (UTC)", "CPU %", "MEM",    "MEM TOTAL",
					       "DISK",	     "NET RX", "NET TX" };
	struct cli_table *t = cli_table_new(7, headers);
	for (size_t i = 0; i < m->n; i++) {
		const thaw_metrics_point *p = &m->points[i];
		char when[32], cpu[16], mem[24], total[24], disk[24], rx[24], tx[24];
		time_t secs = (time_t)p->t;
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(cpu, sizeof(cpu), "%.1f", p->cpu_used_pct);
		size_text(p->mem_used_bytes, mem, sizeof(mem));
		size_text(p->mem_total_bytes, total, sizeof(total));
		size_text(p->disk_used_bytes, disk, sizeof(disk));
		size_text(p->net_rx_bytes, rx, sizeof(rx));
		size_text(p->net_tx_bytes, tx, sizeof(tx));
		const char *row[] = { when, cpu, mem, total, disk, rx, tx };
		cli_table_add(t, row);
	}
	cli_table_print(t);
}

static void metrics_json(const thaw_metrics *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const thaw_metrics_point *p = &m->points[i];
		printf("{\"t\":%lld,\"cpu_used_pct\":%.2f,\"cpu_count\":%d,\"mem_used_bytes\":%llu,"
		       "\"mem_total_bytes\":%llu,\"disk_used_bytes\":%llu,\"disk_total_bytes\":%llu,"
		       "\"net_rx_bytes\":%llu,\"net_tx_bytes\":%llu}\n",
		       p->t, p->cpu_used_pct, p->cpu_count, p->mem_used_bytes, p->mem_total_bytes,
		       p->disk_used_bytes, p->disk_total_bytes, p->net_rx_bytes, p->net_tx_bytes);
	}
}

static int metrics_run(struct cli *cli, int argc, char **argv)
{
	bool json = false;
	const char *since = NULL;
	const struct cli_opt opts[] = { { "json", 0, OPT_FLAG, &json },
					{ "since", 0, OPT_VALUE, &since },
					{ 0 } };
	struct cli_args a;
	int rc = cli_parse(&cmd_metrics, opts, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_metrics, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_metrics, rc);
	thaw_metrics_options mo = { 0 };
	if (since) {
		long secs = duration_s(since);
		if (secs < 0)
			return cli_usage_error(&cmd_metrics,
					       "--since wants a duration like 90s, 15m or 2h");
		mo.start = (long long)time(NULL) - secs;
	}
	thaw_client *c = cli_client(cli);
	if (!c)
		return EXIT_FAIL;
	thaw_metrics *m = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_metrics(c, a.pos[0], &mo, &m, &e) < 0)
		return cli_fail(e);
	if (json)
		metrics_json(m);
	else
		metrics_table(m);
	thaw_metrics_free(m);
	return EXIT_OK;
}

const struct cli_command cmd_metrics = {
	.name = "metrics",
	.args = "[--since DURATION] [--json] ID",
	.summary = "Show a sandbox's CPU, memory, disk and network use over time.",
	.help = "thawd samples every running sandbox (every 5 s by default) and keeps the\n"
		"last hour in memory; a paused sandbox has no samples while paused, and a\n"
		"restart of thawd starts the history anew. Network bytes count from the\n"
		"sandbox's start.\n"
		"\n"
		"Options:\n"
		"  --since DURATION  only the samples of the last DURATION (90s, 15m, 2h)\n"
		"  --json            one JSON object per sample, oldest first\n",
	.run = metrics_run,
};
