/* Percentiles for the benchmarks, one definition for all of them. */
#ifndef THAW_BENCH_PERCENTILE_H
#define THAW_BENCH_PERCENTILE_H

#include <stddef.h>

/* Nearest rank: the smallest sample with at least p% of the samples at
 * or below it, sorted[ceil(p * n / 100) - 1]. Always a measured value;
 * with fewer than 100 samples p99 is the max. Sorts v in place; 0 for
 * an empty set. */
double percentile(double *v, size_t n, unsigned p);

#endif
