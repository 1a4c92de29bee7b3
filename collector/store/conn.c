/* conn.c: one libpq connection per struct store (store_open, store_close,
 * store_ping), the statement and transaction helpers every store file uses, and
 * the check-name -> id cache. Errors name what was being done and PostgreSQL's
 * message on one line. A connection never stays inside a failed transaction:
 * st_ensure_ready resets it before each unit of work. */
#include "store_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pk_error.h"

/* ------------------------------------------------------------------ errors */

/* "<what>: <primary message> (<context>)" on one line: errors end up in log lines. */
void st_pg_err(struct store *s, const PGresult *r, const char *what, char *err, size_t errlen)
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

int st_cache_get(const struct check_cache *c, const char *name, int64_t *id)
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

int st_cache_put(struct check_cache *c, const char *name, int64_t id)
{
    int64_t old;
    if (st_cache_get(c, name, &old)) {
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
void st_ensure_ready(struct store *s)
{
    if (PQstatus(s->conn) != CONNECTION_OK || PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF) {
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

void st_rollback(struct store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Runs one statement; returns its result (caller PQclears) or NULL with err set. */
PGresult *st_run(struct store *s, const char *sql, int nparams, const char *const *params, ExecStatusType want,
                     const char *what, char *err, size_t errlen)
{
    if (st_deadline_passed(s, err, errlen))
        return NULL;
    PGresult *r = nparams > 0 ? PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                              : PQexec(s->conn, sql);
    if (PQresultStatus(r) != want) {
        st_pg_err(s, r, what, err, errlen);
        PQclear(r);
        return NULL;
    }
    return r;
}

int st_run_cmd(struct store *s, const char *sql, int nparams, const char *const *params, const char *what,
                   char *err, size_t errlen)
{
    PGresult *r = st_run(s, sql, nparams, params, PGRES_COMMAND_OK, what, err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}

/* COMMIT of an aborted transaction "succeeds" as ROLLBACK: check the tag too. */
int st_commit(struct store *s, const char *what, char *err, size_t errlen)
{
    PGresult *r = st_run(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, what, err, errlen);
    if (!r)
        return -1;
    int ok = strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!ok)
        pk_fail(err, errlen, "%s: transaction was rolled back", what);
    return ok ? 0 : -1;
}

/* "picket-collector pk-writer-0": the collector and the opening thread's name
 * (pk-writer-N, pk-tracker, pk-upkeep for the compaction, pk-alerts, ...), so
 * pg_stat_activity and PostgreSQL's logs say which part of the collector a
 * backend serves (docs/DEPLOY.md). A conninfo's own application_name wins. */
static const char *application_name(char *buf, size_t size)
{
    char thread[16] = "";
    if (pthread_getname_np(pthread_self(), thread, sizeof thread) != 0 || !thread[0] ||
        strncmp(thread, "picket-", 7) == 0)
        return "picket-collector";
    snprintf(buf, size, "picket-collector %s", thread);
    return buf;
}

/* Opens a connection named app (application_name, unless conninfo names one). */
static struct store *open_named(const char *conninfo, const char *app, char *err, size_t errlen)
{
    /* Keywords before "dbname" are defaults that the caller's conninfo overrides;
     * they also survive PQreset. JIT off: it adds ~100 ms of compilation to short
     * queries whose cost the planner overestimates (status on fresh statistics).
     * citus.multi_shard_modify_mode: on Citus (docs/SCALING-citus.md), a write to
     * many shards then goes over one connection per node, so the same
     * transaction may then write a reference table (the ingest COPYs results,
     * then raises probes.committed_seq) or run DDL (partitions), which Citus
     * refuses after a parallel multi-shard write; plain PostgreSQL keeps it as an
     * unused placeholder setting. */
    static const char *const keys[] = {"fallback_application_name", "connect_timeout", "client_encoding", "options",
                                       "dbname", NULL};
    const char *values[] = {app, "10", "UTF8", "-c jit=off -c citus.multi_shard_modify_mode=sequential",
                            conninfo ? conninfo : "", NULL};
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        pk_fail(err, errlen, "store: out of memory");
        return NULL;
    }
    pk_strlcpy(s->app, app, sizeof s->app);
    if (conninfo && !(s->conninfo = strdup(conninfo))) {
        pk_fail(err, errlen, "store: out of memory");
        goto fail;
    }
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        st_pg_err(s, NULL, "cannot connect to PostgreSQL", err, errlen);
        goto fail;
    }
    PQsetNoticeProcessor(s->conn, notice_to_log, NULL);
    s->copy_buf = malloc(COPY_BUF_SIZE);
    if (!s->copy_buf) {
        pk_fail(err, errlen, "store: out of memory");
        goto fail;
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

struct store *store_open(const char *conninfo, char *err, size_t errlen)
{
    char app[48];
    return open_named(conninfo, application_name(app, sizeof app), err, errlen);
}

struct store *store_side(struct store *s, char *err, size_t errlen)
{
    if (!s->side) {
        char app[64];
        snprintf(app, sizeof app, "%.40s side", s->app);
        if (!(s->side = open_named(s->conninfo, app, err, errlen)))
            return NULL;
    }
    if (store_set_deadline(s->side, s->deadline_us, err, errlen) < 0)
        return NULL;
    return s->side;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    store_close(s->side);
    if (s->conn)
        PQfinish(s->conn);
    free(s->conninfo);
    st_tracked_cache_free(s->tcache);
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
    st_ensure_ready(s);
    if (select_one(s))
        return 0;
    /* A server error on a live link is not cured by reconnecting; a dead link once is. */
    if (was_bad || PQstatus(s->conn) == CONNECTION_OK)
        return -1;
    reconnect(s);
    return select_one(s) ? 0 : -1;
}
