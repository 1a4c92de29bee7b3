/* results.c: the hot path. store_write_batches stores several probes' results
 * in one transaction (probe rows locked in id order, results at or below each
 * probe's high-water mark skipped, the rest COPYed with their partial rollups),
 * so a (probe, seq) is never stored twice; and store_status reads the latest
 * result and per-region counts of each check. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "round_cells.h"

/* ---------------------------------------------------------- hot path */

/* Check name -> id. A miss upserts the check in its own autocommit statement
 * before the batch transaction starts: the id is durable at once (the cache never
 * holds ids of a rolled back transaction) and the batch transaction never holds
 * check row locks, so it cannot deadlock with store_set_probe_checks. */
static int resolve_check(struct store *s, const struct pk_result *res, int64_t probe_id, int64_t *id, char *err,
                         size_t errlen)
{
    /* Matched by the stream already (rpc_probe.c): the id of one of the probe's checks. */
    if (res->check_id > 0) {
        *id = res->check_id;
        return 0;
    }
    /* The hit (nearly every other result): the name as it is, when it ends in its field. */
    if (memchr(res->check_name, '\0', sizeof res->check_name) && st_cache_get(&s->checks, res->check_name, id))
        return 0;
    char name[PK_NAME_MAX], type[PK_TYPE_MAX], what[224];
    size_t name_len = strnlen(res->check_name, sizeof res->check_name - 1);
    size_t type_len = strnlen(res->check_type, sizeof res->check_type - 1);
    memcpy(name, res->check_name, name_len);
    name[name_len] = '\0';
    memcpy(type, res->check_type, type_len);
    type[type_len] = '\0';
    if (st_cache_get(&s->checks, name, id))
        return 0;
    const char *params[] = {name, type};
    snprintf(what, sizeof what, "probe id %" PRId64 ": check \"%s\"", probe_id, name);
    PGresult *r = st_run(s,
                         "INSERT INTO checks (name, type) VALUES ($1, $2) "
                         "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                         2, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (st_cache_put(&s->checks, name, *id) < 0) {
        pk_fail(err, errlen, "%s: out of memory", what);
        return -1;
    }
    return 0;
}

struct batch_ref {
    size_t index;      /* into the caller's batches */
    int64_t probe_id;
};

static int by_probe_then_index(const void *a, const void *b)
{
    const struct batch_ref *x = a, *y = b;
    if (x->probe_id != y->probe_id)
        return x->probe_id < y->probe_id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}


/* What text COPY left to the server: a value its column type cannot hold. */
static int check_ranges(int64_t probe_id, const struct pk_result *r, char *err, size_t errlen)
{
    const struct {
        const char *name, *type;
        int64_t v, lo, hi;
    } f[] = {{"outcome", "smallint", r->outcome, INT16_MIN, INT16_MAX},
             {"error_class", "smallint", r->error_class, INT16_MIN, INT16_MAX},
             {"status_code", "integer", r->status_code, INT32_MIN, INT32_MAX}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return pk_fail(err, errlen, "probe id %" PRId64 " seq %" PRIu64 ": %s %" PRId64 " is out of range for type %s",
                           probe_id, r->seq, f[i].name, f[i].v, f[i].type);
    return 0;
}

static int copy_row(struct copy_state *c, int64_t probe_id, int64_t check_id, const struct pk_result *r, char *err,
                    size_t errlen)
{
    if (check_ranges(probe_id, r, err, errlen) < 0)
        return -1;
    if (!c->started &&
        (st_copy_begin(c, c->s, "COPY results (" STORE_RESULT_COLUMNS ") FROM STDIN (FORMAT binary)",
                       "COPY results", err, errlen) < 0 ||
         st_copy_put(c, st_copy_bin_header, sizeof st_copy_bin_header, err, errlen) < 0))
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        long n =
            store_encode_result_row_binary(c->s->copy_buf + c->len, COPY_BUF_SIZE - c->len, probe_id, check_id, r);
        if (n >= 0) {
            c->len += (size_t)n;
            return c->len >= COPY_CHUNK ? st_copy_flush(c, err, errlen) : 0;
        }
        if (c->len == 0)
            break;
        if (st_copy_flush(c, err, errlen) < 0)
            return -1;
    }
    pk_fail(err, errlen, "probe id %" PRId64 " seq %" PRIu64 ": result cannot be encoded (started_at %" PRId64 ")",
            probe_id, r->seq, r->started_at_us);
    return -1;
}

/* Packed partial rollups (collector/rollup.h) of the results this transaction
 * stored, one row per (probe, minute), COPYed into rollup_partial inside the
 * same transaction. A row may be larger than the COPY buffer: it is streamed. */
static int copy_packs(struct store *s, char *err, size_t errlen)
{
    rollup_packs_reset(&s->rollup_packs);
    if (rollup_pack_rows(&s->rollup_rows, &s->rollup_packs) < 0) {
        pk_fail(err, errlen, "packing %zu partial rollups: out of memory", s->rollup_rows.n);
        return -1;
    }
    struct copy_state copy;
    if (st_copy_begin(&copy, s, "COPY rollup_partial (probe_id, minute, entries) FROM STDIN (FORMAT binary)",
                      "COPY rollup_partial", err, errlen) < 0)
        return -1;
    if (st_copy_put(&copy, st_copy_bin_header, sizeof st_copy_bin_header, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < s->rollup_packs.n; i++) {
        const struct rollup_pack *pk = &s->rollup_packs.v[i];
        const uint8_t *b = s->rollup_packs.bytes + pk->off;
        if (pk->minute_us < INT64_C(-62135596800000000) || pk->minute_us >= INT64_C(253402300800000000) ||
            pk->len > INT32_MAX) {
            pk_fail(err, errlen, "probe id %" PRId64 ": rollup minute out of range", pk->probe_id);
            goto fail;
        }
        /* 3 fields: bigint, timestamptz (us since 2000-01-01), bytea */
        uint64_t v[] = {3, 8, (uint64_t)pk->probe_id, 8, (uint64_t)(pk->minute_us - INT64_C(946684800000000)),
                        pk->len};
        const int bytes[] = {2, 4, 8, 4, 8, 4};
        char head[30];
        size_t hl = 0;
        for (size_t f = 0; f < sizeof bytes / sizeof bytes[0]; f++)
            for (int k = bytes[f] - 1; k >= 0; k--)
                head[hl++] = (char)((v[f] >> (8 * k)) & 0xff);
        if (st_copy_put(&copy, head, hl, err, errlen) < 0 ||
            st_copy_put(&copy, (const char *)b, pk->len, err, errlen) < 0)
            goto fail;
        if (copy.len >= COPY_CHUNK && st_copy_flush(&copy, err, errlen) < 0)
            goto fail;
    }
    if (st_copy_put(&copy, st_copy_bin_trailer, sizeof st_copy_bin_trailer, err, errlen) < 0)
        goto fail;
    return st_copy_finish(&copy, err, errlen);
fail:
    st_copy_abort(&copy);
    return -1;
}

static int write_partials(struct store *s, size_t n_in, char *err, size_t errlen)
{
    rollup_rows_reset(&s->rollup_rows);
    if (rollup_build_minutes(s->rollup_in, n_in, &s->rollup_rows) < 0) {
        pk_fail(err, errlen, "rollups of %zu results: out of memory", n_in);
        return -1;
    }
    return copy_packs(s, err, errlen);
}

/* Migration 011: partial rows of the old shape (one per check, probe and
 * minute, left in rollup_partial_v1) become packed rows; then the old table goes.
 * Runs in the caller's transaction. */
int st_pack_old_partials(struct store *s, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(s->conn,
                               "SELECT check_id, probe_id, minute, ok, degraded, failed, unknown, hist "
                               "FROM rollup_partial_v1",
                               0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "migration 011: reading rollup_partial_v1", err, errlen);
        PQclear(r);
        return -1;
    }
    int rc = 0;
    rollup_rows_reset(&s->rollup_rows);
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const struct rollup_counts c = {(uint64_t)st_bin_i64(r, i, 3), (uint64_t)st_bin_i64(r, i, 4),
                                        (uint64_t)st_bin_i64(r, i, 5), (uint64_t)st_bin_i64(r, i, 6)};
        rc = rollup_rows_append(&s->rollup_rows, st_bin_i64(r, i, 0), st_bin_i64(r, i, 1), st_bin_ts(r, i, 2), &c,
                                (const uint8_t *)PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7));
    }
    PQclear(r);
    if (rc < 0) {
        pk_fail(err, errlen, "migration 011: out of memory");
        return -1;
    }
    if (s->rollup_rows.n > 0 && copy_packs(s, err, errlen) < 0)
        return -1;
    return st_run_cmd(s, "DROP TABLE rollup_partial_v1", 0, NULL, "migration 011", err, errlen);
}

/* The working state of one store_write_batches call. */
struct write_job {
    struct store *s;
    struct store_batch *batches;
    size_t n, total;
    struct batch_ref *refs; /* the batches by probe id, then index */
    int64_t *check_ids;     /* per result, in the batches' order */
    size_t *first_row;      /* per batch: the index of its first result in check_ids */
    size_t *inserted;       /* per batch */
    int64_t *probe_ids;     /* the distinct probes, ascending */
    int64_t *marks;         /* per probe: its high-water mark */
    char (*regions)[128];   /* per probe: its region */
    int *region_no;         /* per probe: the first probe of the job with its region */
    struct round_cells cells; /* the stored results' per-round counts */
    size_t n_probes, n_rollup_in;
    char *probe_array; /* probe_ids as a bigint[] parameter */
    char what[96];
};

static void job_free(struct write_job *j)
{
    free(j->refs);
    free(j->probe_ids);
    free(j->marks);
    free(j->regions);
    free(j->region_no);
    st_cells_free(&j->cells);
    free(j->inserted);
    free(j->first_row);
    free(j->check_ids);
    free(j->probe_array);
}

static int job_oom(const struct write_job *j, char *err, size_t errlen)
{
    return pk_fail(err, errlen, "storing %zu results: out of memory", j->total);
}

static int job_alloc(struct write_job *j, char *err, size_t errlen)
{
    struct store *s = j->s;
    for (size_t i = 0; i < j->n; i++)
        j->total += j->batches[i].n_results;
    if (!s->rollups_off && j->total > s->rollup_in_cap) {
        struct rollup_input *in = realloc(s->rollup_in, j->total * sizeof *in);
        if (!in)
            return job_oom(j, err, errlen);
        s->rollup_in = in;
        s->rollup_in_cap = j->total;
    }
    j->refs = calloc(j->n, sizeof *j->refs);
    j->probe_ids = calloc(j->n, sizeof *j->probe_ids);
    j->marks = calloc(j->n, sizeof *j->marks);
    j->regions = calloc(j->n, sizeof *j->regions);
    j->region_no = calloc(j->n, sizeof *j->region_no);
    j->inserted = calloc(j->n, sizeof *j->inserted);
    j->first_row = calloc(j->n, sizeof *j->first_row);
    j->check_ids = calloc(j->total ? j->total : 1, sizeof *j->check_ids);
    if (!j->refs || !j->probe_ids || !j->marks || !j->regions || !j->region_no || !j->inserted || !j->first_row ||
        !j->check_ids)
        return job_oom(j, err, errlen);
    return 0;
}

/* Every result's check id, before the transaction (see resolve_check). */
static int resolve_checks(struct write_job *j, char *err, size_t errlen)
{
    for (size_t i = 0, row = 0; i < j->n; i++) {
        const struct store_batch *b = &j->batches[i];
        j->first_row[i] = row;
        for (size_t k = 0; k < b->n_results; k++, row++)
            if (resolve_check(j->s, &b->results[k], b->probe_id, &j->check_ids[row], err, errlen) < 0)
                return -1;
    }
    return 0;
}

/* The batches by probe, and the distinct probes in id order. */
static int order_probes(struct write_job *j, char *err, size_t errlen)
{
    for (size_t i = 0; i < j->n; i++)
        j->refs[i] = (struct batch_ref){i, j->batches[i].probe_id};
    qsort(j->refs, j->n, sizeof *j->refs, by_probe_then_index);
    for (size_t i = 0; i < j->n; i++)
        if (j->n_probes == 0 || j->probe_ids[j->n_probes - 1] != j->refs[i].probe_id)
            j->probe_ids[j->n_probes++] = j->refs[i].probe_id;
    j->probe_array = st_bigint_array(j->probe_ids, j->n_probes);
    if (!j->probe_array)
        return job_oom(j, err, errlen);
    snprintf(j->what, sizeof j->what, "probe id %" PRId64 "%s: storing results", j->probe_ids[0],
             j->n_probes > 1 ? " and others" : "");
    return 0;
}

struct probe_mark {
    int64_t id, committed_seq;
    char region[128];
};

static const struct store_col mark_cols[] = {
    STORE_COL(struct probe_mark, id, "id", STORE_COL_I64),
    STORE_COL(struct probe_mark, committed_seq, "committed_seq", STORE_COL_I64),
    STORE_COL(struct probe_mark, region, "region", STORE_COL_TEXT),
};

/* Locks the probe rows in id order, so concurrent writers cannot deadlock (NO KEY
 * UPDATE because probe_checks' foreign key only needs KEY SHARE on the row),
 * and reads their high-water marks. In the caller's transaction. */
static int lock_probes(struct write_job *j, char *err, size_t errlen)
{
    const char *lock_params[] = {j->probe_array};
    struct probe_mark *rows = NULL;
    size_t n_rows = 0;
    PGresult *r = st_run(j->s,
                         "SELECT id, committed_seq, region FROM probes WHERE id = ANY($1::bigint[]) ORDER BY id "
                         "FOR NO KEY UPDATE",
                         1, lock_params, PGRES_TUPLES_OK, j->what, err, errlen);
    if (!r)
        return -1;
    int rc = store_read_rows(r, j->what, mark_cols, sizeof mark_cols / sizeof mark_cols[0], sizeof *rows,
                             (void **)&rows, &n_rows, err, errlen);
    PQclear(r);
    for (size_t p = 0, row = 0; rc == 0 && p < j->n_probes; p++) {
        if (row < n_rows && rows[row].id == j->probe_ids[p]) {
            memcpy(j->regions[p], rows[row].region, sizeof j->regions[p]);
            j->marks[p] = rows[row++].committed_seq;
            int q = 0; /* probes of one region share a number: their cells merge */
            while (strcmp(j->regions[q], j->regions[p]) != 0)
                q++;
            j->region_no[p] = q;
        } else
            rc = pk_fail(err, errlen, "probe id %" PRId64 " is not registered", j->probe_ids[p]);
    }
    free(rows);
    return rc;
}

/* COPYs the results above each probe's mark (the rest were stored already: a
 * resend after a lost ack), raising the marks as it goes. */
static int copy_new_results(struct write_job *j, struct copy_state *copy, char *err, size_t errlen)
{
    struct store *s = j->s;
    for (size_t i = 0, p = 0; i < j->n; i++) {
        while (j->probe_ids[p] != j->refs[i].probe_id)
            p++;
        size_t index = j->refs[i].index;
        const struct store_batch *b = &j->batches[index];
        for (size_t k = 0; k < b->n_results; k++) {
            const struct pk_result *res = &b->results[k];
            if (res->seq <= (uint64_t)j->marks[p])
                continue;
            int64_t check_id = j->check_ids[j->first_row[index] + k];
            if (copy_row(copy, b->probe_id, check_id, res, err, errlen) < 0)
                return -1;
            if (!s->rollups_off)
                s->rollup_in[j->n_rollup_in++] = (struct rollup_input){check_id, b->probe_id, res->started_at_us,
                                                                       res->total_us, res->outcome};
            if (st_cells_add(&j->cells, check_id, j->region_no[p], res) < 0)
                return job_oom(j, err, errlen);
            j->marks[p] = (int64_t)res->seq;
            j->inserted[index]++;
        }
    }
    if (copy->started && st_copy_put(copy, st_copy_bin_trailer, sizeof st_copy_bin_trailer, err, errlen) < 0)
        return -1;
    return st_copy_finish(copy, err, errlen);
}

/* The cells of the stored results (round_cells.h), named by their probes' regions. */
static int write_cells(struct write_job *j, char *err, size_t errlen)
{
    const char **names = calloc(j->n_probes, sizeof *names);
    if (!names)
        return job_oom(j, err, errlen);
    for (size_t p = 0; p < j->n_probes; p++)
        names[p] = j->regions[p];
    int rc = st_cells_copy(j->s, &j->cells, names, err, errlen);
    free(names);
    return rc;
}

/* The probes' new marks, then COMMIT. */
static int raise_marks(struct write_job *j, char *err, size_t errlen)
{
    char *mark_array = st_bigint_array(j->marks, j->n_probes);
    if (!mark_array)
        return job_oom(j, err, errlen);
    const char *mark_params[] = {j->probe_array, mark_array};
    int rc = st_run_cmd(j->s,
                        "UPDATE probes AS p SET committed_seq = v.seq, last_seen = now() "
                        "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, seq) WHERE p.id = v.id",
                        2, mark_params, j->what, err, errlen);
    free(mark_array);
    return rc < 0 ? -1 : st_commit(j->s, j->what, err, errlen);
}

int store_write_batches(struct store *s, struct store_batch *batches, size_t n, char *err, size_t errlen)
{
    int rc = -1;
    struct copy_state copy = {s, 0, 0};
    struct write_job j = {.s = s, .batches = batches, .n = n};
    if (n == 0)
        return 0;
    if (job_alloc(&j, err, errlen) < 0)
        goto out;
    st_ensure_ready(s);
    if (resolve_checks(&j, err, errlen) < 0 || order_probes(&j, err, errlen) < 0 ||
        st_run_cmd(s, "BEGIN", 0, NULL, j.what, err, errlen) < 0 || lock_probes(&j, err, errlen) < 0 ||
        copy_new_results(&j, &copy, err, errlen) < 0)
        goto out;
    if (j.n_rollup_in > 0 && write_partials(s, j.n_rollup_in, err, errlen) < 0)
        goto out;
    if (j.cells.n > 0 && write_cells(&j, err, errlen) < 0)
        goto out;
    if (raise_marks(&j, err, errlen) < 0)
        goto out;
    for (size_t i = 0, p = 0; i < n; i++) {
        while (j.probe_ids[p] != j.refs[i].probe_id)
            p++;
        batches[j.refs[i].index].committed_seq = (uint64_t)j.marks[p];
        batches[j.refs[i].index].n_inserted = j.inserted[j.refs[i].index];
    }
    rc = 0;
out:
    if (rc < 0) {
        st_copy_abort(&copy);
        st_rollback(s);
    }
    job_free(&j);
    return rc;
}

/* --------------------------------------------------------------- status */

#define STATUS_COL(field, name, type) STORE_COL(struct store_status_row, field, name, STORE_COL_##type)
static const struct store_col status_cols[] = {
    STATUS_COL(check_name, "name", TEXT),     STATUS_COL(check_type, "type", TEXT),
    STATUS_COL(last_started_at_us, "started_at_us", I64), STATUS_COL(last_outcome, "outcome", INT),
    STATUS_COL(last_message, "message", TEXT), STATUS_COL(last_total_us, "total_us", I64),
    STATUS_COL(last_status_code, "status_code", INT),
    STATUS_COL(last_probe, "probe", TEXT),     STATUS_COL(last_region, "region", TEXT),
    STATUS_COL(probes, "probes", INT),
    STATUS_COL(metrics_text, "metrics", TEXT), STATUS_COL(last_metrics_at_us, "metrics_at_us", I64),
};

/* "name=value name=value" (names are [A-Za-z0-9_], values numbers) into the row's
 * metrics; anything else is skipped. */
static void parse_metrics(struct store_status_row *row)
{
    const char *p = row->metrics_text;
    row->n_last_metrics = 0;
    while (*p && row->n_last_metrics < PK_MAX_METRICS) {
        while (*p == ' ')
            p++;
        size_t name_len = strcspn(p, "= ");
        if (!name_len || p[name_len] != '=') {
            p += name_len + (p[name_len] != '\0');
            continue;
        }
        char *end;
        double v = strtod(p + name_len + 1, &end);
        if (end != p + name_len + 1 && name_len < PK_METRIC_NAME_MAX) {
            struct pk_metric *m = &row->last_metrics[row->n_last_metrics++];
            memcpy(m->name, p, name_len);
            m->name[name_len] = '\0';
            m->value = v;
        }
        p = end + strcspn(end, " ");
    }
}

/* One check's results of the last hour in one region. */
struct region_count {
    char check_name[PK_NAME_MAX];
    struct store_status_region region;
};

#define REGION_COL(field, name, type) STORE_COL(struct region_count, field, name, type)
static const struct store_col region_cols[] = {
    REGION_COL(check_name, "name", STORE_COL_TEXT),
    REGION_COL(region.region, "region", STORE_COL_TEXT),
    REGION_COL(region.total, "total", STORE_COL_I64),
    REGION_COL(region.ok, "ok", STORE_COL_I64),
};

/* Both lists are in the same check order: walk them together. */
static void add_regions(struct store_status_row *rows, size_t n, const struct region_count *counts, size_t n_counts)
{
    for (size_t j = 0, i = 0; j < n_counts; j++) {
        while (i < n && strcmp(rows[i].check_name, counts[j].check_name) != 0)
            i++;
        if (i == n)
            break;
        struct store_status_row *row = &rows[i];
        if (row->n_regions < STORE_STATUS_MAX_REGIONS)
            row->regions[row->n_regions++] = counts[j].region;
    }
}

#define STATUS_CHECKS_SQL                                                                                        \
    "SELECT c.name, c.type, "                                                                                    \
    "coalesce((extract(epoch FROM lr.started_at) * 1000000)::bigint, 0) AS started_at_us, "                      \
    "coalesce(lr.outcome, 0) AS outcome, coalesce(lr.message, '') AS message, "                                  \
    "coalesce(lr.total_us, -1) AS total_us, coalesce(lr.status_code, 0) AS status_code, "                        \
    "coalesce(p.name, '') AS probe, coalesce(p.region, '') AS region, "                                          \
    "(SELECT count(*) FROM probe_checks pc WHERE pc.check_id = c.id) AS probes, "                                \
    "coalesce((SELECT string_agg(m.key || '=' || m.value, ' ' ORDER BY m.key) "                                  \
    "FROM jsonb_each_text(lr.metrics) m), '') AS metrics, "                                                      \
    "CASE WHEN lr.metrics IS NULL THEN 0 "                                                                       \
    "ELSE (extract(epoch FROM lr.started_at) * 1000000)::bigint END AS metrics_at_us "                           \
    "FROM checks c %s"                                                                                           \
    "LEFT JOIN probes p ON p.id = lr.probe_id "                                                                  \
    "WHERE $1::text IS NULL OR c.name = $1 "                                                                     \
    "ORDER BY c.name COLLATE \"C\""

#define STATUS_REGIONS_SQL                                                                                       \
    "SELECT c.name, rg.region, rg.total, rg.ok FROM checks c "                                                   \
    "CROSS JOIN LATERAL (SELECT p.region, count(*) AS total, "                                                   \
    "count(*) FILTER (WHERE r.outcome = 1) AS ok "                                                               \
    "FROM results r JOIN probes p ON p.id = r.probe_id "                                                         \
    "WHERE r.check_id = c.id AND r.started_at > now() - interval '1 hour' AND r.started_at <= now() "            \
    "GROUP BY p.region) rg "                                                                                     \
    "WHERE $1::text IS NULL OR c.name = $1 "                                                                     \
    "ORDER BY c.name COLLATE \"C\", rg.region COLLATE \"C\""

#define STATUS_REGIONS_CITUS_SQL                                                                                 \
    "SELECT c.name, p.region, count(*) AS total, count(*) FILTER (WHERE r.outcome = 1) AS ok "                   \
    "FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "                      \
    "WHERE r.started_at > now() - interval '1 hour' AND r.started_at <= now() "                                  \
    "AND ($1::text IS NULL OR c.name = $1) "                                                                     \
    "GROUP BY c.name, p.region ORDER BY c.name COLLATE \"C\", p.region COLLATE \"C\""

static int status_read(struct store *s, const char *check_name, int with_regions, struct store_status_row **rows,
                       size_t *n, char *err, size_t errlen);

int store_status(struct store *s, const char *check_name, struct store_status_row **rows, size_t *n, char *err,
                 size_t errlen)
{
    return status_read(s, check_name, 1, rows, n, err, errlen);
}

int store_last_results(struct store *s, const char *check_name, struct store_status_row **rows, size_t *n, char *err,
                       size_t errlen)
{
    return status_read(s, check_name, 0, rows, n, err, errlen);
}

static int status_read(struct store *s, const char *check_name, int with_regions, struct store_status_row **rows,
                       size_t *n, char *err, size_t errlen)
{
    int rc = -1;
    PGresult *checks = NULL, *regions = NULL;
    struct store_status_row *out_rows = NULL;
    struct region_count *counts = NULL;
    size_t count = 0, n_counts = 0;
    const char *params[] = {check_name};
    *rows = NULL;
    *n = 0;
    st_ensure_ready(s);
    /* Both queries go check by check (LATERAL) so each is a range of the
     * (check_id, started_at) index, never a scan of results. "C" ordering makes
     * them list checks alike. The last result is looked for in the last two
     * days' partitions first (pruned at start: one index probe each), and in
     * every partition only for a check with nothing there (the second branch
     * of the UNION ALL runs only when the first returned no row): the same row,
     * without one probe per partition and check (1,000 checks x 31 daily
     * partitions: 240 ms against 30). The per-region counts stop at now(). */
    int citus = st_is_citus(s);
    /* On Citus (docs/SCALING-citus.md) the correlated LATERAL reads of results
     * are refused: the last results come from picket_last_results() (one
     * single-shard query per check) and the per-region counts from one join of
     * the last hour's results with the reference tables. */
    char checks_sql[2048];
    snprintf(checks_sql, sizeof checks_sql, STATUS_CHECKS_SQL,
             citus ? "LEFT JOIN picket_last_results() lr ON lr.check_id = c.id "
                   : "LEFT JOIN LATERAL (SELECT * FROM ((SELECT r.started_at, r.outcome, r.message, r.total_us, "
                     "r.status_code, r.probe_id, r.metrics FROM results r WHERE r.check_id = c.id "
                     "AND r.started_at > now() - interval '2 days' ORDER BY r.started_at DESC LIMIT 1) UNION ALL "
                     "(SELECT r.started_at, r.outcome, r.message, r.total_us, r.status_code, r.probe_id, r.metrics "
                     "FROM results r WHERE r.check_id = c.id ORDER BY r.started_at DESC LIMIT 1)) u LIMIT 1) lr ON true ");
    checks = st_run(s, checks_sql, 1, params, PGRES_TUPLES_OK, "status: reading checks", err, errlen);
    if (!checks)
        goto out;
    if (with_regions && !(regions = st_run(s, citus ? STATUS_REGIONS_CITUS_SQL : STATUS_REGIONS_SQL, 1, params,
                                           PGRES_TUPLES_OK, "status: counting results per region", err, errlen)))
        goto out;
    if (PQntuples(checks) == 0 && check_name) {
        pk_fail(err, errlen, "check '%.128s' is not known", check_name);
        rc = -2;
        goto out;
    }
    if (store_read_rows(checks, "status", status_cols, sizeof status_cols / sizeof status_cols[0], sizeof *out_rows,
                        (void **)&out_rows, &count, err, errlen) < 0 ||
        (regions && store_read_rows(regions, "status", region_cols, sizeof region_cols / sizeof region_cols[0],
                                    sizeof *counts, (void **)&counts, &n_counts, err, errlen) < 0))
        goto out;
    add_regions(out_rows, count, counts, n_counts);
    for (size_t i = 0; i < count; i++)
        parse_metrics(&out_rows[i]);
    *rows = out_rows;
    *n = count;
    out_rows = NULL;
    rc = 0;
out:
    free(out_rows);
    free(counts);
    PQclear(checks);
    PQclear(regions);
    return rc;
}

