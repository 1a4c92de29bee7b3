/* store_pg.c: the collector's PostgreSQL store (store.h). Owns one libpq connection
 * per struct store, a check-name -> id cache and a reusable COPY buffer. The only
 * file that includes libpq. User strings reach PostgreSQL only as statement
 * parameters or as escaped COPY fields, never spliced into SQL text. Never returns
 * with a transaction open, and never stores a (probe, seq) twice. */
#include "store.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "../common/log.h"
#include "migrations.h"
#include "rollup.h"

#define COPY_CHUNK (256 * 1024)
/* Headroom over COPY_CHUNK so a row always fits after a flush (a row is < 8 KiB). */
#define COPY_BUF_SIZE (COPY_CHUNK + 64 * 1024)
/* pg_advisory_xact_lock key shared by every collector that migrates: "picket". */
#define MIGRATION_LOCK_SQL "SELECT pg_advisory_xact_lock(112410397255028)"
#define METRICS_JSON_MAX 4096

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
    struct check_cache checks;
    char *copy_buf; /* COPY_BUF_SIZE bytes, reused by every store_write_batches */
    int rollups_off;
    struct rollup_input *rollup_in; /* reused: the stored results of one group */
    size_t rollup_in_cap;
    struct rollup_rows rollup_rows; /* reused: their partial rows */
    struct rollup_packs rollup_packs; /* reused: those rows packed per (probe, minute) */
};

/* ------------------------------------------------------------------ errors */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "<what>: <primary message> (<context>)" on one line: errors end up in log lines. */
static void pg_err(struct store *s, const PGresult *r, const char *what, char *err, size_t errlen)
{
    if (!err || errlen == 0)
        return;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *context = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
    if (!primary || !*primary)
        primary = PQerrorMessage(s->conn);
    if (!primary || !*primary)
        primary = "unknown PostgreSQL error";
    if (context && *context)
        snprintf(err, errlen, "%s: %s (%s)", what, primary, context);
    else
        snprintf(err, errlen, "%s: %s", what, primary);
    size_t len = strlen(err);
    for (size_t i = 0; i < len; i++)
        if (err[i] == '\n' || err[i] == '\r')
            err[i] = ' ';
    while (len > 0 && err[len - 1] == ' ')
        err[--len] = '\0';
}

static void notice_to_log(void *arg, const char *message)
{
    char quoted[512];
    (void)arg;
    pk_log(PK_LOG_DEBUG, "store", "postgres notice", "text=%s", pk_log_q(quoted, sizeof quoted, message));
}

/* ------------------------------------------------------------ check cache */

static uint64_t hash_name(const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static int cache_get(const struct check_cache *c, const char *name, int64_t *id)
{
    if (c->cap == 0)
        return 0;
    uint64_t h = hash_name(name);
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        const struct check_slot *slot = &c->slots[i];
        if (!slot->name)
            return 0;
        if (slot->hash == h && strcmp(slot->name, name) == 0) {
            *id = slot->id;
            return 1;
        }
    }
}

static void cache_insert_slot(struct check_slot *slots, size_t cap, struct check_slot entry)
{
    size_t i = entry.hash & (cap - 1);
    while (slots[i].name)
        i = (i + 1) & (cap - 1);
    slots[i] = entry;
}

static int cache_put(struct check_cache *c, const char *name, int64_t id)
{
    int64_t old;
    if (cache_get(c, name, &old)) {
        uint64_t h = hash_name(name);
        for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
            if (c->slots[i].hash == h && strcmp(c->slots[i].name, name) == 0) {
                c->slots[i].id = id;
                return 0;
            }
    }
    if ((c->used + 1) * 2 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct check_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < c->cap; i++)
            if (c->slots[i].name)
                cache_insert_slot(slots, cap, c->slots[i]);
        free(c->slots);
        c->slots = slots;
        c->cap = cap;
    }
    struct check_slot entry = {strdup(name), hash_name(name), id};
    if (!entry.name)
        return -1;
    cache_insert_slot(c->slots, c->cap, entry);
    c->used++;
    return 0;
}

static void cache_clear(struct check_cache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].name);
        c->slots[i].name = NULL;
    }
    c->used = 0;
}

/* ------------------------------------------------------------ connection */

static void reconnect(struct store *s)
{
    PQreset(s->conn);
    /* The URL may now lead to another server (failover, restore) where the cached
     * check ids mean nothing. */
    cache_clear(&s->checks);
    pk_log(PK_LOG_INFO, "store", "reconnected", "ok=%d", PQstatus(s->conn) == CONNECTION_OK);
}

/* Brings the connection to "idle, outside any transaction" before a new unit of work. */
static void ensure_ready(struct store *s)
{
    if (PQstatus(s->conn) != CONNECTION_OK) {
        reconnect(s);
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(s->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        ts = PQtransactionStatus(s->conn);
    }
    if (ts != PQTRANS_IDLE) /* stuck mid-COPY or unknown: only a new session is clean */
        reconnect(s);
}

static void rollback(struct store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Runs one statement; returns its result (caller PQclears) or NULL with err set. */
static PGresult *run(struct store *s, const char *sql, int nparams, const char *const *params, ExecStatusType want,
                     const char *what, char *err, size_t errlen)
{
    PGresult *r = nparams > 0 ? PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                              : PQexec(s->conn, sql);
    if (PQresultStatus(r) != want) {
        pg_err(s, r, what, err, errlen);
        PQclear(r);
        return NULL;
    }
    return r;
}

static int run_cmd(struct store *s, const char *sql, int nparams, const char *const *params, const char *what,
                   char *err, size_t errlen)
{
    PGresult *r = run(s, sql, nparams, params, PGRES_COMMAND_OK, what, err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}

/* COMMIT of an aborted transaction "succeeds" as ROLLBACK: check the tag too. */
static int commit(struct store *s, const char *what, char *err, size_t errlen)
{
    PGresult *r = run(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, what, err, errlen);
    if (!r)
        return -1;
    int ok = strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!ok)
        set_err(err, errlen, "%s: transaction was rolled back", what);
    return ok ? 0 : -1;
}

struct store *store_open(const char *conninfo, char *err, size_t errlen)
{
    /* Keywords before "dbname" are defaults that the caller's conninfo overrides;
     * they also survive PQreset. JIT off: it adds ~100 ms of compilation to short
     * queries whose cost the planner overestimates (status on fresh statistics). */
    static const char *const keys[] = {"fallback_application_name", "connect_timeout", "client_encoding", "options",
                                       "dbname", NULL};
    const char *values[] = {"picket-collector", "10", "UTF8", "-c jit=off", conninfo ? conninfo : "", NULL};
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "store: out of memory");
        return NULL;
    }
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        pg_err(s, NULL, "cannot connect to PostgreSQL", err, errlen);
        goto fail;
    }
    PQsetNoticeProcessor(s->conn, notice_to_log, NULL);
    s->copy_buf = malloc(COPY_BUF_SIZE);
    if (!s->copy_buf) {
        set_err(err, errlen, "store: out of memory");
        goto fail;
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    cache_clear(&s->checks);
    free(s->checks.slots);
    free(s->copy_buf);
    free(s->rollup_in);
    rollup_rows_free(&s->rollup_rows);
    rollup_packs_free(&s->rollup_packs);
    free(s);
}

static int select_one(struct store *s)
{
    PGresult *r = PQexec(s->conn, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

int store_ping(struct store *s)
{
    int was_bad = PQstatus(s->conn) != CONNECTION_OK;
    ensure_ready(s);
    if (select_one(s))
        return 0;
    /* A server error on a live link is not cured by reconnecting; a dead link once is. */
    if (was_bad || PQstatus(s->conn) == CONNECTION_OK)
        return -1;
    reconnect(s);
    return select_one(s) ? 0 : -1;
}

/* -------------------------------------------------------------- schema */

static int schema_version(struct store *s, int *version, char *err, size_t errlen)
{
    PGresult *r = run(s, "SELECT to_regclass('picket_schema') IS NOT NULL", 0, NULL, PGRES_TUPLES_OK,
                      "reading the schema version", err, errlen);
    if (!r)
        return -1;
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    *version = 0;
    if (!exists)
        return 0;
    r = run(s, "SELECT coalesce(max(version), 0) FROM picket_schema", 0, NULL, PGRES_TUPLES_OK,
            "reading the schema version", err, errlen);
    if (!r)
        return -1;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int store_schema_version(struct store *s, int *version, char *err, size_t errlen)
{
    ensure_ready(s);
    return schema_version(s, version, err, errlen);
}

int store_latest_schema_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < pk_migrations_count; i++)
        if (pk_migrations[i].version > latest)
            latest = pk_migrations[i].version;
    return latest;
}

static int newer_error(int current, int latest, char *err, size_t errlen)
{
    set_err(err, errlen, "database schema version %d is newer than this binary knows (%d)", current, latest);
    return -1;
}

/* BEGIN plus the migration lock, which serializes collectors migrating at once
 * (CREATE TABLE IF NOT EXISTS alone races on the catalog). */
static int begin_migration(struct store *s, char *err, size_t errlen)
{
    if (run_cmd(s, "BEGIN", 0, NULL, "migrate: BEGIN", err, errlen) < 0)
        return -1;
    PGresult *r = run(s, MIGRATION_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "migrate: taking the migration lock", err,
                      errlen);
    PQclear(r);
    return r ? 0 : -1;
}

static int fill_check_days(struct store *s, char *err, size_t errlen);
static int pack_old_partials(struct store *s, char *err, size_t errlen);

int store_migrate(struct store *s, int *applied, char *err, size_t errlen)
{
    int rc = -1, current = 0, latest = store_latest_schema_version(), count = 0;
    char what[160];
    ensure_ready(s);
    if (begin_migration(s, err, errlen) < 0)
        goto out;
    if (run_cmd(s,
                "CREATE TABLE IF NOT EXISTS picket_schema (version int PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, "migrate: creating picket_schema", err, errlen) < 0)
        goto out;
    if (schema_version(s, &current, err, errlen) < 0)
        goto out;
    if (current > latest) {
        newer_error(current, latest, err, errlen);
        goto out;
    }
    if (commit(s, "migrate: creating picket_schema", err, errlen) < 0)
        goto out;

    for (size_t i = 0; i < pk_migrations_count; i++) {
        const struct pk_migration *m = &pk_migrations[i];
        if (begin_migration(s, err, errlen) < 0)
            goto out;
        /* Read under the lock: another collector may have migrated meanwhile. */
        if (schema_version(s, &current, err, errlen) < 0)
            goto out;
        if (current > latest) {
            newer_error(current, latest, err, errlen);
            goto out;
        }
        if (m->version <= current) {
            rollback(s);
            continue;
        }
        snprintf(what, sizeof what, "migration %s", m->name);
        if (run_cmd(s, m->sql, 0, NULL, what, err, errlen) < 0)
            goto out;
        /* 010 adds a rollup level merged over probes; what older day rows hold is
         * merged into it here, in C like all merging, in the same transaction. */
        if (m->version == 10 && fill_check_days(s, err, errlen) < 0)
            goto out;
        /* 011 packs partial rows; rows of the old shape are packed here. */
        if (m->version == 11 && pack_old_partials(s, err, errlen) < 0)
            goto out;
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        if (run_cmd(s, "INSERT INTO picket_schema (version, name) VALUES ($1, $2)", 2, params, what, err, errlen) < 0 ||
            commit(s, what, err, errlen) < 0)
            goto out;
        count++;
        pk_log(PK_LOG_INFO, "store", "migration applied", "version=%d file=%s", m->version, m->name);
    }
    rc = 0;
out:
    if (rc < 0)
        rollback(s);
    if (applied)
        *applied = count;
    return rc;
}

int store_check_schema(struct store *s, char *err, size_t errlen)
{
    int current = 0, latest = store_latest_schema_version();
    if (store_schema_version(s, &current, err, errlen) < 0)
        return -1;
    if (current > latest)
        return newer_error(current, latest, err, errlen);
    if (current < latest) {
        set_err(err, errlen,
                "database schema version %d is older than this binary knows (%d): run `picket-collector migrate`",
                current, latest);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ text encoding */

/* Bounded output buffer; `full` latches once anything failed to fit. */
struct out {
    char *buf;
    size_t size;
    size_t len;
    int full;
};

static void out_bytes(struct out *o, const char *p, size_t n)
{
    if (o->full || n > o->size - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->size - o->len)
        o->full = 1;
    else
        o->len += (size_t)n;
}

/* NUL-terminates (not counted); -1 when anything did not fit. */
static long out_finish(struct out *o)
{
    if (o->full || o->len >= o->size)
        return -1;
    o->buf[o->len] = '\0';
    return (long)o->len;
}

/* Length of the well-formed UTF-8 sequence at p, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* PostgreSQL rejects invalid UTF-8, and one bad byte in an HTTP error message must
 * not make a whole batch unstorable: such bytes become U+FFFD. */
#define REPLACEMENT_CHAR "\xef\xbf\xbd"

static void out_copy_text(struct out *o, const char *value, size_t n)
{
    const unsigned char *p = (const unsigned char *)value;
    for (size_t i = 0; i < n && !o->full;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            out_bytes(o, REPLACEMENT_CHAR, 3);
            i++;
            continue;
        }
        switch (k == 1 ? p[i] : 0) {
        case '\\': out_bytes(o, "\\\\", 2); break;
        case '\t': out_bytes(o, "\\t", 2); break;
        case '\n': out_bytes(o, "\\n", 2); break;
        case '\r': out_bytes(o, "\\r", 2); break;
        default: out_bytes(o, value + i, k); break;
        }
        i += k;
    }
}

static void out_json_string(struct out *o, const char *value, size_t n)
{
    const unsigned char *p = (const unsigned char *)value;
    out_bytes(o, "\"", 1);
    for (size_t i = 0; i < n && !o->full;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            out_bytes(o, "\\ufffd", 6);
            i++;
            continue;
        }
        if (k > 1) {
            out_bytes(o, value + i, k);
        } else if (p[i] == '"' || p[i] == '\\') {
            char esc[2] = {'\\', (char)p[i]};
            out_bytes(o, esc, 2);
        } else if (p[i] < 0x20) {
            out_fmt(o, "\\u%04x", p[i]);
        } else {
            out_bytes(o, value + i, 1);
        }
        i += k;
    }
    out_bytes(o, "\"", 1);
}

long store_copy_escape(char *buf, size_t size, const char *value)
{
    struct out o = {buf, size, 0, 0};
    if (!value)
        out_bytes(&o, "\\N", 2);
    else
        out_copy_text(&o, value, strlen(value));
    return out_finish(&o);
}

/* "2024-05-01 12:00:00.000123+00"; -1 outside years 1..9999. */
/* Digits written by hand: this runs once per stored result, and snprintf with
 * gmtime_r was half of the collector's CPU in the ingest profile. */
static void out_i64(struct out *o, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    char out[24];
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out_bytes(o, out, n);
}

static void put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* "YYYY-MM-DD hh:mm:ss.uuuuuu+00" (29 bytes + NUL); -1 outside years 1..9999.
 * The calendar arithmetic is the days-to-civil algorithm (proleptic Gregorian). */
static int format_timestamp(char *buf, size_t size, int64_t us)
{
    if (size < 30)
        return -1;
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    if (year < 1 || year > 9999)
        return -1;
    put_digits(buf, year, 4);
    buf[4] = '-';
    put_digits(buf + 5, month, 2);
    buf[7] = '-';
    put_digits(buf + 8, day, 2);
    buf[10] = ' ';
    put_digits(buf + 11, rem / 3600, 2);
    buf[13] = ':';
    put_digits(buf + 14, rem / 60 % 60, 2);
    buf[16] = ':';
    put_digits(buf + 17, rem % 60, 2);
    buf[19] = '.';
    put_digits(buf + 20, frac, 6);
    memcpy(buf + 26, "+00", 4);
    return 0;
}

static void out_duration(struct out *o, int64_t us)
{
    if (us < 0) {
        out_bytes(o, "\\N\t", 3);
    } else {
        out_i64(o, us);
        out_bytes(o, "\t", 1);
    }
}

long store_encode_result_row(char *buf, size_t size, int64_t probe_id, int64_t check_id, const struct pk_result *r)
{
    struct out o = {buf, size, 0, 0};
    char started_at[64];
    if (format_timestamp(started_at, sizeof started_at, r->started_at_us) < 0)
        return -1;
    out_i64(&o, probe_id);
    out_bytes(&o, "\t", 1);
    out_i64(&o, (int64_t)r->seq);
    out_bytes(&o, "\t", 1);
    out_i64(&o, check_id);
    out_bytes(&o, "\t", 1);
    out_bytes(&o, started_at, 29);
    out_bytes(&o, "\t", 1);
    out_i64(&o, r->outcome);
    out_bytes(&o, "\t", 1);
    out_i64(&o, r->error_class);
    out_bytes(&o, "\t", 1);
    out_i64(&o, r->status_code);
    out_bytes(&o, "\t", 1);
    out_i64(&o, r->body_bytes);
    out_bytes(&o, "\t", 1);
    out_duration(&o, r->dns_us);
    out_duration(&o, r->connect_us);
    out_duration(&o, r->tls_us);
    out_duration(&o, r->ttfb_us);
    out_duration(&o, r->total_us);
    /* Fixed-size fields may arrive unterminated: never read past them. */
    out_copy_text(&o, r->message, strnlen(r->message, sizeof r->message));
    out_bytes(&o, "\t", 1);
    if (r->n_metrics <= 0) {
        out_bytes(&o, "\\N", 2);
    } else {
        char json_buf[METRICS_JSON_MAX];
        struct out json = {json_buf, sizeof json_buf, 0, 0};
        int n_metrics = r->n_metrics > PK_MAX_METRICS ? PK_MAX_METRICS : r->n_metrics;
        out_bytes(&json, "{", 1);
        for (int i = 0; i < n_metrics; i++) {
            const struct pk_metric *m = &r->metrics[i];
            if (i > 0)
                out_bytes(&json, ", ", 2);
            out_json_string(&json, m->name, strnlen(m->name, sizeof m->name));
            if (isfinite(m->value))
                out_fmt(&json, ": %.17g", m->value);
            else
                out_bytes(&json, ": null", 6);
        }
        out_bytes(&json, "}", 1);
        if (out_finish(&json) < 0)
            return -1;
        out_copy_text(&o, json_buf, json.len);
    }
    out_bytes(&o, "\n", 1);
    return out_finish(&o);
}

/* {"key": "value", ...} for probes.labels; malloc'd, NULL when out of memory. */
static char *labels_json(const struct pk_kv *labels, size_t n)
{
    size_t size = 3;
    for (size_t i = 0; i < n; i++) /* every input byte escapes to at most 6 bytes */
        size += 6 * (strlen(labels[i].key ? labels[i].key : "") + strlen(labels[i].value ? labels[i].value : "")) +
                8;
    struct out o = {malloc(size), size, 0, 0};
    if (!o.buf)
        return NULL;
    out_bytes(&o, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *key = labels[i].key ? labels[i].key : "";
        const char *value = labels[i].value ? labels[i].value : "";
        if (i > 0)
            out_bytes(&o, ", ", 2);
        out_json_string(&o, key, strlen(key));
        out_bytes(&o, ": ", 2);
        out_json_string(&o, value, strlen(value));
    }
    out_bytes(&o, "}", 1);
    if (out_finish(&o) < 0) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* "{1,2,3}" for a bigint[] parameter; numbers only, never user text. malloc'd. */
static char *bigint_array(const int64_t *values, size_t n)
{
    size_t size = n * 21 + 3;
    struct out o = {malloc(size), size, 0, 0};
    if (!o.buf)
        return NULL;
    out_bytes(&o, "{", 1);
    for (size_t i = 0; i < n; i++)
        out_fmt(&o, i ? ",%" PRId64 : "%" PRId64, values[i]);
    out_bytes(&o, "}", 1);
    if (out_finish(&o) < 0) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* --------------------------------------------------------------- probes */

int store_upsert_probe(struct store *s, const struct store_probe_info *info, int64_t *probe_id,
                       uint64_t *committed_seq, char *err, size_t errlen)
{
    int rc = -1;
    PGresult *r = NULL;
    char what[192];
    char *labels = labels_json(info->labels, info->n_labels);
    snprintf(what, sizeof what, "probe \"%.128s\": register", info->name ? info->name : "");
    if (!labels) {
        set_err(err, errlen, "%s: out of memory", what);
        goto out;
    }
    const char *params[] = {info->name, info->region, labels, info->version};
    ensure_ready(s);
    r = run(s,
            "INSERT INTO probes (name, region, labels, version) VALUES ($1, $2, $3::jsonb, $4) "
            "ON CONFLICT (name) DO UPDATE SET region = EXCLUDED.region, labels = EXCLUDED.labels, "
            "version = EXCLUDED.version, last_seen = now() "
            "RETURNING id, committed_seq",
            4, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto out;
    *probe_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *committed_seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    rc = 0;
out:
    PQclear(r);
    free(labels);
    return rc;
}

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
    "slo_window_ms = CASE WHEN v.meta_known THEN v.slo_window_ms ELSE k.slo_window_ms END, updated_at = now() "
/* ... and only where that changes something (no needless row versions). */
#define VERSION_CHECK_DIFFERS                                                                                    \
    "(k.type, k.target, k.interval_ms) IS DISTINCT FROM (v.type, v.target, v.interval_ms) OR (v.meta_known AND " \
    "(k.service, k.budget_p50_ms, k.budget_p95_ms, k.budget_p99_ms, k.slo_target_percent, k.slo_window_ms) "    \
    "IS DISTINCT FROM (v.service, v.budget_p50_ms, v.budget_p95_ms, v.budget_p99_ms, v.slo_target_percent, "    \
    "v.slo_window_ms))"

static int by_check_name(const void *a, const void *b)
{
    const struct store_check_info *x = *(const struct store_check_info *const *)a;
    const struct store_check_info *y = *(const struct store_check_info *const *)b;
    return strcmp(x->name, y->name);
}

int store_set_probe_checks(struct store *s, int64_t probe_id, const struct store_check_info *checks, size_t n,
                           char *err, size_t errlen)
{
    int rc = -1;
    char what[224], probe[24], interval[24];
    const struct store_check_info **sorted = calloc(n ? n : 1, sizeof *sorted);
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    char *id_array = NULL;
    snprintf(probe, sizeof probe, "%" PRId64, probe_id);
    if (!sorted || !ids) {
        set_err(err, errlen, "probe id %s: setting checks: out of memory", probe);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!checks[i].name || !checks[i].type) {
            set_err(err, errlen, "probe id %s: check #%zu has no name or type", probe, i + 1);
            goto out;
        }
        sorted[i] = &checks[i];
    }
    /* The same lock order (by name) in every transaction that upserts several
     * checks: two probes getting overlapping lists cannot deadlock. */
    qsort(sorted, n, sizeof *sorted, by_check_name);
    ensure_ready(s);
    snprintf(what, sizeof what, "probe id %s: setting checks", probe);
    if (run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct store_check_info *c = sorted[i];
        snprintf(interval, sizeof interval, "%" PRId64, c->interval_ms);
        char p50[24], p95[24], p99[24], slo_target[40], slo_window[24];
        snprintf(p50, sizeof p50, "%" PRId64, c->budget_p50_ms);
        snprintf(p95, sizeof p95, "%" PRId64, c->budget_p95_ms);
        snprintf(p99, sizeof p99, "%" PRId64, c->budget_p99_ms);
        snprintf(slo_target, sizeof slo_target, "%.17g", c->slo_target_percent);
        snprintf(slo_window, sizeof slo_window, "%" PRId64, c->slo_window_ms);
        int has_slo = c->slo_target_percent > 0 && c->slo_target_percent < 100 && c->slo_window_ms > 0;
        const char *params[] = {c->name,
                                c->type,
                                c->target,
                                c->interval_ms > 0 ? interval : NULL,
                                c->service && c->service[0] ? c->service : NULL,
                                c->budget_p50_ms > 0 ? p50 : NULL,
                                c->budget_p95_ms > 0 ? p95 : NULL,
                                c->budget_p99_ms > 0 ? p99 : NULL,
                                has_slo ? slo_target : NULL,
                                has_slo ? slo_window : NULL};
        snprintf(what, sizeof what, "probe id %s: check \"%.128s\"", probe, c->name);
        PGresult *r = run(s,
                          "INSERT INTO checks (name, type, target, interval_ms, service, budget_p50_ms, "
                          "budget_p95_ms, budget_p99_ms, slo_target_percent, slo_window_ms) "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                          "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, target = EXCLUDED.target, "
                          "interval_ms = EXCLUDED.interval_ms, service = EXCLUDED.service, "
                          "budget_p50_ms = EXCLUDED.budget_p50_ms, budget_p95_ms = EXCLUDED.budget_p95_ms, "
                          "budget_p99_ms = EXCLUDED.budget_p99_ms, slo_target_percent = EXCLUDED.slo_target_percent, "
                          "slo_window_ms = EXCLUDED.slo_window_ms, updated_at = now() RETURNING id",
                          10, params, PGRES_TUPLES_OK, what, err, errlen);
        if (!r)
            goto out;
        ids[i] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    id_array = bigint_array(ids, n);
    if (!id_array) {
        set_err(err, errlen, "probe id %s: setting checks: out of memory", probe);
        goto out;
    }
    snprintf(what, sizeof what, "probe id %s: setting checks", probe);
    const char *params[] = {probe, id_array};
    /* The rows are locked already (upserted above, in name order). */
    if (run_cmd(s,
                "UPDATE checks k SET " VERSION_CHECK_SET "FROM check_version_checks v "
                "WHERE v.version = (SELECT max(version) FROM check_versions) AND v.name = k.name "
                "AND k.id = ANY($1::bigint[]) AND (" VERSION_CHECK_DIFFERS ")",
                1, params + 1, what, err, errlen) < 0 ||
        run_cmd(s, "DELETE FROM probe_checks WHERE probe_id = $1", 1, params, what, err, errlen) < 0 ||
        run_cmd(s,
                "INSERT INTO probe_checks (probe_id, check_id) SELECT $1, unnest($2::bigint[]) "
                "ON CONFLICT DO NOTHING",
                2, params, what, err, errlen) < 0 ||
        commit(s, what, err, errlen) < 0)
        goto out;
    /* Only committed ids may enter the cache. */
    for (size_t i = 0; i < n; i++)
        (void)cache_put(&s->checks, sorted[i]->name, ids[i]);
    rc = 0;
out:
    if (rc < 0)
        rollback(s);
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
    ensure_ready(s);
    PGresult *r = run(s, "UPDATE probes SET last_seen = now() WHERE id = $1", 1, params, PGRES_COMMAND_OK, what, err,
                      errlen);
    if (!r)
        return -1;
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found) {
        set_err(err, errlen, "probe id %s is not registered", probe);
        return -1;
    }
    return 0;
}

int store_probe_heartbeat(struct store *s, int64_t probe_id, const struct store_heartbeat *hb, char *err,
                          size_t errlen)
{
    char probe[24], pending[24], dropped[24], bytes[24], what[64];
    snprintf(probe, sizeof probe, "%" PRId64, probe_id);
    snprintf(pending, sizeof pending, "%" PRIu64, hb->pending > INT64_MAX ? (uint64_t)INT64_MAX : hb->pending);
    snprintf(dropped, sizeof dropped, "%" PRIu64, hb->dropped > INT64_MAX ? (uint64_t)INT64_MAX : hb->dropped);
    snprintf(bytes, sizeof bytes, "%" PRIu64, hb->spool_bytes > INT64_MAX ? (uint64_t)INT64_MAX : hb->spool_bytes);
    snprintf(what, sizeof what, "probe id %s: heartbeat", probe);
    const char *params[] = {probe, pending, dropped, bytes};
    ensure_ready(s);
    PGresult *r = run(s,
                      "UPDATE probes SET last_seen = now(), pending_results = $2::bigint, spool_bytes = $4::bigint, "
                      "dropped_results = dropped_results + CASE WHEN $3::bigint >= dropped_reported "
                      "THEN $3::bigint - dropped_reported ELSE $3::bigint END, dropped_reported = $3::bigint "
                      "WHERE id = $1",
                      4, params, PGRES_COMMAND_OK, what, err, errlen);
    if (!r)
        return -1;
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found) {
        set_err(err, errlen, "probe id %s is not registered", probe);
        return -1;
    }
    return 0;
}

int store_probe_status(struct store *s, struct store_probe_row **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    ensure_ready(s);
    PGresult *r = run(s,
                      "SELECT name, region, (extract(epoch FROM last_seen) * 1000000)::bigint, pending_results, "
                      "dropped_results, spool_bytes, committed_seq FROM probes ORDER BY name COLLATE \"C\"",
                      0, NULL, PGRES_TUPLES_OK, "status: reading probes", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_probe_row *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        set_err(err, errlen, "status: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int t = (int)i;
        pk_strlcpy(out[i].name, PQgetvalue(r, t, 0), sizeof out[i].name);
        pk_strlcpy(out[i].region, PQgetvalue(r, t, 1), sizeof out[i].region);
        out[i].last_seen_us = strtoll(PQgetvalue(r, t, 2), NULL, 10);
        out[i].pending = strtoull(PQgetvalue(r, t, 3), NULL, 10);
        out[i].dropped = strtoull(PQgetvalue(r, t, 4), NULL, 10);
        out[i].spool_bytes = strtoull(PQgetvalue(r, t, 5), NULL, 10);
        out[i].committed_seq = strtoull(PQgetvalue(r, t, 6), NULL, 10);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return 0;
}

int store_check_meta(struct store *s, struct store_check_meta **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    ensure_ready(s);
    PGresult *r = run(s,
                      "SELECT name, type, coalesce(service, ''), coalesce(interval_ms, 0), coalesce(budget_p50_ms, 0), "
                      "coalesce(budget_p95_ms, 0), coalesce(budget_p99_ms, 0), coalesce(slo_target_percent, 0), "
                      "coalesce(slo_window_ms, 0) FROM checks ORDER BY name COLLATE \"C\"",
                      0, NULL, PGRES_TUPLES_OK, "query: reading checks", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_check_meta *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        set_err(err, errlen, "query: reading checks: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int t = (int)i;
        pk_strlcpy(out[i].name, PQgetvalue(r, t, 0), sizeof out[i].name);
        pk_strlcpy(out[i].type, PQgetvalue(r, t, 1), sizeof out[i].type);
        pk_strlcpy(out[i].service, PQgetvalue(r, t, 2), sizeof out[i].service);
        out[i].interval_ms = strtoll(PQgetvalue(r, t, 3), NULL, 10);
        out[i].budget_p50_ms = strtoll(PQgetvalue(r, t, 4), NULL, 10);
        out[i].budget_p95_ms = strtoll(PQgetvalue(r, t, 5), NULL, 10);
        out[i].budget_p99_ms = strtoll(PQgetvalue(r, t, 6), NULL, 10);
        out[i].slo_target_percent = strtod(PQgetvalue(r, t, 7), NULL);
        out[i].slo_window_ms = strtoll(PQgetvalue(r, t, 8), NULL, 10);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return 0;
}

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
    if (cache_get(&s->checks, name, id))
        return 0;
    const char *params[] = {name, type};
    snprintf(what, sizeof what, "probe id %" PRId64 ": check \"%s\"", probe_id, name);
    PGresult *r = run(s,
                      "INSERT INTO checks (name, type) VALUES ($1, $2) "
                      "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type RETURNING id",
                      2, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (cache_put(&s->checks, name, *id) < 0) {
        set_err(err, errlen, "%s: out of memory", what);
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

/* PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

static int64_t bin_i64(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static int64_t bin_ts(const PGresult *r, int row, int col) { return bin_i64(r, row, col) + PG_EPOCH_OFFSET_US; }

struct copy_state {
    struct store *s;
    size_t len;    /* bytes waiting in s->copy_buf */
    int started;   /* COPY ... FROM STDIN is in progress */
};

static int copy_flush(struct copy_state *c, char *err, size_t errlen)
{
    if (c->len > 0 && PQputCopyData(c->s->conn, c->s->copy_buf, (int)c->len) != 1) {
        pg_err(c->s, NULL, "COPY results", err, errlen);
        return -1;
    }
    c->len = 0;
    return 0;
}

static int copy_row(struct copy_state *c, int64_t probe_id, int64_t check_id, const struct pk_result *r, char *err,
                    size_t errlen)
{
    if (!c->started) {
        PGresult *res = PQexec(c->s->conn, "COPY results (" STORE_RESULT_COLUMNS ") FROM STDIN");
        int ok = PQresultStatus(res) == PGRES_COPY_IN;
        if (!ok)
            pg_err(c->s, res, "COPY results", err, errlen);
        PQclear(res);
        if (!ok)
            return -1;
        c->started = 1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        long n = store_encode_result_row(c->s->copy_buf + c->len, COPY_BUF_SIZE - c->len, probe_id, check_id, r);
        if (n >= 0) {
            c->len += (size_t)n;
            return c->len >= COPY_CHUNK ? copy_flush(c, err, errlen) : 0;
        }
        if (c->len == 0)
            break;
        if (copy_flush(c, err, errlen) < 0)
            return -1;
    }
    set_err(err, errlen, "probe id %" PRId64 " seq %" PRIu64 ": result cannot be encoded (started_at %" PRId64 ")",
            probe_id, r->seq, r->started_at_us);
    return -1;
}

static int copy_finish(struct copy_state *c, char *err, size_t errlen)
{
    if (!c->started)
        return 0;
    if (copy_flush(c, err, errlen) < 0)
        return -1;
    c->started = 0;
    if (PQputCopyEnd(c->s->conn, NULL) != 1) {
        pg_err(c->s, NULL, "COPY results", err, errlen);
        return -1;
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c->s->conn))) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            pg_err(c->s, r, "COPY results", err, errlen);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

static void copy_abort(struct copy_state *c)
{
    if (!c->started)
        return;
    c->started = 0;
    if (PQputCopyEnd(c->s->conn, "picket: batch abandoned") == 1) {
        PGresult *r;
        while ((r = PQgetResult(c->s->conn)))
            PQclear(r);
    }
}

static const char hex_digits[] = "0123456789abcdef";

/* Appends n bytes to the COPY stream, flushing the buffer as it fills. */
static int copy_put(struct copy_state *c, const char *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        if (c->len == COPY_BUF_SIZE && copy_flush(c, err, errlen) < 0)
            return -1;
        size_t k = COPY_BUF_SIZE - c->len < n ? COPY_BUF_SIZE - c->len : n;
        memcpy(c->s->copy_buf + c->len, p, k);
        c->len += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* Appends bytes as lowercase hex (a bytea's \\x form in COPY text). */
static int copy_put_hex(struct copy_state *c, const uint8_t *b, size_t n, char *err, size_t errlen)
{
    char hex[512];
    for (size_t k = 0; k < n;) {
        size_t m = 0;
        for (; k < n && m + 2 <= sizeof hex; k++) {
            hex[m++] = hex_digits[b[k] >> 4];
            hex[m++] = hex_digits[b[k] & 15];
        }
        if (copy_put(c, hex, m, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Packed partial rollups (collector/rollup.h) of the results this transaction
 * stored, one row per (probe, minute), COPYed into rollup_partial inside the
 * same transaction. A row may be larger than the COPY buffer: it is streamed. */
static int copy_packs(struct store *s, char *err, size_t errlen)
{
    rollup_packs_reset(&s->rollup_packs);
    if (rollup_pack_rows(&s->rollup_rows, &s->rollup_packs) < 0) {
        set_err(err, errlen, "packing %zu partial rollups: out of memory", s->rollup_rows.n);
        return -1;
    }
    PGresult *res = PQexec(s->conn, "COPY rollup_partial (probe_id, minute, entries) FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        pg_err(s, res, "COPY rollup_partial", err, errlen);
    PQclear(res);
    if (!ok)
        return -1;
    struct copy_state copy = {s, 0, 1};
    for (size_t i = 0; i < s->rollup_packs.n; i++) {
        const struct rollup_pack *pk = &s->rollup_packs.v[i];
        const uint8_t *b = s->rollup_packs.bytes + pk->off;
        char head[96], minute[64];
        if (format_timestamp(minute, sizeof minute, pk->minute_us) < 0) {
            set_err(err, errlen, "probe id %" PRId64 ": rollup minute out of range", pk->probe_id);
            goto fail;
        }
        int hl = snprintf(head, sizeof head, "%" PRId64 "\t%s\t\\\\x", pk->probe_id, minute);
        if (copy_put(&copy, head, (size_t)hl, err, errlen) < 0)
            goto fail;
        if (copy_put_hex(&copy, b, pk->len, err, errlen) < 0 || copy_put(&copy, "\n", 1, err, errlen) < 0)
            goto fail;
        if (copy.len >= COPY_CHUNK && copy_flush(&copy, err, errlen) < 0)
            goto fail;
    }
    return copy_finish(&copy, err, errlen);
fail:
    copy_abort(&copy);
    return -1;
}

static int write_partials(struct store *s, size_t n_in, char *err, size_t errlen)
{
    rollup_rows_reset(&s->rollup_rows);
    if (rollup_build_minutes(s->rollup_in, n_in, &s->rollup_rows) < 0) {
        set_err(err, errlen, "rollups of %zu results: out of memory", n_in);
        return -1;
    }
    return copy_packs(s, err, errlen);
}

/* Migration 011: partial rows of the old shape (one per check, probe and
 * minute, left in rollup_partial_v1) become packed rows; then the old table goes.
 * Runs in the caller's transaction. */
static int pack_old_partials(struct store *s, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(s->conn,
                               "SELECT check_id, probe_id, minute, ok, degraded, failed, unknown, hist "
                               "FROM rollup_partial_v1",
                               0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_err(s, r, "migration 011: reading rollup_partial_v1", err, errlen);
        PQclear(r);
        return -1;
    }
    int rc = 0;
    rollup_rows_reset(&s->rollup_rows);
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const struct rollup_counts c = {(uint64_t)bin_i64(r, i, 3), (uint64_t)bin_i64(r, i, 4),
                                        (uint64_t)bin_i64(r, i, 5), (uint64_t)bin_i64(r, i, 6)};
        rc = rollup_rows_append(&s->rollup_rows, bin_i64(r, i, 0), bin_i64(r, i, 1), bin_ts(r, i, 2), &c,
                                (const uint8_t *)PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7));
    }
    PQclear(r);
    if (rc < 0) {
        set_err(err, errlen, "migration 011: out of memory");
        return -1;
    }
    if (s->rollup_rows.n > 0 && copy_packs(s, err, errlen) < 0)
        return -1;
    return run_cmd(s, "DROP TABLE rollup_partial_v1", 0, NULL, "migration 011", err, errlen);
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
            set_err(err, errlen, "storing %zu results: out of memory", total);
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
        set_err(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    ensure_ready(s);
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
    probe_array = bigint_array(probe_ids, n_probes);
    if (!probe_array) {
        set_err(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    snprintf(what, sizeof what, "probe id %" PRId64 "%s: storing results", probe_ids[0],
             n_probes > 1 ? " and others" : "");
    if (run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        goto out;
    const char *lock_params[] = {probe_array};
    r = run(s, "SELECT id, committed_seq FROM probes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", 1,
            lock_params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto out;
    for (size_t p = 0, row = 0; p < n_probes; p++) {
        if (row < (size_t)PQntuples(r) && strtoll(PQgetvalue(r, (int)row, 0), NULL, 10) == probe_ids[p]) {
            marks[p] = strtoll(PQgetvalue(r, (int)row, 1), NULL, 10);
            row++;
        } else {
            set_err(err, errlen, "probe id %" PRId64 " is not registered", probe_ids[p]);
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
    if (copy_finish(&copy, err, errlen) < 0)
        goto out;
    if (n_rollup_in > 0 && write_partials(s, n_rollup_in, err, errlen) < 0)
        goto out;

    mark_array = bigint_array(marks, n_probes);
    if (!mark_array) {
        set_err(err, errlen, "storing %zu results: out of memory", total);
        goto out;
    }
    const char *mark_params[] = {probe_array, mark_array};
    if (run_cmd(s,
                "UPDATE probes AS p SET committed_seq = v.seq, last_seen = now() "
                "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, seq) WHERE p.id = v.id",
                2, mark_params, what, err, errlen) < 0 ||
        commit(s, what, err, errlen) < 0)
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
        copy_abort(&copy);
        rollback(s);
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
    ensure_ready(s);
    /* Both queries go check by check (LATERAL) so each is a range of the
     * (check_id, started_at) index, never a scan of results. "C" ordering makes
     * them list checks alike. */
    checks = run(s,
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
    regions = run(s,
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
        set_err(err, errlen, "check \"%.128s\" is not known", check_name);
        goto out;
    }
    out_rows = calloc(count ? count : 1, sizeof *out_rows);
    if (!out_rows) {
        set_err(err, errlen, "status: out of memory");
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

/* ---------------------------------------------------------- credentials */

static int is_hash_hex(const char *h)
{
    if (!h || strlen(h) != PK_TOKEN_HASH_HEX)
        return 0;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return 0;
    return 1;
}

int store_credential_add(struct store *s, enum pk_role role, const char *name, const char *region,
                         const char *token_hash_hex, int64_t *id, char *err, size_t errlen)
{
    if (role != PK_ROLE_PROBE && role != PK_ROLE_READ && role != PK_ROLE_WRITE) {
        set_err(err, errlen, "credential role must be probe, read or write");
        return -1;
    }
    if (!name || !name[0] || strlen(name) > 127) {
        set_err(err, errlen, "credential name must be 1..127 bytes");
        return -1;
    }
    if (!is_hash_hex(token_hash_hex)) {
        set_err(err, errlen, "credential: malformed token hash");
        return -1;
    }
    char what[200];
    snprintf(what, sizeof what, "adding a %s credential for '%.127s'", pk_role_name(role), name);
    ensure_ready(s);
    if (run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        return -1;
    if (role == PK_ROLE_PROBE) {
        const char *params[] = {name, region && region[0] ? region : "default"};
        if (run_cmd(s, "INSERT INTO probes (name, region) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", 2, params,
                    what, err, errlen) < 0)
            goto fail;
    }
    const char *params[] = {pk_role_name(role), name, role == PK_ROLE_PROBE ? name : NULL, token_hash_hex};
    PGresult *r = run(s,
                      "INSERT INTO credentials (role, name, probe_name, token_sha256) "
                      "VALUES ($1, $2, $3, decode($4, 'hex')) RETURNING id",
                      4, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto fail;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return commit(s, what, err, errlen);
fail:
    rollback(s);
    return -1;
}

int store_credential_lookup(struct store *s, const char *token_hash_hex, struct pk_identity *who, int64_t *id,
                            char *err, size_t errlen)
{
    if (!is_hash_hex(token_hash_hex))
        return 0;
    const char *params[] = {token_hash_hex};
    ensure_ready(s);
    PGresult *r = run(s,
                      "SELECT id, role, name, encode(token_sha256, 'hex') FROM credentials "
                      "WHERE token_sha256 = decode($1, 'hex') AND revoked_at IS NULL",
                      1, params, PGRES_TUPLES_OK, "looking up a token", err, errlen);
    if (!r)
        return -1;
    int found = 0;
    /* The index found the row by hash; compare again without early exit anyway, so
     * this code never becomes a timing oracle if the lookup ever changes. */
    if (PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 3)) == PK_TOKEN_HASH_HEX &&
        pk_ct_equal(PQgetvalue(r, 0, 3), token_hash_hex, PK_TOKEN_HASH_HEX)) {
        memset(who, 0, sizeof *who);
        who->role = pk_role_parse(PQgetvalue(r, 0, 1));
        pk_strlcpy(who->name, PQgetvalue(r, 0, 2), sizeof who->name);
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        found = who->role != PK_ROLE_NONE;
    }
    PQclear(r);
    return found;
}

int store_credential_revoke(struct store *s, int64_t id, enum pk_role role, const char *name, long *revoked,
                            char *err, size_t errlen)
{
    PGresult *r;
    ensure_ready(s);
    if (id > 0) {
        char idbuf[24];
        snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
        const char *params[] = {idbuf};
        r = run(s, "UPDATE credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", 1, params,
                PGRES_COMMAND_OK, "revoking a credential", err, errlen);
    } else {
        const char *params[] = {pk_role_name(role), name ? name : ""};
        r = run(s, "UPDATE credentials SET revoked_at = now() WHERE role = $1 AND name = $2 AND revoked_at IS NULL",
                2, params, PGRES_COMMAND_OK, "revoking credentials", err, errlen);
    }
    if (!r)
        return -1;
    *revoked = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* ------------------------------------------------------------ central assignment */

/* ["a", "b"] for a text[] parameter (unnested in SQL); malloc'd, NULL when out of memory. */
static char *strings_json(char *const *values, size_t n)
{
    size_t size = 3;
    for (size_t i = 0; i < n; i++)
        size += 6 * strlen(values[i]) + 4;
    struct out o = {malloc(size), size, 0, 0};
    if (!o.buf)
        return NULL;
    out_bytes(&o, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            out_bytes(&o, ",", 1);
        out_json_string(&o, values[i], strlen(values[i]));
    }
    out_bytes(&o, "]", 1);
    if (out_finish(&o) < 0) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* The probe's region and labels decide; the same rule as pk_check_selects. */
#define SELECTS_PROBE "(cardinality(c.regions) = 0 OR p.region = ANY (c.regions)) AND p.labels @> c.labels"

int store_assign_current(struct store *s, int64_t *version, char *err, size_t errlen)
{
    ensure_ready(s);
    PGresult *r = run(s, "SELECT coalesce(max(version), 0) FROM check_versions", 0, NULL, PGRES_TUPLES_OK,
                      "reading the current checks version", err, errlen);
    if (!r)
        return -1;
    *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int store_probe_name(struct store *s, int64_t probe_id, char *name, size_t namelen, char *err, size_t errlen)
{
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, probe_id);
    const char *params[] = {idbuf};
    ensure_ready(s);
    PGresult *r = run(s, "SELECT name FROM probes WHERE id = $1", 1, params, PGRES_TUPLES_OK, "looking up a probe",
                      err, errlen);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        pk_strlcpy(name, PQgetvalue(r, 0, 0), namelen);
    PQclear(r);
    return found;
}

int store_assign_apply(struct store *s, const struct store_assign_file *files, size_t n_files,
                       const struct store_assign_check *checks, size_t n_checks, int commit_it, int64_t *version,
                       int *created, struct store_assign_change **changes, size_t *n_changes, char *err,
                       size_t errlen)
{
    const char *what = commit_it ? "apply checks" : "diff checks";
    char cur_text[24], index[24], position[24], interval[24], next_text[24], count[24];
    int rc = -1;
    int64_t cur = 0;
    PGresult *r = NULL;
    *created = 0;
    *changes = NULL;
    *n_changes = 0;
    ensure_ready(s);
    if (run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        goto out;
    /* One apply at a time: each computes its diff against the version it replaces. */
    if (!(r = run(s, "SELECT pg_advisory_xact_lock(5003)", 0, NULL, PGRES_TUPLES_OK, what, err, errlen)))
        goto out;
    PQclear(r);
    if (!(r = run(s, "SELECT coalesce(max(version), 0) FROM check_versions", 0, NULL, PGRES_TUPLES_OK, what, err,
                  errlen)))
        goto out;
    cur = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = NULL;
    if (run_cmd(s,
                "CREATE TEMP TABLE new_files (file_index int, origin text, vars text, secrets text) ON COMMIT DROP",
                0, NULL, what, err, errlen) < 0 ||
        run_cmd(s, "CREATE TEMP TABLE new_checks (LIKE check_version_checks) ON COMMIT DROP", 0, NULL, what, err,
                errlen) < 0)
        goto out;
    for (size_t i = 0; i < n_files; i++) {
        snprintf(index, sizeof index, "%zu", i);
        const char *params[] = {index, files[i].origin, files[i].vars, files[i].secrets};
        if (run_cmd(s, "INSERT INTO new_files VALUES ($1, $2, $3, $4)", 4, params, what, err, errlen) < 0)
            goto out;
    }
    for (size_t i = 0; i < n_checks; i++) {
        const struct store_assign_check *c = &checks[i];
        char *keys = labels_json(c->keys, c->n_keys), *labels = labels_json(c->labels, c->n_labels),
             *regions = strings_json(c->regions, c->n_regions);
        snprintf(index, sizeof index, "%zu", c->file_index);
        snprintf(position, sizeof position, "%zu", i);
        snprintf(interval, sizeof interval, "%" PRId64, c->interval_ms);
        char p50[24], p95[24], p99[24], slo_target[40], slo_window[24];
        snprintf(p50, sizeof p50, "%" PRId64, c->budget_p50_ms);
        snprintf(p95, sizeof p95, "%" PRId64, c->budget_p95_ms);
        snprintf(p99, sizeof p99, "%" PRId64, c->budget_p99_ms);
        snprintf(slo_target, sizeof slo_target, "%.17g", c->slo_target_percent);
        snprintf(slo_window, sizeof slo_window, "%" PRId64, c->slo_window_ms);
        /* The same NULL rules as Register (store_set_probe_checks). */
        int has_slo = c->slo_target_percent > 0 && c->slo_target_percent < 100 && c->slo_window_ms > 0;
        int ok = keys && labels && regions;
        if (!ok)
            set_err(err, errlen, "%s: out of memory", what);
        const char *params[] = {c->name,
                                index,
                                position,
                                c->definition,
                                keys,
                                regions,
                                labels,
                                c->type,
                                c->target,
                                interval,
                                c->service && c->service[0] ? c->service : NULL,
                                c->budget_p50_ms > 0 ? p50 : NULL,
                                c->budget_p95_ms > 0 ? p95 : NULL,
                                c->budget_p99_ms > 0 ? p99 : NULL,
                                has_slo ? slo_target : NULL,
                                has_slo ? slo_window : NULL};
        if (ok)
            ok = run_cmd(s,
                         "INSERT INTO new_checks (version, name, file_index, position, definition, keys, regions, "
                         "labels, type, target, interval_ms, meta_known, service, budget_p50_ms, budget_p95_ms, "
                         "budget_p99_ms, slo_target_percent, slo_window_ms) "
                         "SELECT 0, $1, $2::int, $3::int, $4, $5::jsonb || jsonb_strip_nulls(jsonb_build_object("
                         "'vars', f.vars, 'secrets', f.secrets)), ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), "
                         "$7::jsonb, $8, $9, $10::bigint, true, $11, $12::bigint, $13::bigint, $14::bigint, "
                         "$15::double precision, $16::bigint FROM new_files f WHERE f.file_index = $2::int",
                         16, params, what, err, errlen) == 0;
        free(keys);
        free(labels);
        free(regions);
        if (!ok)
            goto out;
    }
    snprintf(cur_text, sizeof cur_text, "%" PRId64, cur);
    const char *cur_param[] = {cur_text};
    if (!(r = run(s,
                  "SELECT coalesce(n.name, o.name), "
                  "CASE WHEN o.name IS NULL THEN 'added' WHEN n.name IS NULL THEN 'removed' ELSE 'changed' END, "
                  "CASE WHEN n.name IS NULL OR o.name IS NULL THEN '' ELSE coalesce((SELECT string_agg(d.key, ',' "
                  "ORDER BY d.key) FROM (SELECT coalesce(a.key, b.key) AS key FROM jsonb_each(n.keys) a FULL JOIN "
                  "jsonb_each(o.keys) b ON a.key = b.key WHERE a.value IS DISTINCT FROM b.value) d), '') END "
                  "FROM new_checks n FULL JOIN (SELECT * FROM check_version_checks WHERE version = $1) o "
                  "ON n.name = o.name "
                  "WHERE n.name IS NULL OR o.name IS NULL OR n.keys <> o.keys OR n.definition <> o.definition "
                  "ORDER BY 1",
                  1, cur_param, PGRES_TUPLES_OK, what, err, errlen)))
        goto out;
    size_t rows = (size_t)PQntuples(r);
    if (!(*changes = calloc(rows ? rows : 1, sizeof **changes))) {
        set_err(err, errlen, "%s: out of memory", what);
        goto out;
    }
    for (size_t i = 0; i < rows; i++) {
        pk_strlcpy((*changes)[i].name, PQgetvalue(r, (int)i, 0), sizeof (*changes)[i].name);
        pk_strlcpy((*changes)[i].change, PQgetvalue(r, (int)i, 1), sizeof (*changes)[i].change);
        pk_strlcpy((*changes)[i].keys, PQgetvalue(r, (int)i, 2), sizeof (*changes)[i].keys);
    }
    *n_changes = rows;
    PQclear(r);
    r = NULL;
    *version = cur;
    if (!commit_it || (rows == 0 && cur == 0)) {
        /* diff, or an apply of nothing over nothing: no new version */
        rollback(s);
        rc = 0;
        goto out;
    }
    if (rows > 0) {
        snprintf(next_text, sizeof next_text, "%" PRId64, cur + 1);
        snprintf(count, sizeof count, "%zu", n_checks);
        const char *ins[] = {next_text, count};
        if (run_cmd(s, "INSERT INTO check_versions (version, n_checks) VALUES ($1, $2)", 2, ins, what, err,
                    errlen) < 0 ||
            run_cmd(s,
                    "INSERT INTO check_version_files (version, file_index, origin, vars, secrets) "
                    "SELECT $1, file_index, origin, vars, secrets FROM new_files",
                    1, ins, what, err, errlen) < 0 ||
            run_cmd(s,
                    "INSERT INTO check_version_checks (version, name, file_index, position, definition, keys, "
                    "regions, labels, type, target, interval_ms, meta_known, service, budget_p50_ms, "
                    "budget_p95_ms, budget_p99_ms, slo_target_percent, slo_window_ms) SELECT $1, name, file_index, "
                    "position, definition, keys, regions, labels, type, target, interval_ms, meta_known, service, "
                    "budget_p50_ms, budget_p95_ms, budget_p99_ms, slo_target_percent, slo_window_ms FROM new_checks",
                    1, ins, what, err, errlen) < 0)
            goto out;
        *version = cur + 1;
        *created = 1;
    } else if (run_cmd(s,
                       /* The same files again: a version stored before migration 008 learns
                        * its metadata from them (its definitions are the same). */
                       "UPDATE check_version_checks v SET meta_known = true, service = n.service, "
                       "budget_p50_ms = n.budget_p50_ms, budget_p95_ms = n.budget_p95_ms, "
                       "budget_p99_ms = n.budget_p99_ms, slo_target_percent = n.slo_target_percent, "
                       "slo_window_ms = n.slo_window_ms FROM new_checks n "
                       "WHERE v.version = $1 AND v.name = n.name AND NOT v.meta_known",
                       1, cur_param, what, err, errlen) < 0) {
        goto out;
    }
    /* The checks rows follow the version now, not when a probe next registers.
     * Locked in name order first, as store_set_probe_checks does. */
    snprintf(next_text, sizeof next_text, "%" PRId64, *version);
    const char *ver_param[] = {next_text};
    if (!(r = run(s,
                  "SELECT k.id FROM checks k JOIN check_version_checks v ON v.name = k.name AND v.version = $1 "
                  "ORDER BY k.name COLLATE \"C\" FOR UPDATE OF k",
                  1, ver_param, PGRES_TUPLES_OK, what, err, errlen)))
        goto out;
    PQclear(r);
    r = NULL;
    if (run_cmd(s,
                "UPDATE checks k SET " VERSION_CHECK_SET "FROM check_version_checks v "
                "WHERE v.version = $1 AND v.name = k.name AND (" VERSION_CHECK_DIFFERS ")",
                1, ver_param, what, err, errlen) < 0 ||
        commit(s, what, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    PQclear(r);
    if (rc < 0) {
        rollback(s);
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
    ensure_ready(s);
    PGresult *r = run(s,
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
        size_t size = 64 + (size_t)PQgetlength(r, i, 2) + (size_t)PQgetlength(r, i, 3);
        while (end < rows && strcmp(PQgetvalue(r, end, 0), PQgetvalue(r, i, 0)) == 0)
            size += (size_t)PQgetlength(r, end++, 4) + 4;
        struct out o = {malloc(size), size, 0, 0};
        size_t origin_len = (size_t)PQgetlength(r, i, 1) + 48;
        struct store_assign_doc *d = &out[n_out++];
        d->yaml = o.buf;
        d->origin = malloc(origin_len);
        if (!o.buf || !d->origin)
            goto oom;
        snprintf(d->origin, origin_len, "%s (checks version %s)", PQgetvalue(r, i, 1), v);
        if (!PQgetisnull(r, i, 2))
            out_fmt(&o, "vars: %s\n", PQgetvalue(r, i, 2));
        if (!PQgetisnull(r, i, 3))
            out_fmt(&o, "secrets: %s\n", PQgetvalue(r, i, 3));
        out_bytes(&o, "checks:\n", 8);
        for (; i < end; i++) {
            out_bytes(&o, "- ", 2);
            out_bytes(&o, PQgetvalue(r, i, 4), (size_t)PQgetlength(r, i, 4));
            out_bytes(&o, "\n", 1);
        }
        if (out_finish(&o) < 0)
            goto oom;
    }
    *docs = out;
    *n = n_out;
    out = NULL;
    rc = 0;
    goto done;
oom:
    set_err(err, errlen, "%s: out of memory", what);
done:
    store_assign_documents_free(out, n_out);
    PQclear(r);
    return rc;
}

int store_assign_ack(struct store *s, int64_t probe_id, int64_t version, int accepted, const char *error, char *err,
                     size_t errlen)
{
    char v[24], p[24], what[96];
    snprintf(v, sizeof v, "%" PRId64, version);
    snprintf(p, sizeof p, "%" PRId64, probe_id);
    snprintf(what, sizeof what, "probe id %s: acknowledging checks version %s", p, v);
    ensure_ready(s);
    if (!accepted) {
        const char *params[] = {p, error ? error : ""};
        return run_cmd(s, "UPDATE probes SET checks_error = $2 WHERE id = $1", 2, params, what, err, errlen);
    }
    const char *params[] = {p, v};
    /* An empty selection leaves the probe on its local files, whose Register list stands. */
    if (run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0 ||
        run_cmd(s, "UPDATE probes SET checks_version = $2, checks_error = NULL WHERE id = $1", 2, params, what, err,
                errlen) < 0 ||
        run_cmd(s,
                /* A version stored before migration 008 (meta_known false) keeps
                 * the registered metadata. Name order, as everywhere checks are locked. */
                "INSERT INTO checks (name, type, target, interval_ms, service, budget_p50_ms, budget_p95_ms, "
                "budget_p99_ms, slo_target_percent, slo_window_ms) "
                "SELECT c.name, c.type, c.target, c.interval_ms, "
                "CASE WHEN c.meta_known THEN c.service ELSE k.service END, "
                "CASE WHEN c.meta_known THEN c.budget_p50_ms ELSE k.budget_p50_ms END, "
                "CASE WHEN c.meta_known THEN c.budget_p95_ms ELSE k.budget_p95_ms END, "
                "CASE WHEN c.meta_known THEN c.budget_p99_ms ELSE k.budget_p99_ms END, "
                "CASE WHEN c.meta_known THEN c.slo_target_percent ELSE k.slo_target_percent END, "
                "CASE WHEN c.meta_known THEN c.slo_window_ms ELSE k.slo_window_ms END "
                "FROM check_version_checks c JOIN probes p ON p.id = $1 LEFT JOIN checks k ON k.name = c.name "
                "WHERE c.version = $2 AND " SELECTS_PROBE " ORDER BY c.name COLLATE \"C\" "
                "ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, target = EXCLUDED.target, "
                "interval_ms = EXCLUDED.interval_ms, service = EXCLUDED.service, "
                "budget_p50_ms = EXCLUDED.budget_p50_ms, budget_p95_ms = EXCLUDED.budget_p95_ms, "
                "budget_p99_ms = EXCLUDED.budget_p99_ms, slo_target_percent = EXCLUDED.slo_target_percent, "
                "slo_window_ms = EXCLUDED.slo_window_ms, updated_at = now()",
                2, params, what, err, errlen) < 0 ||
        run_cmd(s,
                "DELETE FROM probe_checks WHERE probe_id = $1 AND EXISTS (SELECT 1 FROM check_version_checks c "
                "JOIN probes p ON p.id = $1 WHERE c.version = $2 AND " SELECTS_PROBE ")",
                2, params, what, err, errlen) < 0 ||
        run_cmd(s,
                "INSERT INTO probe_checks (probe_id, check_id) SELECT $1, k.id FROM check_version_checks c "
                "JOIN probes p ON p.id = $1 JOIN checks k ON k.name = c.name WHERE c.version = $2 AND " SELECTS_PROBE
                " ON CONFLICT DO NOTHING",
                2, params, what, err, errlen) < 0 ||
        commit(s, what, err, errlen) < 0) {
        rollback(s);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------ partitions and rollups */

void store_set_rollups(struct store *s, int on) { s->rollups_off = !on; }


int store_make_partitions(struct store *s, int64_t from_us, int64_t to_us, int *created, char *err, size_t errlen)
{
    char from[64], to[64];
    *created = 0;
    if (format_timestamp(from, sizeof from, rollup_floor(from_us, ROLLUP_DAY_US)) < 0 ||
        format_timestamp(to, sizeof to, to_us) < 0) {
        set_err(err, errlen, "making partitions: time out of range");
        return -1;
    }
    const char *params[] = {from, to};
    ensure_ready(s);
    PGresult *r = run(s,
                      "SELECT count(*) FILTER (WHERE picket_make_partition(d::date)) FROM generate_series("
                      "($1::timestamptz AT TIME ZONE 'UTC')::date, ($2::timestamptz AT TIME ZONE 'UTC')::date, "
                      "interval '1 day') d WHERE d < $2::timestamptz AT TIME ZONE 'UTC'",
                      2, params, PGRES_TUPLES_OK, "making partitions of results", err, errlen);
    if (!r)
        return -1;
    *created = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int store_maintain_partitions(struct store *s, int64_t now_us, int ahead_days, int retention_days, int *created,
                              int *dropped, char *err, size_t errlen)
{
    char cutoff[64], days[16];
    *created = *dropped = 0;
    if (store_make_partitions(s, now_us - ROLLUP_DAY_US, now_us + (int64_t)(ahead_days + 1) * ROLLUP_DAY_US,
                              created, err, errlen) < 0)
        return -1;
    int64_t cutoff_us = rollup_floor(now_us, ROLLUP_DAY_US) - (int64_t)retention_days * ROLLUP_DAY_US;
    if (format_timestamp(cutoff, sizeof cutoff, cutoff_us) < 0) {
        set_err(err, errlen, "partition maintenance: retention out of range");
        return -1;
    }
    snprintf(days, sizeof days, "%d", retention_days);
    const char *params[] = {cutoff};
    /* Days that reached results_default (late or early results) get their own
     * partition, unless retention is about to drop them anyway. */
    PGresult *r = run(s,
                      "SELECT count(*) FILTER (WHERE picket_make_partition(d)) FROM (SELECT DISTINCT "
                      "(started_at AT TIME ZONE 'UTC')::date AS d FROM results_default "
                      "WHERE started_at >= $1::timestamptz) days",
                      1, params, PGRES_TUPLES_OK, "making partitions for results_default's days", err, errlen);
    if (!r)
        return -1;
    *created += atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = run(s, "SELECT picket_drop_partitions($1::timestamptz)", 1, params, PGRES_TUPLES_OK,
            "dropping partitions past retention", err, errlen);
    if (!r)
        return -1;
    *dropped = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return run_cmd(s, "DELETE FROM rollup_minute WHERE minute < $1::timestamptz", 1, params,
                   "deleting minute rollups past retention", err, errlen);
}

/* "{ts,ts,...}" of timestamptz literals (digits and punctuation only). malloc'd. */
static char *timestamp_array(const int64_t *values, size_t n, size_t stride)
{
    size_t size = n * 34 + 3;
    struct out o = {malloc(size), size, 0, 0};
    if (!o.buf)
        return NULL;
    out_bytes(&o, "{", 1);
    for (size_t i = 0; i < n; i++) {
        char ts[64];
        const int64_t *v = (const int64_t *)((const char *)values + i * stride);
        if (format_timestamp(ts, sizeof ts, *v) < 0)
            o.full = 1;
        out_bytes(&o, i ? ",\"" : "\"", i ? 2 : 1);
        out_bytes(&o, ts, 29);
        out_bytes(&o, "\"", 1);
    }
    out_bytes(&o, "}", 1);
    if (out_finish(&o) < 0) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* Rollup levels the compaction writes. LEVEL_CHECK_DAY is rollup_day merged over
 * probes (migration 010): keys (check, 0, day) and no probe_id column. */
enum { LEVEL_MINUTE, LEVEL_HOUR, LEVEL_DAY, LEVEL_CHECK_DAY, N_LEVELS };
static const char *const level_table[N_LEVELS] = {"rollup_minute", "rollup_hour", "rollup_day", "rollup_check_day"};
static const char *const level_column[N_LEVELS] = {"minute", "hour", "day", "day"};
static const int64_t level_width[N_LEVELS] = {ROLLUP_MINUTE_US, ROLLUP_HOUR_US, ROLLUP_DAY_US, ROLLUP_DAY_US};

/* One row of a level as the compaction writes it. The histogram stays encoded:
 * a minute key with a single partial row passes its bytes through untouched,
 * which at one result per check and probe per minute is nearly every key. */
struct lrow {
    int64_t c, p, t;
    struct rollup_counts n;
    const uint8_t *hist;
    size_t len;
};

/* Bump allocator for the histograms one compaction round encodes. */
struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    uint8_t data[];
};

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

static void arena_free(struct arena_block *head)
{
    while (head) {
        struct arena_block *next = head->next;
        free(head);
        head = next;
    }
}

/* row->hist = the encoding of h, kept in the arena. */
static int lrow_encode(struct lrow *row, const struct pk_hist *h, struct arena_block **arena, uint8_t *scratch)
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

static int lrow_cmp(const void *x, const void *y)
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
        int k = lrow_cmp(&rows[mid], &key);
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

static int level_params_build(struct level_params *lp, const struct lrow *rows, size_t n, const unsigned char *pick,
                              int with_values)
{
    size_t num_cap = n * 21 + 3, ts_cap = n * 34 + 3, hex_cap = 3;
    memset(lp, 0, sizeof *lp);
    if (with_values)
        for (size_t i = 0; i < n; i++)
            if (pick[i])
                hex_cap += 2 * rows[i].len + 1;
    struct out o[8];
    for (int k = 0; k < (with_values ? 8 : 3); k++) {
        size_t cap = k == 2 ? ts_cap : k == 7 ? hex_cap : num_cap;
        lp->v[k] = malloc(cap);
        if (!lp->v[k])
            return -1;
        o[k] = (struct out){lp->v[k], cap, 0, 0};
        out_bytes(&o[k], "{", 1);
    }
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!pick[i])
            continue;
        const struct lrow *r = &rows[i];
        const char *sep = first ? "" : ",";
        char ts[64];
        if (format_timestamp(ts, sizeof ts, r->t) < 0)
            return -1;
        out_fmt(&o[0], "%s%" PRId64, sep, r->c);
        out_fmt(&o[1], "%s%" PRId64, sep, r->p);
        out_fmt(&o[2], "%s\"%s\"", sep, ts);
        if (with_values) {
            const uint64_t v[4] = {r->n.ok, r->n.degraded, r->n.failed, r->n.unknown};
            for (int k = 0; k < 4; k++)
                out_fmt(&o[3 + k], "%s%" PRIu64, sep, v[k]);
            out_bytes(&o[7], sep, first ? 0 : 1);
            if (!o[7].full && o[7].size - o[7].len > 2 * r->len) {
                for (size_t b = 0; b < r->len; b++) {
                    o[7].buf[o[7].len++] = hex_digits[r->hist[b] >> 4];
                    o[7].buf[o[7].len++] = hex_digits[r->hist[b] & 15];
                }
            } else {
                o[7].full = 1;
            }
        }
        first = 0;
    }
    for (int k = 0; k < (with_values ? 8 : 3); k++) {
        out_bytes(&o[k], "}", 1);
        if (out_finish(&o[k]) < 0)
            return -1;
    }
    return 0;
}

/* Writes rows (sorted by key) into a level. With insert_first, rows are first
 * inserted where their key is new (ON CONFLICT DO NOTHING) — at the minute level
 * nearly all are; the others, and every row without insert_first, are merged in
 * C with the stored row of their key and upserted. The caller holds the
 * compaction lock, so nothing else writes these tables meanwhile. */
static int write_level(struct store *s, int level, struct lrow *rows, size_t n, int insert_first,
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
    if (insert_first) {
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
            pg_err(s, r, what, err, errlen);
            goto out;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            long k = lrow_find(rows, n, bin_i64(r, i, 0), bin_i64(r, i, 1), bin_ts(r, i, 2));
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
    if (level_params_build(&lp, rows, n, todo, 0) < 0)
        goto oom;
    snprintf(sql, sizeof sql,
             "SELECT r.check_id, %s, r.%s, r.ok, r.degraded, r.failed, r.unknown, r.hist FROM %s r "
             "JOIN unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) k(c, p, t) "
             "ON r.check_id = k.c AND r.%s = k.t%s",
             with_probe ? "r.probe_id" : "0::bigint", col, tbl, col, with_probe ? " AND r.probe_id = k.p" : "");
    r = PQexecParams(s->conn, sql, 3, NULL, (const char *const *)lp.v, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_err(s, r, what, err, errlen);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        long k = lrow_find(rows, n, bin_i64(r, i, 0), bin_i64(r, i, 1), bin_ts(r, i, 2));
        if (k < 0 || !todo[k])
            continue;
        struct lrow *row = &rows[k];
        struct rollup_counts c = {(uint64_t)bin_i64(r, i, 3), (uint64_t)bin_i64(r, i, 4), (uint64_t)bin_i64(r, i, 5),
                                  (uint64_t)bin_i64(r, i, 6)};
        pk_hist_init(h);
        if (pk_hist_decode_merge((const uint8_t *)PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7), h) < 0 ||
            (row->len > 0 && pk_hist_decode_merge(row->hist, row->len, h) < 0)) {
            set_err(err, errlen, "%s: check id %" PRId64 " probe id %" PRId64 ": stored histogram is not valid", what,
                    row->c, row->p);
            goto out;
        }
        rollup_counts_merge(&row->n, &c);
        if (lrow_encode(row, h, arena, scratch) < 0)
            goto oom;
    }
    PQclear(r);
    r = NULL;
    level_params_free(&lp);
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
    if (run_cmd(s, sql, 8, (const char *const *)lp.v, what, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    set_err(err, errlen, "%s: out of memory", what);
out:
    PQclear(r);
    level_params_free(&lp);
    free(h);
    free(scratch);
    free(todo);
    return rc;
}

/* Folds `rows` (sorted minute rows) into `level`: merged in C per key of that
 * level, then written with write_level. */
static int fold_up(struct store *s, const struct lrow *mins, size_t n, int level, struct arena_block **arena,
                   char *err, size_t errlen)
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
            set_err(err, errlen,
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
        if (lrow_encode(&out[i], e->hist, arena, scratch) < 0)
            goto oom;
    }
    qsort(out, k, sizeof *out, lrow_cmp);
    rc = write_level(s, level, out, k, 0, arena, err, errlen);
    goto out;
oom:
    set_err(err, errlen, "compacting rollups into %s: out of memory", level_table[level]);
out:
    rollup_merge_free(m);
    free(out);
    free(scratch);
    return rc;
}

/* One rollup_minute COPY line (text format); bytea as \\x<hex>. */
static int copy_minute_row(struct copy_state *c, const struct lrow *row, char *err, size_t errlen)
{
    char line[256], minute[64];
    if (format_timestamp(minute, sizeof minute, row->t) < 0) {
        set_err(err, errlen, "compacting rollups: minute out of range");
        return -1;
    }
    int n = snprintf(line, sizeof line, "%" PRId64 "\t%" PRId64 "\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
                     "\t\\\\x", row->c, row->p, minute, row->n.ok, row->n.degraded, row->n.failed, row->n.unknown);
    if (n < 0 || (size_t)n >= sizeof line || copy_put(c, line, (size_t)n, err, errlen) < 0)
        return -1;
    if (copy_put_hex(c, row->hist, row->len, err, errlen) < 0)
        return -1;
    return copy_put(c, "\n", 1, err, errlen);
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
        set_err(err, errlen, "compacting rollups into rollup_minute: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (rows[i].t < fresh_from_us)
            old[a++] = rows[i];
        else
            fresh[b++] = rows[i];
    }
    if (b > 0) {
        if (run_cmd(s, "SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err, errlen) < 0)
            goto out;
        PGresult *res = PQexec(s->conn, "COPY rollup_minute (check_id, probe_id, minute, ok, degraded, failed, "
                                        "unknown, hist) FROM STDIN");
        int ok = PQresultStatus(res) == PGRES_COPY_IN;
        if (!ok)
            pg_err(s, res, "compacting rollups: COPY rollup_minute", err, errlen);
        PQclear(res);
        if (!ok)
            goto out;
        struct copy_state copy = {s, 0, 1};
        for (size_t i = 0; i < b && ok; i++)
            ok = copy_minute_row(&copy, &fresh[i], err, errlen) == 0;
        if (!ok) {
            copy_abort(&copy);
            goto out;
        }
        if (copy_finish(&copy, err, errlen) < 0) {
            /* most likely a stored key: merge them all instead */
            char quoted[600];
            pk_log(PK_LOG_WARN, "store", "minute rollups: COPY refused, merging instead", "error=%s",
                   pk_log_q(quoted, sizeof quoted, err));
            if (run_cmd(s, "ROLLBACK TO SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err,
                        errlen) < 0)
                goto out;
            memcpy(old + a, fresh, b * sizeof *fresh);
            a += b;
            qsort(old, a, sizeof *old, lrow_cmp);
        } else if (run_cmd(s, "RELEASE SAVEPOINT picket_minutes", 0, NULL, "compacting rollups: savepoint", err,
                           errlen) < 0) {
            goto out;
        }
    }
    rc = write_level(s, LEVEL_MINUTE, old, a, 1, arena, err, errlen);
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

/* One round: the packed partial rows taken (r, binary: probe_id, minute,
 * entries), folded into every level; *entries_out: the entries they held. */
static int compact_round(struct store *s, PGresult *r, int64_t fresh_from_us, uint64_t *entries_out, char *err,
                         size_t errlen)
{
    int rc = -1;
    struct arena_block *arena = NULL;
    struct lrow *parts = NULL, *mins = NULL;
    struct pk_hist *h = malloc(sizeof *h);
    uint8_t *scratch = malloc(PK_HIST_ENCODED_MAX);
    size_t n_mins = 0, rows = 0, cap = 0;
    if (!h || !scratch)
        goto oom;
    for (int i = 0; i < PQntuples(r); i++) {
        struct rollup_unpack u;
        int64_t probe_id = bin_i64(r, i, 0), minute = bin_ts(r, i, 1), check_id;
        struct rollup_counts c;
        const uint8_t *hist;
        size_t hist_len;
        int got = rollup_unpack_begin(&u, (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
        while (got == 0 && (got = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1) {
            if (rows == cap) {
                cap = cap ? cap * 2 : 4096;
                struct lrow *more = realloc(parts, cap * sizeof *parts);
                if (!more)
                    goto oom;
                parts = more;
            }
            parts[rows++] = (struct lrow){check_id, probe_id, minute, c, hist, hist_len};
            got = 0;
        }
        if (got < 0) {
            set_err(err, errlen, "compacting rollups: probe id %" PRId64 ": a partial row is not valid", probe_id);
            goto out;
        }
    }
    *entries_out = rows;
    mins = malloc((rows ? rows : 1) * sizeof *mins);
    if (!mins)
        goto oom;
    if (rows > 1)
        qsort(parts, rows, sizeof *parts, lrow_cmp);
    for (size_t i = 0; i < rows;) {
        size_t j = i + 1;
        while (j < rows && lrow_cmp(&parts[i], &parts[j]) == 0)
            j++;
        mins[n_mins] = parts[i];
        if (j - i > 1) {
            pk_hist_init(h);
            mins[n_mins].n = (struct rollup_counts){0, 0, 0, 0};
            for (size_t k = i; k < j; k++) {
                if (parts[k].len > 0 && pk_hist_decode_merge(parts[k].hist, parts[k].len, h) < 0) {
                    set_err(err, errlen,
                            "compacting rollups: check id %" PRId64 " probe id %" PRId64
                            ": partial histogram is not valid",
                            parts[k].c, parts[k].p);
                    goto out;
                }
                rollup_counts_merge(&mins[n_mins].n, &parts[k].n);
            }
            if (lrow_encode(&mins[n_mins], h, &arena, scratch) < 0)
                goto oom;
        }
        n_mins++;
        i = j;
    }
    /* Upper levels first: write_level merges stored rows into the rows it is
     * given, and the hour and day folds need the minute rows of this round alone. */
    for (int level = LEVEL_HOUR; level < N_LEVELS; level++)
        if (fold_up(s, mins, n_mins, level, &arena, err, errlen) < 0)
            goto out;
    if (write_minutes(s, mins, n_mins, fresh_from_us, &arena, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    set_err(err, errlen, "compacting rollups: out of memory");
out:
    arena_free(arena);
    free(parts);
    free(mins);
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
    if (format_timestamp(cutoff, sizeof cutoff, cutoff_us) < 0) {
        set_err(err, errlen, "compacting rollups: time out of range");
        return -1;
    }
    snprintf(limit, sizeof limit, "%d", COMPACT_CHUNK);
    const char *params[] = {cutoff, limit};
    ensure_ready(s);
    for (;;) {
        PGresult *r = NULL;
        int rc = -1, last = 0;
        uint64_t entries = 0;
        if (run_cmd(s, "BEGIN", 0, NULL, "compacting rollups: BEGIN", err, errlen) < 0)
            return -1;
        r = run(s, COMPACT_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "compacting rollups: lock", err, errlen);
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
                         "(SELECT upto FROM rollup_watermark WHERE name = 'compact')",
                         2, NULL, params, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
            pg_err(s, r, "compacting rollups: choosing the chunk", err, errlen);
            goto round_out;
        }
        int64_t upto_us = bin_ts(r, 0, 0), fresh_from_us = bin_ts(r, 0, 1);
        last = upto_us >= cutoff_us;
        char upto[64];
        PQclear(r);
        r = NULL;
        if (format_timestamp(upto, sizeof upto, upto_us) < 0) {
            set_err(err, errlen, "compacting rollups: time out of range");
            goto round_out;
        }
        const char *take[] = {upto};
        /* Rows deleted here are exactly the rows folded below: a writer's rows
         * committed meanwhile are not in this snapshot and wait for the next round. */
        r = PQexecParams(s->conn, "DELETE FROM rollup_partial WHERE minute < $1::timestamptz "
                                  "RETURNING probe_id, minute, entries",
                         1, NULL, take, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_err(s, r, "compacting rollups: taking partial rows", err, errlen);
            goto round_out;
        }
        if (PQntuples(r) > 0 && compact_round(s, r, fresh_from_us, &entries, err, errlen) < 0)
            goto round_out;
        if (run_cmd(s, "UPDATE rollup_watermark SET upto = greatest(upto, $1::timestamptz), updated_at = now() "
                       "WHERE name = 'compact'",
                    1, take, "compacting rollups: watermark", err, errlen) < 0)
            goto round_out;
        if (commit(s, "compacting rollups", err, errlen) < 0)
            goto round_out;
        *folded += entries;
        rc = 0;
    round_out:
        PQclear(r);
        if (rc < 0) {
            rollback(s);
            return -1;
        }
        if (last)
            return 0;
    }
}

/* Fills rollup_check_day from rollup_day (merged over probes in C), one day at a
 * time; for migration 010 on a database that already has day rollups. Runs in
 * the caller's transaction. */
static int fill_check_days(struct store *s, char *err, size_t errlen)
{
    PGresult *days = run(s, "SELECT DISTINCT day FROM rollup_day ORDER BY 1", 0, NULL, PGRES_TUPLES_OK,
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
            pg_err(s, r, "migration 010: reading rollup_day", err, errlen);
            rc = -1;
        } else {
            int n = PQntuples(r);
            struct lrow *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
            struct arena_block *arena = NULL;
            if (!rows) {
                set_err(err, errlen, "migration 010: out of memory");
                rc = -1;
            } else {
                for (int i = 0; i < n; i++)
                    rows[i] = (struct lrow){bin_i64(r, i, 0),
                                            bin_i64(r, i, 1),
                                            bin_ts(r, i, 2),
                                            {(uint64_t)bin_i64(r, i, 3), (uint64_t)bin_i64(r, i, 4),
                                             (uint64_t)bin_i64(r, i, 5), (uint64_t)bin_i64(r, i, 6)},
                                            (const uint8_t *)PQgetvalue(r, i, 7),
                                            (size_t)PQgetlength(r, i, 7)};
                rc = fold_up(s, rows, (size_t)n, LEVEL_CHECK_DAY, &arena, err, errlen);
                arena_free(arena);
                free(rows);
            }
        }
        PQclear(r);
    }
    PQclear(days);
    return rc;
}

struct probe_ref {
    int64_t id;
    char name[128];
    int region; /* index into the query's region list */
};

static int by_row_order(const void *x, const void *y)
{
    const struct store_rollup_row *a = x, *b = y;
    int c = strcmp(a->check_name, b->check_name);
    if (c)
        return c;
    c = strcmp(a->group, b->group);
    if (c)
        return c;
    return (a->bucket_start_us > b->bucket_start_us) - (a->bucket_start_us < b->bucket_start_us);
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

/* What store_rollup_query adds rows into: the key is (check, group, bucket). */
struct query_acc {
    const struct store_rollup_filter *f;
    const struct probe_ref *probes; /* sorted by id */
    size_t n_probes;
    struct rollup_merge *m;
    int64_t since, bucket;
};

static int query_add(struct query_acc *q, int64_t check_id, int64_t probe_id, int64_t t, const struct rollup_counts *c,
                     const uint8_t *hist, size_t len)
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
    int64_t b = q->since + (t - q->since) / q->bucket * q->bucket;
    return rollup_merge_add(q->m, check_id, group, b, c, hist, len) < 0 ? -1 : 0;
}

int store_rollup_query(struct store *s, const struct store_rollup_filter *f, struct store_rollup_row **rows_out,
                       size_t *n_out, char *err, size_t errlen)
{
    int rc = -1;
    PGresult *r = NULL, *checks = NULL;
    struct probe_ref *probes = NULL;
    char(*regions)[64] = NULL;
    int64_t *ranges[4] = {NULL, NULL, NULL, NULL};
    size_t n_ranges[4] = {0, 0, 0, 0};
    char *probe_filter = NULL, *from_arr = NULL, *to_arr = NULL;
    int64_t *filter_ids = NULL, *tmp = NULL;
    struct rollup_merge *m = NULL;
    struct store_rollup_row *out = NULL;
    char check_param[24];
    const char *check_id_param = NULL;
    int64_t check_id_filter = 0;
    size_t n_probes = 0, n_regions = 0, n_filter = 0;
    *rows_out = NULL;
    *n_out = 0;

    int64_t since = rollup_floor(f->since_us, ROLLUP_MINUTE_US), until = rollup_floor(f->until_us, ROLLUP_MINUTE_US);
    int64_t bucket = f->bucket_us ? f->bucket_us : until - since;
    if (until <= since) {
        set_err(err, errlen, "rollup query: the window is empty (since must be at least a minute before until)");
        return -1;
    }
    if (bucket <= 0 || bucket % ROLLUP_MINUTE_US != 0) {
        set_err(err, errlen, "rollup query: bucket width must be a whole number of minutes");
        return -1;
    }
    int64_t n_buckets = (until - since + bucket - 1) / bucket;
    if (n_buckets > STORE_ROLLUP_MAX_BUCKETS) {
        set_err(err, errlen, "rollup query: %" PRId64 " buckets asked, at most %d", n_buckets,
                STORE_ROLLUP_MAX_BUCKETS);
        return -1;
    }
    for (int l = 0; l < 4; l++) {
        ranges[l] = calloc((size_t)n_buckets * 4, sizeof(int64_t)); /* at most 2 ranges per bucket and level */
        if (!ranges[l])
            goto oom;
    }
    for (int64_t b = since; b < until; b += bucket) {
        struct rollup_plan plan;
        rollup_plan_window(b, b + bucket < until ? b + bucket : until, &plan);
        add_range(ranges[3], &n_ranges[3], (struct rollup_range){b, b + bucket < until ? b + bucket : until});
        add_range(ranges[2], &n_ranges[2], plan.day);
        for (int k = 0; k < 2; k++) {
            add_range(ranges[1], &n_ranges[1], plan.hour[k]);
            add_range(ranges[0], &n_ranges[0], plan.minute[k]);
        }
    }

    ensure_ready(s);
    /* One snapshot for every read: compaction moving rows from rollup_partial to
     * the final tables between two reads would count them twice or not at all. */
    if (run_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "rollup query: BEGIN", err, errlen) <
        0)
        goto out;
    r = run(s, "SELECT id, name, region FROM probes ORDER BY id", 0, NULL, PGRES_TUPLES_OK, "rollup query: probes",
            err, errlen);
    if (!r)
        goto out;
    n_probes = (size_t)PQntuples(r);
    probes = calloc(n_probes ? n_probes : 1, sizeof *probes);
    regions = calloc(n_probes ? n_probes : 1, sizeof *regions);
    filter_ids = calloc(n_probes ? n_probes : 1, sizeof *filter_ids);
    if (!probes || !regions || !filter_ids)
        goto oom;
    for (size_t i = 0; i < n_probes; i++) {
        probes[i].id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        pk_strlcpy(probes[i].name, PQgetvalue(r, (int)i, 1), sizeof probes[i].name);
        const char *region = PQgetvalue(r, (int)i, 2);
        size_t k = 0;
        while (k < n_regions && strcmp(regions[k], region) != 0)
            k++;
        if (k == n_regions)
            pk_strlcpy(regions[n_regions++], region, sizeof regions[0]);
        probes[i].region = (int)k;
        if ((!f->probe || strcmp(f->probe, probes[i].name) == 0) && (!f->region || strcmp(f->region, region) == 0))
            filter_ids[n_filter++] = probes[i].id;
    }
    PQclear(r);
    r = NULL;
    if (f->probe && n_filter == 0) {
        set_err(err, errlen, "rollup query: probe \"%.128s\" is not known%s", f->probe,
                f->region ? " in that region" : "");
        goto out;
    }
    if (f->region && n_filter == 0) {
        set_err(err, errlen, "rollup query: no probe in region \"%.64s\"", f->region);
        goto out;
    }
    if (f->probe || f->region) {
        probe_filter = bigint_array(filter_ids, n_filter);
        if (!probe_filter)
            goto oom;
    }
    const char *name_param[] = {f->check};
    checks = run(s, "SELECT id, name FROM checks WHERE $1::text IS NULL OR name = $1 ORDER BY id", 1, name_param,
                 PGRES_TUPLES_OK, "rollup query: checks", err, errlen);
    if (!checks)
        goto out;
    if (f->check) {
        if (PQntuples(checks) == 0) {
            set_err(err, errlen, "rollup query: check \"%.128s\" is not known", f->check);
            goto out;
        }
        pk_strlcpy(check_param, PQgetvalue(checks, 0, 0), sizeof check_param);
        check_id_param = check_param;
        check_id_filter = strtoll(check_param, NULL, 10);
    }

    m = rollup_merge_new();
    if (!m)
        goto oom;
    static const char *const table[4] = {"rollup_minute", "rollup_hour", "rollup_day", "rollup_partial"};
    static const char *const column[4] = {"minute", "hour", "day", "minute"};
    /* Whole days of a check over all probes: the rows already merged over probes. */
    const int check_days = f->group == STORE_ROLLUP_BY_CHECK && !f->probe && !f->region;
    for (int l = 0; l < 4; l++) {
        if (n_ranges[l] == 0)
            continue;
        free(tmp);
        tmp = malloc(n_ranges[l] * sizeof *tmp);
        if (!tmp)
            goto oom;
        free(from_arr);
        free(to_arr);
        from_arr = timestamp_array(ranges[l], n_ranges[l], 2 * sizeof(int64_t));
        to_arr = timestamp_array(ranges[l] + 1, n_ranges[l], 2 * sizeof(int64_t));
        if (!from_arr || !to_arr)
            goto oom;
        char sql[768];
        if (l == 3)
            snprintf(sql, sizeof sql,
                     "SELECT r.probe_id, r.minute, r.entries FROM rollup_partial r "
                     "JOIN unnest($1::timestamptz[], $2::timestamptz[]) w(f, t) ON r.minute >= w.f AND r.minute < w.t "
                     "WHERE $3::bigint[] IS NULL OR r.probe_id = ANY($3::bigint[])");
        else if (l == 2 && check_days)
            snprintf(sql, sizeof sql,
                     "SELECT r.check_id, 0::bigint, r.day, r.ok, r.degraded, r.failed, r.unknown, r.hist "
                     "FROM rollup_check_day r "
                     "JOIN unnest($1::timestamptz[], $2::timestamptz[]) w(f, t) ON r.day >= w.f AND r.day < w.t "
                     "WHERE ($3::bigint IS NULL OR r.check_id = $3::bigint) AND $4::bigint[] IS NULL");
        else
            snprintf(sql, sizeof sql,
                     "SELECT r.check_id, r.probe_id, r.%s, r.ok, r.degraded, r.failed, r.unknown, r.hist FROM %s r "
                     "JOIN unnest($1::timestamptz[], $2::timestamptz[]) w(f, t) ON r.%s >= w.f AND r.%s < w.t "
                     "WHERE ($3::bigint IS NULL OR r.check_id = $3::bigint) "
                     "AND ($4::bigint[] IS NULL OR r.probe_id = ANY($4::bigint[]))",
                     column[l], table[l], column[l], column[l]);
        /* packed partial rows hold every check: the check is picked while unpacking */
        const char *params[] = {from_arr, to_arr, l == 3 ? probe_filter : check_id_param, probe_filter};
        r = PQexecParams(s->conn, sql, l == 3 ? 3 : 4, NULL, params, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_err(s, r, "rollup query: reading rollups", err, errlen);
            goto out;
        }
        struct query_acc acc = {f, probes, n_probes, m, since, bucket};
        for (int i = 0; i < PQntuples(r); i++) {
            int64_t probe_id = bin_i64(r, i, l == 3 ? 0 : 1);
            if (l == 3) { /* packed partial rows: probe_id, minute, entries */
                struct rollup_unpack u;
                int64_t check_id;
                struct rollup_counts c;
                const uint8_t *hist;
                size_t hist_len;
                int got = rollup_unpack_begin(&u, (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
                while (got == 0 && (got = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1) {
                    if (check_id_param && check_id > check_id_filter) {
                        got = 0; /* entries are by ascending check id: the rest are other checks */
                        break;
                    }
                    got = check_id_param && check_id != check_id_filter
                              ? 0
                              : query_add(&acc, check_id, probe_id, bin_ts(r, i, 1), &c, hist, hist_len);
                }
                if (got < 0) {
                    set_err(err, errlen, "rollup query: rollup_partial: probe id %" PRId64 ": row is not valid",
                            probe_id);
                    goto out;
                }
                continue;
            }
            struct rollup_counts c = {(uint64_t)bin_i64(r, i, 3), (uint64_t)bin_i64(r, i, 4),
                                      (uint64_t)bin_i64(r, i, 5), (uint64_t)bin_i64(r, i, 6)};
            if (query_add(&acc, bin_i64(r, i, 0), probe_id, bin_ts(r, i, 2), &c, (const uint8_t *)PQgetvalue(r, i, 7),
                          (size_t)PQgetlength(r, i, 7)) < 0) {
                set_err(err, errlen, "rollup query: %s: check id %" PRId64 " probe id %" PRId64
                        ": histogram is not valid", table[l], bin_i64(r, i, 0), probe_id);
                goto out;
            }
        }
        PQclear(r);
        r = NULL;
    }
    rollback(s); /* read only: nothing to commit */

    size_t n = rollup_merge_count(m);
    out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const struct rollup_entry *e = rollup_merge_entry(m, i);
        struct store_rollup_row *row = &out[i];
        /* checks are sorted by id: binary search */
        int lo = 0, hi = PQntuples(checks);
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (strtoll(PQgetvalue(checks, mid, 0), NULL, 10) < e->a)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < PQntuples(checks) && strtoll(PQgetvalue(checks, lo, 0), NULL, 10) == e->a)
            pk_strlcpy(row->check_name, PQgetvalue(checks, lo, 1), sizeof row->check_name);
        else
            snprintf(row->check_name, sizeof row->check_name, "#%" PRId64, e->a);
        if (f->group == STORE_ROLLUP_BY_CHECK) {
            pk_strlcpy(row->group, "*", sizeof row->group);
        } else if (f->group == STORE_ROLLUP_BY_REGION) {
            pk_strlcpy(row->group, e->b >= 0 ? regions[e->b] : "?", sizeof row->group);
        } else {
            snprintf(row->group, sizeof row->group, "#%" PRId64, e->b);
            for (size_t k = 0; k < n_probes; k++)
                if (probes[k].id == e->b) {
                    pk_strlcpy(row->group, probes[k].name, sizeof row->group);
                    break;
                }
        }
        row->bucket_start_us = e->t;
        row->ok = e->counts.ok;
        row->degraded = e->counts.degraded;
        row->failed = e->counts.failed;
        row->unknown = e->counts.unknown;
        row->hist = *e->hist;
    }
    qsort(out, n, sizeof *out, by_row_order);
    *rows_out = out;
    *n_out = n;
    out = NULL;
    rc = 0;
    goto out;
oom:
    set_err(err, errlen, "rollup query: out of memory");
out:
    if (rc < 0)
        rollback(s);
    PQclear(r);
    PQclear(checks);
    free(probes);
    free(regions);
    for (int l = 0; l < 4; l++)
        free(ranges[l]);
    free(probe_filter);
    free(from_arr);
    free(to_arr);
    free(filter_ids);
    free(tmp);
    rollup_merge_free(m);
    free(out);
    return rc;
}

/* ---- rollup backfill (docs/ANALYTICS.md, "Backfill") ---- */

/* Minutes of raw results read per query: bounds the memory of one read (the
 * hour and day maps are bounded by the (check, probe) pairs of the day). */
#define BACKFILL_SLICE_US (10 * ROLLUP_MINUTE_US)

/* COPYs minute rows built from raw results into rollup_minute (whose rows of
 * those minutes were deleted in this transaction, and each minute is built from
 * one slice only, so there is nothing to merge with). */
static int backfill_copy_minutes(struct store *s, const struct rollup_rows *rows, char *err, size_t errlen)
{
    PGresult *res = PQexec(s->conn, "COPY rollup_minute (check_id, probe_id, minute, ok, degraded, failed, unknown, "
                                    "hist) FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        pg_err(s, res, "backfill: COPY rollup_minute", err, errlen);
    PQclear(res);
    if (!ok)
        return -1;
    struct copy_state copy = {s, 0, 1};
    for (size_t i = 0; i < rows->n; i++) {
        const struct rollup_row *row = &rows->rows[i];
        const struct lrow lr = {row->check_id, row->probe_id, row->start_us, row->counts, rows->bytes + row->hist_off,
                                row->hist_len};
        if (copy_minute_row(&copy, &lr, err, errlen) < 0) {
            copy_abort(&copy);
            return -1;
        }
        if (copy.len >= COPY_CHUNK && copy_flush(&copy, err, errlen) < 0) {
            copy_abort(&copy);
            return -1;
        }
    }
    return copy_finish(&copy, err, errlen);
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
        if (lrow_encode(&rows[i], e->hist, &arena, scratch) < 0)
            goto oom;
    }
    qsort(rows, n, sizeof *rows, lrow_cmp);
    /* the day folds first: write_level merges stored rows into the rows it is given */
    if (fold_up(s, rows, n, LEVEL_DAY, &arena, err, errlen) < 0 ||
        fold_up(s, rows, n, LEVEL_CHECK_DAY, &arena, err, errlen) < 0 ||
        write_level(s, LEVEL_HOUR, rows, n, 1, &arena, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    set_err(err, errlen, "backfill: out of memory");
out:
    arena_free(arena);
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
    if (format_timestamp(from, sizeof from, day_us) < 0 || format_timestamp(to, sizeof to, day_us + ROLLUP_DAY_US) < 0) {
        set_err(err, errlen, "backfill: day out of range");
        return -1;
    }
    snprintf(what, sizeof what, "backfill of %.10s", from);
    const char *day[] = {from, to};
    /* A day without raw results keeps its rollups: retention drops raw days
     * but keeps hour and day rollups, which must not be rebuilt from nothing. */
    if (!(r = run(s, "SELECT EXISTS (SELECT 1 FROM results WHERE started_at >= $1 AND started_at < $2)", 2, day,
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
    if (!(r = run(s, "DELETE FROM rollup_partial WHERE minute >= $1 AND minute < $2", 2, day, PGRES_COMMAND_OK, what,
                  err, errlen)))
        goto out;
    d->partials_replaced = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    r = NULL;
    if (run_cmd(s, "DELETE FROM rollup_minute WHERE minute >= $1 AND minute < $2", 2, day, what, err, errlen) < 0 ||
        run_cmd(s, "DELETE FROM rollup_hour WHERE hour >= $1 AND hour < $2", 2, day, what, err, errlen) < 0 ||
        run_cmd(s, "DELETE FROM rollup_day WHERE day >= $1 AND day < $2", 2, day, what, err, errlen) < 0 ||
        run_cmd(s, "DELETE FROM rollup_check_day WHERE day >= $1 AND day < $2", 2, day, what, err, errlen) < 0)
        goto out;
    for (int64_t t = day_us; t < day_us + ROLLUP_DAY_US; t += BACKFILL_SLICE_US) {
        char a[64], b[64];
        if (format_timestamp(a, sizeof a, t) < 0 || format_timestamp(b, sizeof b, t + BACKFILL_SLICE_US) < 0)
            goto range;
        const char *slice[] = {a, b};
        r = PQexecParams(s->conn,
                         "SELECT check_id, probe_id, started_at, outcome::bigint, coalesce(total_us, -1) FROM results "
                         "WHERE started_at >= $1 AND started_at < $2",
                         2, NULL, slice, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_err(s, r, what, err, errlen);
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
            in[i] = (struct rollup_input){bin_i64(r, (int)i, 0), bin_i64(r, (int)i, 1), bin_ts(r, (int)i, 2),
                                          bin_i64(r, (int)i, 4), (int)bin_i64(r, (int)i, 3)};
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
    set_err(err, errlen, "%s: time out of range", what);
    goto out;
oom:
    set_err(err, errlen, "%s: out of memory", what);
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
        set_err(err, errlen, "backfill: the window is empty (since must be before until)");
        return -1;
    }
    ensure_ready(s);
    for (int64_t day = rollup_floor(since_us, ROLLUP_DAY_US); day < until_us; day += ROLLUP_DAY_US) {
        struct store_backfill_day d;
        int empty = 0, locked = 0, rc = -1;
        PGresult *r = run(s, BACKFILL_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "backfill: taking the compaction lock", err,
                          errlen);
        if (!r)
            return -1;
        PQclear(r);
        locked = 1;
        if (run_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "backfill: BEGIN", err, errlen) < 0)
            goto day_out;
        if (backfill_day(s, day, &d, &empty, err, errlen) < 0)
            goto day_out;
        if (empty) {
            rollback(s);
        } else if (commit(s, "backfill", err, errlen) < 0) {
            goto day_out;
        }
        rc = 0;
    day_out:
        if (rc < 0)
            rollback(s);
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

int store_rollup_coverage(struct store *s, struct store_rollup_coverage *c, char *err, size_t errlen)
{
    char first[64];
    memset(c, 0, sizeof *c);
    ensure_ready(s);
    /* Each min() is one index probe. */
    PGresult *r = run(s,
                      "SELECT (extract(epoch FROM least((SELECT min(minute) FROM rollup_partial), "
                      "(SELECT min(minute) FROM rollup_minute), (SELECT min(hour) FROM rollup_hour), "
                      "(SELECT min(day) FROM rollup_day))) * 1000000)::bigint",
                      0, NULL, PGRES_TUPLES_OK, "reading the oldest rollup", err, errlen);
    if (!r)
        return -1;
    c->has_rollups = !PQgetisnull(r, 0, 0);
    c->first_rollup_us = c->has_rollups ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    /* The oldest partition that holds a row (each EXISTS stops at its first
     * row), and results_default (normally nearly empty). */
    r = run(s,
            "SELECT (extract(epoch FROM least((SELECT min(started_at) FROM results_default), "
            "(SELECT min(d)::timestamp AT TIME ZONE 'UTC' FROM (SELECT to_date(substr(c.relname, 9), 'YYYYMMDD') AS d "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'results'::regclass "
            "AND c.relname ~ '^results_[0-9]{8}$') p WHERE EXISTS (SELECT 1 FROM results "
            "WHERE started_at >= p.d::timestamp AT TIME ZONE 'UTC' "
            "AND started_at < (p.d + 1)::timestamp AT TIME ZONE 'UTC')))) * 1000000)::bigint",
            0, NULL, PGRES_TUPLES_OK, "reading the oldest raw result", err, errlen);
    if (!r)
        return -1;
    c->has_results = !PQgetisnull(r, 0, 0);
    c->oldest_result_day_us =
        c->has_results ? rollup_floor(strtoll(PQgetvalue(r, 0, 0), NULL, 10), ROLLUP_DAY_US) : 0;
    PQclear(r);
    if (!c->has_results)
        return 0;
    if (!c->has_rollups) {
        c->results_before_rollups = 1;
        return 0;
    }
    if (format_timestamp(first, sizeof first, c->first_rollup_us) < 0) {
        set_err(err, errlen, "reading how far rollups reach: time out of range");
        return -1;
    }
    const char *params[] = {first};
    r = run(s, "SELECT EXISTS (SELECT 1 FROM results WHERE started_at < $1::timestamptz)", 1, params,
            PGRES_TUPLES_OK, "looking for results older than the rollups", err, errlen);
    if (!r)
        return -1;
    c->results_before_rollups = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

/* ---- alerting (migrations/007_alerts.sql) ---- */

#define ALERT_LEADER_LOCK_SQL "SELECT pg_try_advisory_lock(112410397255029)"
#define TS_FROM_US(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

int store_alert_leader(struct store *s, char *err, size_t errlen)
{
    ensure_ready(s);
    PGresult *r = run(s, ALERT_LEADER_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "alerts: taking the leader lock", err, errlen);
    if (!r)
        return -1;
    int got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return got;
}

int store_alert_rounds(struct store *s, int64_t since_us, struct store_alert_round **rows, size_t *n, char *err,
                       size_t errlen)
{
    *rows = NULL;
    *n = 0;
    ensure_ready(s);
    char since[32];
    snprintf(since, sizeof since, "%" PRId64, since_us);
    const char *params[] = {since};
    PGresult *r = run(s,
                      "SELECT c.name, p.region, " US_OF("r.started_at") ", r.outcome, coalesce(r.total_us, -1) "
                      "FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "
                      "WHERE r.started_at >= " TS_FROM_US(1) " ORDER BY c.name COLLATE \"C\", r.started_at",
                      1, params, PGRES_TUPLES_OK, "alerts: reading recent results", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_alert_round *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        set_err(err, errlen, "alerts: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int t = (int)i;
        pk_strlcpy(out[i].check, PQgetvalue(r, t, 0), sizeof out[i].check);
        pk_strlcpy(out[i].region, PQgetvalue(r, t, 1), sizeof out[i].region);
        out[i].at_us = strtoll(PQgetvalue(r, t, 2), NULL, 10);
        out[i].outcome = (int)strtol(PQgetvalue(r, t, 3), NULL, 10);
        out[i].total_us = strtoll(PQgetvalue(r, t, 4), NULL, 10);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return 0;
}

int store_alert_states(struct store *s, struct store_alert_state **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    ensure_ready(s);
    PGresult *r = run(s,
                      "SELECT rule, subject, firing, " US_OF("since") ", " US_OF("last_change") ", flips, "
                      US_OF("flap_window_start") ", flapping, coalesce(" US_OF("last_notified") ", 0), "
                      "notified_firing, value IS NOT NULL, coalesce(value, 0), coalesce(summary, '') "
                      "FROM alert_state ORDER BY rule, subject",
                      0, NULL, PGRES_TUPLES_OK, "alerts: reading alert state", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_alert_state *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        set_err(err, errlen, "alerts: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int t = (int)i;
        pk_strlcpy(out[i].rule, PQgetvalue(r, t, 0), sizeof out[i].rule);
        pk_strlcpy(out[i].subject, PQgetvalue(r, t, 1), sizeof out[i].subject);
        out[i].firing = PQgetvalue(r, t, 2)[0] == 't';
        out[i].since_us = strtoll(PQgetvalue(r, t, 3), NULL, 10);
        out[i].last_change_us = strtoll(PQgetvalue(r, t, 4), NULL, 10);
        out[i].flips = (int)strtol(PQgetvalue(r, t, 5), NULL, 10);
        out[i].flap_window_start_us = strtoll(PQgetvalue(r, t, 6), NULL, 10);
        out[i].flapping = PQgetvalue(r, t, 7)[0] == 't';
        out[i].last_notified_us = strtoll(PQgetvalue(r, t, 8), NULL, 10);
        out[i].notified_firing = PQgetvalue(r, t, 9)[0] == 't';
        out[i].has_value = PQgetvalue(r, t, 10)[0] == 't';
        out[i].value = strtod(PQgetvalue(r, t, 11), NULL);
        pk_strlcpy(out[i].summary, PQgetvalue(r, t, 12), sizeof out[i].summary);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return 0;
}

int store_alert_save(struct store *s, const struct store_alert_state *st, const struct store_outbox_new *ev, size_t n,
                     char *err, size_t errlen)
{
    ensure_ready(s);
    if (run_cmd(s, "BEGIN", 0, NULL, "alerts: BEGIN", err, errlen) < 0)
        return -1;
    char since[32], change[32], flips[16], fws[32], notified[32], value[64];
    snprintf(since, sizeof since, "%" PRId64, st->since_us);
    snprintf(change, sizeof change, "%" PRId64, st->last_change_us);
    snprintf(flips, sizeof flips, "%d", st->flips);
    snprintf(fws, sizeof fws, "%" PRId64, st->flap_window_start_us);
    snprintf(notified, sizeof notified, "%" PRId64, st->last_notified_us);
    snprintf(value, sizeof value, "%.17g", st->value);
    const char *p[] = {st->rule,     st->subject,  st->firing ? "t" : "f",  since, change, flips, fws,
                       st->flapping ? "t" : "f", st->last_notified_us ? notified : NULL,
                       st->notified_firing ? "t" : "f", st->has_value ? value : NULL, st->summary};
    if (run_cmd(s,
                "INSERT INTO alert_state (rule, subject, firing, since, last_change, flips, flap_window_start, "
                "flapping, last_notified, notified_firing, value, summary) VALUES ($1, $2, $3, " TS_FROM_US(4) ", "
                TS_FROM_US(5) ", $6, " TS_FROM_US(7) ", $8, " TS_FROM_US(9) ", $10, $11, $12) "
                "ON CONFLICT (rule, subject) DO UPDATE SET firing = EXCLUDED.firing, since = EXCLUDED.since, "
                "last_change = EXCLUDED.last_change, flips = EXCLUDED.flips, "
                "flap_window_start = EXCLUDED.flap_window_start, flapping = EXCLUDED.flapping, "
                "last_notified = EXCLUDED.last_notified, notified_firing = EXCLUDED.notified_firing, "
                "value = EXCLUDED.value, summary = EXCLUDED.summary",
                12, p, "alerts: saving alert state", err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char delay[32];
        snprintf(delay, sizeof delay, "%" PRId64, ev[i].delay_ms);
        const char *q[] = {ev[i].receiver, ev[i].event_key, ev[i].payload, delay, ev[i].group_key};
        if (run_cmd(s,
                    "INSERT INTO alert_outbox (receiver, event_key, payload, next_attempt, group_key) VALUES ($1, $2, "
                    "$3::jsonb, now() + $4::bigint * interval '1 millisecond', $5) "
                    "ON CONFLICT (receiver, event_key) DO NOTHING",
                    5, q, "alerts: enqueueing a notification", err, errlen) < 0)
            goto fail;
    }
    return commit(s, "alerts: COMMIT", err, errlen);
fail:
    rollback(s);
    return -1;
}

int store_outbox_due(struct store *s, int limit, struct store_outbox_row **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    ensure_ready(s);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {lim};
    PGresult *r = run(s,
                      "SELECT id, receiver, event_key, payload::text, attempts, group_key FROM alert_outbox "
                      "WHERE delivered_at IS NULL AND next_attempt <= now() ORDER BY id LIMIT $1::int",
                      1, params, PGRES_TUPLES_OK, "alerts: reading the outbox", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_outbox_row *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        set_err(err, errlen, "alerts: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        int t = (int)i;
        out[i].id = strtoll(PQgetvalue(r, t, 0), NULL, 10);
        pk_strlcpy(out[i].receiver, PQgetvalue(r, t, 1), sizeof out[i].receiver);
        pk_strlcpy(out[i].event_key, PQgetvalue(r, t, 2), sizeof out[i].event_key);
        out[i].payload = strdup(PQgetvalue(r, t, 3));
        out[i].attempts = (int)strtol(PQgetvalue(r, t, 4), NULL, 10);
        pk_strlcpy(out[i].group_key, PQgetvalue(r, t, 5), sizeof out[i].group_key);
        if (!out[i].payload) {
            PQclear(r);
            store_outbox_free(out, i);
            set_err(err, errlen, "alerts: out of memory");
            return -1;
        }
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return 0;
}

void store_outbox_free(struct store_outbox_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].payload);
    free(rows);
}

int store_outbox_mark(struct store *s, int64_t id, int delivered, const char *error, int64_t retry_ms, char *err,
                      size_t errlen)
{
    ensure_ready(s);
    char ids[32], ms[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(ms, sizeof ms, "%" PRId64, retry_ms);
    if (delivered) {
        const char *p[] = {ids};
        return run_cmd(s, "UPDATE alert_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL "
                          "WHERE id = $1::bigint AND delivered_at IS NULL",
                       1, p, "alerts: marking a notification delivered", err, errlen);
    }
    const char *p[] = {ids, error ? error : "", ms};
    return run_cmd(s,
                   "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $2, "
                   "next_attempt = now() + $3::bigint * interval '1 millisecond' WHERE id = $1::bigint",
                   3, p, "alerts: recording a failed delivery", err, errlen);
}
