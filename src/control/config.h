/* thaw-control's options: each from its --option or its THAW_ variable
 * (the option wins), validated in full before anything starts. */
#ifndef THAW_CONTROL_CONFIG_H
#define THAW_CONTROL_CONFIG_H

#include "log.h"

struct control_config {
	char *listen_addr;
	int listen_port;
	char *database_url;	 /* never logged: it may hold a password */
	char *keys_file;	 /* the fleet's API keys (httpapi/keys.h) */
	char *fleet_secret_file; /* what hosts present when they join */
	char *s3_endpoint, *s3_bucket, *s3_region;
	unsigned db_connections;
	int rate_limit;
	enum log_level log_level;
	char *print_host_key; /* --print-host-key NAME: print it and exit */
};

/* 0: loaded; 1: --help or --version printed; -1: a usage error printed. */
int control_config_load(int argc, char **argv, struct control_config *c);
void control_config_free(struct control_config *c);

#endif
