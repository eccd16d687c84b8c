/* One sandbox's usage history: a fixed ring of compact samples, the
 * newest replacing the oldest once it is full. Pure data, no locking (the
 * usage table, core/usage.h, guards its rings).
 *
 * Size: a sample is 32 bytes (time as unix seconds in 32 bits, CPU in
 * hundredths of a percent, memory and disk in KiB, network in bytes), so
 * an hour at 5 s (720 samples) is 23 KiB per sandbox: 500 sandboxes keep
 * 11 MiB. The ring's storage is allocated once, at its first sample. */
#ifndef THAW_USERING_H
#define THAW_USERING_H

#include <stddef.h>
#include <stdint.h>

/* A sample as the API shows it. */
struct usage_point {
	int64_t t;	      /* unix seconds */
	double cpu_used_pct;  /* 0..100 of cpu_count vCPUs over the interval before t */
	uint32_t cpu_count;
	uint64_t mem_used, mem_total;	/* bytes */
	uint64_t disk_used, disk_total; /* bytes */
	uint64_t net_rx, net_tx;	/* bytes since the sandbox started */
};

/* As the ring keeps it. */
struct usage_sample {
	uint32_t t;
	uint16_t cpu_centipct;
	uint16_t cpu_count;
	uint32_t mem_kib;
	uint32_t disk_kib;
	uint64_t net_rx, net_tx;
};

struct usering {
	struct usage_sample *s; /* cap entries once the first sample came; owned */
	uint32_t cap;
	uint32_t head; /* where the next sample goes */
	uint32_t n;    /* samples kept, <= cap */
	/* The latest totals: they change rarely, so the ring keeps one copy
	 * and every point it answers carries them. */
	uint64_t mem_total, disk_total;
};

/* An empty ring of cap samples (nothing allocated yet; cap >= 1). */
void usering_init(struct usering *r, uint32_t cap);
void usering_free(struct usering *r);
/* Adds p (its totals become the ring's), dropping the oldest when full. */
void usering_push(struct usering *r, const struct usage_point *p);
/* The samples with start <= t <= end, oldest first, into out (up to max);
 * returns how many were written. */
size_t usering_range(const struct usering *r, int64_t start, int64_t end, struct usage_point *out,
		     size_t max);
/* Bytes a ring of cap samples holds once full (its storage and itself). */
size_t usering_bytes(uint32_t cap);

#endif
