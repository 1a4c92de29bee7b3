/* probes.c: probes and the check metadata they register: upsert on Register,
 * the checks a probe runs, heartbeats, and the probe and check listings the
 * query API reads (store_probe_status, store_check_meta). Checks are locked in
 * name order wherever several are upserted, so two probes cannot deadlock. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

int store_upsert_probe(struct store *s, const struct store_probe_info *info, int64_t *probe_id,
                       uint64_t *committed_seq, char *err, size_t errlen)
{
    int rc = -1, moved = 0;
    PGresult *r = NULL;
    char what[192], *old_region = NULL;
    char *labels = st_labels_json(info->labels, info->n_labels);
    snprintf(what, sizeof what, "probe \"%.128s\": register", info->name ? info->name : "");
    if (!labels) {
        pk_fail(err, errlen, "%s: out of memory", what);
        goto out;
    }
    const char *params[] = {info->name, info->region, labels, info->version};
    st_ensure_ready(s);
    /* A probe that moves to another region takes its past rows along: both
     * regions' packed hour summaries stop holding (region_hour_days.c). The
     * mark follows the move, so that a compaction that mends the regions
     * packs them with the probe where it now is. */
    r = st_run(s, "SELECT region FROM probes WHERE name = $1", 1, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto out;
    if (PQntuples(r) == 1) {
        moved = strcmp(PQgetvalue(r, 0, 0), info->region ? info->region : "") != 0;
        if (moved && !(old_region = strdup(PQgetvalue(r, 0, 0)))) {
            PQclear(r);
            r = NULL;
            pk_fail(err, errlen, "%s: out of memory", what);
            goto out;
        }
    }
    PQclear(r);
    r = st_run(s,
               "INSERT INTO probes (name, region, labels, version, last_seen) VALUES ($1, $2, $3::jsonb, $4, now()) "
               "ON CONFLICT (name) DO UPDATE SET region = EXCLUDED.region, labels = EXCLUDED.labels, "
               "version = EXCLUDED.version, last_seen = EXCLUDED.last_seen "
               "RETURNING id, committed_seq",
               4, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto out;
    if (moved) {
        const char *pm[] = {old_region, info->region};
        /* DO UPDATE, not DO NOTHING: a mark a compaction is mending is locked
         * (st_region_hour_days_mend); this waits for it and writes the mark
         * again once that one is deleted */
        if (st_run_cmd(s,
                       "INSERT INTO region_hour_days_stale (region) VALUES ($1), ($2) "
                       "ON CONFLICT (region) DO UPDATE SET region = EXCLUDED.region",
                       2, pm, what, err, errlen) < 0)
            goto out;
    }
    *probe_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *committed_seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    rc = 0;
out:
    PQclear(r);
    free(old_region);
    free(labels);
    return rc;
}

void st_meta_params(struct meta_params *m, const char *service, const struct pk_check_meta *meta)
{
    int64_t p50_ms = meta->budget_p50_ms, p95_ms = meta->budget_p95_ms, p99_ms = meta->budget_p99_ms;
    double slo_target_percent = meta->slo_target_percent;
    int64_t slo_window_ms = meta->slo_window_ms;
    snprintf(m->p50, sizeof m->p50, "%" PRId64, p50_ms);
    snprintf(m->p95, sizeof m->p95, "%" PRId64, p95_ms);
    snprintf(m->p99, sizeof m->p99, "%" PRId64, p99_ms);
    snprintf(m->slo_target, sizeof m->slo_target, "%.17g", slo_target_percent);
    snprintf(m->slo_window, sizeof m->slo_window, "%" PRId64, slo_window_ms);
    int has_slo = slo_target_percent > 0 && slo_target_percent < 100 && slo_window_ms > 0;
    m->v[0] = service && service[0] ? service : NULL;
    m->v[1] = p50_ms > 0 ? m->p50 : NULL;
    m->v[2] = p95_ms > 0 ? m->p95 : NULL;
    m->v[3] = p99_ms > 0 ? m->p99 : NULL;
    m->v[4] = has_slo ? m->slo_target : NULL;
    m->v[5] = has_slo ? m->slo_window : NULL;
    m->v[6] = meta->depends_on[0] ? meta->depends_on : NULL;
    m->v[7] = meta->labels[0] ? meta->labels : NULL;
}

/* Name order (strcmp: COLLATE "C", the order every transaction that locks
 * several checks takes); among equal names the caller's order. */
static int by_check_name(const void *a, const void *b)
{
    const struct store_check_info *x = *(const struct store_check_info *const *)a;
    const struct store_check_info *y = *(const struct store_check_info *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x > y) - (x < y);
}

/* A name given twice keeps its last entry, as the upsert that came later won
 * when each check had its own statement (one statement cannot update a row
 * twice). Register refuses such a probe before this (wire_validate_register);
 * this keeps the one statement valid for any other caller. sorted:
 * by_check_name order. The number left. */
static size_t drop_repeated_names(const struct store_check_info **sorted, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || strcmp(sorted[i]->name, sorted[i + 1]->name) != 0)
            sorted[m++] = sorted[i];
    return m;
}

/* A checks row as Register gives it, one array a column, in this order. */
#define CHECK_COLS 12
#define UPSERT_CHECKS_SQL                                                                                         \
    "INSERT INTO checks (name, type, target, interval_ms, service, budget_p50_ms, budget_p95_ms, budget_p99_ms, " \
    "slo_target_percent, slo_window_ms, depends_on, labels, updated_at) "                                         \
    "SELECT u.name, u.type, u.target, u.interval_ms, u.service, u.p50, u.p95, u.p99, u.slo_target, "              \
    "u.slo_window, u.depends_on, u.labels, now() "                                                                \
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], "     \
    "$8::bigint[], $9::double precision[], $10::bigint[], $11::text[], $12::text[]) "                             \
    "AS u (name, type, target, interval_ms, service, p50, p95, p99, slo_target, slo_window, depends_on, labels) " \
    "ORDER BY u.name COLLATE \"C\" "                                                                              \
    "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, target = EXCLUDED.target, "                          \
    "interval_ms = EXCLUDED.interval_ms, service = EXCLUDED.service, "                                            \
    "budget_p50_ms = EXCLUDED.budget_p50_ms, budget_p95_ms = EXCLUDED.budget_p95_ms, "                            \
    "budget_p99_ms = EXCLUDED.budget_p99_ms, slo_target_percent = EXCLUDED.slo_target_percent, "                  \
    "slo_window_ms = EXCLUDED.slo_window_ms, depends_on = EXCLUDED.depends_on, labels = EXCLUDED.labels, "        \
    "updated_at = EXCLUDED.updated_at RETURNING id, name"

/* The values of c's columns, NULL where not given (interval: unless > 0; the
 * metadata: st_meta_params). v[] points into c, interval and meta. */
static void check_values(const struct store_check_info *c, char *interval, size_t size, struct meta_params *meta,
                         const char *v[CHECK_COLS])
{
    snprintf(interval, size, "%" PRId64, c->interval_ms);
    st_meta_params(meta, c->service, &c->meta);
    v[0] = c->name;
    v[1] = c->type;
    v[2] = c->target;
    v[3] = c->interval_ms > 0 ? interval : NULL;
    memcpy(v + 4, meta->v, sizeof meta->v);
}

static int by_name_key(const void *key, const void *elem)
{
    return strcmp(key, (*(const struct store_check_info *const *)elem)->name);
}

/* ids[i] = the id the upsert r returned for sorted[i]. */
static int read_upserted_ids(const PGresult *r, const struct store_check_info **sorted, size_t n, int64_t *ids,
                             const char *what, char *err, size_t errlen)
{
    size_t rows = (size_t)PQntuples(r);
    for (size_t i = 0; i < rows; i++) {
        const struct store_check_info **c = bsearch(PQgetvalue(r, (int)i, 1), sorted, n, sizeof *sorted, by_name_key);
        if (c)
            ids[c - sorted] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] <= 0)
            return pk_fail(err, errlen, "%s: no id came back for check \"%.128s\" (%zu rows)", what,
                           sorted[i]->name, rows);
    return 0;
}

/* The checks rows of sorted[0..n) (by name, each name once) in one statement,
 * in the caller's transaction: it inserts and locks them in name order, as the
 * statements it replaces did one by one. ids[i]: sorted[i]'s id. */
static int upsert_checks(struct store *s, const char *probe, const struct store_check_info **sorted, size_t n,
                         int64_t *ids, char *err, size_t errlen)
{
    char what[96];
    struct pk_buf cols[CHECK_COLS];
    const char *params[CHECK_COLS];
    int failed = 0, rc = -1;
    snprintf(what, sizeof what, "probe id %s: upserting %zu checks", probe, n);
    for (int k = 0; k < CHECK_COLS; k++) {
        pk_buf_init(&cols[k], 0);
        pk_buf_addc(&cols[k], '{');
    }
    for (size_t i = 0; i < n; i++) {
        char interval[24];
        struct meta_params meta;
        const char *v[CHECK_COLS];
        check_values(sorted[i], interval, sizeof interval, &meta, v);
        for (int k = 0; k < CHECK_COLS; k++)
            st_array_add_text(&cols[k], v[k], i == 0);
    }
    for (int k = 0; k < CHECK_COLS; k++) {
        failed |= pk_buf_addc(&cols[k], '}') < 0;
        params[k] = cols[k].data;
    }
    if (failed) {
        pk_fail(err, errlen, "%s: out of memory", what);
    } else {
        PGresult *r = st_run(s, UPSERT_CHECKS_SQL, CHECK_COLS, params, PGRES_TUPLES_OK, what, err, errlen);
        rc = r ? read_upserted_ids(r, sorted, n, ids, what, err, errlen) : -1;
        PQclear(r);
    }
    for (int k = 0; k < CHECK_COLS; k++)
        pk_buf_free(&cols[k]);
    return rc;
}

/* The probe's probe_checks rows become params[1] (a bigint[] of check ids;
 * params[0] the probe id), by difference: the rows it keeps are not written
 * again. The trigger of migration 016 adds (probe, check, type) to
 * probe_check_history for each row written; for the kept rows the middle
 * statement adds what the trigger added when every row was deleted and
 * inserted again: a kept check whose type changed (by this Register or since)
 * gets its new type there. Register (below) and a CheckSet ack (assign.c).
 * Inside the caller's transaction. */
int st_replace_probe_checks(struct store *s, const char *const *params, const char *what, char *err, size_t errlen)
{
    if (st_run_cmd(s, "DELETE FROM probe_checks WHERE probe_id = $1 AND check_id <> ALL ($2::bigint[])", 2, params,
                   what, err, errlen) < 0 ||
        st_run_cmd(s,
                   "INSERT INTO probe_check_history (probe_id, check_id, type) SELECT pc.probe_id, pc.check_id, "
                   "c.type FROM probe_checks pc JOIN checks c ON c.id = pc.check_id WHERE pc.probe_id = $1 "
                   "ON CONFLICT DO NOTHING",
                   1, params, what, err, errlen) < 0 ||
        st_run_cmd(s,
                   "INSERT INTO probe_checks (probe_id, check_id) SELECT $1, unnest($2::bigint[]) "
                   "ON CONFLICT DO NOTHING",
                   2, params, what, err, errlen) < 0)
        return -1;
    return 0;
}

int store_set_probe_checks(struct store *s, int64_t probe_id, const struct store_check_info *checks, size_t n,
                           char *err, size_t errlen)
{
    int rc = -1;
    char what[96], probe[24];
    const struct store_check_info **sorted = calloc(n ? n : 1, sizeof *sorted);
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    char *id_array = NULL;
    snprintf(probe, sizeof probe, "%" PRId64, probe_id);
    if (!sorted || !ids) {
        pk_fail(err, errlen, "probe id %s: setting checks: out of memory", probe);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!checks[i].name || !checks[i].type) {
            pk_fail(err, errlen, "probe id %s: check #%zu has no name or type", probe, i + 1);
            goto out;
        }
        sorted[i] = &checks[i];
    }
    /* The same lock order (by name) in every transaction that upserts several
     * checks: two probes getting overlapping lists cannot deadlock. */
    qsort(sorted, n, sizeof *sorted, by_check_name);
    n = drop_repeated_names(sorted, n);
    st_ensure_ready(s);
    snprintf(what, sizeof what, "probe id %s: setting checks", probe);
    if (st_run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0 ||
        (n > 0 && upsert_checks(s, probe, sorted, n, ids, err, errlen) < 0))
        goto out;
    id_array = st_bigint_array(ids, n);
    if (!id_array) {
        pk_fail(err, errlen, "probe id %s: setting checks: out of memory", probe);
        goto out;
    }
    const char *params[] = {probe, id_array};
    /* The rows are locked already (upserted above, in name order). */
    if (st_run_cmd(s,
                   "UPDATE checks k SET " VERSION_CHECK_SET "FROM check_version_checks v "
                   "WHERE v.version = (SELECT max(version) FROM check_versions) AND v.name = k.name "
                   "AND k.id = ANY($1::bigint[]) AND (" VERSION_CHECK_DIFFERS ")",
                   1, params + 1, what, err, errlen) < 0 ||
        st_replace_probe_checks(s, params, what, err, errlen) < 0 || st_commit(s, what, err, errlen) < 0)
        goto out;
    /* Only committed ids may enter the cache. */
    for (size_t i = 0; i < n; i++)
        (void)st_cache_put(&s->checks, sorted[i]->name, ids[i]);
    rc = 0;
out:
    if (rc < 0)
        st_rollback(s);
    free(sorted);
    free(ids);
    free(id_array);
    return rc;
}

int store_touch_probe(struct store *s, int64_t probe_id, char *err, size_t errlen)
{
    char probe[24], what[64];
    snprintf(probe, sizeof probe, "%" PRId64, probe_id);
    snprintf(what, sizeof what, "probe id %s: heartbeat", probe);
    const char *params[] = {probe};
    st_ensure_ready(s);
    PGresult *r = st_run(s, "UPDATE probes SET last_seen = now() WHERE id = $1", 1, params, PGRES_COMMAND_OK, what, err,
                         errlen);
    if (!r)
        return -1;
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found) {
        pk_fail(err, errlen, "probe id %s is not registered", probe);
        return -1;
    }
    return 0;
}

int store_probe_heartbeats(struct store *s, const int64_t *probe_ids, const struct store_heartbeat *hbs, size_t n,
                           char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    /* Four array literals, '{1,2,...}': one statement for the whole batch. */
    struct pk_buf a[4];
    for (int k = 0; k < 4; k++) {
        pk_buf_init(&a[k], 0);
        pk_buf_addc(&a[k], '{');
    }
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        uint64_t v[3] = {hbs[i].pending, hbs[i].dropped, hbs[i].spool_bytes};
        pk_buf_addf(&a[0], "%s%" PRId64, sep, probe_ids[i]);
        for (int k = 0; k < 3; k++)
            pk_buf_addf(&a[k + 1], "%s%" PRIu64, sep, v[k] > INT64_MAX ? (uint64_t)INT64_MAX : v[k]);
    }
    int failed = 0;
    for (int k = 0; k < 4; k++)
        failed |= pk_buf_addc(&a[k], '}') < 0;
    int rc = -1;
    if (failed)
        pk_fail(err, errlen, "heartbeats of %zu probes: out of memory", n);
    else {
        const char *params[] = {a[0].data, a[1].data, a[2].data, a[3].data};
        st_ensure_ready(s);
        /* The rows are locked in id order first, as the ingest writers lock theirs
         * (store/results.c, lock_probes): an UPDATE ... FROM unnest locks them in
         * whatever order its join yields, and two such orders deadlock. */
        rc = st_run_cmd(s, "BEGIN", 0, NULL, "heartbeats: BEGIN", err, errlen);
        PGresult *r = rc < 0 ? NULL
                             : st_run(s, "SELECT id FROM probes WHERE id = ANY($1::bigint[]) ORDER BY id "
                                         "FOR NO KEY UPDATE",
                                      1, params, PGRES_TUPLES_OK, "heartbeats: locking the probes", err, errlen);
        rc = r ? 0 : -1;
        PQclear(r);
        if (rc == 0)
            rc = st_run_cmd(s,
                        "UPDATE probes p SET last_seen = now(), pending_results = v.pending, spool_bytes = v.bytes, "
                        "dropped_results = p.dropped_results + CASE WHEN v.dropped >= p.dropped_reported "
                        "THEN v.dropped - p.dropped_reported ELSE v.dropped END, dropped_reported = v.dropped "
                        "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) "
                        "AS v(id, pending, dropped, bytes) WHERE p.id = v.id",
                        4, params, "heartbeats", err, errlen);
        if (rc == 0)
            rc = st_commit(s, "heartbeats: COMMIT", err, errlen);
        else
            st_rollback(s);
    }
    for (int k = 0; k < 4; k++)
        pk_buf_free(&a[k]);
    return rc;
}

#define PROBE_COL(field, name, type) STORE_COL(struct store_probe_row, field, name, STORE_COL_##type)
static const struct store_col probe_cols[] = {
    PROBE_COL(name, "name", TEXT), PROBE_COL(region, "region", TEXT), PROBE_COL(last_seen_us, "last_seen_us", I64),
    PROBE_COL(pending, "pending_results", U64), PROBE_COL(dropped, "dropped_results", U64),
    PROBE_COL(spool_bytes, "spool_bytes", U64), PROBE_COL(committed_seq, "committed_seq", U64),
    PROBE_COL(checks_version, "checks_version", I64), PROBE_COL(checks_refused_version, "checks_refused_version", I64),
    PROBE_COL(checks_error, "checks_error", TEXT),
};

int store_probe_status(struct store *s, struct store_probe_row **rows, size_t *n, char *err, size_t errlen)
{
    const struct store_query q = {
        "SELECT name, region, (extract(epoch FROM last_seen) * 1000000)::bigint AS last_seen_us, "
        "pending_results, dropped_results, spool_bytes, committed_seq, checks_version, "
        "checks_refused_version, checks_error FROM probes "
        "ORDER BY name COLLATE \"C\"",
        0, NULL, "status: reading probes", "status", probe_cols, STORE_NCOLS(probe_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}

int store_region_probes_digest(struct store *s, const char *region, char *digest, size_t len, char *err,
                               size_t errlen)
{
    const char *p[] = {region};
    PGresult *r = st_run(s,
                         "SELECT md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM probes WHERE region = $1",
                         1, p, PGRES_TUPLES_OK, "region probes: reading", err, errlen);
    if (!r)
        return -1;
    pk_strlcpy(digest, PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "", len);
    PQclear(r);
    return 0;
}

int store_region_names(struct store *s, char ***out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    PGresult *r = st_run(s, "SELECT DISTINCT region FROM probes WHERE region <> '' ORDER BY 1", 0, NULL,
                         PGRES_TUPLES_OK, "regions: reading", err, errlen);
    if (!r)
        return -1;
    size_t k = (size_t)PQntuples(r), bytes = k * sizeof(char *);
    for (size_t i = 0; i < k; i++)
        bytes += (size_t)PQgetlength(r, (int)i, 0) + 1;
    char **v = malloc(bytes ? bytes : 1);
    if (!v) {
        PQclear(r);
        return pk_fail(err, errlen, "regions: out of memory");
    }
    char *at = (char *)(v + k);
    for (size_t i = 0; i < k; i++) {
        size_t len = (size_t)PQgetlength(r, (int)i, 0);
        memcpy(at, PQgetvalue(r, (int)i, 0), len + 1);
        v[i] = at;
        at += len + 1;
    }
    PQclear(r);
    *out = v;
    *n = k;
    return 0;
}

#define META_COL(field, name, type) STORE_COL(struct store_check_meta, field, name, type)
static const struct store_col check_meta_cols[] = {
    META_COL(name, "name", STORE_COL_TEXT),
    META_COL(type, "type", STORE_COL_TEXT),
    META_COL(service, "service", STORE_COL_TEXT),
    META_COL(interval_ms, "interval_ms", STORE_COL_I64),
    META_COL(meta.budget_p50_ms, "budget_p50_ms", STORE_COL_I64),
    META_COL(meta.budget_p95_ms, "budget_p95_ms", STORE_COL_I64),
    META_COL(meta.budget_p99_ms, "budget_p99_ms", STORE_COL_I64),
    META_COL(meta.slo_target_percent, "slo_target_percent", STORE_COL_DOUBLE),
    META_COL(meta.slo_window_ms, "slo_window_ms", STORE_COL_I64),
    META_COL(meta.depends_on, "depends_on", STORE_COL_TEXT),
    META_COL(meta.labels, "labels", STORE_COL_TEXT),
};

int store_check_meta(struct store *s, struct store_check_meta **rows, size_t *n, char *err, size_t errlen)
{
    /* NULL reads as "" / 0, which is what "not given" is in store_check_meta. */
    const struct store_query q = {
        "SELECT name, type, service, interval_ms, budget_p50_ms, budget_p95_ms, budget_p99_ms, "
        "slo_target_percent, slo_window_ms, depends_on, labels FROM checks ORDER BY name COLLATE \"C\"",
        0, NULL, "query: reading checks", "query: reading checks",
        check_meta_cols, STORE_NCOLS(check_meta_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}

int store_probe_name(struct store *s, int64_t probe_id, char *name, size_t namelen, char *err, size_t errlen)
{
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, probe_id);
    const char *params[] = {idbuf};
    st_ensure_ready(s);
    PGresult *r = st_run(s, "SELECT name FROM probes WHERE id = $1", 1, params, PGRES_TUPLES_OK, "looking up a probe",
                         err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        pk_strlcpy(name, PQgetvalue(r, 0, 0), namelen);
    PQclear(r);
    return found;
}

/* The (check, type, id) rows of r from column `col` on, skipping a row whose check is
 * NULL (a probe without checks, store_probe_hello). 0 or -1 + err. */
static int read_check_types(PGresult *r, int col, int64_t probe_id, struct store_probe_check **out, size_t *n,
                            char *err, size_t errlen)
{
    size_t rows = (size_t)PQntuples(r), k = 0;
    struct store_probe_check *v = rows ? calloc(rows, sizeof *v) : NULL;
    if (rows && !v)
        return pk_fail(err, errlen, "probe id %" PRId64 ": out of memory loading %zu checks", probe_id, rows);
    for (size_t i = 0; i < rows; i++) {
        if (PQgetisnull(r, (int)i, col))
            continue;
        pk_strlcpy(v[k].name, PQgetvalue(r, (int)i, col), sizeof v[k].name);
        pk_strlcpy(v[k].type, PQgetvalue(r, (int)i, col + 1), sizeof v[k].type);
        v[k].id = strtoll(PQgetvalue(r, (int)i, col + 2), NULL, 10);
        k++;
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return 0;
}

int store_probe_hello(struct store *s, int64_t probe_id, char *name, size_t namelen, struct store_probe_check **out,
                      size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, probe_id);
    const char *params[] = {idbuf};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT p.name, c.name, h.type, c.id FROM probes p "
                         "LEFT JOIN (probe_check_history h JOIN checks c ON c.id = h.check_id) ON h.probe_id = p.id "
                         "WHERE p.id = $1 ORDER BY c.name COLLATE \"C\", h.type COLLATE \"C\"",
                         1, params, PGRES_TUPLES_OK, "looking up a probe and its checks", err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found)
        pk_strlcpy(name, PQgetvalue(r, 0, 0), namelen);
    int rc = found ? read_check_types(r, 1, probe_id, out, n, err, errlen) : 0;
    PQclear(r);
    return rc < 0 ? -1 : found;
}

int store_probe_check_types(struct store *s, int64_t probe_id, struct store_probe_check **out, size_t *n, char *err,
                            size_t errlen)
{
    *out = NULL;
    *n = 0;
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, probe_id);
    const char *params[] = {idbuf};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT c.name, h.type, c.id FROM probe_check_history h JOIN checks c ON c.id = h.check_id "
                         "WHERE h.probe_id = $1 ORDER BY c.name COLLATE \"C\", h.type COLLATE \"C\"",
                         1, params, PGRES_TUPLES_OK, "loading a probe's checks", err, errlen);
    if (!r)
        return -1;
    int rc = read_check_types(r, 0, probe_id, out, n, err, errlen);
    PQclear(r);
    return rc;
}
