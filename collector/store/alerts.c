/* alerts.c: what alerting keeps (migrations/007_alerts.sql): the leader lock,
 * the recent results the rules read, each rule's state, and the notification
 * outbox. A state change and its notifications are saved in one transaction. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/pk_error.h"

/* ---- alerting (migrations/007_alerts.sql) ---- */

#define ALERT_LEADER_LOCK_SQL "SELECT pg_try_advisory_lock(112410397255029)"
#define TS_FROM_US(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

int store_alert_leader(struct store *s, char *err, size_t errlen)
{
    st_ensure_ready(s);
    PGresult *r = st_run(s, ALERT_LEADER_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "alerts: taking the leader lock", err, errlen);
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
    st_ensure_ready(s);
    char since[32];
    snprintf(since, sizeof since, "%" PRId64, since_us);
    const char *params[] = {since};
    PGresult *r = st_run(s,
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
        pk_fail(err, errlen, "alerts: out of memory");
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
    st_ensure_ready(s);
    PGresult *r = st_run(s,
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
        pk_fail(err, errlen, "alerts: out of memory");
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
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN", 0, NULL, "alerts: BEGIN", err, errlen) < 0)
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
    if (st_run_cmd(s,
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
        if (st_run_cmd(s,
                    "INSERT INTO alert_outbox (receiver, event_key, payload, next_attempt, group_key) VALUES ($1, $2, "
                    "$3::jsonb, now() + $4::bigint * interval '1 millisecond', $5) "
                    "ON CONFLICT (receiver, event_key) DO NOTHING",
                    5, q, "alerts: enqueueing a notification", err, errlen) < 0)
            goto fail;
    }
    return st_commit(s, "alerts: COMMIT", err, errlen);
fail:
    st_rollback(s);
    return -1;
}

int store_outbox_due(struct store *s, int limit, struct store_outbox_row **rows, size_t *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    st_ensure_ready(s);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {lim};
    PGresult *r = st_run(s,
                      "SELECT id, receiver, event_key, payload::text, attempts, group_key FROM alert_outbox "
                      "WHERE delivered_at IS NULL AND next_attempt <= now() ORDER BY id LIMIT $1::int",
                      1, params, PGRES_TUPLES_OK, "alerts: reading the outbox", err, errlen);
    if (!r)
        return -1;
    size_t count = (size_t)PQntuples(r);
    struct store_outbox_row *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        pk_fail(err, errlen, "alerts: out of memory");
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
            pk_fail(err, errlen, "alerts: out of memory");
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
    st_ensure_ready(s);
    char ids[32], ms[32];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(ms, sizeof ms, "%" PRId64, retry_ms);
    if (delivered) {
        const char *p[] = {ids};
        return st_run_cmd(s, "UPDATE alert_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL "
                          "WHERE id = $1::bigint AND delivered_at IS NULL",
                       1, p, "alerts: marking a notification delivered", err, errlen);
    }
    const char *p[] = {ids, error ? error : "", ms};
    return st_run_cmd(s,
                   "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $2, "
                   "next_attempt = now() + $3::bigint * interval '1 millisecond' WHERE id = $1::bigint",
                   3, p, "alerts: recording a failed delivery", err, errlen);
}
