/* thaw bake: build a template, showing each step as the server reports
 * it (a bake takes about a minute; silence would look like a hang). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void bake_on_progress(const thaw_bake_progress *ev, void *userdata)
{
	(void)userdata;
	char *stage = cli_printable(ev->stage);
	char *message = cli_printable(ev->message);
	printf("[%d/%d] %s: %s\n", ev->step, ev->steps, stage, message);
	fflush(stdout);
	free(stage);
	free(message);
}

static int bake_run(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(&cmd_bake, (const struct cli_opt[]){ { 0 } }, false, argc, argv, &a);
	if (rc != 0 || (rc = cli_want_args(&cmd_bake, &a, 1, 1)) != 0)
		return cli_parse_exit(&cmd_bake, rc);
	if (!*a.pos[0])
		return cli_usage_error(&cmd_bake, "the template name must not be empty");
	thaw_client *c = cli_client(cli);
	thaw_bake_options o = { .on_progress = bake_on_progress };
	thaw_bake_result *res = NULL;
	thaw_error *e = NULL;
	if (!c)
		return EXIT_FAIL;
	if (thaw_template_bake(c, a.pos[0], &o, &res, &e) < 0)
		return cli_fail(e);
	char *build =
		cli_printable(res->template_info->build_id ? res->template_info->build_id : "?");
	char *name = cli_printable(res->template_info->name);
	printf("baked %s (build %s) in %.1f s\n", name, build, res->elapsed_ms / 1000.0);
	free(build);
	free(name);
	thaw_bake_result_free(res);
	return EXIT_OK;
}

const struct cli_command cmd_bake = {
	.name = "bake",
	.args = "NAME",
	.summary = "Bake a template from its recipe, showing progress.",
	.run = bake_run,
};
