/* quorum.c: refuses a quorum no set of known regions can reach, naming the
 * regions the collector knows (those with a probe), so `--quorum 9` with two
 * regions is an error rather than an availability that is never down. Reads
 * the probes through the store; never writes. */
#include "quorum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "buf.h"
#include "store.h"

int query_quorum_check(struct store *s, int quorum, char *err, size_t errlen)
{
    if (quorum < 0 || quorum > PK_AN_MAX_REGIONS) {
        snprintf(err, errlen, "quorum must be 0 (a majority) or 1..%d, got %d", PK_AN_MAX_REGIONS, quorum);
        return -2;
    }
    if (quorum == 0)
        return 0;
    struct store_probe_row *probes = NULL;
    size_t np = 0;
    if (store_probe_status(s, &probes, &np, err, errlen) < 0)
        return -1;
    char names[512];
    struct pk_buf b;
    pk_buf_init_fixed(&b, names, sizeof names);
    int n_regions = 0;
    for (size_t i = 0; i < np; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(probes[j].region, probes[i].region) == 0;
        if (!seen)
            pk_buf_addf(&b, "%s%s", n_regions++ ? ", " : "", probes[i].region);
    }
    free(probes);
    if (quorum <= n_regions)
        return 0;
    snprintf(err, errlen,
             "quorum %d is more than the %d region%s the collector knows (%s): a global outage could never be declared",
             quorum, n_regions, n_regions == 1 ? "" : "s", n_regions ? names : "none");
    return -2;
}
