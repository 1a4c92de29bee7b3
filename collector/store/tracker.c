/* tracker.c: the tracker's SQL (migrations/017_round_tracking.sql). After a
 * batch commits, each check it touched is folded in its own transaction under
 * pg_advisory_xact_lock(TRACK_LOCK_CLASS, check id): read the rule and pending
 * rounds (round_trackers), the results of the touched rounds (all regions),
 * the stored runs from the first affected incident on, run tracker_apply, and
 * write back the runs, the incidents from the quiet point on, and the pending
 * rounds. Readers (store_track_read_*) read only these tables. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lock_keys.h"
#include "pk_error.h"
#include "tracker.h"

#define TRACK_LOCK_CLASS PK_LOCK_CHECK_CLASS /* lock_keys.h: pg_advisory_xact_lock(class, check id) */
#define TS_FROM_US(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define GLOBAL_SCOPE "*"
_Static_assert(TRACKER_LOOKBACK_RUNS == 64, "the lookback query says LIMIT 64");
/* A result starts within this of its grid point (retries and timeouts included). */
#define LATE_START_SLACK_US (INT64_C(300) * 1000000)
#define DEFAULT_INTERVAL_US (INT64_C(60) * 1000000)

struct span {
    int64_t check_id, t_min, t_max;
};

/* Everything one check's fold reads and writes. */
struct fold_ctx {
    struct store *s;
    const struct store_track_config *cfg;
    int64_t check_id, now_us;
    char id[24];
    char name[256];
    int64_t interval_ms;
    int have_tracker, rule_changed, interval_changed;
    int64_t pend_from, pend_to;
    char regions[TRACKER_MAX_REGIONS][128];
    struct tracker_fold f;
    struct tracker_cell *cells;
    size_t n_cells, cap_cells;
    int64_t loaded_from[TRACKER_MAX_REGIONS + 1]; /* first loaded run per scope; INT64_MAX none */
};

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

/* Rule and pending rounds; expected regions. */
static int load_rule(struct fold_ctx *c, char *err, size_t errlen)
{
    const char *p[] = {c->id};
    PGresult *r = st_run(c->s,
                         "SELECT c.name, c.interval_ms, t.interval_us, t.open_after, t.close_after, t.quorum, "
                         "t.pending_from, t.pending_to FROM checks c LEFT JOIN round_trackers t ON t.check_id = c.id "
                         "WHERE c.id = $1::bigint",
                         1, p, PGRES_TUPLES_OK, "tracker: reading the check", err, errlen);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return pk_fail(err, errlen, "tracker: check %s is not known", c->id);
    }
    snprintf(c->name, sizeof c->name, "%s", PQgetvalue(r, 0, 0));
    c->interval_ms = col_i64(r, 0, 1, 0);
    int64_t interval_us = c->interval_ms > 0 ? c->interval_ms * 1000 : DEFAULT_INTERVAL_US;
    if (c->interval_ms <= 0)
        c->interval_ms = interval_us / 1000;
    c->have_tracker = !PQgetisnull(r, 0, 2);
    int64_t old_interval = col_i64(r, 0, 2, 0);
    int old_n = (int)col_i64(r, 0, 3, 0), old_m = (int)col_i64(r, 0, 4, 0), old_q = (int)col_i64(r, 0, 5, 0);
    c->pend_from = col_i64(r, 0, 6, -1);
    c->pend_to = col_i64(r, 0, 7, -1);
    PQclear(r);

    r = st_run(c->s,
               "SELECT DISTINCT p.region FROM probe_checks pc JOIN probes p ON p.id = pc.probe_id "
               "WHERE pc.check_id = $1::bigint ORDER BY 1",
               1, p, PGRES_TUPLES_OK, "tracker: reading the check's regions", err, errlen);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = region_index(c, PQgetvalue(r, i, 0), 1);
        if (k >= 0)
            c->f.expected |= UINT64_C(1) << k;
    }
    int n_expected = PQntuples(r);
    PQclear(r);

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
        if (st_run_cmd(c->s, "DELETE FROM round_runs WHERE check_id = $1::bigint", 1, p, "tracker: resetting runs",
                       err, errlen) < 0 ||
            st_run_cmd(c->s, "DELETE FROM incidents WHERE check_id = $1::bigint", 1, p,
                       "tracker: resetting incidents", err, errlen) < 0)
            return -1;
        c->pend_from = c->pend_to = -1;
    }
    return 0;
}

/* Every result of rounds [k_lo, k_hi] (all regions) as cells. */
static int load_cells(struct fold_ctx *c, char *err, size_t errlen)
{
    const struct tracker_rule *rule = &c->f.rule;
    char lo[24], hi[24];
    snprintf(lo, sizeof lo, "%" PRId64, pk_round_start(c->f.k_lo, rule->interval_us, rule->spread_us) - 1000000);
    snprintf(hi, sizeof hi, "%" PRId64,
             pk_round_start(c->f.k_hi + 1, rule->interval_us, rule->spread_us) + LATE_START_SLACK_US);
    const char *p[] = {c->id, lo, hi};
    PGresult *r = st_run(c->s,
                         "SELECT p.region, coalesce(" US_OF("r.scheduled_at") ", 0), " US_OF("r.started_at")
                         ", r.outcome FROM results r JOIN probes p ON p.id = r.probe_id "
                         "WHERE r.check_id = $1::bigint AND r.started_at >= " TS_FROM_US(2)
                         " AND r.started_at < " TS_FROM_US(3),
                         3, p, PGRES_TUPLES_OK, "tracker: reading results", err, errlen);
    if (!r)
        return -1;
    int n = PQntuples(r);
    struct tracker_cell *v = pk_grow(c->cells, &c->cap_cells, (size_t)n + 1, sizeof *v, 0);
    if (!v) {
        PQclear(r);
        return pk_fail(err, errlen, "tracker: out of memory");
    }
    c->cells = v;
    c->n_cells = 0;
    for (int i = 0; i < n; i++) {
        int outcome = (int)col_i64(r, i, 3, 0);
        if (outcome != PK_OUTCOME_OK && outcome != PK_OUTCOME_DEGRADED && outcome != PK_OUTCOME_FAILED)
            continue;
        int64_t k = pk_round_index(col_i64(r, i, 1, 0), col_i64(r, i, 2, 0), rule->interval_us, rule->spread_us);
        if (k < c->f.k_lo || k > c->f.k_hi)
            continue;
        int reg = region_index(c, PQgetvalue(r, i, 0), 1);
        if (reg < 0)
            continue;
        v[c->n_cells++] = (struct tracker_cell){k, reg, outcome != PK_OUTCOME_FAILED, outcome == PK_OUTCOME_FAILED};
    }
    PQclear(r);
    return 0;
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

static int stage_rows(struct fold_ctx *c, PGresult *r, struct staged **v, size_t *n, size_t *cap, char *err,
                      size_t errlen)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct staged *nv = pk_grow(*v, cap, *n + 1, sizeof **v, 0);
        if (!nv)
            return pk_fail(err, errlen, "tracker: out of memory");
        *v = nv;
        int sc = scope_index(c, PQgetvalue(r, i, 0));
        if (sc == -1)
            continue;
        nv[(*n)++] = (struct staged){sc, {col_i64(r, i, 1, 0), col_i64(r, i, 2, 0), (int)col_i64(r, i, 3, 0),
                                          regions_mask(c, PQgetvalue(r, i, 4))}};
    }
    return 0;
}

/* Stored incidents' first affected start per scope, then the runs from there
 * on and a lookback before it. */
static int load_state(struct fold_ctx *c, char *err, size_t errlen)
{
    int64_t from0[TRACKER_MAX_REGIONS + 1], global_from0 = c->f.k_lo;
    char kl[24], f0[24];
    snprintf(kl, sizeof kl, "%" PRId64, c->rule_changed ? INT64_MIN / 4 : c->f.k_lo);
    const char *p[] = {c->id, kl};
    PGresult *inc = st_run(c->s,
                           "SELECT scope, min(start_round) FROM incidents WHERE check_id = $1::bigint AND "
                           "(closed_round IS NULL OR closed_round >= $2::bigint) GROUP BY scope",
                           2, p, PGRES_TUPLES_OK, "tracker: reading open incidents", err, errlen);
    if (!inc)
        return -1;
    for (int i = 0; i < PQntuples(inc); i++)
        if (col_i64(inc, i, 1, 0) < global_from0)
            global_from0 = col_i64(inc, i, 1, 0);
    if (c->rule_changed)
        global_from0 = INT64_MIN / 4;
    snprintf(f0, sizeof f0, "%" PRId64, global_from0);
    const char *p2[] = {c->id, f0};
    PGresult *after = st_run(c->s,
                             "SELECT scope, from_round, to_round, state, array_to_string(regions, E'\\n') "
                             "FROM round_runs WHERE check_id = $1::bigint AND to_round >= $2::bigint "
                             "ORDER BY scope, from_round",
                             2, p2, PGRES_TUPLES_OK, "tracker: reading runs", err, errlen);
    PGresult *before = after ? st_run(c->s,
                                      "SELECT s.scope, x.from_round, x.to_round, x.state, "
                                      "array_to_string(x.regions, E'\\n') FROM (SELECT DISTINCT scope FROM round_runs "
                                      "WHERE check_id = $1::bigint) s CROSS JOIN LATERAL (SELECT from_round, "
                                      "to_round, state, regions FROM round_runs r WHERE r.check_id = $1::bigint AND "
                                      "r.scope = s.scope AND r.to_round < $2::bigint ORDER BY r.to_round DESC "
                                      "LIMIT 64) x ORDER BY 1, 2",
                                      2, p2, PGRES_TUPLES_OK, "tracker: reading earlier runs", err, errlen)
                             : NULL;
    struct staged *v = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    if (!after || !before || stage_rows(c, before, &v, &n, &cap, err, errlen) < 0 ||
        stage_rows(c, after, &v, &n, &cap, err, errlen) < 0)
        goto out;
    /* Regions are all known now (expected, results, stored runs): the global scope is n_regions. */
    int g = c->f.n_regions;
    for (int s = 0; s <= g; s++) {
        from0[s] = c->f.k_lo;
        c->loaded_from[s] = INT64_MAX;
    }
    int lookback_n[TRACKER_MAX_REGIONS + 1] = {0};
    for (int i = 0; i < PQntuples(before); i++) {
        int sc = scope_index(c, PQgetvalue(before, i, 0));
        lookback_n[sc == -2 ? g : sc]++;
    }
    for (int i = 0; i < PQntuples(inc); i++) {
        int sc = scope_index(c, PQgetvalue(inc, i, 0));
        if (sc == -1)
            continue;
        sc = sc == -2 ? g : sc;
        int64_t st = col_i64(inc, i, 1, 0);
        if (st < from0[sc])
            from0[sc] = st;
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
        if (v[i].run.from < c->loaded_from[sc])
            c->loaded_from[sc] = v[i].run.from;
    }
    for (int s = 0; s <= g; s++) {
        c->f.scopes[s].inc_from0 = c->rule_changed ? INT64_MIN / 4 : from0[s];
        c->f.scopes[s].lookback_full = lookback_n[s] >= TRACKER_LOOKBACK_RUNS;
    }
    rc = 0;
out:
    free(v);
    PQclear(inc);
    PQclear(after);
    PQclear(before);
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
    return c->f.scopes[sc].changed || c->rule_changed;
}

/* Every dirty scope's runs from its first loaded run on, in one JSON document:
 * [[scope, cut, [[from, to, state, [regions]], ...]], ...]; two statements. */
static int write_runs(struct fold_ctx *c, struct pk_buf *b, char *err, size_t errlen)
{
    pk_buf_reset(b);
    pk_buf_addc(b, '[');
    int any = 0;
    for (int sc = 0; sc <= c->f.n_regions; sc++) {
        if (!scope_dirty(c, sc))
            continue;
        const struct tracker_scope *s = &c->f.scopes[sc];
        int64_t from = c->loaded_from[sc];
        if (s->tl.n && s->tl.runs[0].from < from)
            from = s->tl.runs[0].from;
        pk_buf_addf(b, "%s[", any++ ? "," : "");
        pk_buf_add_json_string(b, scope_name(c, sc), strlen(scope_name(c, sc)));
        pk_buf_addf(b, ",%" PRId64 ",[", from == INT64_MAX ? c->f.k_lo : from);
        for (size_t i = 0; i < s->tl.n; i++) {
            const struct pk_round_run *r = &s->tl.runs[i];
            pk_buf_addf(b, "%s[%" PRId64 ",%" PRId64 ",%d,", i ? "," : "", r->from, r->to, r->state);
            add_regions_json(b, c, r->regions);
            pk_buf_addc(b, ']');
        }
        pk_buf_adds(b, "]]");
    }
    pk_buf_addc(b, ']');
    if (pk_buf_ok(b) < 0)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (!any)
        return 0;
    const char *p[] = {c->id, b->data};
    if (st_run_cmd(c->s,
                   "DELETE FROM round_runs r USING json_array_elements($2::json) e WHERE r.check_id = $1::bigint "
                   "AND r.scope = e->>0 AND r.from_round >= (e->>1)::bigint",
                   2, p, "tracker: replacing runs", err, errlen) < 0)
        return -1;
    return st_run_cmd(c->s,
                      "INSERT INTO round_runs (check_id, scope, from_round, to_round, state, regions) "
                      "SELECT $1::bigint, e->>0, (x->>0)::bigint, (x->>1)::bigint, (x->>2)::smallint, "
                      "ARRAY(SELECT json_array_elements_text(x->3)) FROM json_array_elements($2::json) e, "
                      "json_array_elements(e->2) x",
                      2, p, "tracker: writing runs", err, errlen);
}

/* Every dirty scope's incidents from its inc_from on: those that keep their
 * start keep their row (and first_seen); closed_seen is set when one closes.
 * [[scope, inc_from, [[start, opened, end, closed, down, [regions]], ...]], ...]. */
static int write_incidents(struct fold_ctx *c, struct pk_buf *b, char *err, size_t errlen)
{
    const struct tracker_rule *rule = &c->f.rule;
    pk_buf_reset(b);
    pk_buf_addc(b, '[');
    int any = 0;
    size_t total = 0;
    for (int sc = 0; sc <= c->f.n_regions; sc++) {
        if (!scope_dirty(c, sc))
            continue;
        const struct tracker_scope *s = &c->f.scopes[sc];
        pk_buf_addf(b, "%s[", any++ ? "," : "");
        pk_buf_add_json_string(b, scope_name(c, sc), strlen(scope_name(c, sc)));
        pk_buf_addf(b, ",%" PRId64 ",[", s->inc_from);
        total += s->n_inc;
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
    pk_buf_addc(b, ']');
    if (pk_buf_ok(b) < 0)
        return pk_fail(err, errlen, "tracker: out of memory");
    if (!any)
        return 0;
    char n_[12], m_[12], q_[12], iv[24], sp[24];
    snprintf(n_, sizeof n_, "%d", rule->open_after);
    snprintf(m_, sizeof m_, "%d", rule->close_after);
    snprintf(q_, sizeof q_, "%d", rule->quorum);
    snprintf(iv, sizeof iv, "%" PRId64, rule->interval_us);
    snprintf(sp, sizeof sp, "%" PRId64, rule->spread_us);
    const char *p[] = {c->id, b->data, iv, sp, n_, m_, q_};
    if (st_run_cmd(c->s,
                   "DELETE FROM incidents i USING json_array_elements($2::json) e WHERE i.check_id = $1::bigint "
                   "AND i.scope = e->>0 AND i.start_round >= (e->>1)::bigint AND i.start_round NOT IN "
                   "(SELECT (x->>0)::bigint FROM json_array_elements(e->2) x)",
                   2, p, "tracker: replacing incidents", err, errlen) < 0)
        return -1;
    if (!total)
        return 0;
    /* now() only in the inserted row, never in DO UPDATE SET (refused by Citus on
     * a distributed table): EXCLUDED.closed_seen is now() when the incident closes. */
    return st_run_cmd(
        c->s,
        "INSERT INTO incidents AS i (check_id, scope, start_round, opened_round, end_round, closed_round, start_us, "
        "opened_us, end_us, closed_us, interval_us, down_rounds, regions, open_after, close_after, quorum, "
        "closed_seen) SELECT $1::bigint, e->>0, (x->>0)::bigint, (x->>1)::bigint, (x->>2)::bigint, "
        "(x->>3)::bigint, (x->>0)::bigint * $3::bigint + $4::bigint, (x->>1)::bigint * $3::bigint + $4::bigint, "
        "(x->>2)::bigint * $3::bigint + $4::bigint, (x->>3)::bigint * $3::bigint + $4::bigint, $3::bigint, "
        "(x->>4)::bigint, ARRAY(SELECT json_array_elements_text(x->5)), $5::int, $6::int, $7::int, "
        "CASE WHEN x->>3 IS NULL THEN NULL ELSE now() END FROM json_array_elements($2::json) e, "
        "json_array_elements(e->2) x "
        "ON CONFLICT (check_id, scope, start_round) DO UPDATE SET opened_round = EXCLUDED.opened_round, "
        "end_round = EXCLUDED.end_round, closed_round = EXCLUDED.closed_round, opened_us = EXCLUDED.opened_us, "
        "end_us = EXCLUDED.end_us, closed_us = EXCLUDED.closed_us, interval_us = EXCLUDED.interval_us, "
        "down_rounds = EXCLUDED.down_rounds, regions = EXCLUDED.regions, open_after = EXCLUDED.open_after, "
        "close_after = EXCLUDED.close_after, quorum = EXCLUDED.quorum, closed_seen = CASE WHEN "
        "EXCLUDED.closed_round IS NULL THEN NULL ELSE coalesce(i.closed_seen, EXCLUDED.closed_seen) END",
        7, p, "tracker: writing incidents", err, errlen);
}

static int write_tracker(struct fold_ctx *c, char *err, size_t errlen)
{
    const struct tracker_rule *rule = &c->f.rule;
    if (c->have_tracker && !c->rule_changed && !c->interval_changed && c->pend_from == c->f.pending_from &&
        c->pend_to == c->f.pending_to)
        return 0; /* the stored row says it all already */
    char iv[24], sp[24], n_[12], m_[12], q_[12], pf[24], pt[24], due[24];
    snprintf(iv, sizeof iv, "%" PRId64, rule->interval_us);
    snprintf(sp, sizeof sp, "%" PRId64, rule->spread_us);
    snprintf(n_, sizeof n_, "%d", rule->open_after);
    snprintf(m_, sizeof m_, "%d", rule->close_after);
    snprintf(q_, sizeof q_, "%d", rule->quorum);
    snprintf(pf, sizeof pf, "%" PRId64, c->f.pending_from);
    snprintf(pt, sizeof pt, "%" PRId64, c->f.pending_to);
    snprintf(due, sizeof due, "%" PRId64, c->f.pending_due_us);
    int none = c->f.pending_from < 0;
    const char *p[] = {c->id, iv, sp, n_, m_, q_, none ? NULL : pf, none ? NULL : pt, none ? NULL : due};
    /* updated_at from EXCLUDED (its default, now()): Citus refuses now() in DO UPDATE SET. */
    return st_run_cmd(c->s,
                      "INSERT INTO round_trackers (check_id, interval_us, spread_us, open_after, close_after, quorum, "
                      "pending_from, pending_to, pending_due_us) VALUES ($1::bigint, $2::bigint, $3::bigint, $4::int, "
                      "$5::int, $6::int, $7::bigint, $8::bigint, $9::bigint) ON CONFLICT (check_id) DO UPDATE SET "
                      "interval_us = EXCLUDED.interval_us, spread_us = EXCLUDED.spread_us, open_after = "
                      "EXCLUDED.open_after, close_after = EXCLUDED.close_after, quorum = EXCLUDED.quorum, "
                      "pending_from = EXCLUDED.pending_from, pending_to = EXCLUDED.pending_to, pending_due_us = "
                      "EXCLUDED.pending_due_us, updated_at = EXCLUDED.updated_at",
                      9, p, "tracker: writing the tracker row", err, errlen);
}

/* One check, in the caller's transaction (a savepoint of its own, so a check
 * the database refuses does not undo the others): rounds of [t_min, t_max]
 * (times), or only its pending rounds when t_min > t_max. -2 when the
 * transaction itself is lost. */
static int fold_check(struct store *s, const struct store_track_config *cfg, int64_t check_id, int64_t t_min,
                      int64_t t_max, int64_t now_us, struct store_track_stats *st, char *err, size_t errlen)
{
    struct fold_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return pk_fail(err, errlen, "tracker: out of memory");
    struct pk_buf b;
    pk_buf_init(&b, 0);
    c->s = s;
    c->cfg = cfg;
    c->check_id = check_id;
    c->now_us = now_us;
    snprintf(c->id, sizeof c->id, "%" PRId64, check_id);
    char lock[64];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d, %" PRId64 "::int)", TRACK_LOCK_CLASS,
             (int64_t)(int32_t)check_id);
    int rc = -1;
    if (st_run_cmd(s, "SAVEPOINT fold", 0, NULL, "tracker: savepoint", err, errlen) < 0) {
        rc = -2;
        goto out;
    }
    PGresult *lr = st_run(s, lock, 0, NULL, PGRES_TUPLES_OK, "tracker: taking the check's lock", err, errlen);
    if (!lr)
        goto out;
    PQclear(lr);
    if (load_rule(c, err, errlen) < 0)
        goto out;
    const struct tracker_rule *rule = &c->f.rule;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    if (t_min <= t_max) {
        lo = pk_round_index(t_min, t_min, rule->interval_us, rule->spread_us);
        hi = pk_round_index(t_max, t_max, rule->interval_us, rule->spread_us);
    }
    if (c->pend_from >= 0 && c->pend_to >= c->pend_from) {
        lo = c->pend_from < lo ? c->pend_from : lo;
        hi = c->pend_to > hi ? c->pend_to : hi;
    }
    if (lo > hi) {
        rc = st_run_cmd(s, "RELEASE SAVEPOINT fold", 0, NULL, "tracker: release", err, errlen);
        goto out;
    }
    if (hi - lo >= TRACKER_MAX_SPAN)
        lo = hi - TRACKER_MAX_SPAN + 1; /* a spool older than that is folded by its own batches */
    c->f.k_lo = lo;
    c->f.k_hi = hi;
    if (load_cells(c, err, errlen) < 0 || load_state(c, err, errlen) < 0 ||
        tracker_apply(&c->f, c->cells, c->n_cells, now_us, err, errlen) < 0)
        goto out;
    if (write_runs(c, &b, err, errlen) < 0 || write_incidents(c, &b, err, errlen) < 0)
        goto out;
    if (write_tracker(c, err, errlen) < 0 ||
        st_run_cmd(s, "RELEASE SAVEPOINT fold", 0, NULL, "tracker: release", err, errlen) < 0)
        goto out;
    if (st) {
        st->checks_folded++;
        st->rounds_folded += (uint64_t)(hi - lo + 1);
    }
    rc = 0;
out:
    if (rc == -1) {
        char e2[256];
        if (st_run_cmd(s, "ROLLBACK TO SAVEPOINT fold", 0, NULL, "tracker: rollback to savepoint", e2,
                       sizeof e2) < 0)
            rc = -2;
    }
    tracker_fold_free(&c->f);
    free(c->cells);
    free(c);
    pk_buf_free(&b);
    return rc;
}

static int by_check(const void *x, const void *y)
{
    const struct span *a = x, *b = y;
    return (a->check_id > b->check_id) - (a->check_id < b->check_id);
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

#define CHECKS_PER_TRANSACTION 64

/* Folds each span's check, in id order (two collectors take the locks in one
 * order), up to CHECKS_PER_TRANSACTION in one transaction (one commit for
 * many checks). */
static int fold_spans(struct store *s, struct span *v, size_t nv, const struct store_track_config *cfg,
                      int64_t now_us, struct store_track_stats *st, char *err, size_t errlen)
{
    int rc = 0;
    qsort(v, nv, sizeof *v, by_check);
    for (size_t j = 0; j < nv;) {
        st_ensure_ready(s);
        if (st_run_cmd(s, "BEGIN", 0, NULL, "tracker: begin", err, errlen) < 0)
            return -1;
        size_t end = j + CHECKS_PER_TRANSACTION < nv ? j + CHECKS_PER_TRANSACTION : nv;
        struct store_track_stats part = {0};
        int lost = 0;
        for (; j < end && !lost; j++) {
            int r = fold_check(s, cfg, v[j].check_id, v[j].t_min, v[j].t_max, now_us, &part, err, errlen);
            if (r < 0) {
                rc = -1;
                part.errors++;
                lost = r == -2;
            }
        }
        if (lost || st_commit(s, "tracker: commit", err, errlen) < 0) {
            st_rollback(s);
            if (st)
                st->errors += part.checks_folded + part.errors;
            return -1;
        }
        if (st) {
            st->checks_folded += part.checks_folded;
            st->rounds_folded += part.rounds_folded;
            st->errors += part.errors;
        }
    }
    return rc;
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

