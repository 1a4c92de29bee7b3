/* assign.c: central check assignment (migrations/003_assignment.sql): diff and
 * apply of a set of check files as a new version, the documents a probe gets,
 * and the probe's acknowledgement. One apply at a time (an advisory lock); the
 * `checks` rows follow the current version in the same transaction. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

/* The probe's region and labels decide; the same rule as pk_check_selects. */
#define SELECTS_PROBE "(cardinality(c.regions) = 0 OR p.region = ANY (c.regions)) AND p.labels @> c.labels"

int store_assign_current(struct store *s, int64_t *version, char *err, size_t errlen)
{
    st_ensure_ready(s);
    PGresult *r = st_run(s, "SELECT coalesce(max(version), 0) FROM check_versions", 0, NULL, PGRES_TUPLES_OK,
                         "reading the current checks version", err, errlen);
    if (!r)
        return -1;
    *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* One check of the set into the temporary new_checks (position: its order). */
static int stage_check(struct store *s, const struct store_assign_check *c, size_t position, const char *what,
                       char *err, size_t errlen)
{
    char index[24], pos[24], interval[24];
    struct meta_params meta;
    char *keys = st_labels_json(c->keys, c->n_keys), *labels = st_labels_json(c->labels, c->n_labels),
         *regions = st_strings_json(c->regions, c->n_regions);
    snprintf(index, sizeof index, "%zu", c->file_index);
    snprintf(pos, sizeof pos, "%zu", position);
    snprintf(interval, sizeof interval, "%" PRId64, c->interval_ms);
    /* The same NULL rules as Register (store_set_probe_checks). */
    st_meta_params(&meta, c->service, &c->meta);
    int rc = -1;
    const char *params[] = {c->name,        index,           pos,         c->definition,  keys,          regions,
                            labels,         c->type,         c->target,   interval,       meta.v[0],     meta.v[1],
                            meta.v[2],      meta.v[3],       meta.v[4],   meta.v[5],     meta.v[6],
                            meta.v[7]};
    if (!keys || !labels || !regions)
        pk_fail(err, errlen, "%s: out of memory", what);
    else
        rc = st_run_cmd(s,
                        "INSERT INTO new_checks (version, name, file_index, position, definition, keys, regions, "
                        "labels, type, target, interval_ms, meta_known, service, budget_p50_ms, budget_p95_ms, "
                        "budget_p99_ms, slo_target_percent, slo_window_ms, depends_on, check_labels) "
                        "SELECT 0, $1, $2::int, $3::int, $4, $5::jsonb || jsonb_strip_nulls(jsonb_build_object("
                        "'vars', f.vars, 'secrets', f.secrets)), ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), "
                        "$7::jsonb, $8, $9, $10::bigint, true, $11, $12::bigint, $13::bigint, $14::bigint, "
                        "$15::double precision, $16::bigint, $17, $18 FROM new_files f WHERE f.file_index = $2::int",
                        18, params, what, err, errlen);
    free(keys);
    free(labels);
    free(regions);
    return rc;
}

/* The given set, in the temporary tables new_files and new_checks (dropped at commit). */
static int stage_set(struct store *s, const struct store_assign_file *files, size_t n_files,
                     const struct store_assign_check *checks, size_t n_checks, const char *what, char *err,
                     size_t errlen)
{
    if (st_run_cmd(s,
                   "CREATE TEMP TABLE new_files (file_index int, origin text, vars text, secrets text) ON COMMIT DROP",
                   0, NULL, what, err, errlen) < 0 ||
        st_run_cmd(s, "CREATE TEMP TABLE new_checks (LIKE check_version_checks) ON COMMIT DROP", 0, NULL, what, err,
                   errlen) < 0)
        return -1;
    for (size_t i = 0; i < n_files; i++) {
        char index[24];
        snprintf(index, sizeof index, "%zu", i);
        const char *params[] = {index, files[i].origin, files[i].vars, files[i].secrets};
        if (st_run_cmd(s, "INSERT INTO new_files VALUES ($1, $2, $3, $4)", 4, params, what, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < n_checks; i++)
        if (stage_check(s, &checks[i], i, what, err, errlen) < 0)
            return -1;
    return 0;
}

#define CHANGE_COL(field, name) STORE_COL(struct store_assign_change, field, name, STORE_COL_TEXT)
static const struct store_col change_cols[] = {
    CHANGE_COL(name, "name"),
    CHANGE_COL(change, "change"),
    CHANGE_COL(keys, "keys"),
};

/* The staged set against version cur: added, removed and changed checks, by name. */
static int read_changes(struct store *s, const char *cur_text, const char *what, struct store_assign_change **changes,
                        size_t *n_changes, char *err, size_t errlen)
{
    const char *cur_param[] = {cur_text};
    PGresult *r = st_run(s,
                         "SELECT coalesce(n.name, o.name) AS name, "
                         "CASE WHEN o.name IS NULL THEN 'added' WHEN n.name IS NULL THEN 'removed' ELSE 'changed' "
                         "END AS change, "
                         "CASE WHEN n.name IS NULL OR o.name IS NULL THEN '' ELSE coalesce((SELECT string_agg(d.key, "
                         "',' ORDER BY d.key) FROM (SELECT coalesce(a.key, b.key) AS key FROM jsonb_each(n.keys) a "
                         "FULL JOIN jsonb_each(o.keys) b ON a.key = b.key WHERE a.value IS DISTINCT FROM b.value) d), "
                         "'') END AS keys "
                         "FROM new_checks n FULL JOIN (SELECT * FROM check_version_checks WHERE version = $1) o "
                         "ON n.name = o.name "
                         "WHERE n.name IS NULL OR o.name IS NULL OR n.keys <> o.keys OR n.definition <> o.definition "
                         "ORDER BY 1",
                         1, cur_param, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    int rc = store_read_rows(r, what, change_cols, sizeof change_cols / sizeof change_cols[0], sizeof **changes,
                             (void **)changes, n_changes, err, errlen);
    PQclear(r);
    return rc;
}

/* The staged set becomes version cur + 1. */
static int add_version(struct store *s, int64_t cur, size_t n_checks, const char *what, char *err,
                             size_t errlen)
{
    char next_text[24], count[24];
    snprintf(next_text, sizeof next_text, "%" PRId64, cur + 1);
    snprintf(count, sizeof count, "%zu", n_checks);
    const char *ins[] = {next_text, count};
    if (st_run_cmd(s, "INSERT INTO check_versions (version, n_checks) VALUES ($1, $2)", 2, ins, what, err, errlen) <
            0 ||
        st_run_cmd(s,
                   "INSERT INTO check_version_files (version, file_index, origin, vars, secrets) "
                   "SELECT $1, file_index, origin, vars, secrets FROM new_files",
                   1, ins, what, err, errlen) < 0 ||
        st_run_cmd(s,
                   "INSERT INTO check_version_checks (version, name, file_index, position, definition, keys, "
                   "regions, labels, type, target, interval_ms, meta_known, service, budget_p50_ms, "
                   "budget_p95_ms, budget_p99_ms, slo_target_percent, slo_window_ms, depends_on, check_labels) "
                   "SELECT $1, name, file_index, position, definition, keys, regions, labels, type, target, "
                   "interval_ms, meta_known, service, budget_p50_ms, budget_p95_ms, budget_p99_ms, "
                   "slo_target_percent, slo_window_ms, depends_on, check_labels FROM new_checks",
                   1, ins, what, err, errlen) < 0)
        return -1;
    return 0;
}

/* The checks rows follow the version now, not when a probe next registers.
 * Locked in name order first, as store_set_probe_checks does. Then COMMIT. */
static int follow_version(struct store *s, int64_t version, const char *what, char *err, size_t errlen)
{
    char ver_text[24];
    snprintf(ver_text, sizeof ver_text, "%" PRId64, version);
    const char *ver_param[] = {ver_text};
    PGresult *r = st_run(s,
                         "SELECT k.id FROM checks k JOIN check_version_checks v ON v.name = k.name AND v.version = $1 "
                         "ORDER BY k.name COLLATE \"C\" FOR UPDATE OF k",
                         1, ver_param, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    PQclear(r);
    if (st_run_cmd(s,
                   "UPDATE checks k SET " VERSION_CHECK_SET "FROM check_version_checks v "
                   "WHERE v.version = $1 AND v.name = k.name AND (" VERSION_CHECK_DIFFERS ")",
                   1, ver_param, what, err, errlen) < 0 ||
        st_commit(s, what, err, errlen) < 0)
        return -1;
    return 0;
}

int store_assign_apply(struct store *s, const struct store_assign_file *files, size_t n_files,
                       const struct store_assign_check *checks, size_t n_checks, int commit_it, int64_t *version,
                       int *created, struct store_assign_change **changes, size_t *n_changes, char *err,
                       size_t errlen)
{
    const char *what = commit_it ? "apply checks" : "diff checks";
    char cur_text[24];
    int rc = -1;
    int64_t cur = 0;
    PGresult *r = NULL;
    *created = 0;
    *changes = NULL;
    *n_changes = 0;
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        goto out;
    /* One apply at a time: each computes its diff against the version it replaces. */
    if (!(r = st_run(s, "SELECT pg_advisory_xact_lock(5003)", 0, NULL, PGRES_TUPLES_OK, what, err, errlen)))
        goto out;
    PQclear(r);
    if (!(r = st_run(s, "SELECT coalesce(max(version), 0) FROM check_versions", 0, NULL, PGRES_TUPLES_OK, what, err,
                     errlen)))
        goto out;
    cur = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    snprintf(cur_text, sizeof cur_text, "%" PRId64, cur);
    if (stage_set(s, files, n_files, checks, n_checks, what, err, errlen) < 0 ||
        read_changes(s, cur_text, what, changes, n_changes, err, errlen) < 0)
        goto out;
    *version = cur;
    if (!commit_it || (*n_changes == 0 && cur == 0)) {
        /* diff, or an apply of nothing over nothing: no new version */
        st_rollback(s);
        return 0;
    }
    if (*n_changes > 0) {
        if (add_version(s, cur, n_checks, what, err, errlen) < 0)
            goto out;
        *version = cur + 1;
        *created = 1;
    } else {
        const char *cur_param[] = {cur_text};
        /* The same files again: a version stored before migration 008 (or
         * 023, labels) learns its metadata from them (its definitions are the same). */
        if (st_run_cmd(s,
                       "UPDATE check_version_checks v SET meta_known = true, service = n.service, "
                       "budget_p50_ms = n.budget_p50_ms, budget_p95_ms = n.budget_p95_ms, "
                       "budget_p99_ms = n.budget_p99_ms, slo_target_percent = n.slo_target_percent, "
                       "slo_window_ms = n.slo_window_ms, depends_on = n.depends_on, check_labels = n.check_labels "
                       "FROM new_checks n WHERE v.version = $1 AND v.name = n.name AND (NOT v.meta_known OR "
                       "v.check_labels IS DISTINCT FROM n.check_labels)",
                       1, cur_param, what, err, errlen) < 0)
            goto out;
    }
    if (follow_version(s, *version, what, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        st_rollback(s);
        free(*changes);
        *changes = NULL;
        *n_changes = 0;
    }
    return rc;
}

void store_assign_documents_free(struct store_assign_doc *docs, size_t n)
{
    for (size_t i = 0; docs && i < n; i++) {
        free(docs[i].origin);
        free(docs[i].yaml);
    }
    free(docs);
}

int store_assign_documents(struct store *s, int64_t version, int64_t probe_id, struct store_assign_doc **docs,
                           size_t *n, char *err, size_t errlen)
{
    char v[24], p[24], what[96];
    snprintf(v, sizeof v, "%" PRId64, version);
    snprintf(p, sizeof p, "%" PRId64, probe_id);
    snprintf(what, sizeof what, "probe id %s: checks of version %s", p, v);
    const char *params[] = {v, p};
    *docs = NULL;
    *n = 0;
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT c.file_index, f.origin, f.vars, f.secrets, c.definition "
                         "FROM check_version_checks c JOIN check_version_files f "
                         "ON f.version = c.version AND f.file_index = c.file_index JOIN probes p ON p.id = $2 "
                         "WHERE c.version = $1 AND " SELECTS_PROBE " ORDER BY c.file_index, c.position",
                         2, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = -1;
    struct store_assign_doc *out = calloc(rows ? (size_t)rows : 1, sizeof *out);
    size_t n_out = 0;
    if (!out)
        goto oom;
    for (int i = 0; i < rows;) {
        int end = i;
        while (end < rows && strcmp(PQgetvalue(r, end, 0), PQgetvalue(r, i, 0)) == 0)
            end++;
        struct pk_buf o;
        pk_buf_init(&o, 0);
        size_t origin_len = (size_t)PQgetlength(r, i, 1) + 48;
        struct store_assign_doc *d = &out[n_out++];
        d->origin = malloc(origin_len);
        if (!d->origin)
            goto oom;
        snprintf(d->origin, origin_len, "%s (checks version %s)", PQgetvalue(r, i, 1), v);
        if (!PQgetisnull(r, i, 2))
            pk_buf_addf(&o, "vars: %s\n", PQgetvalue(r, i, 2));
        if (!PQgetisnull(r, i, 3))
            pk_buf_addf(&o, "secrets: %s\n", PQgetvalue(r, i, 3));
        pk_buf_add(&o, "checks:\n", 8);
        for (; i < end; i++) {
            pk_buf_add(&o, "- ", 2);
            pk_buf_add(&o, PQgetvalue(r, i, 4), (size_t)PQgetlength(r, i, 4));
            pk_buf_add(&o, "\n", 1);
        }
        if (!(d->yaml = pk_buf_take(&o)))
            goto oom;
    }
    *docs = out;
    *n = n_out;
    out = NULL;
    rc = 0;
    goto done;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
done:
    store_assign_documents_free(out, n_out);
    PQclear(r);
    return rc;
}

/* The ids of the checks version params[1] selects for probe params[0], as a
 * bigint[] literal in *ids (malloc'd), or *ids NULL when it selects none. */
static int selected_check_ids(struct store *s, const char *const *params, char **ids, const char *what, char *err,
                              size_t errlen)
{
    PGresult *r = st_run(s,
                         "SELECT array_agg(k.id ORDER BY k.id) FROM check_version_checks c JOIN probes p ON p.id = $1 "
                         "JOIN checks k ON k.name = c.name WHERE c.version = $2 AND " SELECTS_PROBE,
                         2, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    *ids = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
    int oom = !PQgetisnull(r, 0, 0) && !*ids;
    PQclear(r);
    return oom ? pk_fail(err, errlen, "%s: out of memory", what) : 0;
}

int store_assign_ack(struct store *s, int64_t probe_id, int64_t version, int accepted, const char *error, char *err,
                     size_t errlen)
{
    char v[24], p[24], what[96];
    snprintf(v, sizeof v, "%" PRId64, version);
    snprintf(p, sizeof p, "%" PRId64, probe_id);
    snprintf(what, sizeof what, "probe id %s: acknowledging checks version %s", p, v);
    st_ensure_ready(s);
    if (!accepted) {
        const char *params[] = {p, error ? error : "", v};
        return st_run_cmd(s,
                          "UPDATE probes SET checks_error = $2, checks_refused_version = $3, "
                          "checks_answered_at = now() WHERE id = $1",
                          3, params, what, err, errlen);
    }
    const char *params[] = {p, v};
    char *ids = NULL;
    /* An empty selection leaves the probe on its local files, whose Register list stands. */
    if (st_run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0 ||
        st_run_cmd(s, "UPDATE probes SET checks_version = $2, checks_error = NULL, checks_refused_version = 0, "
                   "checks_answered_at = now() WHERE id = $1", 2, params, what, err,
                   errlen) < 0 ||
        st_run_cmd(s,
                   /* A version stored before migration 008 (meta_known false) keeps
                 * the registered metadata. Name order, as everywhere checks are locked. */
                   "INSERT INTO checks (name, type, target, interval_ms, service, budget_p50_ms, budget_p95_ms, "
                   "budget_p99_ms, slo_target_percent, slo_window_ms, depends_on, labels, updated_at) "
                   "SELECT c.name, c.type, c.target, c.interval_ms, "
                   "CASE WHEN c.meta_known THEN c.service ELSE k.service END, "
                   "CASE WHEN c.meta_known THEN c.budget_p50_ms ELSE k.budget_p50_ms END, "
                   "CASE WHEN c.meta_known THEN c.budget_p95_ms ELSE k.budget_p95_ms END, "
                   "CASE WHEN c.meta_known THEN c.budget_p99_ms ELSE k.budget_p99_ms END, "
                   "CASE WHEN c.meta_known THEN c.slo_target_percent ELSE k.slo_target_percent END, "
                   "CASE WHEN c.meta_known THEN c.slo_window_ms ELSE k.slo_window_ms END, "
                   "CASE WHEN c.meta_known THEN c.depends_on ELSE k.depends_on END, "
                   "CASE WHEN c.meta_known THEN c.check_labels ELSE k.labels END, now() "
                   "FROM check_version_checks c JOIN probes p ON p.id = $1 LEFT JOIN checks k ON k.name = c.name "
                   "WHERE c.version = $2 AND " SELECTS_PROBE " ORDER BY c.name COLLATE \"C\" "
                   "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, target = EXCLUDED.target, "
                   "interval_ms = EXCLUDED.interval_ms, service = EXCLUDED.service, "
                   "budget_p50_ms = EXCLUDED.budget_p50_ms, budget_p95_ms = EXCLUDED.budget_p95_ms, "
                   "budget_p99_ms = EXCLUDED.budget_p99_ms, slo_target_percent = EXCLUDED.slo_target_percent, "
                   "slo_window_ms = EXCLUDED.slo_window_ms, depends_on = EXCLUDED.depends_on, "
                   "labels = EXCLUDED.labels, updated_at = EXCLUDED.updated_at",
                   2, params, what, err, errlen) < 0 ||
        selected_check_ids(s, params, &ids, what, err, errlen) < 0 ||
        (ids && st_replace_probe_checks(s, (const char *const[]){p, ids}, what, err, errlen) < 0) ||
        st_commit(s, what, err, errlen) < 0) {
        st_rollback(s);
        free(ids);
        return -1;
    }
    free(ids);
    return 0;
}

