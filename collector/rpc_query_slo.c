/* rpc_query_slo.c: the SLO answers of QueryService (docs/ANALYTICS.md, "SLOs"):
 * one check's good and bad rounds or results over its window, with maintenance
 * left out and the burn rates of the last hours, and the --slos file's groups
 * over their members. Runs on the control thread like rpc_query.c, whose
 * request context it shares (rpc_query_int.h). */
#include "rpc_query_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "rollup.h"
#include "rpc_query.h"
#include "rpc_query_arena.h"
#include "slo_config.h"

#define SHORT_SLO_US (6 * ROLLUP_HOUR_US) /* the longest burn-rate window, read per minute */

/* The SLO window evaluated: the configured one (or until - since when since was
 * given), in whole minutes, at least one. */
static int64_t slo_window(const struct ctx *c, int64_t configured_us)
{
    int64_t w = c->since_given ? c->until_us - c->since_us : configured_us;
    w = rollup_floor(w, ROLLUP_MINUTE_US);
    return w < ROLLUP_MINUTE_US ? ROLLUP_MINUTE_US : w;
}

/* Appends one check's SLO buckets over [until - window, until) to *b (grown
 * with realloc; the caller frees): for the part older than 6 h one bucket per
 * stretch between maintenance windows (maint_slo_buckets), per-minute buckets
 * for the last 6 h (the burn-rate windows) without the rounds in maintenance
 * (maint_exact_minutes).
 * 0, or -1 with c->err. */
static int slo_buckets(struct ctx *c, const struct store_check_meta *m, int64_t window_us, struct pk_an_bucket **b,
                       size_t *nb)
{
    const char *check = m->name;
    int64_t start = c->until_us - window_us;
    int64_t short_start = c->until_us - (window_us < SHORT_SLO_US ? window_us : SHORT_SLO_US);
    struct store_rollup_row *recent = NULL;
    size_t n_recent = 0;
    int rc = -1;
    if (short_start > start && maint_slo_buckets(c->store, c->maint, c->n_maint, m, c->region, start, short_start, b,
                                                 nb, c->err, c->errlen) < 0)
        goto out;
    struct store_rollup_filter f = {.since_us = short_start, .until_us = c->until_us, .check = check,
                                    .region = c->region, .group = STORE_ROLLUP_BY_CHECK,
                                    .bucket_us = ROLLUP_MINUTE_US};
    if (store_rollup_query(c->store, &f, &recent, &n_recent, c->err, c->errlen) < 0)
        goto out;
    struct pk_an_bucket *grown = realloc(*b, (*nb + n_recent + 1) * sizeof *grown);
    if (!grown) {
        snprintf(c->err, c->errlen, "out of memory");
        goto out;
    }
    *b = grown;
    struct pk_an_bucket *kept = NULL; /* the minutes outside maintenance windows, exact at its edges */
    size_t n_kept = 0;
    for (size_t i = 0; i < n_recent; i++)
        grown[*nb + i] = (struct pk_an_bucket){
            .start_us = recent[i].bucket_start_us, .width_us = ROLLUP_MINUTE_US,
            .n = {recent[i].ok, recent[i].degraded, recent[i].failed, recent[i].unknown}};
    if (maint_exact_minutes(c->store, c->maint, c->n_maint, m, c->region, short_start, c->until_us, grown + *nb,
                            n_recent, &kept, &n_kept, c->err, c->errlen) < 0)
        goto out;
    memcpy(grown + *nb, kept, n_kept * sizeof *kept);
    *nb += n_kept;
    free(kept);
    rc = 0;
out:
    free(recent);
    return rc;
}

/* The burn-rate messages of an evaluated SLO. 0, or -1 (out of memory). */
static int burn_msgs(struct ctx *c, const struct pk_slo_opts *o, const struct pk_slo *s, Picket__V1__SloBurn ***out,
                     size_t *n)
{
    NEW_MSGS(c->a, Picket__V1__SloBurn, picket__v1__slo_burn__init, (size_t)o->n_alerts, *out);
    *n = (size_t)o->n_alerts;
    for (int i = 0; i < o->n_alerts; i++) {
        (*out)[i]->long_window_us = o->alert[i].long_us;
        (*out)[i]->short_window_us = o->alert[i].short_us;
        (*out)[i]->factor = o->alert[i].factor;
        (*out)[i]->burn_long = s->alert[i].burn_long;
        (*out)[i]->burn_short = s->alert[i].burn_short;
        (*out)[i]->firing = s->alert[i].firing;
    }
    return 0;
oom:
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

/* The check's SLO over [until - W, until), W its window (or until - since when
 * since was given). NULL with err[0] == 0: no SLO. */
Picket__V1__CheckSlo *rq_slo_of(struct ctx *c, const struct store_check_meta *m)
{
    c->err[0] = '\0';
    if (!(m->meta.slo_target_percent > 0 && m->meta.slo_target_percent < 100 && m->meta.slo_window_ms > 0))
        return NULL;
    struct pk_slo_opts o;
    pk_slo_opts_default(&o);
    o.target = m->meta.slo_target_percent / 100.0;
    o.window_us = slo_window(c, m->meta.slo_window_ms * 1000);
    struct pk_an_bucket *b = NULL;
    size_t nb = 0;
    Picket__V1__CheckSlo *cs = NULL;
    if (slo_buckets(c, m, o.window_us, &b, &nb) < 0)
        goto out;
    struct pk_slo s;
    if (pk_slo_eval(b, nb, c->until_us, &o, &s, c->err, c->errlen) < 0)
        goto out;
    cs = ralloc(c->a, sizeof *cs);
    if (!cs)
        goto oom;
    picket__v1__check_slo__init(cs);
    cs->check_name = rstrdup(c->a, m->name);
    cs->service = rstrdup(c->a, m->service);
    cs->target = o.target;
    cs->window_us = o.window_us;
    cs->good = (int64_t)s.good;
    cs->bad = (int64_t)s.bad;
    cs->error_budget = s.error_budget;
    cs->budget_left = s.budget_left;
    cs->budget_left_min = s.budget_left_min;
    if (!cs->check_name || !cs->service)
        goto oom;
    if (burn_msgs(c, &o, &s, &cs->burns, &cs->n_burns) < 0)
        cs = NULL;
    goto out;
oom:
    cs = NULL;
    snprintf(c->err, c->errlen, "out of memory");
out:
    free(b);
    return cs;
}

/* ------------------------------------------------------------- group SLOs */

/* The --slos file, shared read-only by every thread once set. */
static const struct slo_config *slo_groups;

void rpc_query_set_slo_groups(const struct slo_config *cfg)
{
    slo_groups = cfg;
}

/* 1 when the group has a member among the checks the request selected. */
static int group_in_selection(const struct ctx *c, const struct slo_group *g)
{
    for (size_t i = 0; i < c->n_checks; i++)
        if (slo_group_selects(g, c->checks[i]->name, c->checks[i]->service))
            return 1;
    return 0;
}

/* A group SLO over all its members (every known check it selects, whatever the
 * request's check and service filters; the region filter applies): their SLO
 * buckets together, so good and bad add up (docs/ANALYTICS.md). NULL with err. */
static Picket__V1__GroupSlo *group_slo_of(struct ctx *c, const struct slo_group *g)
{
    struct pk_slo_opts o;
    pk_slo_opts_default(&o);
    o.target = g->target_percent / 100.0;
    o.window_us = slo_window(c, g->window_ms * 1000);
    struct pk_an_bucket *b = NULL;
    size_t nb = 0;
    Picket__V1__GroupSlo *gs = ralloc(c->a, sizeof *gs);
    if (!gs)
        goto oom;
    picket__v1__group_slo__init(gs);
    gs->members = ralloc(c->a, (c->n_meta ? c->n_meta : 1) * sizeof *gs->members);
    gs->check_patterns = ralloc(c->a, (g->n_patterns ? (size_t)g->n_patterns : 1) * sizeof *gs->check_patterns);
    gs->name = rstrdup(c->a, g->name);
    gs->description = rstrdup(c->a, g->description);
    gs->service = rstrdup(c->a, g->service);
    if (!gs->members || !gs->check_patterns || !gs->name || !gs->description || !gs->service)
        goto oom;
    for (int i = 0; i < g->n_patterns; i++)
        if (!(gs->check_patterns[gs->n_check_patterns++] = rstrdup(c->a, g->patterns[i])))
            goto oom;
    for (size_t i = 0; i < c->n_meta; i++) {
        const struct store_check_meta *m = &c->meta[i];
        if (!slo_group_selects(g, m->name, m->service))
            continue;
        if (!(gs->members[gs->n_members++] = rstrdup(c->a, m->name)))
            goto oom;
        if (slo_buckets(c, m, o.window_us, &b, &nb) < 0)
            goto fail;
    }
    struct pk_slo s;
    if (pk_slo_eval(b, nb, c->until_us, &o, &s, c->err, c->errlen) < 0)
        goto fail;
    gs->target = o.target;
    gs->window_us = o.window_us;
    gs->good = (int64_t)s.good;
    gs->bad = (int64_t)s.bad;
    gs->error_budget = s.error_budget;
    gs->budget_left = s.budget_left;
    gs->budget_left_min = s.budget_left_min;
    if (burn_msgs(c, &o, &s, &gs->burns, &gs->n_burns) < 0)
        goto fail;
    free(b);
    return gs;
oom:
    snprintf(c->err, c->errlen, "out of memory");
fail:
    free(b);
    return NULL;
}

static int by_group_name(const void *a, const void *b)
{
    const Picket__V1__GroupSlo *x = *(const Picket__V1__GroupSlo *const *)a;
    const Picket__V1__GroupSlo *y = *(const Picket__V1__GroupSlo *const *)b;
    return strcmp(x->name, y->name);
}

/* The group SLOs of an answer, by name (the file's order is not meaningful to
 * a reader). only: just that group (it must exist); otherwise those with a
 * member among the selected checks. 0, or -1 with err. */
int rq_group_slos(struct ctx *c, const char *only, Picket__V1__GroupSlo ***out, size_t *n)
{
    size_t ng = slo_groups ? slo_groups->n_groups : 0;
    *out = ralloc(c->a, (ng ? ng : 1) * sizeof **out);
    *n = 0;
    if (!*out) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (only && !slo_config_find(slo_groups, only)) {
        if (!slo_groups)
            return rq_fail_not_found(c, "SLO '%.128s' is not known: the collector has no --slos file", only);
        return rq_fail_invalid(c, "SLO '%.128s' is not in %.256s", only, slo_groups->origin);
    }
    for (size_t i = 0; i < ng; i++) {
        const struct slo_group *g = &slo_groups->groups[i];
        if (only ? strcmp(g->name, only) != 0 : !group_in_selection(c, g))
            continue;
        if (!((*out)[*n] = group_slo_of(c, g)))
            return -1;
        (*n)++;
    }
    qsort(*out, *n, sizeof **out, by_group_name);
    return 0;
}
