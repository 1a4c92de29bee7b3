/* rollup_compact.c: compaction of partial rollup rows into rollup_minute,
 * rollup_hour, and for closed days rollup_day and rollup_check_day (an open
 * day's are written when it closes, rollup_days.c) (store_rollup_compact), merged in C
 * under an advisory lock, in chunks of whole minutes; and the level writer the
 * backfill shares. The partial rows folded are exactly those deleted in the same
 * transaction, so nothing is counted twice or lost. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pk_error.h"

static const char *const level_table[N_LEVELS] = {"rollup_minute", "rollup_hour", "rollup_day", "rollup_check_day"};
static const char *const level_column[N_LEVELS] = {"minute", "hour", "day", "day"};
static const int64_t level_width[N_LEVELS] = {ROLLUP_MINUTE_US, ROLLUP_HOUR_US, ROLLUP_DAY_US, ROLLUP_DAY_US};

static uint8_t *arena_alloc(struct arena_block **head, size_t len)
{
    if (!*head || (*head)->cap - (*head)->used < len) {
        size_t cap = len > ((size_t)1 << 20) ? len : (size_t)1 << 20;
        struct arena_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        *b = (struct arena_block){*head, 0, cap};
        *head = b;
    }
    uint8_t *p = (*head)->data + (*head)->used;
    (*head)->used += len;
    return p;
}

void st_arena_free(struct arena_block *head)
{
    while (head) {
        struct arena_block *next = head->next;
        free(head);
        head = next;
    }
}

/* row->hist = the encoding of h, kept in the arena. */
int st_lrow_encode(struct lrow *row, const struct pk_hist *h, struct arena_block **arena, uint8_t *scratch)
{
    size_t len = pk_hist_encode(h, scratch, PK_HIST_ENCODED_MAX);
    uint8_t *p = len ? arena_alloc(arena, len) : NULL;
    if (!p)
        return -1;
    memcpy(p, scratch, len);
    row->hist = p;
    row->len = len;
    return 0;
}

struct lrow st_lrow_of(const PGresult *r, int i)
{
    return (struct lrow){st_bin_i64(r, i, 0),
                         st_bin_i64(r, i, 1),
                         st_bin_ts(r, i, 2),
                         {(uint64_t)st_bin_i64(r, i, 3), (uint64_t)st_bin_i64(r, i, 4),
                          (uint64_t)st_bin_i64(r, i, 5), (uint64_t)st_bin_i64(r, i, 6)},
                         (const uint8_t *)PQgetvalue(r, i, 7),
                         (size_t)PQgetlength(r, i, 7)};
}

int st_lrow_cmp(const void *x, const void *y)
{
    const struct lrow *a = x, *b = y;
    if (a->c != b->c)
        return a->c < b->c ? -1 : 1;
    if (a->p != b->p)
        return a->p < b->p ? -1 : 1;
    return (a->t > b->t) - (a->t < b->t);
}

/* rows sorted by (c, p, t): the index of a key, or -1. */
static long lrow_find(const struct lrow *rows, size_t n, int64_t c, int64_t p, int64_t t)
{
    struct lrow key = {.c = c, .p = p, .t = t};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int k = st_lrow_cmp(&rows[mid], &key);
        if (k == 0)
            return (long)mid;
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The text-array parameters of the rows with pick[i] set: $1 checks, $2 probes,
 * $3 times, $4..$7 counts, $8 hex histograms (with_values; else NULL). */
struct level_params {
    char *v[8];
};

static void level_params_free(struct level_params *lp)
{
    for (int k = 0; k < 8; k++)
        free(lp->v[k]);
    memset(lp, 0, sizeof *lp);
}

/* Appends n bytes as lowercase hex. */
static void add_hex(struct pk_buf *b, const uint8_t *bytes, size_t n)
{
    char hex[512];
    for (size_t k = 0; k < n;) {
        size_t m = 0;
        for (; k < n && m + 2 <= sizeof hex; k++) {
            hex[m++] = st_hex_digits[bytes[k] >> 4];
            hex[m++] = st_hex_digits[bytes[k] & 15];
        }
        pk_buf_add(b, hex, m);
    }
}

static int level_params_build(struct level_params *lp, const struct lrow *rows, size_t n, const unsigned char *pick,
                              int with_values)
{
    const int n_params = with_values ? 8 : 3;
    struct pk_buf o[8];
    int first = 1, rc = -1;
    memset(lp, 0, sizeof *lp);
    for (int k = 0; k < n_params; k++) {
        pk_buf_init(&o[k], 0);
        pk_buf_add(&o[k], "{", 1);
    }
    for (size_t i = 0; i < n; i++) {
        if (!pick[i])
            continue;
        const struct lrow *r = &rows[i];
        const char *sep = first ? "" : ",";
        char ts[64];
        if (st_format_timestamp(ts, sizeof ts, r->t) < 0)
            goto out;
        pk_buf_addf(&o[0], "%s%" PRId64, sep, r->c);
        pk_buf_addf(&o[1], "%s%" PRId64, sep, r->p);
        pk_buf_addf(&o[2], "%s\"%s\"", sep, ts);
        if (with_values) {
            const uint64_t v[4] = {r->n.ok, r->n.degraded, r->n.failed, r->n.unknown};
            for (int k = 0; k < 4; k++)
                pk_buf_addf(&o[3 + k], "%s%" PRIu64, sep, v[k]);
            pk_buf_adds(&o[7], sep);
            add_hex(&o[7], r->hist, r->len);
        }
        first = 0;
    }
    rc = 0;
    for (int k = 0; k < n_params; k++) {
        pk_buf_add(&o[k], "}", 1);
        if (!(lp->v[k] = pk_buf_take(&o[k])))
            rc = -1;
    }
out:
    for (int k = 0; k < n_params; k++)
        pk_buf_free(&o[k]);
    return rc;
}

/* Writes rows (sorted by key) into a level. With ST_WRITE_INSERT_FIRST, rows
 * are first inserted where their key is new (ON CONFLICT DO NOTHING) — at the
 * minute level nearly all are; the others, and every row with ST_WRITE_MERGE,
 * are merged in C with the stored row of their key and upserted. With
 * ST_WRITE_REPLACE they are upserted as they are. The caller holds the
 * compaction lock, so nothing else writes these tables meanwhile. */
int st_write_level(struct store *s, int level, struct lrow *rows, size_t n, enum st_write_mode mode,
                   struct arena_block **arena, char *err, size_t errlen)
{
    int rc = -1;
    char sql[1024], what[96];
    struct level_params lp = {{NULL}};
    PGresult *r = NULL;
    struct pk_hist *h = malloc(sizeof *h);
    uint8_t *scratch = malloc(PK_HIST_ENCODED_MAX);
    unsigned char *todo = malloc(n ? n : 1);
    const int with_probe = level != LEVEL_CHECK_DAY;
    const char *tbl = level_table[level], *col = level_column[level];
    snprintf(what, sizeof what, "compacting rollups into %s", tbl);
    if (!h || !scratch || !todo)
        goto oom;
    memset(todo, 1, n);
    size_t n_todo = n;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    if (mode == ST_WRITE_INSERT_FIRST) {
        if (level_params_build(&lp, rows, n, todo, 1) < 0)
            goto oom;
        snprintf(sql, sizeof sql,
                 "INSERT INTO %s (check_id, %s%s, ok, degraded, failed, unknown, hist) "
                 "SELECT c, %st, o, d, f, u, decode(h, 'hex') FROM unnest($1::bigint[], $2::bigint[], "
                 "$3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[]) "
                 "AS v(c, p, t, o, d, f, u, h) ON CONFLICT DO NOTHING RETURNING check_id, %s, %s",
                 tbl, with_probe ? "probe_id, " : "", col, with_probe ? "p, " : "",
                 with_probe ? "probe_id" : "0::bigint", col);
        r = PQexecParams(s->conn, sql, 8, NULL, (const char *const *)lp.v, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            st_pg_err(s, r, what, err, errlen);
            goto out;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            long k = lrow_find(rows, n, st_bin_i64(r, i, 0), st_bin_i64(r, i, 1), st_bin_ts(r, i, 2));
            if (k >= 0 && todo[k]) {
                todo[k] = 0;
                n_todo--;
            }
        }
        PQclear(r);
        r = NULL;
        level_params_free(&lp);
    }
    if (n_todo == 0) {
        rc = 0;
        goto out;
    }
    if (mode == ST_WRITE_REPLACE)
        goto upsert;
    if (level_params_build(&lp, rows, n, todo, 0) < 0)
        goto oom;
    snprintf(sql, sizeof sql,
             "SELECT r.check_id, %s, r.%s, r.ok, r.degraded, r.failed, r.unknown, r.hist FROM %s r "
             "JOIN unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) k(c, p, t) "
             "ON r.check_id = k.c AND r.%s = k.t%s",
             with_probe ? "r.probe_id" : "0::bigint", col, tbl, col, with_probe ? " AND r.probe_id = k.p" : "");
    r = PQexecParams(s->conn, sql, 3, NULL, (const char *const *)lp.v, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, what, err, errlen);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        long k = lrow_find(rows, n, st_bin_i64(r, i, 0), st_bin_i64(r, i, 1), st_bin_ts(r, i, 2));
        if (k < 0 || !todo[k])
            continue;
        struct lrow *row = &rows[k];
        struct rollup_counts c = {(uint64_t)st_bin_i64(r, i, 3), (uint64_t)st_bin_i64(r, i, 4),
                                  (uint64_t)st_bin_i64(r, i, 5),
                                  (uint64_t)st_bin_i64(r, i, 6)};
        pk_hist_init(h);
        if (pk_hist_decode_merge((const uint8_t *)PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7), h) < 0 ||
            (row->len > 0 && pk_hist_decode_merge(row->hist, row->len, h) < 0)) {
            pk_fail(err, errlen, "%s: check id %" PRId64 " probe id %" PRId64 ": stored histogram is not valid", what,
                    row->c, row->p);
            goto out;
        }
        rollup_counts_merge(&row->n, &c);
        if (st_lrow_encode(row, h, arena, scratch) < 0)
            goto oom;
    }
    PQclear(r);
    r = NULL;
    level_params_free(&lp);
upsert:
    if (level_params_build(&lp, rows, n, todo, 1) < 0)
        goto oom;
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (check_id, %s%s, ok, degraded, failed, unknown, hist) "
             "SELECT c, %st, o, d, f, u, decode(h, 'hex') FROM unnest($1::bigint[], $2::bigint[], "
             "$3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[]) "
             "AS v(c, p, t, o, d, f, u, h) "
             "ON CONFLICT (check_id, %s%s) DO UPDATE SET ok = EXCLUDED.ok, degraded = EXCLUDED.degraded, "
             "failed = EXCLUDED.failed, unknown = EXCLUDED.unknown, hist = EXCLUDED.hist",
             tbl, with_probe ? "probe_id, " : "", col, with_probe ? "p, " : "", with_probe ? "probe_id, " : "", col);
    if (st_run_cmd(s, sql, 8, (const char *const *)lp.v, what, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
out:
    /* every hour row written: its check-hour summary too (check_hours.c) */
    if (rc == 0 && level == LEVEL_HOUR && !s->check_hours_deferred)
        rc = st_check_hours_refresh(s, rows, n, err, errlen);
    PQclear(r);
    level_params_free(&lp);
    free(h);
    free(scratch);
    free(todo);
    return rc;
}

/* Folds `rows` (sorted minute rows) into `level`: merged in C per key of that
 * level, then written with write_level. */
int st_fold_up(struct store *s, const struct lrow *mins, size_t n, int level, enum st_write_mode mode,
               struct arena_block **arena, char *err, size_t errlen)
{
    int rc = -1;
    struct rollup_merge *m = rollup_merge_new();
    struct lrow *out = NULL;
    uint8_t *scratch = malloc(PK_HIST_ENCODED_MAX);
    if (!m || !scratch)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        int64_t p = level == LEVEL_CHECK_DAY ? 0 : mins[i].p;
        if (rollup_merge_add(m, mins[i].c, p, rollup_floor(mins[i].t, level_width[level]), &mins[i].n, mins[i].hist,
                             mins[i].len) < 0) {
            pk_fail(err, errlen,
                    "compacting rollups: check id %" PRId64 " probe id %" PRId64 ": partial histogram is not valid",
                    mins[i].c, mins[i].p);
            goto out;
        }
    }
    size_t k = rollup_merge_count(m);
    out = calloc(k ? k : 1, sizeof *out);
    if (!out)
        goto oom;
    for (size_t i = 0; i < k; i++) {
        const struct rollup_entry *e = rollup_merge_entry(m, i);
        out[i] = (struct lrow){e->a, e->b, e->t, e->counts, NULL, 0};
        if (st_lrow_encode(&out[i], e->hist, arena, scratch) < 0)
            goto oom;
    }
    qsort(out, k, sizeof *out, st_lrow_cmp);
    rc = st_write_level(s, level, out, k, mode, arena, err, errlen);
    goto out;
oom:
    pk_fail(err, errlen, "compacting rollups into %s: out of memory", level_table[level]);
out:
    rollup_merge_free(m);
    free(out);
    free(scratch);
    return rc;
}

/* One rollup_minute COPY line (text format); bytea as \\x<hex>. */
int st_copy_minute_row(struct copy_state *c, const struct lrow *row, char *err, size_t errlen)
{
    char line[256], minute[64];
    if (st_format_timestamp(minute, sizeof minute, row->t) < 0) {
        pk_fail(err, errlen, "compacting rollups: minute out of range");
        return -1;
    }
    int n = snprintf(line, sizeof line, "%" PRId64 "\t%" PRId64 "\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
                     "\t\\\\x", row->c, row->p, minute, row->n.ok, row->n.degraded, row->n.failed, row->n.unknown);
    if (n < 0 || (size_t)n >= sizeof line || st_copy_put(c, line, (size_t)n, err, errlen) < 0)
        return -1;
    if (st_copy_put_hex(c, row->hist, row->len, err, errlen) < 0)
        return -1;
    return st_copy_put(c, "\n", 1, err, errlen);
}

/* The minute level. A minute at or after fresh_from_us (the watermark when the
 * round began) was never folded before — every chunk takes whole minutes and
 * moves the watermark past them — so its rows are new keys and go in with one
 * COPY. Older minutes (late results) may have stored rows and are merged. If
 * the COPY still meets a stored key (a backfill wrote it), it is undone to a
 * savepoint and every row takes the merging path. */
static int write_minutes(struct store *s, struct lrow *rows, size_t n, int64_t fresh_from_us,
                         struct arena_block **arena, char *err, size_t errlen)
{
    /* rows are sorted by (check, probe, minute), so both parts stay sorted */
    struct lrow *old = malloc((n ? n : 1) * sizeof *old), *fresh = malloc((n ? n : 1) * sizeof *fresh);
    size_t a = 0, b = 0;
    int rc = -1;
    if (!old || !fresh) {
        pk_fail(err, errlen, "compacting rollups into rollup_minute: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (rows[i].t < fresh_from_us)
            old[a++] = rows[i];
        else
            fresh[b++] = rows[i];
    }
    if (b > 0) {
        if (st_run_cmd(s, "SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err, errlen) < 0)
            goto out;
        struct copy_state copy;
        if (st_copy_begin(&copy, s, COPY_MINUTES_SQL, "compacting rollups: COPY rollup_minute", err, errlen) < 0)
            goto out;
        int ok = 1;
        for (size_t i = 0; i < b && ok; i++)
            ok = st_copy_minute_row(&copy, &fresh[i], err, errlen) == 0;
        if (!ok) {
            st_copy_abort(&copy);
            goto out;
        }
        if (st_copy_finish(&copy, err, errlen) < 0) {
            /* most likely a stored key: merge them all instead */
            char quoted[600];
            pk_log(PK_LOG_WARN, "store", "minute rollups: COPY refused, merging instead", "error=%s",
                   pk_log_q(quoted, sizeof quoted, err));
            if (st_run_cmd(s, "ROLLBACK TO SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err,
                           errlen) < 0)
                goto out;
            memcpy(old + a, fresh, b * sizeof *fresh);
            a += b;
            qsort(old, a, sizeof *old, st_lrow_cmp);
        } else if (st_run_cmd(s, "RELEASE SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err,
                              errlen) < 0) {
            goto out;
        }
    }
    rc = st_write_level(s, LEVEL_MINUTE, old, a, ST_WRITE_INSERT_FIRST, arena, err, errlen);
out:
    free(old);
    free(fresh);
    return rc;
}

/* pg_advisory_xact_lock key of the compaction job ("picket" + 2). */
#define COMPACT_LOCK_SQL "SELECT pg_advisory_xact_lock(112410397255030)"
/* Packed partial rows folded per transaction (whole minutes, so more when one
 * minute has more): bounds the job's memory and lock time (a row holds the
 * entries of one probe's checks in one minute). */
#define COMPACT_CHUNK 128

/* Minute rows folded at once: the folds hold a decoded histogram (9 kB) per key
 * of each level, so a whole minute at 10,000 probes took about 100 MB for a
 * moment (the once-a-minute RSS spike of docs/PERFORMANCE.md, "Many probes on
 * one collector"); a slice of 512 keeps it under 5 MB. */
#define COMPACT_FOLD_SLICE 512
size_t st_compact_fold_slice = COMPACT_FOLD_SLICE;

/* The end of the slice of mins (sorted by check, probe, minute) that starts at
 * from: at least st_compact_fold_slice rows, cut between two (check, probe)
 * pairs, so that the hour and day keys of a slice are its own. Any cut would be
 * correct (a key met again is merged with the stored row, in the same
 * transaction); this one only saves work. */
static size_t fold_slice_end(const struct lrow *mins, size_t from, size_t n)
{
    size_t i = from + 1;
    while (i < n && (i - from < st_compact_fold_slice || (mins[i].c == mins[i - 1].c && mins[i].p == mins[i - 1].p)))
        i++;
    return i;
}

/* The round's (check, hour) summaries, once after every slice: a check's
 * probes may span many slices, and each refresh reads all of its hour rows. */
static int refresh_check_hours(struct store *s, const struct lrow *mins, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    struct lrow *keys = malloc(n * sizeof *keys);
    if (!keys) {
        pk_fail(err, errlen, "compacting rollups: out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t hour = rollup_floor(mins[i].t, ROLLUP_HOUR_US);
        if (k == 0 || keys[k - 1].c != mins[i].c || keys[k - 1].t != hour) /* st_check_hours_refresh dedups the rest */
            keys[k++] = (struct lrow){.c = mins[i].c, .t = hour};
    }
    int rc = st_check_hours_refresh(s, keys, k, err, errlen);
    free(keys);
    return rc;
}

/* One round: the packed partial rows taken (r, binary: probe_id, minute,
 * entries), folded into the minute and hour levels, and into the day levels
 * where their day is before days_mark_us (closed); *entries_out: the entries
 * they held. */
static int compact_round(struct store *s, PGresult *r, int64_t fresh_from_us, int64_t days_mark_us,
                         uint64_t *entries_out, char *err, size_t errlen)
{
    int rc = -1;
    struct arena_block *arena = NULL, *slice_arena = NULL;
    struct lrow *parts = NULL, *mins = NULL, *late = NULL;
    struct pk_hist *h = malloc(sizeof *h);
    uint8_t *scratch = malloc(PK_HIST_ENCODED_MAX);
    size_t n_mins = 0, rows = 0, cap = 0;
    if (!h || !scratch)
        goto oom;
    for (int i = 0; i < PQntuples(r); i++) {
        struct rollup_unpack u;
        int64_t probe_id = st_bin_i64(r, i, 0), minute = st_bin_ts(r, i, 1), check_id;
        struct rollup_counts c;
        const uint8_t *hist;
        size_t hist_len;
        int got = rollup_unpack_begin(&u, (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
        while (got == 0 && (got = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1) {
            struct lrow *more = pk_grow(parts, &cap, rows + 1, sizeof *parts, 0);
            if (!more)
                goto oom;
            parts = more;
            parts[rows++] = (struct lrow){check_id, probe_id, minute, c, hist, hist_len};
            got = 0;
        }
        if (got < 0) {
            pk_fail(err, errlen, "compacting rollups: probe id %" PRId64 ": a partial row is not valid", probe_id);
            goto out;
        }
    }
    *entries_out = rows;
    mins = malloc((rows ? rows : 1) * sizeof *mins);
    if (!mins)
        goto oom;
    if (rows > 1)
        qsort(parts, rows, sizeof *parts, st_lrow_cmp);
    for (size_t i = 0; i < rows;) {
        size_t j = i + 1;
        while (j < rows && st_lrow_cmp(&parts[i], &parts[j]) == 0)
            j++;
        mins[n_mins] = parts[i];
        if (j - i > 1) {
            pk_hist_init(h);
            mins[n_mins].n = (struct rollup_counts){0, 0, 0, 0};
            for (size_t k = i; k < j; k++) {
                if (parts[k].len > 0 && pk_hist_decode_merge(parts[k].hist, parts[k].len, h) < 0) {
                    pk_fail(err, errlen,
                            "compacting rollups: check id %" PRId64 " probe id %" PRId64
                            ": partial histogram is not valid",
                            parts[k].c, parts[k].p);
                    goto out;
                }
                rollup_counts_merge(&mins[n_mins].n, &parts[k].n);
            }
            if (st_lrow_encode(&mins[n_mins], h, &arena, scratch) < 0)
                goto oom;
        }
        n_mins++;
        i = j;
    }
    /* In slices, so that the folds' memory is bounded by the slice, not by the
     * minute; in each, upper levels first: write_level merges
     * stored rows into the rows it is given, and the hour and day folds need the
     * minute rows of this slice alone. */
    s->check_hours_deferred = 1;
    if (!(late = malloc((n_mins ? n_mins : 1) * sizeof *late)))
        goto oom;
    for (size_t from = 0, to; from < n_mins; from = to) {
        to = fold_slice_end(mins, from, n_mins);
        if (st_fold_up(s, mins + from, to - from, LEVEL_HOUR, ST_WRITE_MERGE, &slice_arena, err, errlen) < 0)
            goto out;
        /* the day levels: only minutes of closed days (late results); an open
         * day's rows are written once when it closes (rollup_days.c) */
        size_t n_late = 0;
        for (size_t i = from; i < to; i++)
            if (mins[i].t < days_mark_us)
                late[n_late++] = mins[i];
        for (int level = LEVEL_DAY; level < N_LEVELS && n_late > 0; level++)
            if (st_fold_up(s, late, n_late, level, ST_WRITE_MERGE, &slice_arena, err, errlen) < 0)
                goto out;
        if (write_minutes(s, mins + from, to - from, fresh_from_us, &slice_arena, err, errlen) < 0)
            goto out;
        st_arena_free(slice_arena); /* the slice's merged rows; mins' own are in arena */
        slice_arena = NULL;
    }
    s->check_hours_deferred = 0;
    if (refresh_check_hours(s, mins, n_mins, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    pk_fail(err, errlen, "compacting rollups: out of memory");
out:
    s->check_hours_deferred = 0;
    st_arena_free(arena);
    st_arena_free(slice_arena);
    free(parts);
    free(mins);
    free(late);
    free(h);
    free(scratch);
    return rc;
}

int store_rollup_compact(struct store *s, int64_t now_us, int64_t bound_us, uint64_t *folded, char *err,
                         size_t errlen)
{
    char cutoff[64], limit[16];
    int64_t cutoff_us = rollup_floor(now_us, ROLLUP_MINUTE_US) - rollup_floor(bound_us, ROLLUP_MINUTE_US);
    *folded = 0;
    if (st_format_timestamp(cutoff, sizeof cutoff, cutoff_us) < 0) {
        pk_fail(err, errlen, "compacting rollups: time out of range");
        return -1;
    }
    snprintf(limit, sizeof limit, "%d", COMPACT_CHUNK);
    const char *params[] = {cutoff, limit};
    st_ensure_ready(s);
    for (;;) {
        PGresult *r = NULL;
        int rc = -1, last = 0;
        uint64_t entries = 0;
        if (st_run_cmd(s, "BEGIN", 0, NULL, "compacting rollups: BEGIN", err, errlen) < 0)
            return -1;
        r = st_run(s, COMPACT_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "compacting rollups: lock", err, errlen);
        if (!r)
            goto round_out;
        PQclear(r);
        /* This chunk: whole minutes, the oldest first, about COMPACT_CHUNK rows
         * (more when one minute alone has more); `upto` is its end, and the
         * watermark when the round begins. */
        r = PQexecParams(s->conn,
                         "WITH b AS (SELECT minute FROM rollup_partial WHERE minute < $1::timestamptz "
                         "ORDER BY minute OFFSET $2::int LIMIT 1), "
                         "f AS (SELECT min(minute) AS m FROM rollup_partial WHERE minute < $1::timestamptz) "
                         "SELECT CASE WHEN (SELECT minute FROM b) IS NULL THEN $1::timestamptz "
                         "WHEN (SELECT minute FROM b) = (SELECT m FROM f) THEN (SELECT minute FROM b) + "
                         "interval '1 minute' ELSE (SELECT minute FROM b) END, "
                         "(SELECT upto FROM rollup_watermark WHERE name = 'compact'), "
                         "(SELECT upto FROM rollup_watermark WHERE name = 'days')",
                         2, NULL, params, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
            st_pg_err(s, r, "compacting rollups: choosing the chunk", err, errlen);
            goto round_out;
        }
        if (PQgetisnull(r, 0, 2)) {
            pk_fail(err, errlen, "compacting rollups: the closed days' mark (migration 042) is missing: run "
                                 "picket-collector migrate");
            goto round_out;
        }
        int64_t upto_us = st_bin_ts(r, 0, 0), fresh_from_us = st_bin_ts(r, 0, 1), days_mark_us = st_bin_ts(r, 0, 2);
        last = upto_us >= cutoff_us;
        char upto[64];
        PQclear(r);
        r = NULL;
        if (st_format_timestamp(upto, sizeof upto, upto_us) < 0) {
            pk_fail(err, errlen, "compacting rollups: time out of range");
            goto round_out;
        }
        const char *take[] = {upto};
        /* Rows deleted here are exactly the rows folded below: a writer's rows
         * committed meanwhile are not in this snapshot and wait for the next round. */
        r = PQexecParams(s->conn, "DELETE FROM rollup_partial WHERE minute < $1::timestamptz "
                                  "RETURNING probe_id, minute, entries",
                         1, NULL, take, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            st_pg_err(s, r, "compacting rollups: taking partial rows", err, errlen);
            goto round_out;
        }
        if (PQntuples(r) > 0 && compact_round(s, r, fresh_from_us, days_mark_us, &entries, err, errlen) < 0)
            goto round_out;
        /* the days that have ended written once, from their hours */
        if (st_rollup_days_close(s, days_mark_us, upto_us, err, errlen) < 0)
            goto round_out;
        /* the days that have ended packed (check_hour_days.c), under this lock */
        if (st_check_hour_days_sweep(s, upto, 1, err, errlen) < 0)
            goto round_out;
        if (st_run_cmd(s, "UPDATE rollup_watermark SET upto = greatest(upto, $1::timestamptz), updated_at = now() "
                       "WHERE name = 'compact'",
                       1, take, "compacting rollups: watermark", err, errlen) < 0)
            goto round_out;
        if (st_commit(s, "compacting rollups", err, errlen) < 0)
            goto round_out;
        *folded += entries;
        rc = 0;
    round_out:
        PQclear(r);
        if (rc < 0) {
            st_rollback(s);
            return -1;
        }
        if (last)
            return 0;
    }
}

/* Fills rollup_check_day from rollup_day (merged over probes in C), one day at a
 * time; for migration 010 on a database that already has day rollups. Runs in
 * the caller's transaction. */
int st_fill_check_days(struct store *s, char *err, size_t errlen)
{
    PGresult *days = st_run(s, "SELECT DISTINCT day FROM rollup_day ORDER BY 1", 0, NULL, PGRES_TUPLES_OK,
                            "migration 010: reading days", err, errlen);
    if (!days)
        return -1;
    int rc = 0;
    for (int d = 0; d < PQntuples(days) && rc == 0; d++) {
        const char *params[] = {PQgetvalue(days, d, 0)};
        PGresult *r = PQexecParams(s->conn,
                                   "SELECT check_id, probe_id, day, ok, degraded, failed, unknown, hist FROM rollup_day "
                                   "WHERE day = $1::timestamptz",
                                   1, NULL, params, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            st_pg_err(s, r, "migration 010: reading rollup_day", err, errlen);
            rc = -1;
        } else {
            int n = PQntuples(r);
            struct lrow *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
            struct arena_block *arena = NULL;
            if (!rows) {
                pk_fail(err, errlen, "migration 010: out of memory");
                rc = -1;
            } else {
                for (int i = 0; i < n; i++)
                    rows[i] = st_lrow_of(r, i);
                rc = st_fold_up(s, rows, (size_t)n, LEVEL_CHECK_DAY, ST_WRITE_MERGE, &arena, err, errlen);
                st_arena_free(arena);
                free(rows);
            }
        }
        PQclear(r);
    }
    PQclear(days);
    return rc;
}

