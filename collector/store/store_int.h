/* store_int.h: private to collector/store/ (never included elsewhere): struct
 * store, and the helpers its files share: statements and transactions
 * (conn.c), the row reader (rows.c), COPY streaming (copy.c), text encoding of
 * parameters and COPY fields (encode.c) and the rollup levels the compaction and
 * the backfill both write (rollup_compact.c). Functions here are prefixed st_;
 * store.h stays the store's only public face. */
#ifndef PK_STORE_INT_H
#define PK_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rollup.h"
#include "store.h"

#define COPY_CHUNK (256 * 1024)
/* Headroom over COPY_CHUNK so a row always fits after a flush (a row is < 8 KiB). */
#define COPY_BUF_SIZE (COPY_CHUNK + 64 * 1024)

struct check_slot {
    char *name; /* NULL when the slot is free */
    uint64_t hash;
    int64_t id;
};

/* Open addressing, linear probing; grows at half load. */
struct check_cache {
    struct check_slot *slots;
    size_t cap; /* power of two or 0 */
    size_t used;
};

struct store {
    PGconn *conn;
    char *conninfo;     /* as opened (NULL: libpq's defaults), for the side connection */
    char app[48];       /* its application_name's default */
    struct store *side; /* store_side: opened on first use, closed with this one */
    struct check_cache checks;
    char *copy_buf; /* COPY_BUF_SIZE bytes, reused by every store_write_batches */
    int rollups_off;
    struct rollup_input *rollup_in; /* reused: the stored results of one group */
    size_t rollup_in_cap;
    struct rollup_rows rollup_rows; /* reused: their partial rows */
    struct rollup_packs rollup_packs; /* reused: those rows packed per (probe, minute) */
    int64_t deadline_us; /* store_set_deadline: 0 none; statements fail once it passed */
    int citus_known, citus;           /* st_is_citus: asked once per store */
    struct st_tracked_cache *tcache;  /* store_tracked_prefetch (tracked_reads.c); NULL: none */
    int check_hours_deferred;         /* set by the compaction: st_write_level leaves rollup_check_hour to it */
};

/* ---- conn.c: statements, transactions, the check-name cache */

/* "<what>: <primary message> (<context>)" on one line, into err. */
void st_pg_err(struct store *s, const PGresult *r, const char *what, char *err, size_t errlen);
/* Brings the connection to "idle, outside any transaction" before a new unit of work. */
void st_ensure_ready(struct store *s);
void st_rollback(struct store *s);
/* Runs one statement (text results); returns its result (caller PQclears) or NULL with err set. */
PGresult *st_run(struct store *s, const char *sql, int nparams, const char *const *params, ExecStatusType want,
                 const char *what, char *err, size_t errlen);
int st_run_cmd(struct store *s, const char *sql, int nparams, const char *const *params, const char *what, char *err,
               size_t errlen);
/* deadline.c: 1 (with err) when the caller's deadline has passed, else 0. */
int st_deadline_passed(struct store *s, char *err, size_t errlen);
/* COMMIT, and -1 when the transaction had been rolled back instead. */
int st_commit(struct store *s, const char *what, char *err, size_t errlen);
/* A probe's probe_checks become params[1] (bigint[] of check ids; params[0] the
 * probe id) by difference, with probe_check_history kept (probes.c). */
int st_replace_probe_checks(struct store *s, const char *const *params, const char *what, char *err, size_t errlen);
/* 1 with *id when name is cached; 0 otherwise. */
int st_cache_get(const struct check_cache *c, const char *name, int64_t *id);
/* Only ids of committed rows may enter. -1 when out of memory. */
int st_cache_put(struct check_cache *c, const char *name, int64_t id);

/* ---- citus.c: 1 when `migrate --citus` distributed this database (its
 * function picket_last_results exists; asked once per store; 0 on error too:
 * the plain statements are then used). A few readers
 * use another statement there (docs/SCALING-citus.md). */
int st_is_citus(struct store *s);

/* ---- tracked_reads.c: the prefetched tracker reads of one answer. Each
 * returns 0 when the cache does not hold what is asked (the caller reads the
 * database), 1 when it answered (*out malloc'd), -1 with err. The rule reader
 * returns -1 when there is no cache, 0 (not tracked) or 1. */
struct st_tracked_cache;
void st_tracked_cache_free(struct st_tracked_cache *c);
int st_tracked_cache_rule(struct store *s, const char *check, struct store_track_rule *out);
int st_tracked_cache_incidents(struct store *s, const char *check, const char *scope, int64_t since_us,
                               int64_t until_us, struct store_incident **out, size_t *n, char *err, size_t errlen);

/* ---- rows.c: one reader for "query, allocate rows, copy each column" */

enum store_col_type {
    STORE_COL_I64,    /* int64_t; NULL -> 0 */
    STORE_COL_U64,    /* uint64_t; NULL -> 0 */
    STORE_COL_INT,    /* int; NULL -> 0 */
    STORE_COL_DOUBLE, /* double; NULL -> 0 */
    STORE_COL_BOOL,   /* int, 1 for 't'; NULL -> 0 */
    STORE_COL_TEXT,   /* char[size], truncated, NUL-terminated; NULL -> "" */
    STORE_COL_STRDUP, /* char *, malloc'd (the caller frees); NULL -> NULL */
};

/* One field of a row struct and the result column (by name) that fills it. */
struct store_col {
    const char *name;
    enum store_col_type type;
    size_t offset; /* offsetof(row struct, field) */
    size_t size;   /* sizeof the field (the array size for STORE_COL_TEXT) */
};

#define STORE_COL(row_type, field, col_name, col_type) \
    {col_name, col_type, offsetof(row_type, field), sizeof(((row_type *)0)->field)}
/* A column named like its field, by kind without the prefix:
 * STORE_FIELD(struct store_probe_row, region, TEXT). Tables list these a group a
 * line (the reader finds columns by name, so the order is free). */
#define STORE_FIELD(row_type, field, kind) STORE_COL(row_type, field, #field, STORE_COL_##kind)

/* Reads every row of r (a text-format result) into a calloc'd array of
 * row_size-byte structs, each listed column into its field. Columns are looked
 * up by name: a column the result lacks is an error (-1 + "<what>: result has
 * no column "x"" in err), never a silently wrong field. On -1 nothing is
 * allocated. *rows: free() it (and each STORE_COL_STRDUP field). Does not clear r. */
int store_read_rows(const PGresult *r, const char *what, const struct store_col *cols, size_t ncols, size_t row_size,
                    void **rows, size_t *n, char *err, size_t errlen);
/* A whole read: *rows = NULL and *n = 0, then runs sql (what_run names it in a
 * failure) once the store is ready and reads every row with store_read_rows
 * (what_read). 0, or -1 with err. */
struct store_query {
    const char *sql;
    int nparams;
    const char *const *params;
    const char *what_run, *what_read;
    const struct store_col *cols;
    size_t ncols, row_size;
};
#define STORE_NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))
int store_query_rows(struct store *s, const struct store_query *q, void **rows, size_t *n, char *err, size_t errlen);
/* Frees the STORE_COL_STRDUP fields of n rows, then rows. */
void store_free_rows(void *rows, size_t n, const struct store_col *cols, size_t ncols, size_t row_size);

/* Binary-format results (PQexecParams with resultFormat 1). */
int64_t st_bin_i64(const PGresult *r, int row, int col);
int32_t st_bin_i32(const PGresult *r, int row, int col);
/* A binary timestamptz as microseconds since the Unix epoch. */
int64_t st_bin_ts(const PGresult *r, int row, int col);

/* ---- copy.c: streaming COPY ... FROM STDIN through s->copy_buf */

struct copy_state {
    struct store *s;
    size_t len;  /* bytes waiting in s->copy_buf */
    int started; /* COPY ... FROM STDIN is in progress */
};

/* Starts "COPY <table_columns> FROM STDIN"; -1 + err (what) when refused. */
int st_copy_begin(struct copy_state *c, struct store *s, const char *sql, const char *what, char *err,
                  size_t errlen);
int st_copy_flush(struct copy_state *c, char *err, size_t errlen);
/* Appends n bytes to the COPY stream, flushing the buffer as it fills. */
int st_copy_put(struct copy_state *c, const char *p, size_t n, char *err, size_t errlen);
/* COPY ... (FORMAT binary): the signature, flags and header extension length
 * that open the data, and the trailer that ends it (copy.c). */
extern const char st_copy_bin_header[19];
extern const char st_copy_bin_trailer[2];
/* Appends bytes as lowercase hex (a bytea's \\x form in COPY text). */
int st_copy_put_hex(struct copy_state *c, const uint8_t *b, size_t n, char *err, size_t errlen);
/* Ends the COPY and collects its result; 0 when no COPY was started. */
int st_copy_finish(struct copy_state *c, char *err, size_t errlen);
/* Abandons a started COPY (the server discards it). */
void st_copy_abort(struct copy_state *c);
extern const char st_hex_digits[];

/* ---- encode.c: parameters and COPY fields as text */

struct pk_buf;

/* "YYYY-MM-DD hh:mm:ss.uuuuuu+00" (29 bytes + NUL); -1 outside years 1..9999. */
int st_format_timestamp(char *buf, size_t size, int64_t us);
/* Each returns a malloc'd string, NULL when out of memory. */
/* {"key": "value", ...} for a jsonb parameter. */
char *st_labels_json(const struct pk_kv *labels, size_t n);
/* "{1,2,3}" for a bigint[] parameter. */
char *st_bigint_array(const int64_t *values, size_t n);
/* Appends one element of an array literal whose braces are the caller's: a ','
 * unless first, then "v" with '"' and '\\' escaped, or NULL for a NULL v. Any
 * element type reads its text from it (text[], bigint[], double precision[]);
 * the text needs no other escaping (commas, braces, spaces, UTF-8 stay as they
 * are). A failure latches in b. */
void st_array_add_text(struct pk_buf *b, const char *v, int first);
/* ["a", "b"] for a text[] parameter (unnested in SQL). */
char *st_strings_json(char *const *values, size_t n);
/* SQL: the names of the JSON array parameter json as rows w(name, ord), the
 * planner told their number (parameter count, the array's length; st_count):
 * jsonb_array_elements_text alone is guessed at 100 rows, and with one check's
 * name the planner then read a whole summary table (a hash join over a
 * sequential scan) instead of the check's index range. */
#define ST_NAMES_ROWS(json, count)                                                                               \
    "(SELECT * FROM jsonb_array_elements_text(" json "::jsonb) WITH ORDINALITY AS w0(name, ord) LIMIT " count   \
    "::bigint) AS w(name, ord)"
/* n as text into buf (for ST_NAMES_ROWS's count); buf. */
const char *st_count(char buf[24], size_t n);
/* "{ts,ts,...}" of timestamptz literals, one int64 every stride bytes. */
char *st_timestamp_array(const int64_t *values, size_t n, size_t stride);

/* ---- check metadata, shared by probes.c and assign.c */

/* A check's analytics metadata as statement parameters: v[] is service, budget
 * p50, p95, p99, SLO target, SLO window, each NULL where not given (an SLO only
 * when both its parts are valid). The same rules for Register and for an
 * applied version. */
struct meta_params {
    char p50[24], p95[24], p99[24], slo_target[40], slo_window[24];
    const char *v[8]; /* v[6]: depends_on, v[7]: labels, NULL when none */
};
void st_meta_params(struct meta_params *m, const char *service, const struct pk_check_meta *meta);


/* What `checks` shows for a check the central assignment version v defines:
 * the version's definition wins over any probe's local file (docs/CHECKS.md,
 * "Check metadata"). Versions stored before migration 008 (meta_known false)
 * keep the registered metadata. Used as UPDATE checks k ... FROM
 * check_version_checks v. */
#define VERSION_CHECK_SET                                                                                        \
    "type = v.type, target = v.target, interval_ms = v.interval_ms, "                                           \
    "service = CASE WHEN v.meta_known THEN v.service ELSE k.service END, "                                      \
    "budget_p50_ms = CASE WHEN v.meta_known THEN v.budget_p50_ms ELSE k.budget_p50_ms END, "                    \
    "budget_p95_ms = CASE WHEN v.meta_known THEN v.budget_p95_ms ELSE k.budget_p95_ms END, "                    \
    "budget_p99_ms = CASE WHEN v.meta_known THEN v.budget_p99_ms ELSE k.budget_p99_ms END, "                    \
    "slo_target_percent = CASE WHEN v.meta_known THEN v.slo_target_percent ELSE k.slo_target_percent END, "     \
    "slo_window_ms = CASE WHEN v.meta_known THEN v.slo_window_ms ELSE k.slo_window_ms END, "                    \
    "depends_on = CASE WHEN v.meta_known THEN v.depends_on ELSE k.depends_on END, "                             \
    "labels = CASE WHEN v.meta_known THEN v.check_labels ELSE k.labels END, updated_at = now() "
/* ... and only where that changes something (no needless row versions). */
#define VERSION_CHECK_DIFFERS                                                                                    \
    "(k.type, k.target, k.interval_ms) IS DISTINCT FROM (v.type, v.target, v.interval_ms) OR (v.meta_known AND " \
    "(k.service, k.budget_p50_ms, k.budget_p95_ms, k.budget_p99_ms, k.slo_target_percent, k.slo_window_ms, "    \
    "k.depends_on, k.labels) IS DISTINCT FROM (v.service, v.budget_p50_ms, v.budget_p95_ms, v.budget_p99_ms, "  \
    "v.slo_target_percent, v.slo_window_ms, v.depends_on, v.check_labels))"

/* ---- rollup levels (rollup_compact.c; also written by rollup_backfill.c) */

/* Rollup levels the compaction writes. LEVEL_CHECK_DAY is rollup_day merged over
 * probes (migration 010): keys (check, 0, day) and no probe_id column. */
enum { LEVEL_MINUTE, LEVEL_HOUR, LEVEL_DAY, LEVEL_CHECK_DAY, N_LEVELS };

/* One row of a level as the compaction writes it. The histogram stays encoded:
 * a minute key with a single partial row passes its bytes through untouched,
 * which at one result per check and probe per minute is nearly every key. */
struct lrow {
    int64_t c, p, t;
    struct rollup_counts n;
    const uint8_t *hist;
    size_t len;
};

/* check_hours.c: rollup_check_hour rewritten for the (check, hour) keys of
 * rows (rollup_hour rows just written; from rollup_hour, merged over probes),
 * in the caller's transaction; and filled from all of rollup_hour (migration
 * 027). 0, or -1 with err. */
int st_check_hours_refresh(struct store *s, const struct lrow *rows, size_t n, char *err, size_t errlen);
int st_fill_check_hours(struct store *s, char *err, size_t errlen);
/* check_hour_days.c (migration 039): packs the ended days not packed yet (not past
 * upto's day, NULL: no bound), in the caller's transaction (the compaction's, or
 * migration 039's), with with_regions the regions' packs of the same days too
 * and the stale regions mended (region_hour_days.c; not before migration 044);
 * repacks the
 * packed days of the (check id, hour) arrays given (summarise's); reads the
 * packed days of the checks (a JSON array of names, n of them) whole inside
 * [since, until) (with region: that region's, region_hour_days, unless the
 * region is marked stale), appended to *rows (check: index in the array), and the days
 * they cover [*from, *to) (empty: none). 0, or -1 with err. */
int st_check_hour_days_sweep(struct store *s, const char *upto, int with_regions, char *err, size_t errlen);
int st_check_hour_days_repack(struct store *s, const char *check_ids, const char *hours, char *err, size_t errlen);
int st_check_hour_days_read(struct store *s, const char *names_json, size_t n, const char *region, int64_t since_us,
                            int64_t until_us, struct store_check_hour **rows, size_t *nrows, size_t *cap,
                            int64_t *from_us, int64_t *to_us, char *err, size_t errlen);
/* Orders store_check_hour rows by check, then hour. */
int st_check_hour_cmp(const void *x, const void *y);
/* Replaces the summaries of the hours [from, to) in *rows (check: index in
 * checks) with what the rollups give over every probe or, with region, the
 * region's (store_rollup_query, hourly, p95 only, partial rows included), a
 * few checks a read. 0, or -1 with err. */
int st_hours_from_rollups(struct store *s, const char *const *checks, size_t n, const char *region, int64_t from,
                          int64_t to, struct store_check_hour **rows, size_t *nrows, size_t *cap, char *err,
                          size_t errlen);
/* The hours (one bigint column, microseconds) in [since, until) that have rows
 * in rollup_partial, not compacted yet; NULL with err. */
PGresult *st_dirty_hours(struct store *s, int64_t since_us, int64_t until_us, char *err, size_t errlen);
/* The records of one check_hour_days or region_hour_days pack (check index k,
 * day day_us) appended to *rows. 0, or -1 with err. */
int st_hour_days_unpack(int k, int64_t day_us, const unsigned char *p, size_t len, struct store_check_hour **rows,
                        size_t *nrows, size_t *cap, char *err, size_t errlen);
/* region_hour_days.c (migration 044): packs the region summaries of the days
 * [from, to) (of region; NULL: every region) from rollup_hour, replacing
 * what was packed; repacks the packed days of the (check id, hour) arrays
 * given (summarise's, beside st_check_hour_days_repack); packs again every
 * day of the regions marked stale and clears the marks. In the caller's
 * transaction, under the compaction's lock. 0, or -1 with err. */
int st_region_hour_days_pack(struct store *s, int64_t from_us, int64_t to_us, const char *region, char *err,
                             size_t errlen);
int st_region_hour_days_repack(struct store *s, const char *check_ids, const char *hours, char *err, size_t errlen);
int st_region_hour_days_mend(struct store *s, char *err, size_t errlen);
/* Migration 044: packs the days check_hour_days covers. */
int st_region_hour_days_fill(struct store *s, char *err, size_t errlen);
/* tracked_reads.c: migration 029 fills round_runs' running totals. */
int st_fill_run_totals(struct store *s, char *err, size_t errlen);

/* Bump allocator for the histograms one compaction round encodes. */
struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    uint8_t data[];
};

void st_arena_free(struct arena_block *head);
/* row->hist = the encoding of h, kept in the arena. */
int st_lrow_encode(struct lrow *row, const struct pk_hist *h, struct arena_block **arena, uint8_t *scratch);
/* Row i of a binary result of (check_id, probe_id, time, ok, degraded, failed,
 * unknown, hist) as a level row; its histogram points into r. */
struct lrow st_lrow_of(const PGresult *r, int i);
/* qsort order: (c, p, t). */
int st_lrow_cmp(const void *x, const void *y);
/* How st_write_level meets stored rows of the same keys: merged into them
 * (MERGE); the same after inserting the keys that are new in one statement
 * (INSERT_FIRST, for levels where nearly all are); or replaced (REPLACE: the
 * rows given are the whole of their keys, as when a day closes). */
enum st_write_mode { ST_WRITE_MERGE, ST_WRITE_INSERT_FIRST, ST_WRITE_REPLACE };
/* Writes rows (sorted by key) into a level. */
int st_write_level(struct store *s, int level, struct lrow *rows, size_t n, enum st_write_mode mode,
                   struct arena_block **arena, char *err, size_t errlen);
/* Folds sorted minute (or hour) rows into `level` (merged in C per key), then st_write_level. */
/* Minute rows the compaction folds at once (512; rollup_compact.c); a test
 * sets it small to cut every minute into slices. */
extern size_t st_compact_fold_slice;
int st_fold_up(struct store *s, const struct lrow *mins, size_t n, int level, enum st_write_mode mode,
               struct arena_block **arena, char *err, size_t errlen);
/* rollup_days.c (migration 042): *mark_us = the end of the closed UTC days,
 * read in the caller's snapshot (day rows before it are whole; days from it on
 * are read from rollup_hour); and, under the compaction's lock, the days that
 * end by upto's day built from their hour rows and written once, the mark moved
 * there. 0, or -1 with err. */
int st_days_closed(struct store *s, int64_t *mark_us, char *err, size_t errlen);
int st_rollup_days_close(struct store *s, int64_t mark_us, int64_t upto_us, char *err, size_t errlen);
#define COPY_MINUTES_SQL \
    "COPY rollup_minute (check_id, probe_id, minute, ok, degraded, failed, unknown, hist) FROM STDIN"
/* One rollup_minute COPY line (text format); bytea as \\x<hex>. */
int st_copy_minute_row(struct copy_state *c, const struct lrow *row, char *err, size_t errlen);

/* ---- steps of migrations, run in the migration's transaction */

/* Migration 010: fills rollup_check_day from rollup_day (rollup_compact.c). */
int st_fill_check_days(struct store *s, char *err, size_t errlen);
/* Migration 011: packs rollup_partial_v1's rows into rollup_partial (results.c). */
int st_pack_old_partials(struct store *s, char *err, size_t errlen);

/* ---- round_runs (migrations 017, 030) */

/* The runs of one (check, scope) that reach round k (to_round >= k), for the
 * WHERE of a read of round_runs aliased `run`: to_round has no index (the
 * tracker extends a check's last run in place, a HOT update only while no
 * index covers to_round). Runs of a (check, scope) never overlap, so those are
 * the runs from the last one starting at or before k on: a primary-key range
 * from there, whose start is one primary-key lookup. check, scope and k are
 * SQL expressions of the outer query (not of `run`). */
#define ST_RUNS_REACHING(run, check, scope, k)                                                                     \
    run ".from_round >= (SELECT coalesce(max(rr_k.from_round), " k ") FROM round_runs rr_k WHERE rr_k.check_id = " \
        check " AND rr_k.scope = " scope " AND rr_k.from_round <= " k ") AND " run ".to_round >= " k

#endif
