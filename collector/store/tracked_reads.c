/* tracked_reads.c: the tracker's stored rules, round counts and incidents of
 * many checks in one statement each (store.h, "reads for many checks"), for
 * the answers that cover every check (report, availability, incidents): one
 * statement per kind instead of a few per check. Each check's runs are clipped
 * to its own rounds [k_from, k_until), passed as arrays and joined with unnest,
 * and counted per scope in PostgreSQL from the runs' running totals (migration
 * 029; the answers need only the counts). Rows are sorted
 * by check name (COLLATE "C", as strcmp), so the caller finds a check's rows by
 * binary search. On Citus the counts are one statement that each shard runs
 * for its checks (counts_of). Reads only. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"
#include "rounds.h"

int store_tracked_batch_ok(struct store *s)
{
    return !st_is_citus(s);
}

#define RULE_ROW(field, kind) STORE_FIELD(struct store_track_rule_row, field, kind)
static const struct store_col rule_row_cols[] = {
    RULE_ROW(check_name, TEXT), RULE_ROW(interval_us, I64),  RULE_ROW(spread_us, I64),
    RULE_ROW(open_after, INT),  RULE_ROW(close_after, INT), RULE_ROW(quorum, INT),
};

int store_track_rules_read_all(struct store *s, struct store_track_rule_row **out, size_t *n, char *err,
                               size_t errlen)
{
    const struct store_query q = {
        "SELECT c.name AS check_name, t.interval_us, t.spread_us, t.open_after, t.close_after, t.quorum "
        "FROM round_trackers t JOIN checks c ON c.id = t.check_id ORDER BY c.name COLLATE \"C\"",
        0,
        NULL,
        "tracker rules: reading",
        "tracker rules",
        rule_row_cols,
        STORE_NCOLS(rule_row_cols),
        sizeof **out};
    return store_query_rows(s, &q, (void **)out, n, err, errlen);
}

#define COUNT_ROW(field, kind) STORE_FIELD(struct store_round_count_row, field, kind)
static const struct store_col count_row_cols[] = {
    COUNT_ROW(check_name, TEXT), COUNT_ROW(scope, TEXT), COUNT_ROW(up, I64), COUNT_ROW(down, I64),
};

static int counts_read(struct store *s, const char *const *checks, const int64_t *k_from, const int64_t *k_until,
                       size_t n_checks, const char *scope, const char *scopes, struct store_round_count_row **out,
                       size_t *n, char *err, size_t errlen);

int store_round_counts_read_many(struct store *s, const char *const *checks, const int64_t *k_from,
                                 const int64_t *k_until, size_t n_checks, struct store_round_count_row **out,
                                 size_t *n, char *err, size_t errlen)
{
    return counts_read(s, checks, k_from, k_until, n_checks, NULL, NULL, out, n, err, errlen);
}

/* scope: only that one ("*" global, or a region); NULL: every scope. scopes:
 * NULL, or (Citus) the scopes to count as an array literal (scope is then
 * unused): the statement then starts from round_trackers, distributed by check
 * like round_runs, and reads each check's runs through its check_id, so Citus
 * runs it inside each shard, one task per shard, all checks at once (the
 * scopes of one PostgreSQL, a UNION over probes, would be planned apart and
 * shipped to every task as an intermediate result: about a second here). */
static int counts_read(struct store *s, const char *const *checks, const int64_t *k_from, const int64_t *k_until,
                       size_t n_checks, const char *scope, const char *scopes, struct store_round_count_row **out,
                       size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (n_checks == 0)
        return 0;
    struct pk_buf names, from, until;
    pk_buf_init(&names, 0);
    pk_buf_init(&from, 0);
    pk_buf_init(&until, 0);
    int rc = -1;
    pk_buf_addc(&names, '{');
    pk_buf_addc(&from, '{');
    pk_buf_addc(&until, '{');
    for (size_t i = 0; i < n_checks; i++) {
        st_array_add_text(&names, checks[i], i == 0);
        pk_buf_addf(&from, "%s%" PRId64, i ? "," : "", k_from[i]);
        pk_buf_addf(&until, "%s%" PRId64, i ? "," : "", k_until[i]);
    }
    if (pk_buf_addc(&names, '}') < 0 || pk_buf_addc(&from, '}') < 0 || pk_buf_addc(&until, '}') < 0) {
        pk_fail(err, errlen, "round counts: out of memory");
        goto out;
    }
    const char *p[] = {names.data, from.data, until.data, scopes ? scopes : scope};
    /* Per check and scope, from the running totals (migration 029): the rounds
     * before k_until minus those before k_from, each from the last run that
     * starts before it (one primary-key lookup each; cum below). A scope with a
     * run whose totals are not known (NULL) sums its runs clipped to the window
     * instead (one primary-key range from the run holding k_from,
     * ST_RUNS_REACHING): the
     * CASE runs that subquery only then. Scopes are global and every probe's
     * region, each its own lookup, never the check's older history. */
#define CUM(CK, K, ALIAS)                                                                                              \
    "LEFT JOIN LATERAL (SELECT true AS found, r.up_before + CASE WHEN r.state = 1 THEN least(" K ", r.to_round + 1) "  \
    "- r.from_round ELSE 0 END AS up, r.down_before + CASE WHEN r.state = 2 THEN least(" K ", r.to_round + 1) - "      \
    "r.from_round ELSE 0 END AS down FROM round_runs r WHERE r.check_id = " CK " AND r.scope = sc.scope AND "          \
    "r.from_round < " K " ORDER BY r.from_round DESC LIMIT 1) " ALIAS " ON true "
#define KNOWN "((hi.found IS NULL OR hi.up IS NOT NULL) AND (lo.found IS NULL OR lo.up IS NOT NULL))"
#define SUMMED(CK, STATE)                                                                                              \
    "(SELECT coalesce(sum(least(r.to_round, w.k_until - 1) - greatest(r.from_round, w.k_from) + 1), 0) "               \
    "FROM round_runs r WHERE r.check_id = " CK " AND r.scope = sc.scope AND "                                          \
    ST_RUNS_REACHING("r", CK, "sc.scope", "w.k_from") " AND r.from_round < w.k_until AND r.state = " STATE ")"
#define COUNTS_SQL(CK, SOURCE)                                                                                         \
    "SELECT c.name AS check_name, sc.scope, "                                                                          \
    "CASE WHEN " KNOWN " THEN coalesce(hi.up, 0) - coalesce(lo.up, 0) ELSE " SUMMED(CK, "1")                           \
    " END AS up, "                                                                                                     \
    "CASE WHEN " KNOWN " THEN coalesce(hi.down, 0) - coalesce(lo.down, 0) ELSE " SUMMED(CK, "2")                       \
    " END AS down " SOURCE CUM(CK, "w.k_until", "hi") CUM(CK, "w.k_from", "lo")                                        \
    "ORDER BY c.name COLLATE \"C\", sc.scope COLLATE \"C\""
#define W "unnest($1::text[], $2::bigint[], $3::bigint[]) AS w(name, k_from, k_until) "
    const struct store_query q = {
        scopes ? COUNTS_SQL("t.check_id", "FROM round_trackers t JOIN checks c ON c.id = t.check_id JOIN " W
                                          "ON w.name = c.name CROSS JOIN unnest($4::text[]) AS sc(scope) ")
               : COUNTS_SQL("c.id", "FROM " W "JOIN checks c ON c.name = w.name CROSS JOIN (SELECT * FROM (SELECT "
                                    "'*' AS scope UNION SELECT region FROM probes) u WHERE $4::text IS NULL OR "
                                    "u.scope = $4::text) sc "),
        4,
        p,
        "round counts of many checks: reading",
        "round counts",
        count_row_cols,
        STORE_NCOLS(count_row_cols),
        sizeof **out};
#undef CUM
#undef COUNTS_SQL
#undef W
#undef KNOWN
#undef SUMMED
    rc = store_query_rows(s, &q, (void **)out, n, err, errlen);
out:
    pk_buf_free(&names);
    pk_buf_free(&from);
    pk_buf_free(&until);
    return rc;
}

/* ---- the prefetch: what one answer of many checks will ask, read up front */

struct st_tracked_cache {
    struct store_track_rule_row *rules; /* every tracked check, by name */
    size_t n_rules;
    char (*names)[PK_NAME_MAX]; /* the prefetched checks, by name, with their rounds */
    int64_t *k_from, *k_until;
    size_t n_names;
    struct store_round_count_row *counts; /* by check, scope */
    size_t n_counts;
    struct store_incident *inc; /* every check's, by check, scope, start */
    size_t n_inc;
    int64_t inc_since_us, inc_until_us;
    char scope[128]; /* the one scope counted; "": every scope */
};

void st_tracked_cache_free(struct st_tracked_cache *c)
{
    if (!c)
        return;
    free(c->rules);
    free(c->names);
    free(c->k_from);
    free(c->k_until);
    free(c->counts);
    free(c->inc);
    free(c);
}

void store_tracked_prefetch_end(struct store *s)
{
    st_tracked_cache_free(s->tcache);
    s->tcache = NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Index of name in a sorted array of n elements of size sz whose first field is the name; -1 when absent. */
static ptrdiff_t find_name(const void *base, size_t n, size_t sz, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp((const char *)base + mid * sz, name);
        if (d == 0)
            return (ptrdiff_t)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* counts_read of checks[0..n) in scope (NULL: every scope). On Citus one
 * statement run inside every shard (counts_read with scopes): the scopes are
 * scope, or "*" and every probe's region (probes is a reference table, read on
 * the coordinator). */
static int counts_of(struct store *s, const char *const *checks, const int64_t *k_from, const int64_t *k_until,
                     size_t n, const char *scope, struct store_round_count_row **out, size_t *n_out, char *err,
                     size_t errlen)
{
    if (!st_is_citus(s))
        return counts_read(s, checks, k_from, k_until, n, scope, NULL, out, n_out, err, errlen);
    struct pk_buf scopes;
    pk_buf_init(&scopes, 0);
    PGresult *r = NULL;
    if (scope) {
        pk_buf_addc(&scopes, '{');
        st_array_add_text(&scopes, scope, 1);
        pk_buf_addc(&scopes, '}');
    } else {
        r = st_run(s, "SELECT ARRAY['*'] || coalesce(array_agg(DISTINCT region), '{}') FROM probes", 0, NULL,
                   PGRES_TUPLES_OK, "round counts: reading the regions", err, errlen);
        if (!r) {
            pk_buf_free(&scopes);
            return -1;
        }
        pk_buf_adds(&scopes, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    int rc = pk_buf_ok(&scopes) < 0
                 ? pk_fail(err, errlen, "round counts: out of memory")
                 : counts_read(s, checks, k_from, k_until, n, NULL, scopes.data, out, n_out, err, errlen);
    pk_buf_free(&scopes);
    return rc;
}

int store_round_counts_one(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                           struct store_round_count_row **out, size_t *n, char *err, size_t errlen)
{
    return counts_of(s, &check, &k_from, &k_until, 1, scope, out, n, err, errlen);
}

int store_tracked_prefetch(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                           int64_t inc_since_us, int64_t inc_until_us, char *err, size_t errlen)
{
    return store_tracked_prefetch_scope(s, checks, n, since_us, until_us, inc_since_us, inc_until_us, NULL, err,
                                        errlen);
}

int store_tracked_prefetch_scope(struct store *s, const char *const *checks, size_t n, int64_t since_us,
                                 int64_t until_us, int64_t inc_since_us, int64_t inc_until_us, const char *scope,
                                 char *err, size_t errlen)
{
    store_tracked_prefetch_end(s);
    if (n == 0)
        return 0;
    struct st_tracked_cache *c = calloc(1, sizeof *c);
    const char **sorted = malloc(n * sizeof *sorted);
    int rc = -1;
    if (!c || !sorted || !(c->names = calloc(n, sizeof *c->names)) || !(c->k_from = calloc(n, sizeof *c->k_from)) ||
        !(c->k_until = calloc(n, sizeof *c->k_until))) {
        pk_fail(err, errlen, "tracker prefetch: out of memory");
        goto out;
    }
    memcpy(sorted, checks, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_name);
    if (store_track_rules_read_all(s, &c->rules, &c->n_rules, err, errlen) < 0)
        goto out;
    const char **runs_of = (const char **)sorted; /* reused in place: the tracked ones, in order */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(sorted[i], sorted[i - 1]) == 0)
            continue;
        ptrdiff_t r = find_name(c->rules, c->n_rules, sizeof *c->rules, sorted[i]);
        if (r < 0 || c->rules[r].interval_us <= 0)
            continue;
        snprintf(c->names[m], sizeof c->names[m], "%s", sorted[i]);
        c->k_from[m] = pk_round_at_or_after(since_us, c->rules[r].interval_us, c->rules[r].spread_us);
        c->k_until[m] = pk_round_at_or_after(until_us, c->rules[r].interval_us, c->rules[r].spread_us);
        runs_of[m++] = sorted[i];
    }
    c->n_names = m;
    snprintf(c->scope, sizeof c->scope, "%s", scope ? scope : "");
    if (counts_of(s, runs_of, c->k_from, c->k_until, m, scope, &c->counts, &c->n_counts, err, errlen) < 0)
        goto out;
    c->inc_since_us = inc_since_us;
    c->inc_until_us = inc_until_us;
    s->tcache = NULL; /* the full reads below, not the cache */
    if (store_incidents_read(s, NULL, NULL, inc_since_us, inc_until_us, &c->inc, &c->n_inc, err, errlen) < 0)
        goto out;
    s->tcache = c;
    c = NULL;
    rc = 0;
out:
    st_tracked_cache_free(c);
    free(sorted);
    return rc;
}

/* The rows of check in a sorted array (first field the name): [*first, *first + *count). */
static void rows_of(const void *base, size_t n, size_t sz, const char *check, size_t *first, size_t *count)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp((const char *)base + mid * sz, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && strcmp((const char *)base + end * sz, check) == 0)
        end++;
    *first = lo;
    *count = end - lo;
}

int st_tracked_cache_rule(struct store *s, const char *check, struct store_track_rule *out)
{
    const struct st_tracked_cache *c = s->tcache;
    if (!c)
        return -1;
    ptrdiff_t r = find_name(c->rules, c->n_rules, sizeof *c->rules, check);
    if (r < 0)
        return 0;
    *out = (struct store_track_rule){c->rules[r].interval_us, c->rules[r].spread_us, c->rules[r].open_after,
                                     c->rules[r].close_after, c->rules[r].quorum};
    return 1;
}

int store_round_counts(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                       int64_t *up, int64_t *down)
{
    const struct st_tracked_cache *c = s->tcache;
    ptrdiff_t k = c ? find_name(c->names, c->n_names, sizeof *c->names, check) : -1;
    if (k < 0 || k_from != c->k_from[k] || k_until != c->k_until[k] || (c->scope[0] && strcmp(scope, c->scope) != 0))
        return 0;
    size_t first, count;
    rows_of(c->counts, c->n_counts, sizeof *c->counts, check, &first, &count);
    *up = *down = 0;
    for (size_t i = first; i < first + count; i++)
        if (strcmp(c->counts[i].scope, scope) == 0) {
            *up = c->counts[i].up;
            *down = c->counts[i].down;
        }
    return 1;
}

int st_tracked_cache_incidents(struct store *s, const char *check, const char *scope, int64_t since_us,
                               int64_t until_us, struct store_incident **out, size_t *n, char *err, size_t errlen)
{
    const struct st_tracked_cache *c = s->tcache;
    if (!c || since_us < c->inc_since_us || until_us > c->inc_until_us)
        return 0;
    size_t first = 0, count = c->n_inc, m = 0;
    if (check)
        rows_of(c->inc, c->n_inc, sizeof *c->inc, check, &first, &count);
    struct store_incident *v = malloc((count ? count : 1) * sizeof *v);
    if (!v)
        return pk_fail(err, errlen, "incidents: out of memory");
    for (size_t i = first; i < first + count; i++) {
        const struct store_incident *x = &c->inc[i];
        if ((scope && strcmp(x->scope, scope) != 0) || x->start_us >= until_us ||
            (x->end_us >= 0 && x->end_us <= since_us))
            continue;
        v[m++] = *x;
    }
    *out = v;
    *n = m;
    return 1;
}

/* ---- migration 029: the running totals of the runs already stored */

int st_fill_run_totals(struct store *s, char *err, size_t errlen)
{
    /* On Citus too: both sides distributed by check_id and joined on it (the
     * UPDATE runs inside each shard). */
    return st_run_cmd(s,
                      "UPDATE round_runs r SET up_before = t.ub, down_before = t.db FROM (SELECT check_id, scope, "
                      "from_round, coalesce(sum(CASE WHEN state = 1 THEN to_round - from_round + 1 ELSE 0 END) OVER w, "
                      "0) AS ub, coalesce(sum(CASE WHEN state = 2 THEN to_round - from_round + 1 ELSE 0 END) OVER w, "
                      "0) AS db FROM round_runs WINDOW w AS (PARTITION BY check_id, scope ORDER BY from_round ROWS "
                      "BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) t WHERE r.check_id = t.check_id AND "
                      "r.scope = t.scope AND r.from_round = t.from_round",
                      0, NULL, "migration 029: running totals of the stored runs", err, errlen);
}
