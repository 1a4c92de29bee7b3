/* hb_batch.h: probes' heartbeats stored in batches. Every heartbeat marks its
 * probe seen and records its spool figures in PostgreSQL; one UPDATE per
 * heartbeat on the one control thread is 1,000 statements a second with 10,000
 * probes, which starves Register and everything else queued there. So a
 * heartbeat only lands in a buffer (the latest per probe wins), and one control
 * job stores the whole buffer in one statement; while that job waits its turn
 * the next heartbeats join the same buffer, so the batch grows with the load
 * and a lone heartbeat is stored at once. */
#ifndef PK_HB_BATCH_H
#define PK_HB_BATCH_H

#include <stdint.h>

#include "ingest.h"
#include "store.h"

/* Any thread. Never blocks on the database; drops the heartbeat only when out
 * of memory or when the control queue is full (the next one carries the same). */
void hb_batch_add(struct ingest *in, int64_t probe_id, const struct store_heartbeat *hb);

/* Heartbeats stored, statements used (for /metrics). */
void hb_batch_stats(uint64_t *heartbeats, uint64_t *statements);

#endif
