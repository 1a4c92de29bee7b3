/* rollup_query.c: store_rollup_query, rollups over a window per check and
 * probe or region, read in one snapshot from the coarsest level that covers
 * each part plus the partial rows not yet compacted, merged in C. A whole day
 * that is not closed yet (rollup_days.c) is read from its hours. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

struct probe_ref {
    int64_t id;
    char name[128];
    int region; /* index into the query's region list */
};

/* A row's sort key and the merge entry it comes from: the keys are sorted and
 * each row (with its histogram of about 9 KB) is written once, in order. */
struct row_key {
    char check_name[PK_NAME_MAX];
    char group[128];
    int64_t t;
    size_t entry;
};

static int by_key(const void *x, const void *y)
{
    const struct row_key *a = x, *b = y;
    int c = strcmp(a->check_name, b->check_name);
    if (c)
        return c;
    c = strcmp(a->group, b->group);
    if (c)
        return c;
    return (a->t > b->t) - (a->t < b->t);
}

/* Appends [from, to) to a level's range list when not empty. */
static void add_range(int64_t *ranges, size_t *n, struct rollup_range r)
{
    if (r.to_us <= r.from_us)
        return;
    ranges[2 * *n] = r.from_us;
    ranges[2 * *n + 1] = r.to_us;
    (*n)++;
}

/* An entry of a p95_only read that holds one row so far: that row's encoded
 * histogram, with the p95 and count pk_hist_encoded_quantile reads from it in
 * place. Such an entry is never decoded: one region's baseline is 696 hours a
 * check, each one row of the region's one probe, and decoding each into its
 * 9 kB of buckets was most of a one-region report (docs/PERFORMANCE.md). */
struct lazy_enc {
    uint8_t *enc; /* NULL: no row with a histogram yet */
    size_t len;
    double p95;
    uint64_t count;
};

/* What store_rollup_query adds rows into: the key is (check, group, bucket). */
struct query_acc {
    const struct store_rollup_filter *f;
    const struct probe_ref *probes; /* sorted by id */
    size_t n_probes;
    struct rollup_merge *m;
    int64_t since, bucket, origin; /* buckets start at origin + k * bucket (origin <= since) */
    int64_t last;                  /* the last bucket's start: rows after it (subtracted) are in it */
    struct lazy_enc *lazy;         /* p95_only: by entry index, for the entries whose hist is NULL */
    size_t lazy_cap;
};

static void lazy_free(struct query_acc *q)
{
    for (size_t i = 0; i < q->lazy_cap; i++)
        free(q->lazy[i].enc);
    free(q->lazy);
    q->lazy = NULL;
    q->lazy_cap = 0;
}

/* The lazy slot of entry e (a p95_only read's); NULL: out of memory. */
static struct lazy_enc *lazy_of(struct query_acc *q, const struct rollup_entry *e)
{
    size_t i = (size_t)(e - rollup_merge_entry(q->m, 0)), cap = q->lazy_cap;
    if (i >= cap) {
        struct lazy_enc *z = pk_grow(q->lazy, &cap, i + 1, sizeof *z, 0);
        if (!z)
            return NULL;
        memset(z + q->lazy_cap, 0, (cap - q->lazy_cap) * sizeof *z);
        q->lazy = z;
        q->lazy_cap = cap;
    }
    return &q->lazy[i];
}

/* Gives e its decoded histogram: what its lazy slot held. -1: out of memory. */
static int entry_decode(struct query_acc *q, struct rollup_entry *e)
{
    struct lazy_enc *z = lazy_of(q, e);
    struct pk_hist *h = z ? malloc(sizeof *h) : NULL;
    if (!h)
        return -1;
    pk_hist_init(h);
    if (z->enc && pk_hist_decode_merge(z->enc, z->len, h) < 0) { /* checked when kept: cannot fail */
        free(h);
        return -1;
    }
    free(z->enc);
    *z = (struct lazy_enc){0};
    e->hist = h;
    return 0;
}

/* Adds (sign > 0) or subtracts (sign < 0) a row's encoded histogram to e. An
 * entry without a histogram (p95_only) keeps its first row encoded, checked;
 * a second row decodes it. 0, or -1: not a valid encoding, or out of memory. */
static int entry_merge(struct query_acc *q, struct rollup_entry *e, const uint8_t *h, size_t len, int sign)
{
    if (!e->hist && len > 0) {
        struct lazy_enc *z = lazy_of(q, e);
        if (!z)
            return -1;
        if (sign > 0 && !z->enc) {
            uint64_t count = 0;
            double p95 = pk_hist_encoded_quantile(h, len, 0.95, &count);
            if (isnan(p95) || !(z->enc = malloc(len)))
                return -1;
            memcpy(z->enc, h, len);
            z->len = len;
            z->p95 = p95;
            z->count = count;
            return 0;
        }
        if (entry_decode(q, e) < 0)
            return -1;
    }
    if (len == 0)
        return 0;
    return sign < 0 ? pk_hist_decode_unmerge(h, len, e->hist) : pk_hist_decode_merge(h, len, e->hist);
}

/* The entry a row merges into: check, group (0, the probe, or its region's
 * index) and bucket start. */
static struct rollup_entry *query_entry(struct query_acc *q, int64_t check_id, int64_t probe_id, int64_t t)
{
    int64_t group = q->f->group == STORE_ROLLUP_BY_CHECK ? 0 : probe_id;
    if (q->f->group == STORE_ROLLUP_BY_REGION) {
        size_t lo = 0, hi = q->n_probes;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (q->probes[mid].id < probe_id)
                lo = mid + 1;
            else
                hi = mid;
        }
        group = lo < q->n_probes && q->probes[lo].id == probe_id ? q->probes[lo].region : -1;
    }
    int64_t b = q->origin + (t - q->origin) / q->bucket * q->bucket; /* t >= since >= origin */
    if (b < q->since)
        b = q->since; /* the first bucket of an aligned series, clipped */
    if (b > q->last)
        b = q->last;
    return q->f->p95_only ? rollup_merge_get_bare(q->m, check_id, group, b) : rollup_merge_get(q->m, check_id, group, b);
}

static int query_add(struct query_acc *q, int64_t check_id, int64_t probe_id, int64_t t, const struct rollup_counts *c,
                     const uint8_t *hist, size_t len)
{
    struct rollup_entry *e = query_entry(q, check_id, probe_id, t);
    if (!e || entry_merge(q, e, hist, len, 1) < 0)
        return -1;
    rollup_counts_merge(&e->counts, c);
    return 0;
}

static int by_range_start(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether t is in one of the n disjoint ranges [from, to) of r (pairs sorted by from). */
static int in_ranges(const int64_t *r, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the last range starting at or before t */
        size_t mid = lo + (hi - lo) / 2;
        if (r[2 * mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && t < r[2 * (lo - 1) + 1];
}

/* Merges touching or overlapping ranges (pairs sorted by from); the new count. */
static size_t coalesce(int64_t *r, size_t n)
{
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        if (r[2 * i] <= r[2 * k + 1]) {
            if (r[2 * i + 1] > r[2 * k + 1])
                r[2 * k + 1] = r[2 * i + 1];
        } else {
            k++;
            r[2 * k] = r[2 * i];
            r[2 * k + 1] = r[2 * i + 1];
        }
    }
    return n ? k + 1 : 0;
}

/* Up to this many ranges of a level are read one index range scan each (the edges
 * of a window, the runs of an aligned series); more are read in one scan over
 * their span, bounded by the window, and picked in C. A join of the rows with the
 * list of ranges made PostgreSQL compare every row of the check's history with
 * every range (rows x ranges); one scan over the span of two edge ranges read the
 * whole window's minutes. */
#define MAX_RANGE_SCANS 16

static const char *const table[4] = {"rollup_minute", "rollup_hour", "rollup_day", "rollup_partial"};
static const char *const column[4] = {"minute", "hour", "day", "minute"};

struct level_read {
    int level;                  /* 0 minute, 1 hour, 2 day, 3 partial */
    int check_days;             /* whole days of a check over all probes: rollup_check_day */
    const int64_t *ranges;      /* disjoint [from, to) pairs, sorted */
    size_t n;
    const char *check_id_param; /* a bigint[] literal of check_ids, or NULL: every check */
    const int64_t *check_ids;   /* sorted ascending */
    size_t n_check_ids;
    const char *probe_filter;   /* a bigint[] literal, or NULL */
    int sign;                   /* 1: rows added; -1: subtracted (rollup_plan_signed) */
};

/* Whether id is in ids[0..n) (sorted ascending). */
static int has_id(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id;
}

/* A final level's rows (row[k], merging into entry ent[k], k < n) added entry
 * by entry: a counting sort puts each entry's rows together, so its 9 kB
 * histogram stays in cache while they are added. PostgreSQL returns them by
 * time (the level's time index): in that order each row touched another
 * entry's histogram, and the adds were a third of a 30-day latency query. */
static int merge_by_entry(PGresult *r, const struct level_read *lr, struct query_acc *acc, const uint32_t *ent,
                          const int *row, size_t n, char *err, size_t errlen)
{
    size_t ne = rollup_merge_count(acc->m);
    size_t *at = calloc(ne + 1, sizeof *at);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!at || !order) {
        free(at);
        free(order);
        return pk_fail(err, errlen, "rollup query: out of memory");
    }
    for (size_t k = 0; k < n; k++)
        at[ent[k] + 1]++;
    for (size_t e = 0; e < ne; e++)
        at[e + 1] += at[e];
    for (size_t k = 0; k < n; k++)
        order[at[ent[k]]++] = (uint32_t)k;
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        int i = row[order[j]];
        struct rollup_entry *e = rollup_merge_entry(acc->m, ent[order[j]]);
        struct rollup_counts c = {(uint64_t)st_bin_i64(r, i, 3), (uint64_t)st_bin_i64(r, i, 4),
                                  (uint64_t)st_bin_i64(r, i, 5), (uint64_t)st_bin_i64(r, i, 6)};
        size_t len = (size_t)PQgetlength(r, i, 7);
        const uint8_t *hist = (const uint8_t *)PQgetvalue(r, i, 7);
        if (entry_merge(acc, e, hist, len, lr->sign) < 0)
            rc = pk_fail(err, errlen,
                         "rollup query: %s: check id %" PRId64 " probe id %" PRId64 ": histogram is not valid",
                         table[lr->level], st_bin_i64(r, i, 0), st_bin_i64(r, i, 1));
        else if (lr->sign < 0)
            rollup_counts_unmerge(&e->counts, &c);
        else
            rollup_counts_merge(&e->counts, &c);
    }
    free(at);
    free(order);
    return rc;
}

/* Adds one result set's rows (of one level) to the merge. */
static int add_rows(PGresult *r, const struct level_read *lr, struct query_acc *acc, char *err, size_t errlen)
{
    const int l = lr->level;
    size_t n = 0, cap = (size_t)(PQntuples(r) > 0 ? PQntuples(r) : 1);
    uint32_t *ent = l == 3 ? NULL : malloc(cap * sizeof *ent);
    int *row = l == 3 ? NULL : malloc(cap * sizeof *row);
    if (l != 3 && (!ent || !row)) {
        free(ent);
        free(row);
        return pk_fail(err, errlen, "rollup query: out of memory");
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t probe_id = st_bin_i64(r, i, l == 3 ? 0 : 1);
        if (!in_ranges(lr->ranges, lr->n, st_bin_ts(r, i, l == 3 ? 1 : 2)))
            continue;
        if (l == 3) { /* packed partial rows: probe_id, minute, entries */
            struct rollup_unpack u;
            int64_t check_id;
            struct rollup_counts c;
            const uint8_t *hist;
            size_t hist_len;
            int got = rollup_unpack_begin(&u, (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
            while (got == 0 && (got = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1) {
                if (lr->check_id_param && check_id > lr->check_ids[lr->n_check_ids - 1]) {
                    got = 0; /* entries are by ascending check id: the rest are other checks */
                    break;
                }
                got = lr->check_id_param && !has_id(lr->check_ids, lr->n_check_ids, check_id)
                          ? 0
                          : query_add(acc, check_id, probe_id, st_bin_ts(r, i, 1), &c, hist,
                                      acc->f->counts_only ? 0 : hist_len);
            }
            if (got < 0) {
                pk_fail(err, errlen, "rollup query: rollup_partial: probe id %" PRId64 ": row is not valid",
                        probe_id);
                return -1;
            }
            continue;
        }
        struct rollup_entry *e = query_entry(acc, st_bin_i64(r, i, 0), probe_id, st_bin_ts(r, i, 2));
        if (!e) {
            free(ent);
            free(row);
            return pk_fail(err, errlen, "rollup query: out of memory");
        }
        ent[n] = (uint32_t)(e - rollup_merge_entry(acc->m, 0));
        row[n++] = i;
    }
    int rc = l == 3 ? 0 : merge_by_entry(r, lr, acc, ent, row, n, err, errlen);
    free(ent);
    free(row);
    return rc;
}

/* Whether every range of lr lies in one bucket of acc (a range's rows then
 * add to one entry per check and probe, so PostgreSQL may sum them). */
static int ranges_in_one_bucket(const struct level_read *lr, const struct query_acc *q)
{
    for (size_t k = 0; k < lr->n; k++) {
        int64_t a = lr->ranges[2 * k], b = lr->ranges[2 * k + 1] - 1;
        if ((a - q->origin) / q->bucket != (b - q->origin) / q->bucket)
            return 0;
    }
    return 1;
}

/* The SQL of one level's read into sql. Counts only, with each range in one
 * bucket: summed per check and probe in PostgreSQL (a 30-day window's edge
 * minutes are 3,000 rows instead of 177,000), labelled with the range's first
 * time (its bucket). */
static void level_sql(const struct level_read *lr, const struct query_acc *acc, char *sql, size_t len)
{
    const int l = lr->level;
    const char *hist = acc->f->counts_only ? "''::bytea" : "r.hist"; /* counts only: nothing to decode */
    if (l == 3) {
        snprintf(sql, len,
                 "SELECT r.probe_id, r.minute, r.entries FROM rollup_partial r "
                 "WHERE r.minute >= $1::timestamptz AND r.minute < $2::timestamptz "
                 "AND ($3::bigint[] IS NULL OR r.probe_id = ANY($3::bigint[]))");
        return;
    }
    const char *tab = lr->check_days && l == 2 ? "rollup_check_day" : table[l];
    const char *probe = lr->check_days && l == 2 ? "0::bigint" : "r.probe_id";
    const char *probe_cond = lr->check_days && l == 2 ? "$4::bigint[] IS NULL"
                                                      : "($4::bigint[] IS NULL OR r.probe_id = ANY($4::bigint[]))";
    const char *col = lr->check_days && l == 2 ? "day" : column[l];
    if (acc->f->counts_only && lr->n <= MAX_RANGE_SCANS && ranges_in_one_bucket(lr, acc))
        snprintf(sql, len,
                 "SELECT r.check_id, %s, min(r.%s), sum(r.ok)::bigint, sum(r.degraded)::bigint, "
                 "sum(r.failed)::bigint, sum(r.unknown)::bigint, ''::bytea FROM %s r "
                 "WHERE r.%s >= $1::timestamptz AND r.%s < $2::timestamptz "
                 "AND ($3::bigint[] IS NULL OR r.check_id = ANY($3::bigint[])) AND %s GROUP BY r.check_id, 2",
                 probe, col, tab, col, col, probe_cond);
    else
        snprintf(sql, len,
                 "SELECT r.check_id, %s, r.%s, r.ok, r.degraded, r.failed, r.unknown, %s FROM %s r "
                 "WHERE r.%s >= $1::timestamptz AND r.%s < $2::timestamptz "
                 "AND ($3::bigint[] IS NULL OR r.check_id = ANY($3::bigint[])) AND %s",
                 probe, col, hist, tab, col, col, probe_cond);
}

/* One statement of a level: its rows in [from, to) (every one bounded: never a
 * check's whole history). */
struct level_scan {
    struct level_read lr;
    int64_t from, to;
};

/* Sends (sync 0) or runs (sync 1: *out is its result) one scan. 0, or -1 with err. */
static int start_scan(struct store *s, const struct level_scan *sc, const struct query_acc *acc, int sync,
                      PGresult **out, char *err, size_t errlen)
{
    const int l = sc->lr.level;
    char sql[1024], from[64], to[64];
    level_sql(&sc->lr, acc, sql, sizeof sql);
    if (st_format_timestamp(from, sizeof from, sc->from) < 0 || st_format_timestamp(to, sizeof to, sc->to) < 0)
        return pk_fail(err, errlen, "rollup query: window out of range");
    if (st_deadline_passed(s, err, errlen))
        return -1;
    /* packed partial rows hold every check: the check is picked while unpacking */
    const char *params[] = {from, to, l == 3 ? sc->lr.probe_filter : sc->lr.check_id_param, sc->lr.probe_filter};
    if (sync) {
        *out = PQexecParams(s->conn, sql, l == 3 ? 3 : 4, NULL, params, NULL, NULL, 1);
        return 0;
    }
    if (!PQsendQueryParams(s->conn, sql, l == 3 ? 3 : 4, NULL, params, NULL, NULL, 1)) {
        st_pg_err(s, NULL, "rollup query: sending a read", err, errlen);
        return -1;
    }
    return 0;
}

/* One scan's result into acc. 0, or -1 with err. */
static int take_scan(struct store *s, PGresult *r, const struct level_scan *sc, struct query_acc *acc, char *err,
                     size_t errlen)
{
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "rollup query: reading rollups", err, errlen);
        return -1;
    }
    return add_rows(r, &sc->lr, acc, err, errlen);
}

/* The scans in one pipeline: every statement is sent at once and PostgreSQL
 * runs the next while the rows of the one before are decoded and merged
 * here (on two cores, about what the merging costs: the report's parts read
 * 2 to 5 statements each). The results are taken in the order sent, so added
 * rows still come before subtracted ones. A connection that ends up in a state
 * this cannot clear (broken mid-pipeline) is replaced at once by
 * st_ensure_ready, so no later statement of any caller meets pipeline mode. */
static int read_pipelined(struct store *s, const struct level_scan *sc, size_t n, struct query_acc *acc, char *err,
                          size_t errlen)
{
    int rc = 0;
    size_t sent = 0;
    while (sent < n && start_scan(s, &sc[sent], acc, 0, NULL, err, errlen) == 0)
        sent++;
    if (sent < n)
        rc = -1;
    if (PQpipelineSync(s->conn) != 1) {
        if (rc == 0)
            st_pg_err(s, NULL, "rollup query: sending a read", err, errlen);
        st_ensure_ready(s);
        return -1;
    }
    for (size_t i = 0; i < sent; i++) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) { /* the connection broke */
            if (rc == 0)
                st_pg_err(s, NULL, "rollup query: reading rollups", err, errlen);
            st_ensure_ready(s);
            return -1;
        }
        if (rc == 0 && take_scan(s, r, &sc[i], acc, err, errlen) < 0)
            rc = -1; /* the rest are aborted by the server or skipped here */
        PQclear(r);
        while ((r = PQgetResult(s->conn))) /* the NULL that ends this statement's results */
            PQclear(r);
    }
    PGresult *r = PQgetResult(s->conn);
    int synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced || PQexitPipelineMode(s->conn) != 1) {
        if (rc == 0)
            st_pg_err(s, NULL, "rollup query: ending a read", err, errlen);
        st_ensure_ready(s);
        return -1;
    }
    return rc;
}

/* The statements of the scans, in order: pipelined when there are several. */
static int read_scans(struct store *s, const struct level_scan *sc, size_t n, struct query_acc *acc, char *err,
                      size_t errlen)
{
    if (n > 1 && PQenterPipelineMode(s->conn) == 1)
        return read_pipelined(s, sc, n, acc, err, errlen);
    for (size_t i = 0; i < n; i++) {
        PGresult *r = NULL;
        if (start_scan(s, &sc[i], acc, 1, &r, err, errlen) < 0)
            return -1;
        int rc = take_scan(s, r, &sc[i], acc, err, errlen);
        PQclear(r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A level's ranges as scans: one per range, or one over them all when there
 * are many (the rows between are filtered out while adding). Returns how many
 * were appended at sc. */
static size_t level_scans(const struct level_read *lr, struct level_scan *sc)
{
    size_t scans = lr->n <= MAX_RANGE_SCANS ? lr->n : 1;
    for (size_t k = 0; k < scans; k++)
        sc[k] = (struct level_scan){*lr, lr->ranges[2 * k],
                                    scans == lr->n ? lr->ranges[2 * k + 1] : lr->ranges[2 * lr->n - 1]};
    return scans;
}

/* What a query reads besides the rollups: the probes (sorted by id, each
 * with its region's index), the probes the filter keeps, the checks. */
struct query_names {
    struct probe_ref *probes;
    size_t n_probes;
    char (*regions)[64];
    size_t n_regions;
    char *probe_filter; /* a bigint[] literal of the probes kept, or NULL: every probe */
    PGresult *checks;   /* id, name of the checks asked for, by id */
    int64_t *check_ids; /* sorted; NULL: every check */
    size_t n_check_ids;
    char *check_id_param;
};

static void names_free(struct query_names *q)
{
    free(q->probes);
    free(q->regions);
    free(q->probe_filter);
    PQclear(q->checks);
    free(q->check_ids);
    free(q->check_id_param);
    memset(q, 0, sizeof *q);
}

static int load_probes(struct store *s, const struct store_rollup_filter *f, struct query_names *q, char *err,
                       size_t errlen)
{
    PGresult *r = st_run(s, "SELECT id, name, region FROM probes ORDER BY id", 0, NULL, PGRES_TUPLES_OK,
                         "rollup query: probes", err, errlen);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r), n_filter = 0;
    int64_t *filter_ids = calloc(n ? n : 1, sizeof *filter_ids);
    q->probes = calloc(n ? n : 1, sizeof *q->probes);
    q->regions = calloc(n ? n : 1, sizeof *q->regions);
    int rc = -1;
    if (!q->probes || !q->regions || !filter_ids) {
        pk_fail(err, errlen, "rollup query: out of memory");
        goto out;
    }
    q->n_probes = n;
    for (size_t i = 0; i < n; i++) {
        q->probes[i].id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        pk_strlcpy(q->probes[i].name, PQgetvalue(r, (int)i, 1), sizeof q->probes[i].name);
        const char *region = PQgetvalue(r, (int)i, 2);
        size_t k = 0;
        while (k < q->n_regions && strcmp(q->regions[k], region) != 0)
            k++;
        if (k == q->n_regions)
            pk_strlcpy(q->regions[q->n_regions++], region, sizeof q->regions[0]);
        q->probes[i].region = (int)k;
        if ((!f->probe || strcmp(f->probe, q->probes[i].name) == 0) && (!f->region || strcmp(f->region, region) == 0))
            filter_ids[n_filter++] = q->probes[i].id;
    }
    if (f->probe && n_filter == 0) {
        pk_fail(err, errlen, "rollup query: probe \"%.128s\" is not known%s", f->probe,
                f->region ? " in that region" : "");
        goto out;
    }
    if (f->region && n_filter == 0) {
        pk_fail(err, errlen, "rollup query: no probe in region \"%.64s\"", f->region);
        goto out;
    }
    if ((f->probe || f->region) && !(q->probe_filter = st_bigint_array(filter_ids, n_filter))) {
        pk_fail(err, errlen, "rollup query: out of memory");
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    free(filter_ids);
    return rc;
}

static int load_checks(struct store *s, const struct store_rollup_filter *f, struct query_names *q, char *err,
                       size_t errlen)
{
    const int some = !f->check && f->n_checks > 0; /* a chunk of checks, by name */
    char *names_json = some ? st_strings_json((char *const *)f->checks, f->n_checks) : NULL;
    if (some && !names_json)
        return pk_fail(err, errlen, "rollup query: out of memory");
    const char *name_param[] = {f->check, names_json};
    q->checks = st_run(s,
                       "SELECT id, name FROM checks WHERE ($1::text IS NULL OR name = $1) AND ($2::jsonb IS NULL OR "
                       "name IN (SELECT jsonb_array_elements_text($2::jsonb))) ORDER BY id",
                       2, name_param, PGRES_TUPLES_OK, "rollup query: checks", err, errlen);
    free(names_json);
    if (!q->checks)
        return -1;
    if (f->check && PQntuples(q->checks) == 0)
        return pk_fail(err, errlen, "rollup query: check \"%.128s\" is not known", f->check);
    if (!f->check && !some)
        return 0;
    /* rows of these checks only (none known: an id no row has) */
    size_t n = (size_t)PQntuples(q->checks);
    if (!(q->check_ids = calloc(n ? n : 1, sizeof *q->check_ids)))
        return pk_fail(err, errlen, "rollup query: out of memory");
    for (size_t i = 0; i < n; i++)
        q->check_ids[i] = strtoll(PQgetvalue(q->checks, (int)i, 0), NULL, 10);
    q->n_check_ids = n ? n : 1;
    if (n == 0)
        q->check_ids[0] = -1;
    if (!(q->check_id_param = st_bigint_array(q->check_ids, q->n_check_ids)))
        return pk_fail(err, errlen, "rollup query: out of memory");
    return 0;
}

/* The name of check id (checks sorted by id), or "#id". */
static void check_name_of(const PGresult *checks, int64_t id, char *out, size_t len)
{
    int lo = 0, hi = PQntuples(checks);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strtoll(PQgetvalue(checks, mid, 0), NULL, 10) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < PQntuples(checks) && strtoll(PQgetvalue(checks, lo, 0), NULL, 10) == id)
        pk_strlcpy(out, PQgetvalue(checks, lo, 1), len);
    else
        snprintf(out, len, "#%" PRId64, id);
}

static void group_name_of(const struct query_names *q, enum store_rollup_group g, int64_t b, char *out, size_t len)
{
    if (g == STORE_ROLLUP_BY_CHECK) {
        pk_strlcpy(out, "*", len);
    } else if (g == STORE_ROLLUP_BY_REGION) {
        pk_strlcpy(out, b >= 0 ? q->regions[b] : "?", len);
    } else {
        snprintf(out, len, "#%" PRId64, b);
        for (size_t k = 0; k < q->n_probes; k++)
            if (q->probes[k].id == b) {
                pk_strlcpy(out, q->probes[k].name, len);
                break;
            }
    }
}

struct rows_acc {
    const struct store_rollup_filter *f;
    struct store_rollup_row *rows;
    size_t n, cap;
    const struct lazy_enc *lazy; /* the entry being added, when its hist is NULL */
};

/* store_rollup_query's fn: the entries as rows (each histogram copied, or
 * with p95_only its p95). */
static int add_row_out(void *ctx, const struct store_rollup_entry *e)
{
    struct rows_acc *ra = ctx;
    struct store_rollup_row *v = pk_grow(ra->rows, &ra->cap, ra->n + 1, sizeof *v, 0);
    if (!v)
        return -2;
    ra->rows = v;
    struct store_rollup_row *row = &v[ra->n++];
    pk_strlcpy(row->check_name, e->check_name, sizeof row->check_name);
    pk_strlcpy(row->group, e->group, sizeof row->group);
    row->bucket_start_us = e->bucket_start_us;
    row->ok = e->ok;
    row->degraded = e->degraded;
    row->failed = e->failed;
    row->unknown = e->unknown;
    if (!e->hist) { /* p95_only, one row: as read in place (entry_merge), or empty */
        row->p95_us = ra->lazy && ra->lazy->enc && ra->lazy->count ? ra->lazy->p95 : NAN;
        row->hist.count = ra->lazy && ra->lazy->enc ? ra->lazy->count : 0;
    } else if (ra->f->p95_only) { /* a trend's points: 9 kB less to copy per row */
        row->p95_us = e->hist->count ? pk_hist_quantile(e->hist, 0.95) : NAN;
        row->hist.count = e->hist->count;
    } else {
        row->hist = *e->hist;
        row->p95_us = NAN;
    }
    return 0;
}

/* Hands the merged entries to fn in order of check name, group and bucket. */
static int emit_sorted(const struct query_names *q, struct query_acc *acc, store_rollup_each_fn fn, void *ctx)
{
    const struct store_rollup_filter *f = acc->f;
    struct rollup_merge *m = acc->m;
    size_t n = rollup_merge_count(m);
    struct row_key *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return -2;
    for (size_t i = 0; i < n; i++) {
        const struct rollup_entry *e = rollup_merge_entry(m, i);
        keys[i].entry = i;
        keys[i].t = e->t;
        check_name_of(q->checks, e->a, keys[i].check_name, sizeof keys[i].check_name);
        group_name_of(q, f->group, e->b, keys[i].group, sizeof keys[i].group);
    }
    qsort(keys, n, sizeof *keys, by_key);
    int rc = 0;
    if (fn == add_row_out) { /* the rows at their size: no growing copies of 9 kB rows */
        struct rows_acc *ra = ctx;
        struct store_rollup_row *v = n ? pk_grow(ra->rows, &ra->cap, n, sizeof *v, 0) : ra->rows;
        if (n && !v)
            rc = -2;
        else
            ra->rows = v;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct rollup_entry *e = rollup_merge_entry(m, keys[i].entry);
        if (!e->hist && fn == add_row_out) { /* p95_only: taken as read in place */
            if (!(((struct rows_acc *)ctx)->lazy = lazy_of(acc, e)))
                rc = -2;
        } else if (!e->hist && entry_decode(acc, e) < 0) /* any other reader gets the histogram */
            rc = -2;
        struct store_rollup_entry out = {keys[i].check_name, keys[i].group, e->t,    e->counts.ok,
                                         e->counts.degraded, e->counts.failed, e->counts.unknown, e->hist};
        if (rc == 0)
            rc = fn(ctx, &out);
    }
    free(keys);
    return rc;
}

/* The ranges of each level (0 minute, 1 hour, 2 day, 3 partial) that the
 * buckets of [since, until) read, sorted and coalesced. */
static int plan_ranges(int64_t since, int64_t until, int64_t bucket, int64_t origin, int64_t n_buckets,
                       int64_t *ranges[4], size_t n_ranges[4])
{
    for (int l = 0; l < 4; l++)
        if (!(ranges[l] = calloc((size_t)n_buckets * 4, sizeof(int64_t)))) /* at most 2 ranges per bucket and level */
            return -1;
    for (int64_t b = origin; b < until; b += bucket) {
        struct rollup_plan plan;
        int64_t from = b < since ? since : b, to = b + bucket < until ? b + bucket : until;
        rollup_plan_window(from, to, &plan);
        add_range(ranges[3], &n_ranges[3], (struct rollup_range){from, to});
        add_range(ranges[2], &n_ranges[2], plan.day);
        for (int k = 0; k < 2; k++) {
            add_range(ranges[1], &n_ranges[1], plan.hour[k]);
            add_range(ranges[0], &n_ranges[0], plan.minute[k]);
        }
    }
    for (int l = 0; l < 4; l++) {
        qsort(ranges[l], n_ranges[l], 2 * sizeof(int64_t), by_range_start);
        n_ranges[l] = coalesce(ranges[l], n_ranges[l]);
    }
    return 0;
}

/* The days of ranges[2] at or after mark (not closed yet: their day rows are
 * not written, rollup_days.c) moved to the hour ranges. 0, or -1: out of memory. */
static int open_days_to_hours(int64_t *ranges[4], size_t n_ranges[4], int64_t mark)
{
    int64_t *d = ranges[2];
    size_t nd = 0, nh = n_ranges[1];
    if (n_ranges[2] == 0 || d[2 * n_ranges[2] - 1] <= mark)
        return 0; /* every day closed: the usual case */
    int64_t *h = malloc((n_ranges[1] + n_ranges[2]) * 2 * sizeof *h);
    if (!h)
        return -1;
    memcpy(h, ranges[1], n_ranges[1] * 2 * sizeof *h);
    for (size_t k = 0; k < n_ranges[2]; k++) {
        int64_t a = d[2 * k], b = d[2 * k + 1];
        if (a < mark)
            add_range(d, &nd, (struct rollup_range){a, b < mark ? b : mark});
        if (b > mark)
            add_range(h, &nh, (struct rollup_range){a > mark ? a : mark, b});
    }
    qsort(h, nh, 2 * sizeof *h, by_range_start);
    free(ranges[1]);
    ranges[1] = h;
    n_ranges[1] = coalesce(h, nh);
    n_ranges[2] = nd;
    return 0;
}

/* The marks a signed plan needs, read in one statement: marks[0] the first
 * hour whose minutes are all stored (retention deletes minutes before a time,
 * never hours; INT64_MAX when none are), marks[1] the closed days' mark
 * (st_days_closed), marks[2] the compaction's mark (the final levels hold
 * nothing at or after it). */
static int signed_marks(struct store *s, int64_t marks[3], char *err, size_t errlen)
{
    PGresult *r = PQexecParams(s->conn,
                               "SELECT (SELECT min(minute) FROM rollup_minute), "
                               "(SELECT upto FROM rollup_watermark WHERE name = 'days'), "
                               "(SELECT upto FROM rollup_watermark WHERE name = 'compact')",
                               0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "rollup query: reading the stored levels' marks", err, errlen);
        PQclear(r);
        return -1;
    }
    int64_t oldest = PQgetisnull(r, 0, 0) ? INT64_MAX : st_bin_ts(r, 0, 0);
    int no_days_mark = PQgetisnull(r, 0, 1);
    marks[1] = no_days_mark ? 0 : st_bin_ts(r, 0, 1);
    marks[2] = PQgetisnull(r, 0, 2) ? INT64_MAX : st_bin_ts(r, 0, 2);
    PQclear(r);
    int64_t h = rollup_floor(oldest, ROLLUP_HOUR_US);
    marks[0] = oldest == INT64_MAX ? INT64_MAX : h == oldest ? h : h + ROLLUP_HOUR_US;
    return no_days_mark ? st_days_closed(s, &marks[1], err, errlen) : 0; /* its error names the migration */
}

/* A window of one bucket as rollup_plan_signed's signed sum: ranges[0..2] (the
 * partial level keeps the window) added, neg[0..1] (minutes, hours) subtracted. */
static void plan_signed(int64_t since, int64_t until, const int64_t marks[3], int64_t *ranges[4], size_t n_ranges[4],
                        int64_t neg[2][4], size_t n_neg[2])
{
    struct rollup_signed_plan p;
    rollup_plan_signed(since, until, marks[0], marks[1], marks[2], &p);
    for (int l = 0; l < 3; l++)
        n_ranges[l] = 0;
    n_neg[0] = n_neg[1] = 0;
    add_range(ranges[2], &n_ranges[2], p.day);
    for (int k = 0; k < 2; k++) {
        add_range(ranges[1], &n_ranges[1], p.hour[k]);
        add_range(ranges[0], &n_ranges[0], p.minute[k]);
        add_range(neg[1], &n_neg[1], p.hour_neg[k]);
        add_range(neg[0], &n_neg[0], p.minute_neg[k]);
    }
}

/* Reads every level's ranges in one snapshot into m: compaction moving rows
 * from rollup_partial to the final tables between two reads would count them
 * twice or not at all. A window of one bucket is read as a signed sum
 * (plan_signed): the rows subtracted are read after every row added, so an
 * entry is never less than what is taken from it. */
static int read_levels(struct store *s, const struct store_rollup_filter *f, const struct query_names *q,
                       int64_t *ranges[4], size_t n_ranges[4], struct query_acc *acc, char *err, size_t errlen)
{
    int64_t mark = 0, neg[2][4], marks[3];
    size_t n_neg[2] = {0, 0};
    /* one bucket, past one hour or of more than a few minutes (an hour's row
     * less the minutes outside can be fewer rows: a window ending now) */
    if (acc->last == acc->since && (n_ranges[1] + n_ranges[2] > 0 || acc->bucket > 2 * ROLLUP_MINUTE_US)) {
        if (signed_marks(s, marks, err, errlen) < 0)
            return -1;
        mark = marks[1];
        plan_signed(acc->since, acc->since + acc->bucket, marks, ranges, n_ranges, neg, n_neg);
    } else if (n_ranges[2] > 0 && st_days_closed(s, &mark, err, errlen) < 0) {
        return -1;
    }
    if (n_ranges[2] > 0 && open_days_to_hours(ranges, n_ranges, mark) < 0)
        return pk_fail(err, errlen, "rollup query: out of memory");
    /* Whole days of a check over all probes: the rows already merged over probes. */
    const int check_days = f->group == STORE_ROLLUP_BY_CHECK && !f->probe && !f->region;
    struct level_scan sc[6 * MAX_RANGE_SCANS];
    size_t n_sc = 0;
    for (int l = 0; l < 6; l++) {
        int level = l < 4 ? l : l - 4, sign = l < 4 ? 1 : -1;
        const int64_t *r = l < 4 ? ranges[l] : neg[level];
        size_t n = l < 4 ? n_ranges[l] : n_neg[level];
        if (n == 0)
            continue;
        struct level_read lr = {level,          check_days,      r, n, q->check_id_param, q->check_ids,
                                q->n_check_ids, q->probe_filter, sign};
        n_sc += level_scans(&lr, sc + n_sc);
    }
    return read_scans(s, sc, n_sc, acc, err, errlen);
}

int store_rollup_query_each(struct store *s, const struct store_rollup_filter *f, store_rollup_each_fn fn, void *ctx,
                            char *err, size_t errlen)
{
    int rc = -1;
    int64_t *ranges[4] = {NULL, NULL, NULL, NULL};
    size_t n_ranges[4] = {0, 0, 0, 0};
    struct query_names q = {0};
    struct rollup_merge *m = NULL;
    struct query_acc acc = {0};
    int64_t since = rollup_floor(f->since_us, ROLLUP_MINUTE_US), until = rollup_floor(f->until_us, ROLLUP_MINUTE_US);
    int64_t bucket = f->bucket_us ? f->bucket_us : until - since;
    if (until <= since)
        return pk_fail(err, errlen, "rollup query: the window is empty (since must be at least a minute before until)");
    if (bucket <= 0 || bucket % ROLLUP_MINUTE_US != 0)
        return pk_fail(err, errlen, "rollup query: bucket width must be a whole number of minutes");
    /* aligned: the buckets are on the epoch grid of their width, the first clipped */
    int64_t origin = f->align && f->bucket_us ? since - since % bucket : since;
    int64_t n_buckets = (until - origin + bucket - 1) / bucket;
    if (n_buckets > STORE_ROLLUP_MAX_BUCKETS)
        return pk_fail(err, errlen, "rollup query: %" PRId64 " buckets asked, at most %d", n_buckets,
                       STORE_ROLLUP_MAX_BUCKETS);
    if (plan_ranges(since, until, bucket, origin, n_buckets, ranges, n_ranges) < 0 || !(m = rollup_merge_new())) {
        pk_fail(err, errlen, "rollup query: out of memory");
        goto out;
    }
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "rollup query: BEGIN", err, errlen) <
        0)
        goto out;
    if (load_probes(s, f, &q, err, errlen) < 0 || load_checks(s, f, &q, err, errlen) < 0)
        goto fail;
    acc = (struct query_acc){f, q.probes, q.n_probes, m, since, bucket, origin, origin + (n_buckets - 1) * bucket};
    if (read_levels(s, f, &q, ranges, n_ranges, &acc, err, errlen) < 0)
        goto fail;
    st_rollback(s); /* read only: nothing to commit */
    int got = emit_sorted(&q, &acc, fn, ctx);
    if (got == -2)
        pk_fail(err, errlen, "rollup query: out of memory");
    else if (got < 0 && !err[0])
        pk_fail(err, errlen, "rollup query: the reader of the rows failed");
    rc = got < 0 ? -1 : 0;
    goto out;
fail:
    st_rollback(s);
out:
    names_free(&q);
    for (int l = 0; l < 4; l++)
        free(ranges[l]);
    lazy_free(&acc);
    rollup_merge_free(m);
    return rc;
}

int store_rollup_query(struct store *s, const struct store_rollup_filter *f, struct store_rollup_row **rows_out,
                       size_t *n_out, char *err, size_t errlen)
{
    size_t cap = 0;
    *rows_out = NULL;
    int rc = store_rollup_query_into(s, f, rows_out, n_out, &cap, err, errlen);
    if (rc < 0) {
        free(*rows_out);
        *rows_out = NULL;
    }
    return rc;
}

int store_rollup_query_into(struct store *s, const struct store_rollup_filter *f, struct store_rollup_row **rows,
                            size_t *n, size_t *cap, char *err, size_t errlen)
{
    struct rows_acc ra = {f, *rows, 0, *cap, NULL};
    *n = 0;
    if (err && errlen)
        err[0] = '\0';
    int rc = store_rollup_query_each(s, f, add_row_out, &ra, err, errlen);
    *rows = ra.rows; /* grown or not, still the caller's */
    *cap = ra.cap;
    *n = rc < 0 ? 0 : ra.n;
    return rc;
}
