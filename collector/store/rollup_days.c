/* rollup_days.c: the day levels written once (migration 042). The compaction
 * folds a minute into rollup_day and rollup_check_day only when its UTC day is
 * closed (before the 'days' watermark: a late result); a day still open is
 * kept in rollup_hour alone. When the compaction's watermark comes within five
 * minutes of a day's end, st_rollup_days_close builds that day's rows from its hour rows, merged
 * in C, and writes them in one pass, replacing whatever an older collector or a
 * backfill left there; then it moves the mark. Readers take the days at or
 * after the mark from rollup_hour (rollup_query.c, check_days.c), read in the
 * same snapshot as the mark, so a day is never counted from both levels.
 *
 * Why: a day row updated by every compaction pass (2,880 a day at 30 s) is
 * moved to whichever page has room, and the live rows of a month end up one
 * or two to a page; a 30-day report read 85,000 blocks of rollup_day for
 * 93,000 rows (docs/PERFORMANCE.md, "Full size on a new machine"). */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

/* Hour rows folded at once when a day closes: cut between two checks, so that
 * every day key of a slice (per probe and per check) is whole in that slice,
 * as replacing needs. */
#define DAYS_SLICE 512
/* A day is closed once the compaction is this close to its end, not after it:
 * from midnight until the round that passes the day's end (two minutes and a
 * half), a 30-day window would read the day just ended from its 72,000 hour
 * rows (1,000 checks x 3 regions), and a report took 1.2-1.4 s instead of
 * 0.65-0.75 (docs/PERFORMANCE.md). Its last minutes then come in as late
 * results of a closed day, merged into its rows: a few updates a row, not
 * one per pass all day. Readers count them from rollup_partial until then. */
#define DAYS_CLOSE_EARLY_US (5 * ROLLUP_MINUTE_US)

int st_days_closed(struct store *s, int64_t *mark_us, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(s->conn, "SELECT upto FROM rollup_watermark WHERE name = 'days'", 0, NULL, NULL, NULL,
                               NULL, 1);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        st_pg_err(s, r, "reading the closed days' mark", err, errlen);
    else if (PQntuples(r) != 1)
        pk_fail(err, errlen, "the closed days' mark (migration 042) is missing: run picket-collector migrate");
    else {
        *mark_us = st_bin_ts(r, 0, 0);
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* The hour rows of [p[0], p[1]) written again in (check, probe, hour) order,
 * unchanged. The compaction writes each hour's rows for every check at once,
 * so one check's hours of a month lie one or three to a page over about 2,000
 * pages, and a check's first page of 30 days (its hourly latency series) read
 * them from disk on a database larger than memory (docs/PERFORMANCE.md). Once
 * its day is closed only late results change an hour row, so the day's rows
 * are moved together by check when it closes: 3-5 pages per check and day at
 * 3 probes, against 23 before (bench/rollup_layout). Not on Citus, whose
 * shards hold a few checks each. */
static int cluster_hours(struct store *s, const char *const p[2], char *err, size_t errlen)
{
    return st_run_cmd(s,
                      "WITH d AS (DELETE FROM rollup_hour WHERE hour >= $1::timestamptz AND hour < $2::timestamptz "
                      "RETURNING *) INSERT INTO rollup_hour SELECT * FROM d ORDER BY check_id, probe_id, hour",
                      2, p, "closing a day: its hour rows by check", err, errlen);
}

/* Writes the day rows of [day, day + 1 day) from its hour rows, in place of
 * any stored for that day (an older collector's, a backfill's: also those of a
 * key that has no hour row that day). */
static int close_day(struct store *s, int64_t day_us, char *err, size_t errlen)
{
    char a[64], b[64];
    if (st_format_timestamp(a, sizeof a, day_us) < 0 || st_format_timestamp(b, sizeof b, day_us + ROLLUP_DAY_US) < 0)
        return pk_fail(err, errlen, "closing a day: time out of range");
    const char *p[] = {a, b};
    if (st_run_cmd(s, "DELETE FROM rollup_day WHERE day = $1::timestamptz", 1, p, "closing a day: rollup_day", err,
                   errlen) < 0 ||
        st_run_cmd(s, "DELETE FROM rollup_check_day WHERE day = $1::timestamptz", 1, p,
                   "closing a day: rollup_check_day", err, errlen) < 0)
        return -1;
    PGresult *r = PQexecParams(s->conn,
                               "SELECT check_id, probe_id, hour, ok, degraded, failed, unknown, hist FROM rollup_hour "
                               "WHERE hour >= $1::timestamptz AND hour < $2::timestamptz "
                               "ORDER BY check_id, probe_id, hour",
                               2, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "closing a day: reading rollup_hour", err, errlen);
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    struct lrow *rows = malloc((n ? n : 1) * sizeof *rows);
    int rc = -1;
    if (!rows) {
        pk_fail(err, errlen, "closing a day: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = st_lrow_of(r, (int)i);
    for (size_t from = 0, to; from < n; from = to) {
        to = from + 1;
        while (to < n && (to - from < DAYS_SLICE || rows[to].c == rows[to - 1].c))
            to++;
        struct arena_block *arena = NULL;
        int ok = st_fold_up(s, rows + from, to - from, LEVEL_DAY, ST_WRITE_REPLACE, &arena, err, errlen) == 0 &&
                 st_fold_up(s, rows + from, to - from, LEVEL_CHECK_DAY, ST_WRITE_REPLACE, &arena, err, errlen) == 0;
        st_arena_free(arena);
        if (!ok)
            goto out;
    }
    rc = st_is_citus(s) ? 0 : cluster_hours(s, p, err, errlen);
out:
    free(rows);
    PQclear(r);
    return rc;
}

int st_rollup_days_close(struct store *s, int64_t mark_us, int64_t upto_us, char *err, size_t errlen)
{
    const int64_t hi = rollup_floor(upto_us + DAYS_CLOSE_EARLY_US, ROLLUP_DAY_US);
    char a[64], b[64];
    if (mark_us >= hi)
        return 0;
    if (st_format_timestamp(b, sizeof b, hi) < 0)
        return pk_fail(err, errlen, "closing days: time out of range");
    /* day by day, only the days that have hour rows (a fresh database's mark
     * is the epoch): one day's hour rows in memory at a time */
    while (mark_us < hi) {
        if (st_format_timestamp(a, sizeof a, mark_us) < 0)
            return pk_fail(err, errlen, "closing days: time out of range");
        const char *p[] = {a, b};
        PGresult *r = PQexecParams(s->conn,
                                   "SELECT min(hour) FROM rollup_hour WHERE hour >= $1::timestamptz "
                                   "AND hour < $2::timestamptz",
                                   2, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            st_pg_err(s, r, "closing days: finding the next day", err, errlen);
            PQclear(r);
            return -1;
        }
        int none = PQgetisnull(r, 0, 0);
        int64_t day = none ? hi : rollup_floor(st_bin_ts(r, 0, 0), ROLLUP_DAY_US);
        PQclear(r);
        if (none)
            break;
        if (close_day(s, day, err, errlen) < 0)
            return -1;
        mark_us = day + ROLLUP_DAY_US;
    }
    const char *p[] = {b};
    return st_run_cmd(s, "UPDATE rollup_watermark SET upto = $1::timestamptz, updated_at = now() WHERE name = 'days'",
                      1, p, "closing days: moving the mark", err, errlen);
}
