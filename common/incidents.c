/* incidents.c: incidents from a series of rounds (pk_rounds_slots), merging the
 * incidents of a service's checks, and MTTR/MTBF. Owns only the arrays it returns;
 * never reads a clock (an incident still open ends at the end of the given slots).
 * Definitions: docs/ANALYTICS.md, "Incidents". */
#include "analytics.h"
#include "buf.h"
#include "pk_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct incident_list {
    struct pk_incident *v;
    size_t n, cap;
};

static int push(struct incident_list *l, const struct pk_incident *inc)
{
    struct pk_incident *v = pk_grow(l->v, &l->cap, l->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    l->v = v;
    l->v[l->n++] = *inc;
    return 0;
}

int pk_incidents_detect(const struct pk_slot *s, size_t n, int64_t slot_us,
                        const struct pk_incident_opts *o, struct pk_incident **out, size_t *nout,
                        char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (o->open_after < 1 || o->close_after < 1)
        return pk_fail(err, errlen, "incidents: open_after and close_after must be >= 1 (got %d and %d)",
                    o->open_after, o->close_after);
    if (slot_us <= 0)
        return pk_fail(err, errlen, "incidents: round length must be > 0 (got %lld us)", (long long)slot_us);
    struct incident_list list = {0};
    struct pk_incident cur = {0};
    int in_incident = 0, down_run = 0, up_run = 0;
    int64_t run_start = 0, up_start = 0;
    uint64_t run_regions = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].state == PK_SLOT_NO_DATA)
            continue; /* no data is neither down nor up: it breaks no run */
        if (s[i].state == PK_SLOT_DOWN) {
            up_run = 0;
            if (in_incident) {
                cur.regions |= s[i].regions_down;
                cur.down_rounds++;
                continue;
            }
            if (down_run == 0) {
                run_start = s[i].start_us;
                run_regions = 0;
            }
            down_run++;
            run_regions |= s[i].regions_down;
            if (down_run >= o->open_after) {
                in_incident = 1;
                cur = (struct pk_incident){.start_us = run_start, .end_us = -1, .regions = run_regions,
                                           .down_rounds = down_run};
            }
            continue;
        }
        /* up */
        if (!in_incident) {
            down_run = 0;
            continue;
        }
        if (up_run == 0)
            up_start = s[i].start_us;
        if (++up_run >= o->close_after) {
            cur.end_us = up_start;
            cur.duration_us = cur.end_us - cur.start_us;
            if (push(&list, &cur) < 0)
                goto oom;
            in_incident = 0;
            down_run = up_run = 0;
        }
    }
    if (in_incident) {
        cur.end_us = -1;
        cur.duration_us = s[n - 1].start_us + slot_us - cur.start_us;
        if (push(&list, &cur) < 0)
            goto oom;
    }
    *out = list.v;
    *nout = list.n;
    return 0;
oom:
    free(list.v);
    return pk_fail(err, errlen, "incidents: out of memory");
}

static int64_t effective_end(const struct pk_incident *i) { return i->start_us + i->duration_us; }

static int by_start(const void *a, const void *b)
{
    const struct pk_incident *x = a, *y = b;
    return x->start_us < y->start_us ? -1 : x->start_us > y->start_us;
}

int pk_incidents_merge(const struct pk_incident *const *lists, const size_t *counts, size_t nlists,
                       struct pk_incident **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    size_t total = 0;
    for (size_t l = 0; l < nlists; l++)
        total += counts[l];
    if (total == 0)
        return 0;
    struct pk_incident *all = malloc(total * sizeof *all);
    if (!all)
        return -1;
    size_t k = 0;
    for (size_t l = 0; l < nlists; l++)
        for (size_t i = 0; i < counts[l]; i++)
            all[k++] = lists[l][i];
    qsort(all, total, sizeof *all, by_start);
    size_t m = 0; /* merged in place: all[0..m) */
    for (size_t i = 0; i < total; i++) {
        if (m > 0 && all[i].start_us <= effective_end(&all[m - 1])) {
            struct pk_incident *c = &all[m - 1];
            int64_t end = effective_end(c) > effective_end(&all[i]) ? effective_end(c) : effective_end(&all[i]);
            int open = c->end_us < 0 || all[i].end_us < 0;
            c->regions |= all[i].regions;
            c->down_rounds += all[i].down_rounds;
            c->duration_us = end - c->start_us;
            c->end_us = open ? -1 : end;
            continue;
        }
        all[m++] = all[i];
    }
    *out = all;
    *nout = m;
    return 0;
}

void pk_incident_stats(const struct pk_incident *inc, size_t n, int64_t observed_us,
                       struct pk_incident_stats *out)
{
    memset(out, 0, sizeof *out);
    out->count = n;
    out->observed_us = observed_us;
    int64_t closed_sum = 0;
    for (size_t i = 0; i < n; i++) {
        out->downtime_us += inc[i].duration_us;
        if (inc[i].end_us >= 0) {
            out->closed++;
            closed_sum += inc[i].duration_us;
        }
    }
    out->mttr_s = out->closed ? (double)closed_sum / (double)out->closed / 1e6 : NAN;
    int64_t up = observed_us - out->downtime_us;
    if (up < 0)
        up = 0;
    out->mtbf_s = n ? (double)up / (double)n / 1e6 : NAN;
}
