/* A sandbox's own egress policy: which destinations its guest may reach,
 * on top of (never instead of) the host-wide rules of nft.h.
 *
 *   {"internet": true|false, "allow": ["CIDR[:port]", ...], "deny": [...]}
 *
 * A packet the guest sends out is decided in this order: an allow entry
 * that matches accepts it; else a deny entry that matches drops it; else
 * it is accepted when internet is true and dropped when false. An entry
 * is an IPv4 address or CIDR (a bare address is a /32; host bits are
 * cleared) with an optional destination port, which then matches TCP and
 * UDP only; without one it matches every protocol. IPv6 follows internet.
 *
 * The policy is enforced in the sandbox's slot namespace (slot.h), on
 * what the guest's tap forwards: the host-wide rules in the root
 * namespace still see every packet it accepts, so an allow never opens
 * what the host forbids.
 *
 * JSON in both directions is here, with one strict parser for API bodies
 * and database rows alike (both are hostile input). */
#ifndef THAW_NETPOLICY_H
#define THAW_NETPOLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define NETPOLICY_MAX_ENTRIES 256 /* per list */
/* The nftables table in every slot namespace that holds the policy. */
#define NETPOLICY_TABLE "thaw_policy"

struct netpolicy_rule {
	uint32_t net;	/* host byte order, host bits clear */
	uint8_t prefix; /* 0..32 */
	uint16_t port;	/* 0: any protocol, any port */
};

struct netpolicy {
	bool internet;
	size_t n_allow, n_deny;
	struct netpolicy_rule *allow, *deny; /* owned */
};

/* The policy of a sandbox that asked for none: internet, no lists. */
struct netpolicy *netpolicy_default(void);
struct netpolicy *netpolicy_copy(const struct netpolicy *p);
void netpolicy_free(struct netpolicy *p); /* NULL is fine */
bool netpolicy_is_default(const struct netpolicy *p);

/* "10.0.0.0/8", "1.2.3.4", "1.2.3.4:443", "1.2.3.0/24:53". ERR_INVALID
 * with the reason. */
int netpolicy_parse_rule(const char *s, struct netpolicy_rule *out, struct thaw_err **err);
/* The normalized text ("1.2.3.4/32:443"); size >= NETPOLICY_RULE_MAX. */
#define NETPOLICY_RULE_MAX 32
void netpolicy_format_rule(const struct netpolicy_rule *r, char *buf, size_t size);

/* An object with only internet, allow and deny (all optional). *out is
 * a new policy (netpolicy_free). */
int netpolicy_from_json(json_t *v, struct netpolicy **out, struct thaw_err **err);
/* The same from JSON text (a database row); NULL text: the default. */
int netpolicy_from_text(const char *text, struct netpolicy **out, struct thaw_err **err);
/* The normalized object: {"internet": b, "allow": [...], "deny": [...]}. */
json_t *netpolicy_to_json(const struct netpolicy *p);
/* Compact JSON text of netpolicy_to_json; free with free(). */
char *netpolicy_to_text(const struct netpolicy *p);

/* The nft script that replaces the slot's policy table in one
 * transaction (never a moment with no rules, or old and new mixed);
 * guest_if names the guest's tap. Free with free(). */
char *netpolicy_nft_script(const struct netpolicy *p, const char *guest_if);
/* The script that removes the table (a slot given back to the pool). */
char *netpolicy_nft_remove_script(void);

#endif
