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
#include "../../common/pk_error.h"

/* ---------------------------------------------------------- hot path */

/* Check name -> id. A miss upserts the check in its own autocommit statement
 * before the batch transaction starts: the id is durable at once (the cache never
 * holds ids of a rolled back transaction) and the batch transaction never holds
 * check row locks, so it cannot deadlock with store_set_probe_checks. */
static int resolve_check(struct store *s, const struct pk_result *res, int64_t probe_id, int64_t *id, char *err,
                         size_t errlen)
{
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
                      "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type RETURNING id",
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


static int copy_row(struct copy_state *c, int64_t probe_id, int64_t check_id, const struct pk_result *r, char *err,
                    size_t errlen)
{
    if (!c->started &&
        st_copy_begin(c, c->s, "COPY results (" STORE_RESULT_COLUMNS ") FROM STDIN", "COPY results", err, errlen) < 0)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        long n = store_encode_result_row(c->s->copy_buf + c->len, COPY_BUF_SIZE - c->len, probe_id, check_id, r);
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
    if (st_copy_begin(&copy, s, "COPY rollup_partial (probe_id, minute, entries) FROM STDIN", "COPY rollup_partial",
                      err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < s->rollup_packs.n; i++) {
        const struct rollup_pack *pk = &s->rollup_packs.v[i];
        const uint8_t *b = s->rollup_packs.bytes + pk->off;
        char head[96], minute[64];
        if (st_format_timestamp(minute, sizeof minute, pk->minute_us) < 0) {
            pk_fail(err, errlen, "probe id %" PRId64 ": rollup minute out of range", pk->probe_id);
            goto fail;
        }
        int hl = snprintf(head, sizeof head, "%" PRId64 "\t%s\t\\\\x", pk->probe_id, minute);
        if (st_copy_put(&copy, head, (size_t)hl, err, errlen) < 0)
            goto fail;
        if (st_copy_put_hex(&copy, b, pk->len, err, errlen) < 0 || st_copy_put(&copy, "\n", 1, err, errlen) < 0)
            goto fail;
        if (copy.len >= COPY_CHUNK && st_copy_flush(&copy, err, errlen) < 0)
            goto fail;
    }
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

int store_write_batches(struct store *s, struct store_batch *batches, size_t n, char *err, size_t errlen)
{
    int rc = -1;
    size_t total = 0, n_probes = 0;
    struct copy_state copy = {s, 0, 0};
    struct batch_ref *refs = NULL;
    int64_t *check_ids = NULL, *probe_ids = NULL, *marks = NULL;
    size_t *inserted = NULL, *first_row = NULL;
    char *probe_array = NULL, *mark_array = NULL;
    PGresult *r = NULL;
    char what[96];
    size_t n_rollup_in = 0;

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        total += batches[i].n_results;
    if (!s->rollups_off && total > s->rollup_in_cap) {
        struct rollup_input *in = realloc(s->rollup_in, total * sizeof *in);
        if (!in) {
            pk_fail(err, errlen, "storing %zu results: out of memory", total);
            return -1;
        }
        s->rollup_in = in;
        s->rollup_in_cap = total;
    }
    refs = calloc(n, sizeof *refs);
    probe_ids = calloc(n, sizeof *probe_ids);
    marks = calloc(n, sizeof *marks);
    inserted = calloc(n, sizeof *inserted);
    first_row = calloc(n, sizeof *first_row);
    check_ids = calloc(total ? total : 1, sizeof *check_ids);
    if (!refs || !probe_ids || !marks || !inserted || !first_row || !check_ids) {
        pk_fail(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    st_ensure_ready(s);
    for (size_t i = 0, row = 0; i < n; i++) {
        first_row[i] = row;
        for (size_t j = 0; j < batches[i].n_results; j++, row++)
            if (resolve_check(s, &batches[i].results[j], batches[i].probe_id, &check_ids[row], err, errlen) < 0)
                goto out;
    }

    /* Lock probe rows in id order so concurrent writers cannot deadlock; NO KEY
     * UPDATE because probe_checks' foreign key only needs KEY SHARE on the row. */
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct batch_ref){i, batches[i].probe_id};
    qsort(refs, n, sizeof *refs, by_probe_then_index);
    for (size_t i = 0; i < n; i++)
        if (n_probes == 0 || probe_ids[n_probes - 1] != refs[i].probe_id)
            probe_ids[n_probes++] = refs[i].probe_id;
    probe_array = st_bigint_array(probe_ids, n_probes);
    if (!probe_array) {
        pk_fail(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    snprintf(what, sizeof what, "probe id %" PRId64 "%s: storing results", probe_ids[0],
             n_probes > 1 ? " and others" : "");
    if (st_run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        goto out;
    const char *lock_params[] = {probe_array};
    r = st_run(s, "SELECT id, committed_seq FROM probes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", 1,
            lock_params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto out;
    for (size_t p = 0, row = 0; p < n_probes; p++) {
        if (row < (size_t)PQntuples(r) && strtoll(PQgetvalue(r, (int)row, 0), NULL, 10) == probe_ids[p]) {
            marks[p] = strtoll(PQgetvalue(r, (int)row, 1), NULL, 10);
            row++;
        } else {
            pk_fail(err, errlen, "probe id %" PRId64 " is not registered", probe_ids[p]);
            goto out;
        }
    }
    PQclear(r);
    r = NULL;

    /* Everything at or below the mark is already stored (a resend after a lost ack). */
    for (size_t i = 0, p = 0; i < n; i++) {
        while (probe_ids[p] != refs[i].probe_id)
            p++;
        const struct store_batch *b = &batches[refs[i].index];
        for (size_t j = 0; j < b->n_results; j++) {
            const struct pk_result *res = &b->results[j];
            if (res->seq <= (uint64_t)marks[p])
                continue;
            int64_t check_id = check_ids[first_row[refs[i].index] + j];
            if (copy_row(&copy, b->probe_id, check_id, res, err, errlen) < 0)
                goto out;
            if (!s->rollups_off)
                s->rollup_in[n_rollup_in++] = (struct rollup_input){check_id, b->probe_id, res->started_at_us,
                                                                    res->total_us, res->outcome};
            marks[p] = (int64_t)res->seq;
            inserted[refs[i].index]++;
        }
    }
    if (st_copy_finish(&copy, err, errlen) < 0)
        goto out;
    if (n_rollup_in > 0 && write_partials(s, n_rollup_in, err, errlen) < 0)
        goto out;

    mark_array = st_bigint_array(marks, n_probes);
    if (!mark_array) {
        pk_fail(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    const char *mark_params[] = {probe_array, mark_array};
    if (st_run_cmd(s,
                "UPDATE probes AS p SET committed_seq = v.seq, last_seen = now() "
                "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, seq) WHERE p.id = v.id",
                2, mark_params, what, err, errlen) < 0 ||
        st_commit(s, what, err, errlen) < 0)
        goto out;

    for (size_t i = 0, p = 0; i < n; i++) {
        while (probe_ids[p] != refs[i].probe_id)
            p++;
        batches[refs[i].index].committed_seq = (uint64_t)marks[p];
        batches[refs[i].index].n_inserted = inserted[refs[i].index];
    }
    rc = 0;
out:
    if (rc < 0) {
        st_copy_abort(&copy);
        st_rollback(s);
    }
    PQclear(r);
    free(refs);
    free(probe_ids);
    free(marks);
    free(inserted);
    free(first_row);
    free(check_ids);
    free(probe_array);
    free(mark_array);
    return rc;
}

/* --------------------------------------------------------------- status */

int store_status(struct store *s, const char *check_name, struct store_status_row **rows, size_t *n, char *err,
                 size_t errlen)
{
    int rc = -1;
    PGresult *checks = NULL, *regions = NULL;
    struct store_status_row *out_rows = NULL;
    const char *params[] = {check_name};
    *rows = NULL;
    *n = 0;
    st_ensure_ready(s);
    /* Both queries go check by check (LATERAL) so each is a range of the
     * (check_id, started_at) index, never a scan of results. "C" ordering makes
     * them list checks alike. */
    checks = st_run(s,
                 "SELECT c.name, c.type, "
                 "coalesce((extract(epoch FROM lr.started_at) * 1000000)::bigint, 0), "
                 "coalesce(lr.outcome, 0), coalesce(lr.message, ''), coalesce(lr.total_us, -1), "
                 "coalesce(lr.status_code, 0), coalesce(p.name, ''), coalesce(p.region, ''), "
                 "(SELECT count(*) FROM probe_checks pc WHERE pc.check_id = c.id) "
                 "FROM checks c "
                 "LEFT JOIN LATERAL (SELECT r.started_at, r.outcome, r.message, r.total_us, r.status_code, "
                 "r.probe_id FROM results r WHERE r.check_id = c.id ORDER BY r.started_at DESC LIMIT 1) lr ON true "
                 "LEFT JOIN probes p ON p.id = lr.probe_id "
                 "WHERE $1::text IS NULL OR c.name = $1 "
                 "ORDER BY c.name COLLATE \"C\"",
                 1, params, PGRES_TUPLES_OK, "status: reading checks", err, errlen);
    if (!checks)
        goto out;
    regions = st_run(s,
                  "SELECT c.name, rg.region, rg.total, rg.ok FROM checks c "
                  "CROSS JOIN LATERAL (SELECT p.region, count(*) AS total, "
                  "count(*) FILTER (WHERE r.outcome = 1) AS ok "
                  "FROM results r JOIN probes p ON p.id = r.probe_id "
                  "WHERE r.check_id = c.id AND r.started_at > now() - interval '1 hour' GROUP BY p.region) rg "
                  "WHERE $1::text IS NULL OR c.name = $1 "
                  "ORDER BY c.name COLLATE \"C\", rg.region COLLATE \"C\"",
                  1, params, PGRES_TUPLES_OK, "status: counting results per region", err, errlen);
    if (!regions)
        goto out;
    size_t count = (size_t)PQntuples(checks);
    if (count == 0 && check_name) {
        pk_fail(err, errlen, "check \"%.128s\" is not known", check_name);
        goto out;
    }
    out_rows = calloc(count ? count : 1, sizeof *out_rows);
    if (!out_rows) {
        pk_fail(err, errlen, "status: out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        struct store_status_row *row = &out_rows[i];
        int t = (int)i;
        pk_strlcpy(row->check_name, PQgetvalue(checks, t, 0), sizeof row->check_name);
        pk_strlcpy(row->check_type, PQgetvalue(checks, t, 1), sizeof row->check_type);
        row->last_started_at_us = strtoll(PQgetvalue(checks, t, 2), NULL, 10);
        row->last_outcome = atoi(PQgetvalue(checks, t, 3));
        pk_strlcpy(row->last_message, PQgetvalue(checks, t, 4), sizeof row->last_message);
        row->last_total_us = strtoll(PQgetvalue(checks, t, 5), NULL, 10);
        row->last_status_code = atoi(PQgetvalue(checks, t, 6));
        pk_strlcpy(row->last_probe, PQgetvalue(checks, t, 7), sizeof row->last_probe);
        pk_strlcpy(row->last_region, PQgetvalue(checks, t, 8), sizeof row->last_region);
        row->probes = atoi(PQgetvalue(checks, t, 9));
    }
    /* Both results are in the same check order: walk them together. */
    for (size_t j = 0, i = 0; j < (size_t)PQntuples(regions); j++) {
        const char *name = PQgetvalue(regions, (int)j, 0);
        while (i < count && strcmp(PQgetvalue(checks, (int)i, 0), name) != 0)
            i++;
        if (i == count)
            break;
        struct store_status_row *row = &out_rows[i];
        if (row->n_regions == STORE_STATUS_MAX_REGIONS)
            continue;
        struct store_status_region *reg = &row->regions[row->n_regions++];
        pk_strlcpy(reg->region, PQgetvalue(regions, (int)j, 1), sizeof reg->region);
        reg->total = strtoll(PQgetvalue(regions, (int)j, 2), NULL, 10);
        reg->ok = strtoll(PQgetvalue(regions, (int)j, 3), NULL, 10);
    }
    *rows = out_rows;
    *n = count;
    out_rows = NULL;
    rc = 0;
out:
    free(out_rows);
    PQclear(checks);
    PQclear(regions);
    return rc;
}

