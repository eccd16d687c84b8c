#include "nft.h"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"

/* What a guest may never reach, whatever NAT would make of it. */
static const char blocked[] = "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, "
			      "169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4, "
			      "240.0.0.0/4";

int nft_run(const char *script, struct thaw_err **err)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return err_set(err, ERR_UNAVAILABLE, "libnftables: cannot create a context");
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, script);
	if (rc != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		char line[512];
		snprintf(line, sizeof(line), "%s", e ? e : "");
		line[strcspn(line, "\n")] = '\0';
		err_set(err, ERR_UNAVAILABLE, "nftables: %s", line[0] ? line : "command failed");
	}
	nft_ctx_free(ctx);
	return rc == 0 ? 0 : -1;
}

int nft_host_install(const struct nft_host_rules *r, struct thaw_err **err)
{
	const char *p = r->if_prefix;
	_cleanup_free_ char *allow =
		r->allow && *r->allow ? xasprintf("elements = { %s }", r->allow) : xstrdup("");
	_cleanup_free_ char *guard =
		r->publish_addr
			? xasprintf("  ip daddr %s tcp dport %d-%d tcp dport != @published drop\n",
				    r->publish_addr, r->publish_lo, r->publish_hi)
			: xstrdup("");
	/* "add" then "delete" then the new table: one transaction that also
	 * works when the table does not exist yet. */
	_cleanup_free_ char *script = xasprintf(
		"add table inet %1$s\n"
		"delete table inet %1$s\n"
		"table inet %1$s {\n"
		" set blocked { type ipv4_addr; flags interval; elements = { %2$s } }\n"
		" set allowed { type ipv4_addr; flags interval; %3$s }\n"
		" set published { type inet_service; }\n"
		" chain input {\n"
		"  type filter hook input priority filter - 1; policy accept;\n"
		"  iifname \"%4$s*\" drop\n"
		"%6$s"
		" }\n"
		" chain forward {\n"
		"  type filter hook forward priority filter - 1; policy accept;\n"
		"  iifname \"%4$s*\" ip daddr @allowed accept\n"
		"  iifname \"%4$s*\" ip daddr @blocked drop\n"
		"  iifname \"%4$s*\" ip daddr %5$s drop\n"
		"  iifname \"%4$s*\" meta nfproto ipv6 drop\n"
		"  iifname \"%4$s*\" accept\n"
		"  oifname \"%4$s*\" ct state established,related accept\n"
		"  oifname \"%4$s*\" drop\n"
		" }\n"
		" chain postrouting {\n"
		"  type nat hook postrouting priority srcnat; policy accept;\n"
		"  ip saddr %5$s oifname != \"%4$s*\" masquerade\n"
		" }\n"
		"}\n",
		r->table, blocked, allow, p, r->slot_cidr, guard);
	return nft_run(script, err);
}

int nft_publish_set(const char *table, int host_port, bool add, struct thaw_err **err)
{
	/* "add element" first so that a delete of a missing one succeeds. */
	_cleanup_free_ char *script =
		add ? xasprintf("add element inet %s published { %d }\n", table, host_port)
		    : xasprintf("add element inet %1$s published { %2$d }\n"
				"delete element inet %1$s published { %2$d }\n",
				table, host_port);
	return nft_run(script, err);
}

int nft_host_remove(const char *table, struct thaw_err **err)
{
	_cleanup_free_ char *script =
		xasprintf("add table inet %1$s\ndelete table inet %1$s\n", table);
	return nft_run(script, err);
}

int nft_slot_install(struct thaw_err **err)
{
	return nft_run("table ip thaw {\n"
		       " chain postrouting {\n"
		       "  type nat hook postrouting priority srcnat; policy accept;\n"
		       "  oifname \"veth0\" masquerade\n"
		       " }\n"
		       "}\n",
		       err);
}
