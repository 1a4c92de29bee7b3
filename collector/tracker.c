/* tracker.c: the fold behind tracker.h. For each round of the range it sums
 * the results per region, sets each region's state and the global state (by
 * pk_round_decide: quorum reached, every expected region in, or the deadline
 * passed; undecided rounds are left out and reported as pending), then walks
 * each scope's runs from a quiet point (after the last up round before the
 * first affected incident) with pk_timeline_incidents. Never touches the
 * database or the clock. */
#include "tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

void tracker_fold_free(struct tracker_fold *f)
{
    for (int i = 0; i <= TRACKER_MAX_REGIONS; i++) {
        pk_timeline_free(&f->scopes[i].tl);
        free(f->scopes[i].inc);
        f->scopes[i].inc = NULL;
        f->scopes[i].n_inc = 0;
    }
}

static int set_state(struct tracker_scope *s, int64_t k, int state, uint64_t regions)
{
    int rc = pk_timeline_set(&s->tl, k, state, regions);
    if (rc > 0)
        s->changed = 1;
    return rc < 0 ? -1 : 0;
}

/* One round: cells [a, b) are its results (any order). */
static int fold_round(struct tracker_fold *f, int64_t k, const struct tracker_cell *c, size_t n, int64_t now_us)
{
    struct pk_round_cell per[TRACKER_MAX_REGIONS];
    memset(per, 0, sizeof per);
    for (size_t i = 0; i < n; i++) {
        per[c[i].region].good += c[i].good;
        per[c[i].region].bad += c[i].bad;
    }
    uint64_t data = 0, down = 0;
    for (int r = 0; r < f->n_regions; r++) {
        int st = pk_round_cell_state(&per[r]);
        if (st != PK_ROUND_NO_DATA)
            data |= UINT64_C(1) << r;
        if (st == PK_ROUND_DOWN)
            down |= UINT64_C(1) << r;
        if (set_state(&f->scopes[r], k, st, st == PK_ROUND_DOWN ? UINT64_C(1) << r : 0) < 0)
            return -1;
    }
    int gstate = PK_ROUND_NO_DATA;
    int64_t end = pk_round_start(k + 1, f->rule.interval_us, f->rule.spread_us);
    int decided = pk_round_decide(data, down, f->expected, f->rule.quorum, now_us, end, f->rule.deadline_us, &gstate);
    if (!decided && data) {
        gstate = PK_ROUND_NO_DATA;
        if (f->pending_from < 0) {
            f->pending_from = k;
            f->pending_due_us = end + f->rule.deadline_us;
        }
        f->pending_to = k;
    }
    return set_state(&f->scopes[f->n_regions], k, gstate, gstate == PK_ROUND_DOWN ? down : 0);
}

/* The scope's incidents from a quiet point: just after the last up round before
 * inc_from0 (no incident and no down run is in progress there), or from its
 * first run when none is loaded before. */
static int scope_incidents(struct tracker_scope *s, const struct tracker_rule *rule, char *err, size_t errlen)
{
    const struct pk_timeline *t = &s->tl;
    int64_t from0 = s->inc_from0;
    int64_t start = from0;
    int found = 0;
    for (size_t i = t->n; i-- > 0 && !found;) {
        const struct pk_round_run *r = &t->runs[i];
        if (r->from >= from0 || r->state != PK_ROUND_UP)
            continue;
        start = (r->to < from0 - 1 ? r->to : from0 - 1) + 1;
        found = 1;
    }
    if (!found && t->n && t->runs[0].from < start)
        start = t->runs[0].from;
    s->inc_from = start;
    free(s->inc);
    s->inc = NULL;
    s->n_inc = 0;
    if (!t->n || t->runs[t->n - 1].to < start)
        return 0;
    return pk_timeline_incidents(t, start, t->runs[t->n - 1].to + 1, rule->open_after, rule->close_after, &s->inc,
                                 &s->n_inc, err, errlen);
}

int tracker_apply(struct tracker_fold *f, const struct tracker_cell *cells, size_t n, int64_t now_us, char *err,
                  size_t errlen)
{
    const struct tracker_rule *r = &f->rule;
    if (r->interval_us <= 0 || r->open_after < 1 || r->close_after < 1 || r->quorum < 1)
        return pk_fail(err, errlen, "tracker: bad rule (interval %lld us, N %d, M %d, quorum %d)",
                       (long long)r->interval_us, r->open_after, r->close_after, r->quorum);
    if (f->n_regions < 0 || f->n_regions > TRACKER_MAX_REGIONS)
        return pk_fail(err, errlen, "tracker: %d regions (at most %d)", f->n_regions, TRACKER_MAX_REGIONS);
    if (f->k_hi < f->k_lo || f->k_hi - f->k_lo >= TRACKER_MAX_SPAN)
        return pk_fail(err, errlen, "tracker: rounds %lld..%lld: empty or more than %lld at once", (long long)f->k_lo,
                       (long long)f->k_hi, (long long)TRACKER_MAX_SPAN);
    f->pending_from = f->pending_to = f->pending_due_us = -1;
    /* The cells by round: a counting sort over [k_lo, k_hi] (O(cells + rounds);
     * a round's cells stay in any order). */
    size_t span = (size_t)(f->k_hi - f->k_lo + 1);
    struct tracker_cell *c = malloc((n ? n : 1) * sizeof *c);
    size_t *at = calloc(span + 1, sizeof *at);
    if (!c || !at) {
        free(c);
        free(at);
        return pk_fail(err, errlen, "tracker: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (cells[i].k >= f->k_lo && cells[i].k <= f->k_hi && cells[i].region >= 0 && cells[i].region < f->n_regions)
            at[cells[i].k - f->k_lo + 1]++;
    for (size_t q = 1; q <= span; q++)
        at[q] += at[q - 1];
    for (size_t i = 0; i < n; i++)
        if (cells[i].k >= f->k_lo && cells[i].k <= f->k_hi && cells[i].region >= 0 && cells[i].region < f->n_regions)
            c[at[cells[i].k - f->k_lo]++] = cells[i];
    /* at[q] is now the end of round k_lo + q's cells, at[q - 1] its start (0 for q = 0) */
    int rc = 0;
    for (size_t q = 0; q < span && rc == 0; q++) {
        size_t from = q ? at[q - 1] : 0;
        rc = fold_round(f, f->k_lo + (int64_t)q, &c[from], at[q] - from, now_us);
    }
    free(c);
    free(at);
    if (rc < 0)
        return pk_fail(err, errlen, "tracker: out of memory (or more than %d runs)", PK_ROUNDS_MAX_RUNS);
    for (int s = 0; s <= f->n_regions; s++)
        if (scope_incidents(&f->scopes[s], r, err, errlen) < 0)
            return -1;
    return 0;
}
