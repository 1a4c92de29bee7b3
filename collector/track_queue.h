/* track_queue.h: what the writers hand the tracker thread after each commit:
 * per check, the span of round times its committed results touched, merged
 * while the tracker is busy (a check touched by ten groups is folded once).
 * Thread-safe; no database. */
#ifndef PK_TRACK_QUEUE_H
#define PK_TRACK_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct track_queue;

struct track_queue *track_queue_new(void);
void track_queue_free(struct track_queue *q);

/* Merges the checks and times of committed batches in. -1 out of memory (the
 * check's next batch or the deadline pass folds those rounds later). */
int track_queue_add(struct track_queue *q, const struct store_batch *b, size_t n);

/* Waits up to wait_ms for spans, then hands every pending one over (*out
 * malloc'd, caller frees; NULL and 0 when none). track_queue_wake ends a wait. */
size_t track_queue_take(struct track_queue *q, int wait_ms, struct store_track_span **out);
void track_queue_wake(struct track_queue *q);
/* Checks queued, or taken and not yet done. */
size_t track_queue_size(struct track_queue *q);
/* Spans whose fold failed for want of a database go back in (merged). */
int track_queue_put_back(struct track_queue *q, const struct store_track_span *spans, size_t n);
/* The spans of the last take are folded (or given up). */
void track_queue_done(struct track_queue *q);

#endif
