#include "core/usering.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

_Static_assert(sizeof(struct usage_sample) == 32, "a usage sample is 32 bytes");

void usering_init(struct usering *r, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap ? cap : 1;
}

void usering_free(struct usering *r)
{
	free(r->s);
	r->s = NULL;
	r->n = r->head = 0;
}

/* Saturating: a field that overflows its width reads as its largest value
 * rather than wrapping to a small one. */
static uint32_t kib32(uint64_t bytes)
{
	uint64_t k = (bytes + 1023) / 1024;
	return k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}

void usering_push(struct usering *r, const struct usage_point *p)
{
	if (!r->s)
		r->s = xcalloc(r->cap, sizeof(*r->s));
	double c = p->cpu_used_pct < 0 ? 0 : p->cpu_used_pct > 100 ? 100 : p->cpu_used_pct;
	r->s[r->head] = (struct usage_sample){
		.t = p->t < 0 ? 0 : p->t > UINT32_MAX ? UINT32_MAX : (uint32_t)p->t,
		.cpu_centipct = (uint16_t)(c * 100 + 0.5),
		.cpu_count = p->cpu_count > UINT16_MAX ? UINT16_MAX : (uint16_t)p->cpu_count,
		.mem_kib = kib32(p->mem_used),
		.disk_kib = kib32(p->disk_used),
		.net_rx = p->net_rx,
		.net_tx = p->net_tx,
	};
	r->head = (r->head + 1) % r->cap;
	if (r->n < r->cap)
		r->n++;
	r->mem_total = p->mem_total;
	r->disk_total = p->disk_total;
}

static void to_point(const struct usering *r, const struct usage_sample *s, struct usage_point *p)
{
	*p = (struct usage_point){
		.t = s->t,
		.cpu_used_pct = s->cpu_centipct / 100.0,
		.cpu_count = s->cpu_count,
		.mem_used = (uint64_t)s->mem_kib * 1024,
		.mem_total = r->mem_total,
		.disk_used = (uint64_t)s->disk_kib * 1024,
		.disk_total = r->disk_total,
		.net_rx = s->net_rx,
		.net_tx = s->net_tx,
	};
}

size_t usering_range(const struct usering *r, int64_t start, int64_t end, struct usage_point *out,
		     size_t max)
{
	size_t k = 0;
	uint32_t oldest = (r->head + r->cap - r->n) % r->cap;
	for (uint32_t i = 0; i < r->n && k < max; i++) {
		const struct usage_sample *s = &r->s[(oldest + i) % r->cap];
		if ((int64_t)s->t < start)
			continue;
		if ((int64_t)s->t > end)
			continue; /* not break: a clock set back may leave older times later */
		to_point(r, s, &out[k++]);
	}
	return k;
}

size_t usering_bytes(uint32_t cap)
{
	return sizeof(struct usering) + (size_t)cap * sizeof(struct usage_sample);
}
