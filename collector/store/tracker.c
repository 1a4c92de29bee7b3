/* tracker.c: the tracker's SQL (migrations/017_round_tracking.sql). After
 * batches commit, the checks they touched are folded in groups of up to
 * CHECKS_PER_TRANSACTION, one transaction per group, under
 * pg_advisory_xact_lock(TRACK_LOCK_CLASS, check id) taken in check id order.
 * Each step is one statement for the whole group: the locks; the rules and
 * pending rounds (round_trackers); the expected regions; the results of the
 * touched rounds counted per (region, round); the stored runs from each
 * check's first affected incident on, with a lookback before it; then
 * tracker_apply per check and the runs, incidents and tracker rows written
 * back. A group the database refuses is folded again check by check, so one
 * bad check does not hold up the others. On Citus a group is one check and
 * its statements name it (routed() below). Readers (store_track_read_*) read
 * only these tables. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lock_keys.h"
#include "pk_error.h"
#include "round_cells.h"
#include "tracker.h"

#define TRACK_LOCK_CLASS PK_LOCK_CHECK_CLASS /* lock_keys.h: pg_advisory_xact_lock(class, check id) */
#define TS_OF(x) "('epoch'::timestamptz + " x " * interval '1 microsecond')"
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define GLOBAL_SCOPE "*"
_Static_assert(TRACKER_LOOKBACK_RUNS == 64, "the lookback query says LIMIT 64");
_Static_assert(PK_OUTCOME_OK == 1 && PK_OUTCOME_DEGRADED == 2 && PK_OUTCOME_FAILED == 3,
               "the cells query counts outcomes 1 and 2 as good, 3 as bad");
/* A result starts within this of its grid point (retries and timeouts included). */
#define LATE_START_SLACK_US (INT64_C(300) * 1000000)
#define DEFAULT_INTERVAL_US (INT64_C(60) * 1000000)
#define CHECKS_PER_TRANSACTION 64

struct span {
    int64_t check_id, t_min, t_max;
};

/* Everything one check's fold reads and writes. */
struct fold_ctx {
    struct store *s;
    const struct store_track_config *cfg;
    int64_t check_id, t_min, t_max;
    char id[24];
    char name[256];
    int64_t interval_ms;
    int known, skip, state_loaded; /* its checks row was read; no round to fold; its state was read */
    int have_tracker, rule_changed, interval_changed;
    int64_t pend_from, pend_to;
    char regions[TRACKER_MAX_REGIONS][128];
    struct tracker_fold f;
    struct tracker_cell *cells;
    size_t n_cells, cap_cells;
    struct pk_round_run *loaded[TRACKER_MAX_REGIONS + 1]; /* the runs as loaded, per scope (write_runs) */
    size_t n_loaded[TRACKER_MAX_REGIONS + 1];
};

/* One group's folds and the statements' shared parameters. */
struct group {
    struct store *s;
    const struct store_track_config *cfg;
    int64_t now_us;
    struct fold_ctx *c;
    size_t n;
    char *ids; /* "{id,...}" in fold order */
};

/* On Citus (round_runs, incidents and round_trackers distributed by check_id,
 * collector/store/citus.c) a group is one check (fold_layer), and the reads
 * and deletes joining the group's rows also name that check's id as a
 * constant: Citus then plans them as router queries on the one shard that
 * holds the check, which take any SQL (a group joined through unnest is
 * refused: "complex joins are only supported when ..."). Plain PostgreSQL
 * keeps one statement per group. */
static int routed(const struct group *g)
{
    return g->n == 1 && st_is_citus(g->s);
}

static int region_index(struct fold_ctx *c, const char *name, int add)
{
    for (int i = 0; i < c->f.n_regions; i++)
        if (strcmp(c->regions[i], name) == 0)
            return i;
    if (!add || c->f.n_regions >= TRACKER_MAX_REGIONS)
        return -1;
    snprintf(c->regions[c->f.n_regions], sizeof c->regions[0], "%s", name);
    return c->f.n_regions++;
}

static const char *scope_name(const struct fold_ctx *c, int s)
{
    return s == c->f.n_regions ? GLOBAL_SCOPE : c->regions[s];
}

static int64_t col_i64(const PGresult *r, int row, int col, int64_t dflt)
{
    return PQgetisnull(r, row, col) ? dflt : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The rows [*at, end) of r whose column 0 (the 1-based fold index) is o. */
static int rows_of(const PGresult *r, int *at, int64_t o)
{
    int from = *at;
    while (*at < PQntuples(r) && col_i64(r, *at, 0, 0) == o)
        (*at)++;
    return from;
}

static int lock_checks(struct group *g, char *err, size_t errlen)
{
    int64_t *keys = calloc(g->n, sizeof *keys);
    if (!keys)
        return pk_fail(err, errlen, "tracker: out of memory");
    for (size_t i = 0; i < g->n; i++)
        keys[i] = (int64_t)(int32_t)g->c[i].check_id;
    char *arr = st_bigint_array(keys, g->n);
    free(keys);
    if (!arr)
        return pk_fail(err, errlen, "tracker: out of memory");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_advisory_xact_lock(%d, k::int)) FROM (SELECT k FROM unnest($1::bigint[]) "
             "WITH ORDINALITY u(k, o) ORDER BY o) s",
             TRACK_LOCK_CLASS);
    const char *p[] = {arr};
    PGresult *r = st_run(g->s, sql, 1, p, PGRES_TUPLES_OK, "tracker: taking the checks' locks", err, errlen);
    free(arr);
    PQclear(r);
    return r ? 0 : -1;
}

/* One check's rule from its row of the rules query (o, name, interval_ms,
 * interval_us, open_after, close_after, quorum, pending_from, pending_to) and
 * its expected regions. */
static int set_rule(struct fold_ctx *c, const PGresult *r, int row, int n_expected, char *err, size_t errlen)
{
    c->known = 1;
    snprintf(c->name, sizeof c->name, "%s", PQgetvalue(r, row, 1));
    c->interval_ms = col_i64(r, row, 2, 0);
    int64_t interval_us = c->interval_ms > 0 ? c->interval_ms * 1000 : DEFAULT_INTERVAL_US;
    if (c->interval_ms <= 0)
        c->interval_ms = interval_us / 1000;
    c->have_tracker = !PQgetisnull(r, row, 3);
    int64_t old_interval = col_i64(r, row, 3, 0);
    int old_n = (int)col_i64(r, row, 4, 0), old_m = (int)col_i64(r, row, 5, 0), old_q = (int)col_i64(r, row, 6, 0);
    c->pend_from = col_i64(r, row, 7, -1);
    c->pend_to = col_i64(r, row, 8, -1);

    struct tracker_rule *rule = &c->f.rule;
    rule->interval_us = interval_us;
    rule->spread_us = pk_round_spread_us(c->name, c->interval_ms);
    rule->open_after = c->cfg->open_after;
    rule->close_after = c->cfg->close_after;
    rule->quorum = c->cfg->quorum > 0 ? c->cfg->quorum : (n_expected > 0 ? n_expected / 2 + 1 : 1);
    rule->deadline_us = c->cfg->deadline_us;
    c->interval_changed = c->have_tracker && old_interval != interval_us;
    c->rule_changed = c->have_tracker && (old_n != rule->open_after || old_m != rule->close_after ||
                                          old_q != rule->quorum);
    if (c->interval_changed) {
        /* Round numbers mean other instants now: what was stored is another grid. */
        const char *p[] = {c->id};
        if (st_run_cmd(c->s, "DELETE FROM round_runs WHERE check_id = $1::bigint", 1, p, "tracker: resetting runs",
                       err, errlen) < 0 ||
            st_run_cmd(c->s, "DELETE FROM incidents WHERE check_id = $1::bigint", 1, p,
                       "tracker: resetting incidents", err, errlen) < 0)
            return -1;
        c->pend_from = c->pend_to = -1;
    }
    return 0;
}

/* The rounds to fold: those of [t_min, t_max] and the pending ones. */
static void set_span(struct fold_ctx *c)
{
    const struct tracker_rule *rule = &c->f.rule;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    if (c->t_min <= c->t_max) {
        lo = pk_round_index(c->t_min, c->t_min, rule->interval_us, rule->spread_us);
        hi = pk_round_index(c->t_max, c->t_max, rule->interval_us, rule->spread_us);
    }
    if (c->pend_from >= 0 && c->pend_to >= c->pend_from) {
        lo = c->pend_from < lo ? c->pend_from : lo;
        hi = c->pend_to > hi ? c->pend_to : hi;
    }
    c->skip = lo > hi;
    if (c->skip)
        return;
    if (hi - lo >= TRACKER_MAX_SPAN)
        lo = hi - TRACKER_MAX_SPAN + 1; /* a spool older than that is folded by its own batches */
    c->f.k_lo = lo;
    c->f.k_hi = hi;
}

/* Every check's rule and pending rounds, then its expected regions: two
 * statements for the group. */
static int load_rules(struct group *g, char *err, size_t errlen)
{
    const char *p[] = {g->ids};
    PGresult *r = st_run(g->s,
                         "SELECT x.o, c.name, c.interval_ms, t.interval_us, t.open_after, t.close_after, t.quorum, "
                         "t.pending_from, t.pending_to FROM unnest($1::bigint[]) WITH ORDINALITY x(id, o) "
                         "JOIN checks c ON c.id = x.id LEFT JOIN round_trackers t ON t.check_id = c.id ORDER BY x.o",
                         1, p, PGRES_TUPLES_OK, "tracker: reading the checks", err, errlen);
    PGresult *reg = r ? st_run(g->s,
                               "SELECT x.o, pr.region FROM unnest($1::bigint[]) WITH ORDINALITY x(id, o) "
                               "JOIN LATERAL (SELECT DISTINCT p.region FROM probe_checks pc JOIN probes p ON "
                               "p.id = pc.probe_id WHERE pc.check_id = x.id) pr ON true ORDER BY 1, 2",
                               1, p, PGRES_TUPLES_OK, "tracker: reading the checks' regions", err, errlen)
                      : NULL;
    int rc = reg ? 0 : -1;
    for (int row = 0, rrow = 0; rc == 0 && row < PQntuples(r); row++) {
        int64_t o = col_i64(r, row, 0, 0);
        if (o < 1 || (size_t)o > g->n)
            continue;
        struct fold_ctx *c = &g->c[o - 1];
        while (rrow < PQntuples(reg) && col_i64(reg, rrow, 0, 0) < o)
            rrow++;
        int from = rows_of(reg, &rrow, o);
        for (int i = from; i < rrow; i++) {
            int k = region_index(c, PQgetvalue(reg, i, 1), 1);
            if (k >= 0)
                c->f.expected |= UINT64_C(1) << k;
        }
        rc = set_rule(c, r, row, rrow - from, err, errlen);
    }
    for (size_t i = 0; rc == 0 && i < g->n; i++) {
        if (!g->c[i].known)
            rc = pk_fail(err, errlen, "tracker: check %s is not known", g->c[i].id);
        else
            set_span(&g->c[i]);
    }
    PQclear(r);
    PQclear(reg);
    return rc;
}

/* The results of a check's rounds counted per (region, round): o, region, the
 * round's start (us), good, bad. The round is date_bin over the check's grid
 * (interval, spread), as pk_round_index; grouped on the timestamp, so no
 * per-row arithmetic on numeric epochs. */
#define CELL_COUNTS "count(*) FILTER (WHERE r.outcome IN (1, 2)), count(*) FILTER (WHERE r.outcome = 3)"
#define CELL_ROWS(id, lo, hi, iv, sp)                                                                         \
    "(SELECT r.probe_id, r.outcome, date_bin(" iv " * interval '1 microsecond', "                           \
    "coalesce(r.scheduled_at, r.started_at), " TS_OF(sp) ") AS b FROM results r WHERE r.check_id = " id      \
    " AND r.started_at >= " TS_OF(lo) " AND r.started_at < " TS_OF(hi) " AND r.outcome IN (1, 2, 3) OFFSET 0) r "
/* All checks at once (a LATERAL index range each: OFFSET 0 keeps the planner
 * from flattening it into a hash join over a scan of every result); Citus refuses a correlated
 * read of the distributed results, so there each check has its own. */
static const char cells_sql[] =
    "SELECT x.o, p.region, " US_OF("r.b") ", " CELL_COUNTS " FROM unnest($1::bigint[], $2::bigint[], "
    "$3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS x(id, lo, hi, iv, sp, o) CROSS JOIN LATERAL "
    CELL_ROWS("x.id", "x.lo", "x.hi", "x.iv", "x.sp") "JOIN probes p ON p.id = r.probe_id GROUP BY x.o, p.region, r.b";
static const char cells_one_sql[] =
    "SELECT $6::bigint, p.region, " US_OF("r.b") ", " CELL_COUNTS " FROM "
    CELL_ROWS("$1::bigint", "$2::bigint", "$3::bigint", "$4::bigint", "$5::bigint")
    "JOIN probes p ON p.id = r.probe_id GROUP BY p.region, r.b";

static int add_cell(struct fold_ctx *c, int64_t at, const char *region, uint32_t good, uint32_t bad, char *err,
                    size_t errlen)
{
    int64_t k = pk_round_index(at, at, c->f.rule.interval_us, c->f.rule.spread_us);
    if (k < c->f.k_lo || k > c->f.k_hi)
        return 0;
    int reg = region_index(c, region, 1);
    if (reg < 0)
        return 0;
    struct tracker_cell *v = pk_grow(c->cells, &c->cap_cells, c->n_cells + 1, sizeof *v, 0);
    if (!v)
        return pk_fail(err, errlen, "tracker: out of memory");
    c->cells = v;
    v[c->n_cells++] = (struct tracker_cell){k, reg, good, bad};
    return 0;
}

static int take_cells(struct group *g, const PGresult *r, char *err, size_t errlen)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        int64_t o = col_i64(r, i, 0, 0);
        if (o >= 1 && (size_t)o <= g->n)
            rc = add_cell(&g->c[o - 1], col_i64(r, i, 2, 0), PQgetvalue(r, i, 1), (uint32_t)col_i64(r, i, 3, 0),
                          (uint32_t)col_i64(r, i, 4, 0), err, errlen);
    }
    return rc;
}

#define CELL_ARGS 6 /* id, lo, hi, iv, sp, o */

/* The checks whose rounds all lie where the writers' round_cells are complete
 * (round_cells.h) get their cells from there, in one statement; the others
 * (older rounds) are marked for load_cells' read of the results. */
static int load_round_cells(struct group *g, int *from_results, char *err, size_t errlen)
{
    int64_t since = INT64_MAX;
    if (st_cells_since(g->s, &since, err, errlen) < 0)
        return -1;
    int64_t wall = pk_now_us(), now = g->now_us < wall ? g->now_us : wall;
    int64_t floor_us = now - ROUND_CELLS_USE_US > since ? now - ROUND_CELLS_USE_US : since;
    int64_t *v = calloc(g->n * 4 + 1, sizeof *v);
    if (!v)
        return pk_fail(err, errlen, "tracker: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct fold_ctx *c = &g->c[i];
        const struct tracker_rule *rule = &c->f.rule;
        from_results[i] = 0;
        if (c->skip)
            continue;
        int64_t lo = pk_round_start(c->f.k_lo, rule->interval_us, rule->spread_us);
        if (since == INT64_MAX || lo < floor_us) {
            from_results[i] = 1;
            continue;
        }
        v[m] = c->check_id;
        v[g->n + m] = lo;
        v[2 * g->n + m] = pk_round_start(c->f.k_hi + 1, rule->interval_us, rule->spread_us);
        v[3 * g->n + m] = (int64_t)i + 1;
        m++;
    }
    PGresult *r = m ? st_cells_read(g->s, v, v + g->n, v + 2 * g->n, v + 3 * g->n, m, err, errlen) : NULL;
    free(v);
    if (m && !r)
        return -1;
    int rc = 0;
    for (int row = 0; r && rc == 0 && row < PQntuples(r); row++) {
        int64_t o = st_cells_row_o(r, row);
        if (o < 1 || (size_t)o > g->n)
            continue;
        const char *region = PQgetvalue(r, row, 1);
        for (size_t i = 0, n = st_cells_row_n(r, row); rc == 0 && i < n; i++) {
            int64_t at;
            uint32_t good, bad;
            st_cells_row_get(r, row, i, &at, &good, &bad);
            rc = add_cell(&g->c[o - 1], at, region, good, bad, err, errlen);
        }
    }
    PQclear(r);
    return rc;
}

/* Every result of rounds [k_lo, k_hi] (all regions) of each check, as cells:
 * from round_cells where they are complete, else from the results. */
static int load_cells(struct group *g, char *err, size_t errlen)
{
    int *from_results = calloc(g->n + 1, sizeof *from_results);
    if (!from_results)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (load_round_cells(g, from_results, err, errlen) < 0) {
        free(from_results);
        return -1;
    }
    int64_t *v = calloc(g->n * CELL_ARGS + 1, sizeof *v);
    if (!v) {
        free(from_results);
        return pk_fail(err, errlen, "tracker: out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct fold_ctx *c = &g->c[i];
        const struct tracker_rule *rule = &c->f.rule;
        if (c->skip || !from_results[i])
            continue;
        int64_t row[CELL_ARGS] = {c->check_id,
                                  pk_round_start(c->f.k_lo, rule->interval_us, rule->spread_us) - 1000000,
                                  pk_round_start(c->f.k_hi + 1, rule->interval_us, rule->spread_us) +
                                      LATE_START_SLACK_US,
                                  rule->interval_us, rule->spread_us, (int64_t)i + 1};
        for (int k = 0; k < CELL_ARGS; k++)
            v[(size_t)k * g->n + m] = row[k];
        m++;
    }
    int rc = 0;
    if (m && !st_is_citus(g->s)) {
        char *a[CELL_ARGS] = {0};
        int oom = 0;
        for (int k = 0; k < CELL_ARGS; k++)
            oom |= !(a[k] = st_bigint_array(v + (size_t)k * g->n, m));
        const char *p[] = {a[0], a[1], a[2], a[3], a[4], a[5]};
        PGresult *r = oom ? NULL
                          : st_run(g->s, cells_sql, CELL_ARGS, p, PGRES_TUPLES_OK, "tracker: reading results", err,
                                   errlen);
        rc = r ? take_cells(g, r, err, errlen) : oom ? pk_fail(err, errlen, "tracker: out of memory") : -1;
        PQclear(r);
        for (int k = 0; k < CELL_ARGS; k++)
            free(a[k]);
    }
    for (size_t j = 0; rc == 0 && j < m && st_is_citus(g->s); j++) {
        char a[CELL_ARGS][24];
        for (int k = 0; k < CELL_ARGS; k++)
            snprintf(a[k], sizeof a[k], "%" PRId64, v[(size_t)k * g->n + j]);
        const char *p[] = {a[0], a[1], a[2], a[3], a[4], a[5]};
        PGresult *r =
            st_run(g->s, cells_one_sql, CELL_ARGS, p, PGRES_TUPLES_OK, "tracker: reading results", err, errlen);
        rc = r ? take_cells(g, r, err, errlen) : -1;
        PQclear(r);
    }
    free(v);
    free(from_results);
    return rc;
}

static uint64_t regions_mask(struct fold_ctx *c, const char *list)
{
    uint64_t m = 0;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
        int k = region_index(c, t, 1);
        if (k >= 0)
            m |= UINT64_C(1) << k;
    }
    return m;
}

static int scope_index(struct fold_ctx *c, const char *scope)
{
    /* Runs are loaded before the global scope's index is fixed: -2 marks global. */
    return strcmp(scope, GLOBAL_SCOPE) == 0 ? -2 : region_index(c, scope, 1);
}

/* Rows (scope, from, to, state, regions) into a staging list, appended later
 * (the global scope's index is n_regions, known only once every region is in). */
struct staged {
    int scope;
    struct pk_round_run run;
};

/* The state query's columns: o, kind (0 incident, 1 lookback run, 2 run), scope,
 * from (an incident's first start), to, state, regions. */
enum { ST_O, ST_KIND, ST_SCOPE, ST_FROM, ST_TO, ST_STATE, ST_REGIONS };

static int stage_rows(struct fold_ctx *c, const PGresult *r, int from, int to, int kind, struct staged **v, size_t *n,
                      size_t *cap, char *err, size_t errlen)
{
    for (int i = from; i < to; i++) {
        if (col_i64(r, i, ST_KIND, 0) != kind)
            continue;
        struct staged *nv = pk_grow(*v, cap, *n + 1, sizeof **v, 0);
        if (!nv)
            return pk_fail(err, errlen, "tracker: out of memory");
        *v = nv;
        int sc = scope_index(c, PQgetvalue(r, i, ST_SCOPE));
        if (sc == -1)
            continue;
        nv[(*n)++] = (struct staged){sc, {col_i64(r, i, ST_FROM, 0), col_i64(r, i, ST_TO, 0),
                                          (int)col_i64(r, i, ST_STATE, 0),
                                          regions_mask(c, PQgetvalue(r, i, ST_REGIONS))}};
    }
    return 0;
}

/* One check's rows [from, to) of the state query into its timelines. */
static int take_state(struct fold_ctx *c, const PGresult *r, int from, int to, char *err, size_t errlen)
{
    int64_t from0[TRACKER_MAX_REGIONS + 1];
    struct staged *v = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    c->state_loaded = 1;
    if (stage_rows(c, r, from, to, 1, &v, &n, &cap, err, errlen) < 0 ||
        stage_rows(c, r, from, to, 2, &v, &n, &cap, err, errlen) < 0)
        goto out;
    /* Regions are all known now (expected, results, stored runs): the global scope is n_regions. */
    int g = c->f.n_regions;
    for (int s = 0; s <= g; s++)
        from0[s] = c->f.k_lo;
    int lookback_n[TRACKER_MAX_REGIONS + 1] = {0};
    for (int i = from; i < to; i++) {
        int kind = (int)col_i64(r, i, ST_KIND, 0);
        const char *scope = PQgetvalue(r, i, ST_SCOPE);
        /* an incident of a region without runs or results has no timeline here */
        int sc = kind == 2 ? -1 : strcmp(scope, GLOBAL_SCOPE) == 0 ? g : region_index(c, scope, 0);
        if (sc < 0)
            continue;
        if (kind == 1)
            lookback_n[sc]++;
        else if (col_i64(r, i, ST_FROM, 0) < from0[sc])
            from0[sc] = col_i64(r, i, ST_FROM, 0);
    }
    for (size_t i = 0; i < n; i++) {
        int sc = v[i].scope == -2 ? g : v[i].scope;
        struct pk_timeline *t = &c->f.scopes[sc].tl;
        struct pk_round_run *nr = pk_grow(t->runs, &t->cap, t->n + 1, sizeof *nr, PK_ROUNDS_MAX_RUNS);
        if (!nr) {
            pk_fail(err, errlen, "tracker: out of memory");
            goto out;
        }
        t->runs = nr;
        t->runs[t->n++] = v[i].run;
    }
    for (int s = 0; s <= g; s++) {
        c->f.scopes[s].inc_from0 = c->rule_changed ? INT64_MIN / 4 : from0[s];
        c->f.scopes[s].lookback_full = lookback_n[s] >= TRACKER_LOOKBACK_RUNS;
        const struct pk_timeline *t = &c->f.scopes[s].tl;
        if (t->n && !(c->loaded[s] = malloc(t->n * sizeof *t->runs))) {
            pk_fail(err, errlen, "tracker: out of memory");
            goto out;
        }
        if (t->n)
            memcpy(c->loaded[s], t->runs, t->n * sizeof *t->runs);
        c->n_loaded[s] = t->n;
    }
    rc = 0;
out:
    free(v);
    return rc;
}

/* The state read; C is "" or, routed, a check_id predicate for each of its
 * reads of the distributed tables, and CK the check's id (f.id, or routed the
 * constant). Per scope (found by a skip scan of the primary key on plain
 * PostgreSQL; on Citus the DISTINCT its router planner took before): up to 64
 * runs before f0 and the runs reaching f0 on, each a primary-key range
 * (round_runs has no index on to_round: ST_RUNS_REACHING). */
#define STATE_SCOPES_PG                                                                                               \
    "(WITH RECURSIVE q(scope) AS (SELECT min(scope) FROM round_runs WHERE check_id = f.id UNION ALL "                 \
    "SELECT (SELECT min(z.scope) FROM round_runs z WHERE z.check_id = f.id AND z.scope > q.scope) FROM q "            \
    "WHERE q.scope IS NOT NULL) SELECT scope FROM q WHERE scope IS NOT NULL)"
#define STATE_SCOPES_CITUS(C) "(SELECT DISTINCT scope FROM round_runs WHERE check_id = f.id" C ")"
#define STATE_SQL(C, CK, SCOPES)                                                                                      \
    "WITH x AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, kl, o)), "                    \
    "inc AS (SELECT x.o, i.scope, min(i.start_round) AS st FROM x JOIN incidents i ON "                               \
    "i.check_id = x.id" C " AND (i.closed_round IS NULL OR i.closed_round >= x.kl) "                                  \
    "GROUP BY x.o, i.scope), "                                                                                        \
    "f AS (SELECT x.o, x.id, least(x.kl, (SELECT min(inc.st) FROM inc WHERE inc.o = x.o)) "                           \
    "AS f0 FROM x) "                                                                                                  \
    "SELECT o, 0, scope, st, 0, 0, '' FROM inc "                                                                      \
    "UNION ALL SELECT f.o, 1, s.scope, y.from_round, y.to_round, y.state, "                                           \
    "array_to_string(y.regions, E'\\n') FROM f CROSS JOIN LATERAL " SCOPES " s CROSS JOIN LATERAL (SELECT "          \
    "from_round, to_round, state, regions FROM round_runs r WHERE r.check_id = f.id" C " AND r.scope = s.scope "      \
    "AND r.from_round < f.f0 AND r.to_round < f.f0 ORDER BY r.from_round DESC LIMIT 64) y "                           \
    "UNION ALL SELECT f.o, 2, r.scope, r.from_round, r.to_round, r.state, "                                           \
    "array_to_string(r.regions, E'\\n') FROM f CROSS JOIN LATERAL " SCOPES " s CROSS JOIN LATERAL (SELECT * "        \
    "FROM round_runs r WHERE r.check_id = f.id" C " AND r.scope = s.scope AND "                                       \
    ST_RUNS_REACHING("r", CK, "s.scope", "f.f0") " OFFSET 0) r ORDER BY 1, 2, 3, 4"

/* Every check's stored incidents that may change (open, or closed at or after
 * its k_lo: their first start per scope), the runs from the earliest of those
 * starts and k_lo on, and up to 64 runs per scope before that: one statement. */
static int load_state(struct group *g, char *err, size_t errlen)
{
    int64_t *v = calloc(g->n * 3 + 1, sizeof *v);
    if (!v)
        return pk_fail(err, errlen, "tracker: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->c[i].skip)
            continue;
        v[m] = g->c[i].check_id;
        v[g->n + m] = g->c[i].rule_changed ? INT64_MIN / 4 : g->c[i].f.k_lo;
        v[2 * g->n + m] = (int64_t)i + 1;
        m++;
    }
    char *a[3];
    int oom = 0;
    for (int k = 0; k < 3; k++)
        oom |= !(a[k] = st_bigint_array(v + (size_t)k * g->n, m));
    free(v);
    const char *p[] = {a[0], a[1], a[2], g->c[0].id};
    int one = routed(g);
    PGresult *r = oom || !m ? NULL
                            : st_run(g->s, one ? STATE_SQL(" AND check_id = $4::bigint", "$4::bigint",
                                                      STATE_SCOPES_CITUS(" AND check_id = $4::bigint"))
                                      : STATE_SQL("", "f.id", STATE_SCOPES_PG), one ? 4 : 3,
                                     p, PGRES_TUPLES_OK, "tracker: reading runs and open incidents", err, errlen);
    for (int k = 0; k < 3; k++)
        free(a[k]);
    if (oom)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (!m)
        return 0;
    if (!r)
        return -1;
    int rc = 0;
    for (int row = 0; rc == 0 && row < PQntuples(r);) {
        int64_t o = col_i64(r, row, ST_O, 0);
        int from = rows_of(r, &row, o);
        if (o >= 1 && (size_t)o <= g->n)
            rc = take_state(&g->c[o - 1], r, from, row, err, errlen);
    }
    /* A check with no stored state at all still needs its scopes set. */
    for (size_t i = 0; rc == 0 && i < g->n; i++) {
        struct fold_ctx *c = &g->c[i];
        if (!c->skip && !c->state_loaded)
            rc = take_state(c, r, 0, 0, err, errlen);
    }
    PQclear(r);
    return rc;
}

static void add_regions_json(struct pk_buf *b, const struct fold_ctx *c, uint64_t mask)
{
    pk_buf_addc(b, '[');
    int first = 1;
    for (int r = 0; r < c->f.n_regions; r++) {
        if (!(mask & (UINT64_C(1) << r)))
            continue;
        if (!first)
            pk_buf_addc(b, ',');
        first = 0;
        pk_buf_add_json_string(b, c->regions[r], strlen(c->regions[r]));
    }
    pk_buf_addc(b, ']');
}

/* A scope is rewritten when a run changed (its incidents derive from its runs),
 * or when the rule changed. */
static int scope_dirty(const struct fold_ctx *c, int sc)
{
    return !c->skip && (c->f.scopes[sc].changed || c->rule_changed);
}

/* One scope's head in a JSON document: [check id, scope, cut, */
static void add_scope_head(struct pk_buf *b, const struct fold_ctx *c, int sc, int64_t cut, int *any)
{
    pk_buf_addf(b, "%s[%" PRId64 ",", (*any)++ ? "," : "", c->check_id);
    pk_buf_add_json_string(b, scope_name(c, sc), strlen(scope_name(c, sc)));
    pk_buf_addf(b, ",%" PRId64 ",", cut);
}

/* The first run of scope sc that the fold changed: its index in the runs, and
 * the round from which stored runs are replaced (*cut); 0 when none changed. */
static int first_changed(const struct fold_ctx *c, int sc, size_t *index, int64_t *cut)
{
    const struct pk_timeline *t = &c->f.scopes[sc].tl;
    const struct pk_round_run *old = c->loaded[sc];
    size_t n_old = c->n_loaded[sc], i = 0;
    while (i < n_old && i < t->n && old[i].from == t->runs[i].from && old[i].to == t->runs[i].to &&
           old[i].state == t->runs[i].state && old[i].regions == t->runs[i].regions)
        i++;
    *index = i;
    if (i == n_old && i == t->n)
        return 0;
    if (i == n_old)
        *cut = t->runs[i].from;
    else
        *cut = i < t->n && t->runs[i].from < old[i].from ? t->runs[i].from : old[i].from;
    return 1;
}

/* One run as JSON: [from, to, state, [regions]]. */
static void add_run_json(struct pk_buf *b, const struct fold_ctx *c, const struct pk_round_run *r, int first)
{
    pk_buf_addf(b, "%s[%" PRId64 ",%" PRId64 ",%d,", first ? "" : ",", r->from, r->to, r->state);
    add_regions_json(b, c, r->regions);
    pk_buf_addc(b, ']');
}

/* The three documents write_runs sends: runs updated in place
 * [[check, scope, [from, to, state, [regions]]], ...], runs deleted from a
 * round on [[check, scope, cut], ...] and runs inserted
 * [[check, scope, [[from, to, state, [regions]], ...]], ...]. */
struct run_docs {
    struct pk_buf upd, del, ins;
    int n_upd, n_del, n_ins;
};

/* One dirty scope's changes from its first changed run k0 on. A run that keeps
 * its start (the last run extended by a round, the common case) is updated in
 * place: it changes no indexed column, so the update is HOT and leaves no dead
 * row for vacuum (migration 030). The stored runs after it are deleted and the
 * fold's runs after it inserted, each only when there are any. */
static void scope_runs(struct run_docs *d, const struct fold_ctx *c, int sc, size_t k0, int64_t cut)
{
    const struct pk_timeline *t = &c->f.scopes[sc].tl;
    const struct pk_round_run *old = c->loaded[sc];
    size_t n_old = c->n_loaded[sc], ins_from = k0;
    if (k0 < n_old && k0 < t->n && old[k0].from == t->runs[k0].from) {
        add_scope_head(&d->upd, c, sc, t->runs[k0].from, &d->n_upd);
        add_run_json(&d->upd, c, &t->runs[k0], 1);
        pk_buf_addc(&d->upd, ']');
        ins_from = k0 + 1;
        cut = old[k0].from + 1;
    }
    if (n_old > ins_from) {
        add_scope_head(&d->del, c, sc, cut, &d->n_del);
        pk_buf_adds(&d->del, "0]");
    }
    if (t->n > ins_from) {
        add_scope_head(&d->ins, c, sc, 0, &d->n_ins);
        pk_buf_addc(&d->ins, '[');
        for (size_t k = ins_from; k < t->n; k++)
            add_run_json(&d->ins, c, &t->runs[k], k == ins_from);
        pk_buf_adds(&d->ins, "]]");
    }
}

/* Every dirty scope's runs from the first one the fold changed on (the loaded
 * runs before it are stored as they are): at most three statements (update,
 * delete, insert), each skipped when it has nothing to do. The documents reuse
 * add_scope_head's [check, scope, n, head; its n is the from of an updated
 * run, the cut of a delete, unused for an insert. */
static int write_runs(struct group *g, char *err, size_t errlen)
{
    struct run_docs d = {0};
    pk_buf_init(&d.upd, 0);
    pk_buf_init(&d.del, 0);
    pk_buf_init(&d.ins, 0);
    pk_buf_addc(&d.upd, '[');
    pk_buf_addc(&d.del, '[');
    pk_buf_addc(&d.ins, '[');
    for (size_t i = 0; i < g->n; i++) {
        const struct fold_ctx *c = &g->c[i];
        for (int sc = 0; sc <= c->f.n_regions; sc++) {
            size_t k0 = 0;
            int64_t cut = 0;
            /* unchanged runs: as stored (a rule change rewrites only incidents) */
            if (scope_dirty(c, sc) && first_changed(c, sc, &k0, &cut))
                scope_runs(&d, c, sc, k0, cut);
        }
    }
    pk_buf_addc(&d.upd, ']');
    pk_buf_addc(&d.del, ']');
    pk_buf_addc(&d.ins, ']');
    int rc = -1, one = routed(g);
    if (pk_buf_ok(&d.upd) < 0 || pk_buf_ok(&d.del) < 0 || pk_buf_ok(&d.ins) < 0) {
        pk_fail(err, errlen, "tracker: out of memory");
        goto out;
    }
    const char *pu[] = {d.upd.data, g->c[0].id}, *pd[] = {d.del.data, g->c[0].id};
    if (d.n_upd && st_run_cmd(g->s,
                              one ? "UPDATE round_runs r SET to_round = (e->3->>1)::bigint, state = "
                                    "(e->3->>2)::smallint, regions = ARRAY(SELECT jsonb_array_elements_text(e->3->3)) "
                                    "FROM jsonb_array_elements($1::jsonb) e WHERE r.check_id = (e->>0)::bigint AND "
                                    "r.check_id = $2::bigint AND r.scope = e->>1 AND r.from_round = (e->>2)::bigint"
                                  : "UPDATE round_runs r SET to_round = (e->3->>1)::bigint, state = "
                                    "(e->3->>2)::smallint, regions = ARRAY(SELECT jsonb_array_elements_text(e->3->3)) "
                                    "FROM jsonb_array_elements($1::jsonb) e WHERE r.check_id = (e->>0)::bigint AND "
                                    "r.scope = e->>1 AND r.from_round = (e->>2)::bigint",
                              one ? 2 : 1, pu, "tracker: extending runs", err, errlen) < 0)
        goto out;
    if (d.n_del && st_run_cmd(g->s,
                              one ? "DELETE FROM round_runs r USING jsonb_array_elements($1::jsonb) e WHERE "
                                    "r.check_id = (e->>0)::bigint AND r.check_id = $2::bigint AND r.scope = e->>1 "
                                    "AND r.from_round >= (e->>2)::bigint"
                                  : "DELETE FROM round_runs r USING jsonb_array_elements($1::jsonb) e WHERE "
                                    "r.check_id = (e->>0)::bigint AND r.scope = e->>1 AND r.from_round >= "
                                    "(e->>2)::bigint",
                              one ? 2 : 1, pd, "tracker: replacing runs", err, errlen) < 0)
        goto out;
    /* Running totals (migration 029): the stored run before the first one
     * written (the others were deleted or extended in place above) gives the
     * rounds before it (its totals plus its own rounds; when it has none, or
     * there is none, the sum of the runs before: a chain broken by a run
     * without totals is mended by the next write); each written run adds those
     * of the written runs before it. An extended run keeps its totals: only
     * runs before it count. On Citus (one check, routed()) the runs read are
     * named by the check's id, a constant: the SELECT is then a router query
     * on the check's shard, whose rows the coordinator inserts ("pull to
     * coordinator": Citus cannot push an INSERT ... SELECT down when the
     * distribution column comes from the document, not from a table). */
#define TOTALS_INS(CK)                                                                                             \
    "INSERT INTO round_runs (check_id, scope, from_round, to_round, state, regions, up_before, "                   \
    "down_before) SELECT v.c, v.s, v.f, v.t, v.st, v.rg, "                                                         \
    "coalesce(q.ub, (SELECT coalesce(sum(r.to_round - r.from_round + 1), 0) FROM round_runs r "                    \
    "WHERE r.check_id = " CK " AND r.scope = v.s AND r.from_round < v.f AND r.state = 1)) "                        \
    "+ coalesce(sum(CASE WHEN v.st = 1 THEN v.t - v.f + 1 ELSE 0 END) OVER w, 0), "                                \
    "coalesce(q.db, (SELECT coalesce(sum(r.to_round - r.from_round + 1), 0) FROM round_runs r "                    \
    "WHERE r.check_id = " CK " AND r.scope = v.s AND r.from_round < v.f AND r.state = 2)) "                        \
    "+ coalesce(sum(CASE WHEN v.st = 2 THEN v.t - v.f + 1 ELSE 0 END) OVER w, 0) "                                 \
    "FROM (SELECT (e->>0)::bigint AS c, e->>1 AS s, (x->>0)::bigint AS f, (x->>1)::bigint AS t, "                  \
    "(x->>2)::smallint AS st, ARRAY(SELECT jsonb_array_elements_text(x->3)) AS rg "                                \
    "FROM jsonb_array_elements($1::jsonb) e, jsonb_array_elements(e->3) x) v "                                     \
    "LEFT JOIN LATERAL (SELECT r.up_before + CASE WHEN r.state = 1 THEN "                                          \
    "r.to_round - r.from_round + 1 ELSE 0 END AS ub, r.down_before + CASE WHEN r.state = 2 THEN "                  \
    "r.to_round - r.from_round + 1 ELSE 0 END AS db FROM round_runs r WHERE r.check_id = " CK " AND "              \
    "r.scope = v.s AND r.from_round < v.f ORDER BY r.from_round DESC LIMIT 1) q ON true "                          \
    "WINDOW w AS (PARTITION BY v.c, v.s ORDER BY v.f ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "                      \
    "PRECEDING)"
    const char *pi[] = {d.ins.data, g->c[0].id};
    if (d.n_ins && st_run_cmd(g->s, one ? TOTALS_INS("$2::bigint") : TOTALS_INS("v.c"), one ? 2 : 1, pi,
                              "tracker: writing runs", err, errlen) < 0)
        goto out;
#undef TOTALS_INS
    rc = 0;
out:
    pk_buf_free(&d.upd);
    pk_buf_free(&d.del);
    pk_buf_free(&d.ins);
    return rc;
}

/* One check's dirty scopes' incidents from their inc_from on. */
static void add_incidents(struct pk_buf *b, const struct fold_ctx *c, int *any, size_t *total)
{
    const struct tracker_rule *rule = &c->f.rule;
    for (int sc = 0; sc <= c->f.n_regions; sc++) {
        if (!scope_dirty(c, sc))
            continue;
        const struct tracker_scope *s = &c->f.scopes[sc];
        add_scope_head(b, c, sc, s->inc_from, any);
        pk_buf_addf(b, "%" PRId64 ",%" PRId64 ",%d,%d,%d,[", rule->interval_us, rule->spread_us, rule->open_after,
                    rule->close_after, rule->quorum);
        *total += s->n_inc;
        for (size_t i = 0; i < s->n_inc; i++) {
            const struct pk_round_incident *x = &s->inc[i];
            pk_buf_addf(b, "%s[%" PRId64 ",%" PRId64 ",", i ? "," : "", x->start, x->opened);
            if (x->end >= 0)
                pk_buf_addf(b, "%" PRId64 ",%" PRId64 ",", x->end, x->closed);
            else
                pk_buf_adds(b, "null,null,");
            pk_buf_addf(b, "%" PRId64 ",", x->down_rounds);
            /* a region scope's incident is that region's */
            add_regions_json(b, c, sc == c->f.n_regions ? x->regions : (UINT64_C(1) << sc));
            pk_buf_addc(b, ']');
        }
        pk_buf_adds(b, "]]");
    }
}

/* Every dirty scope's incidents from its inc_from on: those that keep their
 * start keep their row (and first_seen); closed_seen is set when one closes.
 * [[check, scope, inc_from, interval, spread, N, M, quorum,
 *   [[start, opened, end, closed, down, [regions]], ...]], ...]. */
static int write_incidents(struct group *g, struct pk_buf *b, char *err, size_t errlen)
{
    pk_buf_reset(b);
    pk_buf_addc(b, '[');
    int any = 0;
    size_t total = 0;
    for (size_t i = 0; i < g->n; i++)
        add_incidents(b, &g->c[i], &any, &total);
    pk_buf_addc(b, ']');
    if (pk_buf_ok(b) < 0)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (!any)
        return 0;
    const char *p[] = {b->data, g->c[0].id};
#define DEL_INC(C)                                                                                                    \
    "DELETE FROM incidents i USING jsonb_array_elements($1::jsonb) e WHERE i.check_id = (e->>0)::bigint" C " AND "    \
    "i.scope = e->>1 AND i.start_round >= (e->>2)::bigint AND i.start_round NOT IN (SELECT (x->>0)::bigint FROM "    \
    "jsonb_array_elements(e->8) x)"
    if (st_run_cmd(g->s, routed(g) ? DEL_INC(" AND i.check_id = $2::bigint") : DEL_INC(""), routed(g) ? 2 : 1, p,
                   "tracker: replacing incidents", err, errlen) < 0)
        return -1;
#undef DEL_INC
    if (!total)
        return 0;
    /* now() only in the inserted row, never in DO UPDATE SET (refused by Citus on
     * a distributed table): EXCLUDED.closed_seen is now() when the incident closes;
     * the same for round_trackers.updated_at (its default) below. */
#define E_IV "(e->>3)::bigint"
#define E_SP "(e->>4)::bigint"
    return st_run_cmd(
        g->s,
        "INSERT INTO incidents AS i (check_id, scope, start_round, opened_round, end_round, closed_round, start_us, "
        "opened_us, end_us, closed_us, interval_us, down_rounds, regions, open_after, close_after, quorum, "
        "closed_seen) SELECT (e->>0)::bigint, e->>1, (x->>0)::bigint, (x->>1)::bigint, (x->>2)::bigint, "
        "(x->>3)::bigint, (x->>0)::bigint * " E_IV " + " E_SP ", (x->>1)::bigint * " E_IV " + " E_SP ", "
        "(x->>2)::bigint * " E_IV " + " E_SP ", (x->>3)::bigint * " E_IV " + " E_SP ", " E_IV ", "
        "(x->>4)::bigint, ARRAY(SELECT jsonb_array_elements_text(x->5)), (e->>5)::int, (e->>6)::int, (e->>7)::int, "
        "CASE WHEN x->>3 IS NULL THEN NULL ELSE now() END FROM jsonb_array_elements($1::jsonb) e, "
        "jsonb_array_elements(e->8) x "
        "ON CONFLICT (check_id, scope, start_round) DO UPDATE SET opened_round = EXCLUDED.opened_round, "
        "end_round = EXCLUDED.end_round, closed_round = EXCLUDED.closed_round, opened_us = EXCLUDED.opened_us, "
        "end_us = EXCLUDED.end_us, closed_us = EXCLUDED.closed_us, interval_us = EXCLUDED.interval_us, "
        "down_rounds = EXCLUDED.down_rounds, regions = EXCLUDED.regions, open_after = EXCLUDED.open_after, "
        "close_after = EXCLUDED.close_after, quorum = EXCLUDED.quorum, closed_seen = CASE WHEN "
        "EXCLUDED.closed_round IS NULL THEN NULL ELSE coalesce(i.closed_seen, EXCLUDED.closed_seen) END",
        1, p, "tracker: writing incidents", err, errlen);
#undef E_IV
#undef E_SP
}

/* The tracker rows whose rule or pending rounds changed, in one statement:
 * [[check, interval, spread, N, M, quorum, pending_from, pending_to, due], ...]. */
static int write_trackers(struct group *g, struct pk_buf *b, char *err, size_t errlen)
{
    pk_buf_reset(b);
    pk_buf_addc(b, '[');
    int any = 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct fold_ctx *c = &g->c[i];
        const struct tracker_rule *rule = &c->f.rule;
        if (c->skip || (c->have_tracker && !c->rule_changed && !c->interval_changed &&
                        c->pend_from == c->f.pending_from && c->pend_to == c->f.pending_to))
            continue; /* the stored row says it all already */
        pk_buf_addf(b, "%s[%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%d,%d,", any++ ? "," : "", c->check_id,
                    rule->interval_us, rule->spread_us, rule->open_after, rule->close_after, rule->quorum);
        if (c->f.pending_from < 0)
            pk_buf_adds(b, "null,null,null]");
        else
            pk_buf_addf(b, "%" PRId64 ",%" PRId64 ",%" PRId64 "]", c->f.pending_from, c->f.pending_to,
                        c->f.pending_due_us);
    }
    pk_buf_addc(b, ']');
    if (pk_buf_ok(b) < 0)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (!any)
        return 0;
    const char *p[] = {b->data};
    return st_run_cmd(g->s,
                      "INSERT INTO round_trackers (check_id, interval_us, spread_us, open_after, close_after, quorum, "
                      "pending_from, pending_to, pending_due_us) SELECT (e->>0)::bigint, (e->>1)::bigint, "
                      "(e->>2)::bigint, (e->>3)::int, (e->>4)::int, (e->>5)::int, (e->>6)::bigint, (e->>7)::bigint, "
                      "(e->>8)::bigint FROM jsonb_array_elements($1::jsonb) e ON CONFLICT (check_id) DO UPDATE SET "
                      "interval_us = EXCLUDED.interval_us, spread_us = EXCLUDED.spread_us, open_after = "
                      "EXCLUDED.open_after, close_after = EXCLUDED.close_after, quorum = EXCLUDED.quorum, "
                      "pending_from = EXCLUDED.pending_from, pending_to = EXCLUDED.pending_to, pending_due_us = "
                      "EXCLUDED.pending_due_us, updated_at = EXCLUDED.updated_at",
                      1, p, "tracker: writing the tracker rows", err, errlen);
}

static void group_free(struct group *g)
{
    for (size_t i = 0; g->c && i < g->n; i++) {
        tracker_fold_free(&g->c[i].f);
        for (int sc = 0; sc <= TRACKER_MAX_REGIONS; sc++)
            free(g->c[i].loaded[sc]);
        free(g->c[i].cells);
    }
    free(g->c);
    free(g->ids);
}

/* The folds of one group's checks (distinct, in id order) in one transaction.
 * -2 when the connection is lost. */
static int fold_group(struct store *s, const struct store_track_config *cfg, const struct span *v, size_t n,
                      int64_t now_us, struct store_track_stats *st, char *err, size_t errlen)
{
    struct group g = {s, cfg, now_us, calloc(n, sizeof *g.c), n, NULL};
    int64_t *ids = calloc(n, sizeof *ids);
    struct pk_buf b;
    pk_buf_init(&b, 0);
    int rc = -1;
    if (!g.c || !ids) {
        pk_fail(err, errlen, "tracker: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct fold_ctx *c = &g.c[i];
        *c = (struct fold_ctx){.s = s, .cfg = cfg, .check_id = v[i].check_id, .t_min = v[i].t_min,
                               .t_max = v[i].t_max};
        snprintf(c->id, sizeof c->id, "%" PRId64, v[i].check_id);
        ids[i] = v[i].check_id;
    }
    if (!(g.ids = st_bigint_array(ids, n))) {
        pk_fail(err, errlen, "tracker: out of memory");
        goto out;
    }
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN", 0, NULL, "tracker: begin", err, errlen) < 0 || lock_checks(&g, err, errlen) < 0 ||
        load_rules(&g, err, errlen) < 0 || load_cells(&g, err, errlen) < 0 || load_state(&g, err, errlen) < 0)
        goto out;
    uint64_t folded = 0, rounds = 0;
    for (size_t i = 0; i < n; i++) {
        struct fold_ctx *c = &g.c[i];
        if (c->skip)
            continue;
        if (tracker_apply(&c->f, c->cells, c->n_cells, now_us, err, errlen) < 0)
            goto out;
        folded++;
        rounds += (uint64_t)(c->f.k_hi - c->f.k_lo + 1);
    }
    if (write_runs(&g, err, errlen) < 0 || write_incidents(&g, &b, err, errlen) < 0 ||
        write_trackers(&g, &b, err, errlen) < 0 || st_commit(s, "tracker: commit", err, errlen) < 0)
        goto out;
    if (st) {
        st->checks_folded += folded;
        st->rounds_folded += rounds;
    }
    rc = 0;
out:
    if (rc < 0) {
        st_rollback(s);
        if (PQstatus(s->conn) != CONNECTION_OK)
            rc = -2;
    }
    free(ids);
    group_free(&g);
    pk_buf_free(&b);
    return rc;
}

static int check_id_of(struct store *s, const char *name, int64_t *id, char *err, size_t errlen)
{
    if (st_cache_get(&s->checks, name, id))
        return 1;
    const char *p[] = {name};
    PGresult *r = st_run(s, "SELECT id FROM checks WHERE name = $1", 1, p, PGRES_TUPLES_OK, "tracker: check id",
                         err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (found)
        (void)st_cache_put(&s->checks, name, *id); /* a committed row: cached like the writers do */
    return found;
}

static int by_check_time(const void *x, const void *y)
{
    const struct span *a = x, *b = y;
    if (a->check_id != b->check_id)
        return a->check_id < b->check_id ? -1 : 1;
    return (a->t_min > b->t_min) - (a->t_min < b->t_min);
}

/* Sorts by check and time, merging a check's overlapping spans and its
 * pending-only ones (t_min > t_max) into the next; returns the count left. */
static size_t merge_spans(struct span *v, size_t nv)
{
    qsort(v, nv, sizeof *v, by_check_time);
    size_t m = 0;
    for (size_t i = 0; i < nv; i++) {
        if (m && v[m - 1].check_id == v[i].check_id) {
            struct span *a = &v[m - 1];
            if (a->t_min > a->t_max) {
                *a = v[i];
                continue;
            }
            if (v[i].t_min > v[i].t_max)
                continue;
            if (v[i].t_min <= a->t_max) {
                a->t_max = v[i].t_max > a->t_max ? v[i].t_max : a->t_max;
                continue;
            }
        }
        v[m++] = v[i];
    }
    return m;
}

/* Folds spans[0..n) (distinct checks, in id order) up to CHECKS_PER_TRANSACTION
 * in one transaction; a group the database refuses is folded again one check
 * per transaction. -2 when the connection is lost. */
static int fold_layer(struct store *s, struct span *v, size_t nv, const struct store_track_config *cfg,
                      int64_t now_us, struct store_track_stats *st, char *err, size_t errlen)
{
    int rc = 0;
    size_t per = st_is_citus(s) ? 1 : CHECKS_PER_TRANSACTION; /* see routed() */
    for (size_t j = 0; j < nv; j += per) {
        size_t n = nv - j < per ? nv - j : per;
        int r = fold_group(s, cfg, v + j, n, now_us, st, err, errlen);
        if (r == 0)
            continue;
        rc = -1;
        if (r == -2 || n == 1) {
            if (st)
                st->errors += r == -2 ? nv - j : 1;
            if (r == -2)
                return -2;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            char e2[512];
            r = fold_group(s, cfg, v + j + k, 1, now_us, st, e2, sizeof e2);
            if (r < 0) {
                snprintf(err, errlen, "%s", e2);
                if (st)
                    st->errors += r == -2 ? n - k : 1;
                if (r == -2)
                    return -2;
            }
        }
    }
    return rc;
}

/* Folds the spans' checks in id order (two collectors take the locks in one
 * order). A check with several spans (slices of time far apart) is folded
 * once per span, oldest first: layer L holds each check's L-th span. */
static int fold_spans(struct store *s, struct span *v, size_t nv, const struct store_track_config *cfg,
                      int64_t now_us, struct store_track_stats *st, char *err, size_t errlen)
{
    nv = merge_spans(v, nv);
    struct span *layer = calloc(nv ? nv : 1, sizeof *layer);
    size_t *next = calloc(nv ? nv : 1, sizeof *next); /* per check run: its next span */
    size_t *run_end = calloc(nv ? nv : 1, sizeof *run_end);
    if (!layer || !next || !run_end) {
        free(layer);
        free(next);
        free(run_end);
        return pk_fail(err, errlen, "tracker: out of memory");
    }
    size_t runs = 0;
    for (size_t i = 0; i < nv; i++)
        if (i == 0 || v[i].check_id != v[i - 1].check_id) {
            next[runs] = i;
            if (runs)
                run_end[runs - 1] = i;
            runs++;
        }
    if (runs)
        run_end[runs - 1] = nv;
    int rc = 0;
    for (size_t left = nv; left > 0 && rc != -2;) {
        size_t n = 0;
        for (size_t c = 0; c < runs; c++)
            if (next[c] < run_end[c])
                layer[n++] = v[next[c]++];
        left -= n;
        int r = fold_layer(s, layer, n, cfg, now_us, st, err, errlen);
        rc = r < rc ? r : rc;
    }
    free(layer);
    free(next);
    free(run_end);
    return rc < 0 ? -1 : 0;
}

int store_track_spans(struct store *s, const struct store_track_span *spans, size_t n,
                      const struct store_track_config *cfg, int64_t now_us, struct store_track_stats *st, char *err,
                      size_t errlen)
{
    struct span *v = calloc(n ? n : 1, sizeof *v);
    size_t nv = 0;
    if (!v)
        return pk_fail(err, errlen, "tracker: out of memory");
    st_ensure_ready(s);
    for (size_t i = 0; i < n; i++) {
        int64_t id = 0;
        int got = check_id_of(s, spans[i].check, &id, err, errlen);
        if (got < 0) {
            free(v);
            return -1;
        }
        if (got)
            v[nv++] = (struct span){id, spans[i].t_min, spans[i].t_max};
    }
    int rc = fold_spans(s, v, nv, cfg, now_us, st, err, errlen);
    free(v);
    return rc;
}

int store_track_batches(struct store *s, const struct store_batch *batches, size_t n,
                        const struct store_track_config *cfg, int64_t now_us, struct store_track_stats *st, char *err,
                        size_t errlen)
{
    struct store_track_span *v = NULL;
    size_t nv = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < batches[i].n_results; k++) {
            const struct pk_result *r = &batches[i].results[k];
            int64_t t = r->scheduled_at_us > 0 ? r->scheduled_at_us : r->started_at_us;
            size_t j = 0;
            while (j < nv && strcmp(v[j].check, r->check_name) != 0)
                j++;
            if (j == nv) {
                struct store_track_span *nvv = pk_grow(v, &cap, nv + 1, sizeof *v, 0);
                if (!nvv) {
                    free(v);
                    return pk_fail(err, errlen, "tracker: out of memory");
                }
                v = nvv;
                v[nv] = (struct store_track_span){.t_min = t, .t_max = t};
                pk_strlcpy(v[nv++].check, r->check_name, sizeof v[0].check);
            }
            v[j].t_min = t < v[j].t_min ? t : v[j].t_min;
            v[j].t_max = t > v[j].t_max ? t : v[j].t_max;
        }
    }
    int rc = store_track_spans(s, v, nv, cfg, now_us, st, err, errlen);
    free(v);
    return rc;
}

int store_track_due(struct store *s, const struct store_track_config *cfg, int64_t now_us,
                    struct store_track_stats *st, char *err, size_t errlen)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, now_us);
    const char *p[] = {now};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT check_id FROM round_trackers WHERE pending_due_us IS NOT NULL AND "
                         "pending_due_us <= $1::bigint ORDER BY check_id LIMIT 1000",
                         1, p, PGRES_TUPLES_OK, "tracker: reading due rounds", err, errlen);
    if (!r)
        return -1;
    struct span *v = calloc((size_t)PQntuples(r) + 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return pk_fail(err, errlen, "tracker: out of memory");
    }
    size_t nv = 0;
    for (int i = 0; i < PQntuples(r); i++)
        v[nv++] = (struct span){strtoll(PQgetvalue(r, i, 0), NULL, 10), 1, 0}; /* only its pending rounds */
    PQclear(r);
    int rc = fold_spans(s, v, nv, cfg, now_us, st, err, errlen);
    free(v);
    return rc;
}

