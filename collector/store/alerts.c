/* alerts.c: what alerting keeps (migrations/007_alerts.sql): the recent results
 * the rules read, each rule's state, and the notification outbox. A state change and its
 * notifications are saved in one transaction. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

#define TS_FROM_US(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

#define ROUND_COL(field, name, type) STORE_COL(struct store_alert_round, field, name, type)
static const struct store_col round_cols[] = {
    ROUND_COL(check, "check_name", STORE_COL_TEXT),
    ROUND_COL(region, "region", STORE_COL_TEXT),
    ROUND_COL(at_us, "at_us", STORE_COL_I64),
    ROUND_COL(outcome, "outcome", STORE_COL_INT),
    ROUND_COL(total_us, "total_us", STORE_COL_I64),
};

int store_alert_rounds(struct store *s, int64_t since_us, struct store_alert_round **rows, size_t *n, char *err,
                       size_t errlen)
{
    char since[32];
    snprintf(since, sizeof since, "%" PRId64, since_us);
    const char *params[] = {since};
    const struct store_query q = {
        "SELECT c.name AS check_name, p.region, " US_OF("r.started_at") " AS at_us, r.outcome, "
        "coalesce(r.total_us, -1) AS total_us "
        "FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "
        "WHERE r.started_at >= " TS_FROM_US(1) " ORDER BY c.name COLLATE \"C\", r.started_at",
        1, params, "alerts: reading recent results", "alerts", round_cols, STORE_NCOLS(round_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}

#define STATE(field, kind) STORE_FIELD(struct store_alert_state, field, kind)
static const struct store_col state_cols[] = {
    STATE(rule, TEXT),          STATE(subject, TEXT),  STATE(summary, TEXT),
    STATE(firing, BOOL),        STATE(since_us, I64),  STATE(last_change_us, I64),
    STATE(flapping, BOOL),      STATE(flips, INT),     STATE(flap_window_start_us, I64),
    STATE(notified_firing, BOOL), STATE(last_notified_us, I64),
    STATE(has_value, BOOL),     STATE(value, DOUBLE),
};

int store_alert_states(struct store *s, struct store_alert_state **rows, size_t *n, char *err, size_t errlen)
{
    const struct store_query q = {
        "SELECT rule, subject, firing, " US_OF("since") " AS since_us, " US_OF("last_change")
        " AS last_change_us, flips, " US_OF("flap_window_start") " AS flap_window_start_us, "
        "flapping, coalesce(" US_OF("last_notified") ", 0) AS last_notified_us, notified_firing, "
        "value IS NOT NULL AS has_value, coalesce(value, 0) AS value, "
        "coalesce(summary, '') AS summary FROM alert_state ORDER BY rule, subject",
        0, NULL, "alerts: reading alert state", "alerts", state_cols, STORE_NCOLS(state_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
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
                       "INSERT INTO alert_outbox (receiver, event_key, payload, next_attempt, group_key) "
                       "VALUES ($1, $2, $3::jsonb, now() + $4::bigint * interval '1 millisecond', $5) "
                       "ON CONFLICT (receiver, event_key) DO NOTHING",
                       5, q, "alerts: enqueueing a notification", err, errlen) < 0)
            goto fail;
    }
    return st_commit(s, "alerts: COMMIT", err, errlen);
fail:
    st_rollback(s);
    return -1;
}

#define OUTBOX_COL(field, name, type) STORE_COL(struct store_outbox_row, field, name, type)
static const struct store_col outbox_cols[] = {
    OUTBOX_COL(id, "id", STORE_COL_I64),
    OUTBOX_COL(receiver, "receiver", STORE_COL_TEXT),
    OUTBOX_COL(event_key, "event_key", STORE_COL_TEXT),
    OUTBOX_COL(payload, "payload", STORE_COL_STRDUP),
    OUTBOX_COL(attempts, "attempts", STORE_COL_INT),
    OUTBOX_COL(group_key, "group_key", STORE_COL_TEXT),
};

int store_outbox_due(struct store *s, int limit, struct store_outbox_row **rows, size_t *n, char *err, size_t errlen)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {lim};
    const struct store_query q = {
        "SELECT id, receiver, event_key, payload::text AS payload, attempts, group_key "
        "FROM alert_outbox WHERE delivered_at IS NULL AND next_attempt <= now() "
        "ORDER BY id LIMIT $1::int",
        1, params, "alerts: reading the outbox", "alerts", outbox_cols, STORE_NCOLS(outbox_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
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
