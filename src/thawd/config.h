/* thawd configuration: command-line options, each also settable through
 * an environment variable (the option wins). */
#ifndef THAW_CONFIG_H
#define THAW_CONFIG_H

#include <stdbool.h>

#include "core/host.h"

/* 0: run; 1: --help/--version printed, exit 0; -1: usage error printed. */
int config_load(int argc, char **argv, struct thawd_config *out, bool *teardown);
void config_free(struct thawd_config *c);

/* Exposed for tests. */
int config_parse_listen(const char *s, char **addr, int *port);

#endif
