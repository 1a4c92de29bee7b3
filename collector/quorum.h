/* quorum.h: whether a requested quorum (regions down in the same round for a
 * global outage) can ever be met by the regions the collector knows. */
#ifndef PK_COLLECTOR_QUORUM_H
#define PK_COLLECTOR_QUORUM_H

#include <stddef.h>

struct store;

/* 0 when quorum is 0 (a majority) or at most the number of distinct regions
 * of the known probes; -2 with "quorum N is more than the M regions the
 * collector knows (a, b)" (or the range) in err; -1 when the store failed. */
int query_quorum_check(struct store *s, int quorum, char *err, size_t errlen);

#endif
