/* rollup_backfill.c: rebuilds the rollups of whole UTC days from raw results
 * (store_rollup_backfill), one REPEATABLE READ transaction per day holding the
 * compaction's lock; and store_rollup_coverage, how far rollups and raw results
 * reach. A day without raw results is never rebuilt from nothing. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

/* Minutes of raw results read per query: bounds the memory of one read (the
 * hour and day maps are bounded by the (check, probe) pairs of the day). */
#define BACKFILL_SLICE_US (10 * ROLLUP_MINUTE_US)

/* COPYs minute rows built from raw results into rollup_minute (whose rows of
 * those minutes were deleted in this transaction, and each minute is built from
 * one slice only, so there is nothing to merge with). */
static int backfill_copy_minutes(struct store *s, const struct rollup_rows *rows, char *err, size_t errlen)
{
    struct copy_state copy;
    if (st_copy_begin(&copy, s, COPY_MINUTES_SQL, "backfill: COPY rollup_minute", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < rows->n; i++) {
        const struct rollup_row *row = &rows->rows[i];
        const struct lrow lr = {row->check_id, row->probe_id, row->start_us, row->counts, rows->bytes + row->hist_off,
                                row->hist_len};
        if (st_copy_minute_row(&copy, &lr, err, errlen) < 0) {
            st_copy_abort(&copy);
            return -1;
        }
        if (copy.len >= COPY_CHUNK && st_copy_flush(&copy, err, errlen) < 0) {
            st_copy_abort(&copy);
            return -1;
        }
    }
    return st_copy_finish(&copy, err, errlen);
}

/* Writes one backfilled hour: its hour rows (new keys: the day's hour rows were
 * deleted), and folds it into the day rows per probe and per check. */
static int backfill_fold_hours(struct store *s, struct rollup_merge *hours, char *err, size_t errlen)
{
    size_t n = rollup_merge_count(hours);
    struct lrow *rows = calloc(n ? n : 1, sizeof *rows);
    uint8_t *scratch = malloc(PK_HIST_ENCODED_MAX);
    struct arena_block *arena = NULL;
    int rc = -1;
    if (!rows || !scratch)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const struct rollup_entry *e = rollup_merge_entry(hours, i);
        rows[i] = (struct lrow){e->a, e->b, e->t, e->counts, NULL, 0};
        if (st_lrow_encode(&rows[i], e->hist, &arena, scratch) < 0)
            goto oom;
    }
    qsort(rows, n, sizeof *rows, st_lrow_cmp);
    /* the day folds first: write_level merges stored rows into the rows it is given */
    if (st_fold_up(s, rows, n, LEVEL_DAY, ST_WRITE_MERGE, &arena, err, errlen) < 0 ||
        st_fold_up(s, rows, n, LEVEL_CHECK_DAY, ST_WRITE_MERGE, &arena, err, errlen) < 0 ||
        st_write_level(s, LEVEL_HOUR, rows, n, ST_WRITE_INSERT_FIRST, &arena, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    pk_fail(err, errlen, "backfill: out of memory");
out:
    st_arena_free(arena);
    free(rows);
    free(scratch);
    return rc;
}

/* Rebuilds every rollup of one UTC day from its raw results, in the caller's
 * REPEATABLE READ transaction. *empty: the day had no raw result (nothing was
 * changed). */
static int backfill_day(struct store *s, int64_t day_us, struct store_backfill_day *d, int *empty, char *err,
                        size_t errlen)
{
    char from[64], to[64], what[96];
    int rc = -1;
    PGresult *r = NULL;
    struct rollup_input *in = NULL;
    size_t in_cap = 0;
    struct rollup_rows rows = {0};
    struct rollup_merge *hours = NULL;
    *empty = 0;
    memset(d, 0, sizeof *d);
    d->day_us = day_us;
    if (st_format_timestamp(from, sizeof from, day_us) < 0 ||
        st_format_timestamp(to, sizeof to, day_us + ROLLUP_DAY_US) < 0) {
        pk_fail(err, errlen, "backfill: day out of range");
        return -1;
    }
    snprintf(what, sizeof what, "backfill of %.10s", from);
    const char *day[] = {from, to};
    /* A day without raw results keeps its rollups: retention drops raw days
     * but keeps hour and day rollups, which must not be rebuilt from nothing. */
    if (!(r = st_run(s, "SELECT EXISTS (SELECT 1 FROM results WHERE started_at >= $1 AND started_at < $2)", 2, day,
                     PGRES_TUPLES_OK, what, err, errlen)))
        goto out;
    *empty = PQgetvalue(r, 0, 0)[0] != 't';
    PQclear(r);
    r = NULL;
    if (*empty) {
        rc = 0;
        goto out;
    }
    /* The partial rows visible here are those of the raw results read below
     * (both commit together); later ones stay and are compacted as usual. */
    if (!(r = st_run(s, "DELETE FROM rollup_partial WHERE minute >= $1 AND minute < $2", 2, day, PGRES_COMMAND_OK, what,
                     err, errlen)))
        goto out;
    d->partials_replaced = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    r = NULL;
    if (st_run_cmd(s, "DELETE FROM rollup_minute WHERE minute >= $1 AND minute < $2", 2, day, what, err, errlen) < 0 ||
        st_run_cmd(s, "DELETE FROM rollup_hour WHERE hour >= $1 AND hour < $2", 2, day, what, err, errlen) < 0 ||
        st_run_cmd(s, "DELETE FROM rollup_day WHERE day >= $1 AND day < $2", 2, day, what, err, errlen) < 0 ||
        st_run_cmd(s, "DELETE FROM rollup_check_day WHERE day >= $1 AND day < $2", 2, day, what, err, errlen) < 0)
        goto out;
    for (int64_t t = day_us; t < day_us + ROLLUP_DAY_US; t += BACKFILL_SLICE_US) {
        char a[64], b[64];
        if (st_format_timestamp(a, sizeof a, t) < 0 || st_format_timestamp(b, sizeof b, t + BACKFILL_SLICE_US) < 0)
            goto range;
        const char *slice[] = {a, b};
        r = PQexecParams(s->conn,
                         "SELECT check_id, probe_id, started_at, outcome::bigint, coalesce(total_us, -1) FROM results "
                         "WHERE started_at >= $1 AND started_at < $2",
                         2, NULL, slice, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            st_pg_err(s, r, what, err, errlen);
            goto out;
        }
        size_t n = (size_t)PQntuples(r);
        if (n > in_cap) {
            struct rollup_input *grown = realloc(in, n * sizeof *in);
            if (!grown)
                goto oom;
            in = grown;
            in_cap = n;
        }
        for (size_t i = 0; i < n; i++)
            in[i] = (struct rollup_input){st_bin_i64(r, (int)i, 0), st_bin_i64(r, (int)i, 1), st_bin_ts(r, (int)i, 2),
                                          st_bin_i64(r, (int)i, 4), (int)st_bin_i64(r, (int)i, 3)};
        PQclear(r);
        r = NULL;
        d->results += n;
        rollup_rows_reset(&rows);
        if (n > 0 && rollup_build_minutes(in, n, &rows) < 0)
            goto oom;
        if (rows.n > 0 && backfill_copy_minutes(s, &rows, err, errlen) < 0)
            goto out;
        d->minutes += rows.n;
        if (!hours && !(hours = rollup_merge_new()))
            goto oom;
        for (size_t i = 0; i < rows.n; i++) {
            const struct rollup_row *row = &rows.rows[i];
            if (rollup_merge_add(hours, row->check_id, row->probe_id, rollup_floor(row->start_us, ROLLUP_HOUR_US),
                                 &row->counts, rows.bytes + row->hist_off, row->hist_len) < 0)
                goto oom;
        }
        /* At the end of each hour: its hour rows, and the day rows grown by it
         * (merged with the day rows written by the hours before). */
        if ((t + BACKFILL_SLICE_US) % ROLLUP_HOUR_US == 0) {
            if (rollup_merge_count(hours) > 0 && backfill_fold_hours(s, hours, err, errlen) < 0)
                goto out;
            rollup_merge_free(hours);
            hours = NULL;
        }
    }
    rc = 0;
    goto out;
range:
    pk_fail(err, errlen, "%s: time out of range", what);
    goto out;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
out:
    PQclear(r);
    free(in);
    rollup_rows_free(&rows);
    rollup_merge_free(hours);
    return rc;
}

/* Session-level, the same key as compaction's transaction-level lock: while a
 * day is rebuilt no compaction folds into it (a compactor waits, then sees the
 * rebuilt rows), and two backfills take turns. Taken before the day's
 * transaction so that its snapshot starts after any compaction committed. */
#define BACKFILL_LOCK_SQL "SELECT pg_advisory_lock(112410397255030)"
#define BACKFILL_UNLOCK_SQL "SELECT pg_advisory_unlock(112410397255030)"

int store_rollup_backfill(struct store *s, int64_t since_us, int64_t until_us, store_backfill_cb on_day, void *user,
                          struct store_backfill_day *total, char *err, size_t errlen)
{
    memset(total, 0, sizeof *total);
    if (until_us <= since_us) {
        pk_fail(err, errlen, "backfill: the window is empty (since must be before until)");
        return -1;
    }
    st_ensure_ready(s);
    for (int64_t day = rollup_floor(since_us, ROLLUP_DAY_US); day < until_us; day += ROLLUP_DAY_US) {
        struct store_backfill_day d;
        int empty = 0, locked = 0, rc = -1;
        PGresult *r = st_run(s, BACKFILL_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "backfill: taking the compaction lock",
                             err, errlen);
        if (!r)
            return -1;
        PQclear(r);
        locked = 1;
        if (st_run_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "backfill: BEGIN", err, errlen) < 0)
            goto day_out;
        if (backfill_day(s, day, &d, &empty, err, errlen) < 0)
            goto day_out;
        if (empty) {
            st_rollback(s);
        } else if (st_commit(s, "backfill", err, errlen) < 0) {
            goto day_out;
        }
        rc = 0;
    day_out:
        if (rc < 0)
            st_rollback(s);
        if (locked && (r = PQexec(s->conn, BACKFILL_UNLOCK_SQL)))
            PQclear(r);
        if (rc < 0)
            return -1;
        if (empty) {
            total->days_skipped++;
            continue;
        }
        total->days++;
        total->results += d.results;
        total->minutes += d.minutes;
        total->partials_replaced += d.partials_replaced;
        if (on_day)
            on_day(user, &d);
    }
    return 0;
}

/* The oldest raw result's time (its day is what callers use): the oldest daily
 * partition that holds a row — one EXISTS per partition, oldest first, each
 * pruned to its partition and stopping at its first row; a statement per
 * partition rather than one correlated subquery, which Citus refuses on a
 * distributed table — or results_default's oldest row if older. */
static int oldest_raw_result(struct store *s, int *found, int64_t *oldest_us, char *err, size_t errlen)
{
    const char *what = "reading the oldest raw result";
    *found = 0;
    PGresult *r = st_run(s, "SELECT (extract(epoch FROM min(started_at)) * 1000000)::bigint FROM results_default",
                         0, NULL, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    if (!PQgetisnull(r, 0, 0)) {
        *found = 1;
        *oldest_us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    PGresult *days = st_run(s,
                            "SELECT d, d + 1 FROM (SELECT to_date(substr(c.relname, 9), 'YYYYMMDD') AS d "
                            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                            "WHERE i.inhparent = 'results'::regclass AND c.relname ~ '^results_[0-9]{8}$') p "
                            "ORDER BY d",
                            0, NULL, PGRES_TUPLES_OK, what, err, errlen);
    if (!days)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(days); i++) {
        const char *params[] = {PQgetvalue(days, i, 0), PQgetvalue(days, i, 1)};
        r = st_run(s,
                   "SELECT (extract(epoch FROM $1::date::timestamp AT TIME ZONE 'UTC') * 1000000)::bigint "
                   "WHERE EXISTS (SELECT 1 FROM results WHERE started_at >= $1::date::timestamp AT TIME ZONE 'UTC' "
                   "AND started_at < $2::date::timestamp AT TIME ZONE 'UTC')",
                   2, params, PGRES_TUPLES_OK, what, err, errlen);
        if (!r) {
            rc = -1;
            break;
        }
        int hit = PQntuples(r) == 1;
        int64_t day_us = hit ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        PQclear(r);
        if (hit) {
            if (!*found || day_us < *oldest_us)
                *oldest_us = day_us;
            *found = 1;
            break;
        }
    }
    PQclear(days);
    return rc;
}

int store_rollup_coverage(struct store *s, struct store_rollup_coverage *c, char *err, size_t errlen)
{
    char first[64];
    memset(c, 0, sizeof *c);
    st_ensure_ready(s);
    /* Each min() is one index probe. */
    PGresult *r = st_run(s,
                         "SELECT (extract(epoch FROM least((SELECT min(minute) FROM rollup_partial), "
                         "(SELECT min(minute) FROM rollup_minute), (SELECT min(hour) FROM rollup_hour), "
                         "(SELECT min(day) FROM rollup_day))) * 1000000)::bigint",
                         0, NULL, PGRES_TUPLES_OK, "reading the oldest rollup", err, errlen);
    if (!r)
        return -1;
    c->has_rollups = !PQgetisnull(r, 0, 0);
    c->first_rollup_us = c->has_rollups ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    int64_t oldest_us = 0;
    if (oldest_raw_result(s, &c->has_results, &oldest_us, err, errlen) < 0)
        return -1;
    c->oldest_result_day_us = c->has_results ? rollup_floor(oldest_us, ROLLUP_DAY_US) : 0;
    if (!c->has_results)
        return 0;
    if (!c->has_rollups) {
        c->results_before_rollups = 1;
        return 0;
    }
    if (st_format_timestamp(first, sizeof first, c->first_rollup_us) < 0) {
        pk_fail(err, errlen, "reading how far rollups reach: time out of range");
        return -1;
    }
    const char *params[] = {first};
    r = st_run(s, "SELECT EXISTS (SELECT 1 FROM results WHERE started_at < $1::timestamptz)", 1, params,
               PGRES_TUPLES_OK, "looking for results older than the rollups", err, errlen);
    if (!r)
        return -1;
    c->results_before_rollups = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

