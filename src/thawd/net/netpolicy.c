#include "net/netpolicy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct netpolicy *netpolicy_default(void)
{
	struct netpolicy *p = xcalloc(1, sizeof(*p));
	p->internet = true;
	return p;
}

static struct netpolicy_rule *rules_dup(const struct netpolicy_rule *r, size_t n)
{
	if (!n)
		return NULL;
	struct netpolicy_rule *c = xmalloc(n * sizeof(*c));
	memcpy(c, r, n * sizeof(*c));
	return c;
}

struct netpolicy *netpolicy_copy(const struct netpolicy *p)
{
	struct netpolicy *c = xcalloc(1, sizeof(*c));
	*c = *p;
	c->allow = rules_dup(p->allow, p->n_allow);
	c->deny = rules_dup(p->deny, p->n_deny);
	return c;
}

void netpolicy_free(struct netpolicy *p)
{
	if (!p)
		return;
	free(p->allow);
	free(p->deny);
	free(p);
}

bool netpolicy_is_default(const struct netpolicy *p)
{
	return p->internet && !p->n_allow && !p->n_deny;
}

/* Decimal digits only, no sign or space (strtoul alone takes " +5"), at
 * most max. */
static bool parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	if (!len || len > 5)
		return false;
	unsigned long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

int netpolicy_parse_rule(const char *s, struct netpolicy_rule *out, struct thaw_err **err)
{
	size_t len = strlen(s);
	if (len == 0 || len >= NETPOLICY_RULE_MAX)
		return err_set(err, ERR_INVALID, "\"%.40s\" is not an IPv4 CIDR[:port]", s);
	const char *colon = strchr(s, ':');
	const char *slash = strchr(s, '/');
	size_t addr_len = slash ? (size_t)(slash - s) : colon ? (size_t)(colon - s) : len;
	if (slash && colon && colon < slash)
		return err_set(err, ERR_INVALID, "\"%s\": the port comes after the prefix", s);
	char addr[INET_ADDRSTRLEN];
	struct in_addr a;
	if (addr_len >= sizeof(addr))
		return err_set(err, ERR_INVALID, "\"%s\" is not an IPv4 address", s);
	memcpy(addr, s, addr_len);
	addr[addr_len] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return err_set(err, ERR_INVALID, "\"%s\": \"%s\" is not an IPv4 address", s, addr);
	unsigned long prefix = 32, port = 0;
	if (slash) {
		size_t plen = colon ? (size_t)(colon - slash - 1) : strlen(slash + 1);
		if (!parse_uint(slash + 1, plen, 32, &prefix))
			return err_set(err, ERR_INVALID, "\"%s\": the prefix must be 0 to 32", s);
	}
	if (colon && (!parse_uint(colon + 1, strlen(colon + 1), 65535, &port) || port == 0))
		return err_set(err, ERR_INVALID, "\"%s\": the port must be 1 to 65535", s);
	uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
	out->net = ntohl(a.s_addr) & mask;
	out->prefix = (uint8_t)prefix;
	out->port = (uint16_t)port;
	return 0;
}

void netpolicy_format_rule(const struct netpolicy_rule *r, char *buf, size_t size)
{
	uint32_t n = r->net;
	int k = snprintf(buf, size, "%u.%u.%u.%u/%u", n >> 24, (n >> 16) & 255, (n >> 8) & 255,
			 n & 255, r->prefix);
	if (r->port && k > 0 && (size_t)k < size)
		snprintf(buf + k, size - (size_t)k, ":%u", r->port);
}

static int parse_list(json_t *v, const char *name, struct netpolicy_rule **out, size_t *n,
		      struct thaw_err **err)
{
	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return err_set(err, ERR_INVALID, "network.%s must be an array of strings", name);
	if (json_array_size(v) > NETPOLICY_MAX_ENTRIES)
		return err_set(err, ERR_INVALID, "network.%s has more than %d entries", name,
			       NETPOLICY_MAX_ENTRIES);
	struct netpolicy_rule *r = xcalloc(json_array_size(v) + 1, sizeof(*r));
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e) ||
		    netpolicy_parse_rule(json_string_value(e), &r[i], err) < 0) {
			free(r);
			if (!json_is_string(e))
				return err_set(err, ERR_INVALID, "network.%s[%zu] must be a string",
					       name, i);
			return err_wrap(err, "network.%s[%zu]", name, i);
		}
	}
	*out = r;
	*n = json_array_size(v);
	return 0;
}

int netpolicy_from_json(json_t *v, struct netpolicy **out, struct thaw_err **err)
{
	if (!json_is_object(v))
		return err_set(err, ERR_INVALID, "network must be an object");
	const char *key;
	json_t *f;
	json_object_foreach(v, key, f)
	{
		if (strcmp(key, "internet") != 0 && strcmp(key, "allow") != 0 &&
		    strcmp(key, "deny") != 0)
			return err_set(err, ERR_INVALID,
				       "unknown field \"%.64s\" in network (internet, allow, deny)",
				       key);
	}
	json_t *inet = json_object_get(v, "internet");
	if (inet && !json_is_boolean(inet))
		return err_set(err, ERR_INVALID, "network.internet must be true or false");
	struct netpolicy *p = netpolicy_default();
	p->internet = !inet || json_is_true(inet);
	if (parse_list(json_object_get(v, "allow"), "allow", &p->allow, &p->n_allow, err) < 0 ||
	    parse_list(json_object_get(v, "deny"), "deny", &p->deny, &p->n_deny, err) < 0) {
		netpolicy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int netpolicy_from_text(const char *text, struct netpolicy **out, struct thaw_err **err)
{
	if (!text) {
		*out = netpolicy_default();
		return 0;
	}
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!v)
		return err_set(err, ERR_CORRUPT, "the stored network policy is not JSON");
	int rc = netpolicy_from_json(v, out, err);
	json_decref(v);
	return rc;
}

static json_t *list_json(const struct netpolicy_rule *r, size_t n)
{
	json_t *a = json_array();
	char s[NETPOLICY_RULE_MAX];
	for (size_t i = 0; i < n; i++) {
		netpolicy_format_rule(&r[i], s, sizeof(s));
		json_array_append_new(a, json_string(s));
	}
	return a;
}

json_t *netpolicy_to_json(const struct netpolicy *p)
{
	return json_pack("{s:b,s:o,s:o}", "internet", p->internet, "allow",
			 list_json(p->allow, p->n_allow), "deny", list_json(p->deny, p->n_deny));
}

char *netpolicy_to_text(const struct netpolicy *p)
{
	json_t *o = netpolicy_to_json(p);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		abort(); /* allocation failure, like xmalloc */
	return s;
}

/* One rule per entry: with a port, TCP and UDP to that port. */
static void rules_nft(struct buf *b, const char *iif, const struct netpolicy_rule *r, size_t n,
		      const char *verdict)
{
	char addr[NETPOLICY_RULE_MAX];
	for (size_t i = 0; i < n; i++) {
		struct netpolicy_rule net = r[i];
		net.port = 0;
		netpolicy_format_rule(&net, addr, sizeof(addr));
		if (r[i].port)
			buf_printf(b,
				   "  iifname \"%s\" ip daddr %s meta l4proto { tcp, udp } "
				   "th dport %u %s\n",
				   iif, addr, r[i].port, verdict);
		else
			buf_printf(b, "  iifname \"%s\" ip daddr %s %s\n", iif, addr, verdict);
	}
}

char *netpolicy_nft_script(const struct netpolicy *p, const char *guest_if)
{
	struct buf b = { 0 };
	/* "add" then "delete" then the new table: one transaction that also
	 * works when the table does not exist yet. */
	buf_printf(&b, "add table inet " NETPOLICY_TABLE "\n"
		       "delete table inet " NETPOLICY_TABLE "\n"
		       "table inet " NETPOLICY_TABLE " {\n"
		       " chain egress {\n"
		       "  type filter hook forward priority filter; policy accept;\n");
	rules_nft(&b, guest_if, p->allow, p->n_allow, "accept");
	rules_nft(&b, guest_if, p->deny, p->n_deny, "drop");
	if (!p->internet)
		buf_printf(&b, "  iifname \"%s\" drop\n", guest_if);
	buf_printf(&b, " }\n}\n");
	return buf_steal(&b, NULL);
}

char *netpolicy_nft_remove_script(void)
{
	return xstrdup("add table inet " NETPOLICY_TABLE "\n"
		       "delete table inet " NETPOLICY_TABLE "\n");
}
