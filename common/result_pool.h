/* result_pool.h: the arrays of struct pk_result that hold decoded batches,
 * reused instead of freed. A batch of 1,000 results is a 1 MB array; allocated
 * afresh for every batch, each of its pages faulted in and zeroed by the kernel
 * (a tenth of the collector's CPU per result at full ingest). Small batches are
 * plain malloc'd arrays. At most 128 MiB is kept, and none once ingest is quiet
 * (pk_results_pool_trim_idle). Any thread. */
#ifndef PK_RESULT_POOL_H
#define PK_RESULT_POOL_H

#include <stddef.h>

#include "result.h"

/* An array of at least n results (n >= 1), contents undefined; NULL when out
 * of memory. Give it back with pk_results_free and the same n. */
struct pk_result *pk_results_alloc(size_t n);
/* Returns v (from pk_results_alloc(n), or NULL) to the pool, or frees it when
 * the pool holds enough already. */
void pk_results_free(struct pk_result *v, size_t n);
/* Frees every array the pool holds (the memory goes back to the allocator). */
void pk_results_pool_drain(void);
/* Drains the pool when no pooled array was taken since the previous call (a
 * periodic caller: the collector's heap trim, every 10 s), so memory a burst
 * of large batches left in it goes back once ingest is quiet. 1 when drained. */
int pk_results_pool_trim_idle(void);
/* Bytes held in the pool now (for tests and /metrics). */
size_t pk_results_pool_bytes(void);
/* Bytes of the arrays handed out by pk_results_alloc and not yet given back to
 * pk_results_free: the decoded batches alive now (queued, or being stored). */
size_t pk_results_live_bytes(void);

#endif
