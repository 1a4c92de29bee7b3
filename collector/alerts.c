/* alerts.c: rule evaluation, alert state, outbox delivery (alerts.h,
 * docs/ALERTS.md). One thread with its own database connection; only the
 * installation's leader (leader.h) evaluates and delivers. */
#define _POSIX_C_SOURCE 200809L
#include "alerts.h"
#include "rpc_incidents.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "buf.h"
#include "incident_deps.h"
#include "leader.h"
#include "log.h"
#include "maint_apply.h"
#include "notify_payloads.h"
#include "regression_rule.h"
#include "result.h"
#include "rollup.h"
#include "slo_config.h"
#include "store.h"

/* When each (receiver, group) was last POSTed, for group_interval. In memory:
 * after a restart the first POST of a group is not held back. */
#define GROUP_MEMORY 1024
struct group_sent {
    char receiver[ALERT_NAME_MAX];
    char group_key[512];
    int64_t at_us;
};

struct alerts {
    char *conninfo;
    struct alert_config cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stopping;
    int64_t next_baseline_us[ALERT_MAX_RULES]; /* baseline rules run once per their window */
    struct group_sent sent[GROUP_MEMORY];       /* alert thread only */
    struct regression_cache baseline_cache;     /* alert thread only: the baseline halves' history */
    size_t sent_next;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ JSON text */

static void rfc3339(char *buf, size_t n, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", d, (int)((us % 1000000) / 1000));
}

/* --------------------------------------------------------------- events */

struct labels {
    const char *check, *service, *probe, *region;
    const char *slo; /* a group SLO's name (slo_burn on --slos groups); NULL otherwise */
};

struct event {
    const struct alert_rule *rule;
    const char *status; /* "firing" / "resolved" */
    int flapping;
    struct labels l;
    const char *summary;
    int64_t starts_us, ends_us; /* ends_us 0 while firing */
    char key[512];
};

static const char *label_value(const struct event *e, const char *name)
{
    if (!strcmp(name, "alertname"))
        return e->rule->name;
    if (!strcmp(name, "check"))
        return e->l.check;
    if (!strcmp(name, "service"))
        return e->l.service;
    if (!strcmp(name, "probe"))
        return e->l.probe;
    if (!strcmp(name, "region"))
        return e->l.region;
    if (!strcmp(name, "slo"))
        return e->l.slo ? e->l.slo : "";
    return e->rule->severity;
}

static void group_key(const struct event *e, char *out, size_t n)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < e->rule->n_group_by && off < n; i++) {
        int w = snprintf(out + off, n - off, "%s%s=%s", i ? "," : "{", e->rule->group_by[i],
                         label_value(e, e->rule->group_by[i]));
        off += w > 0 ? (size_t)w : 0;
    }
    if (off < n)
        snprintf(out + off, n - off, "}");
}

static void labels_json(struct pk_buf *b, const struct event *e)
{
    static const char *const names[] = {"alertname", "check", "service", "probe", "region", "severity", "slo"};
    int first = 1;
    pk_buf_add(b, "{", 1);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = label_value(e, names[i]);
        if (!v || !v[0])
            continue; /* Alertmanager refuses empty label values */
        pk_buf_addf(b, "%s\"%s\":", first ? "" : ",", names[i]);
        pk_buf_add_json_string(b, v, strlen(v));
        first = 0;
    }
    pk_buf_add(b, "}", 1);
}

/* One event as its receiver wants it, stored as the outbox payload: an alert
 * object (webhook, Alertmanager) or a JSON string (Slack's text line). deliver()
 * wraps the rows of one group in the receiver's envelope. */
static char *render(const struct alert_receiver *r, const struct event *e)
{
    struct pk_buf b;
    pk_buf_init(&b, 0);
    char starts[40], ends[40];
    rfc3339(starts, sizeof starts, e->starts_us);
    rfc3339(ends, sizeof ends, e->ends_us);
    struct notify_event ne = {e->key, e->status, e->flapping, e->rule->name, e->l.check, e->l.service,
                              e->l.probe, e->l.region, e->rule->severity, e->summary, e->starts_us, e->ends_us};
    if (r->type >= ALERT_RCV_PAGERDUTY) {
        pk_buf_free(&b);
        return notify_payload_event(r, &ne);
    }
    if (r->type == ALERT_RCV_ALERTMANAGER) {
        pk_buf_add(&b, "{\"labels\":", 10);
        labels_json(&b, e);
        pk_buf_add(&b, ",\"annotations\":{\"summary\":", 26);
        pk_buf_add_json_string(&b, e->summary, strlen(e->summary));
        pk_buf_addf(&b, ",\"picket_event\":");
        pk_buf_add_json_string(&b, e->key, strlen(e->key));
        pk_buf_addf(&b, ",\"flapping\":\"%s\"},\"startsAt\":\"%s\"", e->flapping ? "true" : "false", starts);
        if (e->ends_us)
            pk_buf_addf(&b, ",\"endsAt\":\"%s\"", ends);
        char link[700];
        notify_check_link(r, e->l.check, link, sizeof link);
        if (link[0]) {
            pk_buf_addf(&b, ",\"generatorURL\":");
            pk_buf_add_json_string(&b, link, strlen(link));
        }
        pk_buf_add(&b, "}", 1);
    } else if (r->type == ALERT_RCV_SLACK) {
        char text[1200];
        notify_message_line(r, &ne, text, sizeof text);
        pk_buf_add_json_string(&b, text, strlen(text));
    } else {
        pk_buf_addf(&b, "{\"key\":");
        pk_buf_add_json_string(&b, e->key, strlen(e->key));
        pk_buf_addf(&b, ",\"status\":\"%s\",\"flapping\":%s,\"labels\":", e->status, e->flapping ? "true" : "false");
        labels_json(&b, e);
        pk_buf_add(&b, ",\"summary\":", 11);
        pk_buf_add_json_string(&b, e->summary, strlen(e->summary));
        pk_buf_addf(&b, ",\"starts_at\":\"%s\"", starts);
        if (e->ends_us)
            pk_buf_addf(&b, ",\"ends_at\":\"%s\"", ends);
        else
            pk_buf_addf(&b, ",\"ends_at\":null");
        /* the message every chat receiver gets, and the check's page (public_url) */
        char text[1200], link[700];
        notify_message_line(r, &ne, text, sizeof text);
        notify_check_link(r, e->l.check, link, sizeof link);
        pk_buf_add(&b, ",\"text\":", 8);
        pk_buf_add_json_string(&b, text, strlen(text));
        if (link[0]) {
            pk_buf_add(&b, ",\"link\":", 8);
            pk_buf_add_json_string(&b, link, strlen(link));
        }
        pk_buf_add(&b, "}", 1);
    }
    return pk_buf_take(&b);
}

/* --------------------------------------------------------- state machine */

struct tick {
    struct alerts *a;
    struct store *s;
    int64_t now;
    struct store_alert_state *states;
    size_t n_states;
    struct maint_window *maint; /* maintenance windows this tick (maint_apply.h) */
    size_t n_maint;
    int64_t resolved_at; /* > 0: what a resolve applied now says ended (an incident's end), not now */
};

static struct store_alert_state *find_state(struct tick *t, const char *rule, const char *subject)
{
    for (size_t i = 0; i < t->n_states; i++)
        if (!strcmp(t->states[i].rule, rule) && !strcmp(t->states[i].subject, subject))
            return &t->states[i];
    return NULL;
}

#define MAX_EVENTS 4

/* Renders an evaluation's events for their receivers and saves the new state with
 * the notifications in one transaction; on success the cached state becomes st. */
static void save_and_notify(struct tick *t, const struct alert_rule *rule, const char *subject,
                            struct store_alert_state *old, const struct store_alert_state *st, const struct event *ev,
                            int nev)
{
    int nr = rule->n_receivers ? rule->n_receivers : t->a->cfg.n_receivers;
    struct store_outbox_new out[MAX_EVENTS * ALERT_MAX_RECEIVERS];
    char *bodies[MAX_EVENTS * ALERT_MAX_RECEIVERS];
    char gkeys[MAX_EVENTS][512];
    size_t nout = 0;
    int oom = 0;
    for (int i = 0; i < nev; i++)
        for (int j = 0; j < nr; j++) {
            const struct alert_receiver *r = &t->a->cfg.receivers[rule->n_receivers ? rule->receivers[j] : j];
            char *body = render(r, &ev[i]);
            if (!body) {
                oom = 1;
                continue;
            }
            bodies[nout] = body;
            group_key(&ev[i], gkeys[i], sizeof gkeys[i]);
            out[nout].group_key = gkeys[i];
            out[nout].receiver = r->name;
            out[nout].event_key = ev[i].key;
            out[nout].payload = body;
            out[nout].delay_ms = strcmp(ev[i].status, "firing") == 0 ? rule->group_wait_ms : 0;
            nout++;
        }
    char err[512], q[600];
    if (oom)
        PK_WARN("alerts", "out of memory rendering a notification", "rule=%s", rule->name);
    else if (store_alert_save(t->s, st, out, nout, err, sizeof err) < 0)
        PK_WARN("alerts", "saving alert state failed; will retry", "rule=%s subject=%s error=%s", rule->name,
                pk_log_q(q, sizeof q, subject), pk_log_q(q + 300, 300, err));
    else {
        if (old)
            *old = *st;
        for (int i = 0; i < nev; i++)
            PK_INFO("alerts", "alert event", "rule=%s subject=%s status=%s flapping=%d key=%s", rule->name,
                    pk_log_q(q, 300, subject), ev[i].status, ev[i].flapping, pk_log_q(q + 300, 300, ev[i].key));
    }
    for (size_t i = 0; i < nout; i++)
        free(bodies[i]);
}

/* One evaluation of one (rule, subject). cond: 1 firing, 0 resolved, -1 no
 * verdict (keep the state). since: when the firing condition started. value:
 * rule memory (NAN: none). Applies flap damping and repeat_interval, and saves the
 * state with its notifications in one transaction. */
static void apply(struct tick *t, const struct alert_rule *rule, const char *subject, int cond, int64_t since,
                  const struct labels *l, const char *summary, double value)
{
    struct store_alert_state *old = find_state(t, rule->name, subject);
    struct store_alert_state st;
    if (old) {
        st = *old;
    } else {
        if (cond != 1 && isnan(value))
            return; /* nothing to remember */
        memset(&st, 0, sizeof st);
        pk_strlcpy(st.rule, rule->name, sizeof st.rule);
        pk_strlcpy(st.subject, subject, sizeof st.subject);
        st.since_us = st.last_change_us = st.flap_window_start_us = t->now;
    }
    int dirty = !old;
    struct event ev[MAX_EVENTS];
    int nev = 0;
    int64_t now = t->now, win = rule->flap_window_ms * 1000;
#define EMIT(status_, flap_, starts_, ends_, ...)                                   \
    do {                                                                            \
        struct event *e_ = &ev[nev++];                                              \
        e_->rule = rule;                                                            \
        e_->status = status_;                                                       \
        e_->flapping = flap_;                                                       \
        e_->l = *l;                                                                 \
        e_->summary = summary;                                                      \
        e_->starts_us = starts_;                                                    \
        e_->ends_us = ends_;                                                        \
        snprintf(e_->key, sizeof e_->key, "%s|%s|" __VA_ARGS__);                    \
    } while (0)

    if (!isnan(value) && (!st.has_value || st.value != value)) {
        st.has_value = 1;
        st.value = value;
        dirty = 1;
    }
    if (cond >= 0 && cond != st.firing) {
        int64_t old_since = st.since_us;
        if (now - st.flap_window_start_us > win) {
            st.flap_window_start_us = now;
            st.flips = 0;
        }
        st.flips++;
        st.firing = cond;
        st.since_us = cond ? since : now;
        st.last_change_us = now;
        pk_strlcpy(st.summary, summary, sizeof st.summary);
        dirty = 1;
        if (!st.flapping && st.flips > rule->flap_flips) {
            st.flapping = 1;
            if (!st.notified_firing) {
                EMIT("firing", 1, st.flap_window_start_us, 0, "flapping|%lld", rule->name, subject,
                     (long long)st.flap_window_start_us);
                st.notified_firing = 1;
                st.last_notified_us = now;
            } else {
                /* receivers already know it fires: tell them it flaps, once */
                EMIT("firing", 1, old_since, 0, "flapping|%lld", rule->name, subject,
                     (long long)st.flap_window_start_us);
                st.last_notified_us = now;
            }
        } else if (!st.flapping) {
            if (cond) {
                EMIT("firing", 0, st.since_us, 0, "firing|%lld", rule->name, subject, (long long)st.since_us);
                st.notified_firing = 1;
                st.last_notified_us = now;
            } else if (st.notified_firing) {
                EMIT("resolved", 0, old_since, t->resolved_at > 0 ? t->resolved_at : now, "resolved|%lld", rule->name,
                     subject, (long long)old_since);
                st.notified_firing = 0;
            }
        }
    }
    if (st.flapping && now - st.last_change_us >= win) {
        /* stable for a whole window: flapping ends; say where it settled */
        st.flapping = 0;
        st.flips = 0;
        st.flap_window_start_us = now;
        dirty = 1;
        if (!st.firing && st.notified_firing) {
            EMIT("resolved", 0, st.since_us, now, "resolved|flap-%lld", rule->name, subject,
                 (long long)st.last_change_us);
            st.notified_firing = 0;
        } else if (st.firing && !st.notified_firing) {
            EMIT("firing", 0, st.since_us, 0, "firing|%lld", rule->name, subject, (long long)st.since_us);
            st.notified_firing = 1;
            st.last_notified_us = now;
        }
    }
    if (st.firing && st.notified_firing && !st.flapping && rule->repeat_interval_ms > 0 &&
        now - st.last_notified_us >= rule->repeat_interval_ms * 1000 && nev < MAX_EVENTS) {
        long long k = (long long)((now - st.since_us) / (rule->repeat_interval_ms * 1000));
        EMIT("firing", 0, st.since_us, 0, "firing|%lld|repeat-%lld", rule->name, subject, (long long)st.since_us, k);
        st.last_notified_us = now;
        dirty = 1;
    }
#undef EMIT
    if (dirty)
        save_and_notify(t, rule, subject, old, &st, ev, nev);
}

/* ----------------------------------------------------------- evaluators */

static const struct store_check_meta *meta_of(const struct store_check_meta *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return &m[i];
    return NULL;
}

#define INCIDENT_MAX_LOOKBACK_US (INT64_C(24) * 3600 * 1000000)

/* One check's incident verdict of this tick, applied once every check has one. */
struct verdict {
    int evaluated;
    int cond; /* as apply's */
    int64_t since;
    int64_t ended; /* > 0: the incident's end (a resolve says so) */
    /* > 0: the incident the alert fires for closed at this stored time and is not
     * the newest of the lookback (it closed between two evaluations and left it,
     * or a newer one opened): resolved with this end before the verdict applies */
    int64_t fired_ended;
    char reg[256], fired_reg[256], summary[512];
};

/* 1 when a check m depends on has an incident open now (this tick's verdict, or
 * a firing state) that started no later than since: m's incident is part of it. */
static int caused_by_dependency(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                                size_t n_meta, const struct verdict *v, size_t mi, int64_t since)
{
    for (size_t j = 0; j < n_meta; j++) {
        if (!incident_deps_direct(&meta[mi], &meta[j]))
            continue;
        const struct store_alert_state *st = find_state(t, rule->name, meta[j].name);
        if ((v[j].evaluated && v[j].cond == 1 && v[j].since <= since) || (st && st->firing))
            return 1;
    }
    return 0;
}

/* Applies the verdicts: an incident that starts in a maintenance window of its
 * check, or while a dependency has one open, does not fire (it is reported by
 * picketctl incidents, marked; the root pages). */
static void apply_verdicts(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                           size_t n_meta, struct verdict *v)
{
    for (size_t mi = 0; mi < n_meta; mi++) {
        if (!v[mi].evaluated)
            continue;
        const struct store_check_meta *m = &meta[mi];
        const struct store_alert_state *was = find_state(t, rule->name, m->name);
        const char *window = NULL;
        int cond = v[mi].cond;
        if (cond == 1 && !(was && was->firing) &&
            (maint_incident_in_window(t->maint, t->n_maint, m, v[mi].since, &window) ||
             caused_by_dependency(t, rule, meta, n_meta, v, mi, v[mi].since)))
            cond = -1;
        struct labels l = {m->name, m->service, "", v[mi].reg};
        if (v[mi].fired_ended > 0 && was && was->firing) {
            char recovered[512];
            snprintf(recovered, sizeof recovered, "check %s recovered", m->name);
            struct labels fl = {m->name, m->service, "", v[mi].fired_reg};
            t->resolved_at = v[mi].fired_ended;
            apply(t, rule, m->name, 0, 0, &fl, recovered, NAN);
            was = find_state(t, rule->name, m->name);
        }
        t->resolved_at = v[mi].ended;
        apply(t, rule, m->name, cond, v[mi].since, &l, v[mi].summary, NAN);
        t->resolved_at = 0;
    }
}

/* The names of the regions in mask (indexes into names), comma-separated. */
static void regions_label(uint64_t mask, char (*names)[128], int n_names, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int r = 0; r < n_names; r++)
        if (mask & (UINT64_C(1) << r)) {
            size_t len = strlen(out);
            snprintf(out + len, outlen - len, "%s%s", len ? "," : "", names[r]);
        }
}

/* The stored end and regions of the incident that started at since (the one a
 * firing alert is for), looked up in inc and else in the stored incidents from
 * since; the end is 0 when it is open or gone (retention): the resolve then says
 * now. */
static void fired_incident(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *m,
                           const struct pk_incident *inc, size_t ni, int64_t since, char (*names)[128], int *n_names,
                           struct verdict *v)
{
    for (size_t i = 0; i < ni; i++)
        if (inc[i].start_us == since) {
            v->fired_ended = inc[i].end_us > 0 ? inc[i].end_us : 0;
            regions_label(inc[i].regions, names, *n_names, v->fired_reg, sizeof v->fired_reg);
            return;
        }
    struct tracked_window w;
    struct pk_incident *old = NULL;
    size_t n = 0;
    char err[512], q[600];
    if (tracked_incidents(t->s, m->name, NULL, rule->quorum, rule->open_after, rule->close_after, since,
                          since + m->interval_ms * 1000, &old, &n, names, n_names, &w, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading the firing incident failed", "rule=%s check=%s error=%s", rule->name,
                pk_log_q(q, 300, m->name), pk_log_q(q + 300, 300, err));
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (old[i].start_us == since && old[i].end_us > 0) {
            v->fired_ended = old[i].end_us;
            regions_label(old[i].regions, names, *n_names, v->fired_reg, sizeof v->fired_reg);
        }
    free(old);
}

/* Incidents: the tracker's stored global incidents (rpc_incidents.h), nothing
 * re-derived from results. The rule's open_after/close_after/quorum, when they
 * are not the collector's, walk the same rule over the stored runs. The newest
 * incident of the last (N + M + 4) rounds fires while open (since its first
 * down round) and resolves when it closes; none resolves. A check the tracker
 * has not folded yet keeps its state. Verdicts are applied once every check has
 * one (apply_verdicts: maintenance and dependencies). */
static void eval_incidents(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                           size_t n_meta)
{
    char err[512], q[600];
    char(*names)[128] = malloc(PK_AN_MAX_REGIONS * 128);
    struct verdict *v = calloc(n_meta ? n_meta : 1, sizeof *v);
    if (!names || !v) {
        free(names);
        free(v);
        return;
    }
    for (size_t mi = 0; mi < n_meta; mi++) {
        const struct store_check_meta *m = &meta[mi];
        if (m->interval_ms <= 0 || fnmatch(rule->checks, m->name, 0) != 0)
            continue;
        int64_t iv = m->interval_ms * 1000;
        int64_t lookback = (int64_t)(rule->open_after + rule->close_after + 4) * iv;
        if (lookback > INCIDENT_MAX_LOOKBACK_US)
            lookback = INCIDENT_MAX_LOOKBACK_US;
        struct tracked_window w;
        struct pk_incident *inc = NULL;
        size_t ni = 0;
        int n_names = 0;
        if (tracked_incidents(t->s, m->name, NULL, rule->quorum, rule->open_after, rule->close_after,
                              t->now - lookback, t->now + iv, &inc, &ni, names, &n_names, &w, err, sizeof err) < 0) {
            PK_WARN("alerts", "incident evaluation failed", "rule=%s check=%s error=%s", rule->name,
                    pk_log_q(q, 300, m->name), pk_log_q(q + 300, 300, err));
            continue;
        }
        if (w.tracked) {
            int cond = ni > 0 && inc[ni - 1].end_us < 0;
            char *reg = v[mi].reg, *summary = v[mi].summary;
            /* the regions label names the newest incident's regions, firing or resolved alike
             * (Alertmanager matches a resolve to its alert by labels) */
            regions_label(ni > 0 ? inc[ni - 1].regions : 0, names, n_names, reg, sizeof v[mi].reg);
            if (cond)
                snprintf(summary, sizeof v[mi].summary, "check %s is down%s%s: %d failed rounds in a row", m->name,
                         reg[0] ? " in " : "", reg, inc[ni - 1].down_rounds);
            else
                snprintf(summary, sizeof v[mi].summary, "check %s recovered: %d good rounds in a row", m->name,
                         w.close_after);
            v[mi].evaluated = 1;
            v[mi].cond = cond;
            v[mi].since = ni > 0 ? inc[ni - 1].start_us : 0;
            v[mi].ended = !cond && ni > 0 && inc[ni - 1].end_us > 0 ? inc[ni - 1].end_us : 0;
            const struct store_alert_state *was = find_state(t, rule->name, m->name);
            if (was && was->firing && !was->flapping && (ni == 0 || inc[ni - 1].start_us != was->since_us))
                fired_incident(t, rule, m, inc, ni, was->since_us, names, &n_names, &v[mi]);
        }
        free(inc);
    }
    apply_verdicts(t, rule, meta, n_meta, v);
    free(v);
    free(names);
}

static void eval_probes(struct tick *t, const struct alert_rule *rule)
{
    struct store_probe_row *p = NULL;
    size_t n = 0;
    char err[512], q[600];
    if (store_probe_status(t->s, &p, &n, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading probes failed", "rule=%s error=%s", rule->name, pk_log_q(q, sizeof q, err));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (fnmatch(rule->checks, p[i].name, 0) != 0)
            continue;
        struct labels l = {"", "", p[i].name, p[i].region};
        char summary[512];
        if (rule->type == ALERT_SILENT_PROBE) {
            int64_t quiet = t->now - p[i].last_seen_us;
            int cond = quiet > rule->window_ms * 1000;
            if (cond)
                snprintf(summary, sizeof summary, "probe %s (region %s) silent for %lld s", p[i].name, p[i].region,
                         (long long)(quiet / 1000000));
            else
                snprintf(summary, sizeof summary, "probe %s (region %s) reports again", p[i].name, p[i].region);
            apply(t, rule, p[i].name, cond, p[i].last_seen_us, &l, summary, NAN);
        } else {
            const struct store_alert_state *st = find_state(t, rule->name, p[i].name);
            double total = (double)p[i].dropped;
            int cond = -1;
            if (st && st->has_value && total > st->value) {
                cond = 1;
                snprintf(summary, sizeof summary, "probe %s (region %s) dropped %.0f results from its spool (%.0f in all)",
                         p[i].name, p[i].region, total - st->value, total);
            } else {
                if (st && st->firing && t->now - st->last_change_us >= rule->window_ms * 1000)
                    cond = 0;
                snprintf(summary, sizeof summary, "probe %s (region %s) dropped no more results for %lld s",
                         p[i].name, p[i].region, (long long)(rule->window_ms / 1000));
            }
            apply(t, rule, p[i].name, cond, t->now, &l, summary, total);
        }
    }
    free(p);
}

/* slo_burn on group SLOs (--slos) whose name matches rule->slos: the per-minute
 * rows of all their members together (docs/ANALYTICS.md, "SLOs over groups of
 * checks"). b has room for n buckets. Subject "slo:NAME", label slo=NAME. */
static void eval_group_slos(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                            size_t n_meta, const struct store_rollup_row *rows, size_t n, struct pk_an_bucket *b,
                            int64_t span)
{
    const struct slo_config *cfg = t->a->cfg.slos;
    char err[512], summary[512], subject[ALERT_NAME_MAX + 8];
    for (size_t gi = 0; cfg && gi < cfg->n_groups; gi++) {
        const struct slo_group *g = &cfg->groups[gi];
        if (fnmatch(rule->slos, g->name, 0) != 0)
            continue;
        size_t nb = 0;
        for (size_t x = 0, y; x < n; x = y) { /* rows come by check: one member's minutes at a time */
            for (y = x + 1; y < n && strcmp(rows[y].check_name, rows[x].check_name) == 0; y++)
                ;
            const struct store_check_meta *m = meta_of(meta, n_meta, rows[x].check_name);
            if (!m || !slo_group_selects(g, m->name, m->service))
                continue;
            size_t first = nb, n_kept = 0;
            for (size_t k = x; k < y; k++)
                b[nb++] = (struct pk_an_bucket){.start_us = rows[k].bucket_start_us, .width_us = 60000000,
                                                .n = {rows[k].ok, rows[k].degraded, rows[k].failed, rows[k].unknown}};
            struct pk_an_bucket *kept = NULL; /* rounds in maintenance leave the SLO */
            if (maint_exact_minutes(t->s, t->maint, t->n_maint, m, NULL, t->now - span, t->now + 60000000, b + first,
                                    y - x, &kept, &n_kept, err, sizeof err) == 0) {
                memcpy(b + first, kept, n_kept * sizeof *kept);
                nb = first + n_kept;
            }
            free(kept);
        }
        struct pk_slo_opts o = {.target = g->target_percent / 100.0, .window_us = span,
                                .degraded_policy = PK_DEGRADED_UP, .n_alerts = 1};
        o.alert[0].long_us = rule->slo_long_ms * 1000;
        o.alert[0].short_us = rule->slo_short_ms * 1000;
        o.alert[0].factor = rule->slo_factor;
        struct pk_slo out;
        if (pk_slo_eval(b, nb, t->now, &o, &out, err, sizeof err) < 0)
            continue;
        const struct pk_slo_alert *al = &out.alert[0];
        int cond = isnan(al->burn_long) || isnan(al->burn_short) ? -1 : al->firing;
        snprintf(summary, sizeof summary,
                 "SLO %s burns its %.3g%% error budget %.1fx (%lld min) and %.1fx (%lld min), page at %gx", g->name,
                 g->target_percent, al->burn_long, (long long)(rule->slo_long_ms / 60000), al->burn_short,
                 (long long)(rule->slo_short_ms / 60000), rule->slo_factor);
        snprintf(subject, sizeof subject, "slo:%s", g->name);
        struct labels l = {"", g->service, "", "", g->name};
        apply(t, rule, subject, cond, t->now, &l, summary, NAN);
    }
}

/* Latency budgets over the window, and SLO burn rate (multiwindow), from rollups. */
static void eval_rollups(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                         size_t n_meta)
{
    int slo = rule->type == ALERT_SLO_BURN;
    int64_t span = slo ? rule->slo_long_ms * 1000 : rule->window_ms * 1000;
    struct store_rollup_filter f = {.since_us = t->now - span, .until_us = t->now + 60000000,
                                    .group = STORE_ROLLUP_BY_CHECK, .bucket_us = slo ? 60000000 : 0};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    char err[512], q[600];
    if (store_rollup_query(t->s, &f, &rows, &n, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading rollups failed", "rule=%s error=%s", rule->name, pk_log_q(q, sizeof q, err));
        return;
    }
    struct pk_an_bucket *b = calloc(n ? n : 1, sizeof *b);
    for (size_t i = 0; b && i < n;) {
        size_t j = i;
        while (j < n && !strcmp(rows[j].check_name, rows[i].check_name))
            j++;
        const struct store_check_meta *m = meta_of(meta, n_meta, rows[i].check_name);
        if (!m || fnmatch(rule->checks, m->name, 0) != 0 || (slo && rule->slos[0] && !rule->checks_given)) {
            i = j;
            continue;
        }
        struct labels l = {m->name, m->service, "", ""};
        char summary[512];
        if (!slo) {
            struct pk_budget bud = {m->meta.budget_p50_ms * 1000.0, m->meta.budget_p95_ms * 1000.0,
                                    m->meta.budget_p99_ms * 1000.0};
            if (bud.p50_us > 0 || bud.p95_us > 0 || bud.p99_us > 0) {
                double qs[3];
                unsigned mask = pk_budget_breaches(&bud, &rows[i].hist, qs);
                int cond = qs[0] < 0 ? -1 : mask != 0;
                if (cond == 1)
                    snprintf(summary, sizeof summary,
                             "check %s over its latency budget in the last %lld s:%s%s%s (p50 %.1f ms, p95 %.1f ms, "
                             "p99 %.1f ms)", m->name, (long long)(rule->window_ms / 1000),
                             mask & PK_BUDGET_P50 ? " p50" : "", mask & PK_BUDGET_P95 ? " p95" : "",
                             mask & PK_BUDGET_P99 ? " p99" : "", qs[0] / 1000, qs[1] / 1000, qs[2] / 1000);
                else
                    snprintf(summary, sizeof summary, "check %s within its latency budget", m->name);
                apply(t, rule, m->name, cond, t->now, &l, summary, NAN);
            }
        } else if (m->meta.slo_target_percent > 0) {
            for (size_t x = i; x < j; x++) {
                b[x - i].start_us = rows[x].bucket_start_us;
                b[x - i].width_us = 60000000;
                b[x - i].n.ok = rows[x].ok;
                b[x - i].n.degraded = rows[x].degraded;
                b[x - i].n.failed = rows[x].failed;
                b[x - i].n.unknown = rows[x].unknown;
                b[x - i].hist = &rows[x].hist;
            }
            struct pk_slo_opts o = {.target = m->meta.slo_target_percent / 100.0, .window_us = span,
                                    .degraded_policy = PK_DEGRADED_UP, .n_alerts = 1};
            o.alert[0].long_us = rule->slo_long_ms * 1000;
            o.alert[0].short_us = rule->slo_short_ms * 1000;
            o.alert[0].factor = rule->slo_factor;
            struct pk_slo out;
            struct pk_an_bucket *kept = NULL; /* rounds in maintenance leave the SLO */
            size_t n_kept = 0;
            if (maint_exact_minutes(t->s, t->maint, t->n_maint, m, NULL, t->now - span, t->now + 60000000, b, j - i,
                                    &kept, &n_kept, err, sizeof err) == 0 &&
                pk_slo_eval(kept, n_kept, t->now, &o, &out, err, sizeof err) == 0) {
                const struct pk_slo_alert *al = &out.alert[0];
                int cond = isnan(al->burn_long) || isnan(al->burn_short) ? -1 : al->firing;
                snprintf(summary, sizeof summary,
                         "check %s burns its %.3g%% SLO error budget %.1fx (%lld min) and %.1fx (%lld min), page at %gx",
                         m->name, m->meta.slo_target_percent, al->burn_long, (long long)(rule->slo_long_ms / 60000),
                         al->burn_short, (long long)(rule->slo_short_ms / 60000), rule->slo_factor);
                apply(t, rule, m->name, cond, t->now, &l, summary, NAN);
            }
            free(kept);
        }
        i = j;
    }
    if (slo && rule->slos[0] && b)
        eval_group_slos(t, rule, meta, n_meta, rows, n, b, span);
    free(b);
    free(rows);
}

/* Baseline regression, as picketctl report judges it (docs/ANALYTICS.md): the
 * check's hourly p95 (or, with 'metric', the hourly median of that metric, in
 * the rule's 'direction') over the 28 days before the last 24 hours is the history of an
 * hour-of-week baseline; the last 24 hours (the current one included) feed the
 * k-consecutive detector. On latency the fast half judges the 5-minute medians
 * too (unless 'fast: false'); the rule is raised while either half is, since the
 * first deviant window of the run. collector/regression_rule.c, shared with the
 * back-test. 0 with *reg and *fast_raised, 1 when learning, -1 on error. */
/* The ends a tick's baseline rules judge at: the hourly half's (the end of the
 * current hour) and the fast half's (the last whole 5 minutes). The prefetch
 * and the judgement must agree on them. */
static int64_t hourly_end(const struct tick *t)
{
    return rollup_floor(t->now, ROLLUP_HOUR_US) + ROLLUP_HOUR_US;
}

static int64_t fast_end(const struct tick *t)
{
    return rollup_floor(t->now, PK_REGRESSION_FAST_WIDTH_US);
}

static int judge_baseline(struct tick *t, const struct alert_rule *rule, const char *check, struct pk_regression *reg,
                          int *fast_raised, char *err, size_t errlen)
{
    int64_t end = hourly_end(t);
    const char *metric = rule->baseline_metric[0] ? rule->baseline_metric : NULL;
    struct pk_regression_opts ro;
    regression_rule_opts(rule->baseline_threshold, rule->baseline_k, metric ? rule->baseline_direction : 0, &ro);
    *fast_raised = 0;
    reg->state = PK_REG_NO_HISTORY;
    int rc = regression_hourly_cached(&t->a->baseline_cache, t->s, (int)(rule - t->a->cfg.rules), check, metric, end,
                                      &ro, reg, err, errlen);
    int verdict = reg->state == PK_REG_NORMAL || reg->state == PK_REG_RAISED;
    if (rc < 0 || rule->baseline_no_fast)
        return rc < 0 ? -1 : !verdict;
    int64_t fend = fast_end(t);
    struct pk_regression fr;
    regression_fast_opts(metric ? rule->baseline_direction : 0, &ro);
    if (regression_fast_cached(&t->a->baseline_cache, t->s, (int)(rule - t->a->cfg.rules), check, metric, fend, &ro, &fr,
                               err, errlen) < 0)
        return -1;
    if (fr.state == PK_REG_RAISED && (reg->state != PK_REG_RAISED || fr.since_us < reg->since_us)) {
        *fast_raised = 1;
        *reg = fr;
    } else if (!verdict && fr.state == PK_REG_NORMAL) {
        *reg = fr;
    }
    return reg->state == PK_REG_NORMAL || reg->state == PK_REG_RAISED ? 0 : 1;
}

/* A latency rule's judged windows of every check it covers, each half read
 * at once for all of them (regression_cache_prefetch): a few statements an
 * evaluation instead of about ten per check. On failure each check reads its
 * own. */
static void prefetch_baseline(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                              size_t n_meta)
{
    char err[512], q[600];
    const char **names = malloc((n_meta ? n_meta : 1) * sizeof *names);
    size_t n = 0;
    if (!names)
        return;
    for (size_t mi = 0; mi < n_meta; mi++)
        if (fnmatch(rule->checks, meta[mi].name, 0) == 0)
            names[n++] = meta[mi].name;
    int r = (int)(rule - t->a->cfg.rules);
    int64_t end = hourly_end(t), fend = fast_end(t);
    if (n > 1 && (regression_cache_prefetch(&t->a->baseline_cache, t->s, r, 1, names, n, end, err, sizeof err) < 0 ||
                  (!rule->baseline_no_fast &&
                   regression_cache_prefetch(&t->a->baseline_cache, t->s, r, 0, names, n, fend, err, sizeof err) < 0)))
        PK_WARN("alerts", "baseline rule: reading every check at once failed; reading each", "rule=%s error=%s",
                rule->name, pk_log_q(q, sizeof q, err));
    free(names);
}

static void eval_baseline(struct tick *t, const struct alert_rule *rule, const struct store_check_meta *meta,
                          size_t n_meta)
{
    char err[512], q[600];
    const char *metric = rule->baseline_metric[0] ? rule->baseline_metric : NULL;
    if (!metric)
        prefetch_baseline(t, rule, meta, n_meta);
    for (size_t mi = 0; mi < n_meta; mi++) {
        const struct store_check_meta *m = &meta[mi];
        if (fnmatch(rule->checks, m->name, 0) != 0)
            continue;
        struct pk_regression reg;
        int fast = 0, rc = judge_baseline(t, rule, m->name, &reg, &fast, err, sizeof err);
        if (rc < 0)
            PK_WARN("alerts", "baseline rule failed", "rule=%s check=%s error=%s", rule->name,
                    pk_log_q(q, 300, m->name), pk_log_q(q + 300, 300, err));
        if (rc != 0)
            continue; /* learning: no verdict, the state stays */
        int raised = reg.state == PK_REG_RAISED;
        char summary[512], what[160];
        if (metric)
            snprintf(what, sizeof what, "%s median of %s %.2f", fast ? "5-minute" : "hourly", metric, reg.last_value);
        else
            snprintf(what, sizeof what, "%s %.1f ms", fast ? "5-minute median" : "hourly p95", reg.last_value / 1000);
        if (raised)
            snprintf(summary, sizeof summary, "check %s regressed: %s against a baseline of %.*f%s (robust z %.1f) "
                     "for %d %s or more", m->name, what, metric ? 2 : 1, metric ? reg.expected : reg.expected / 1000,
                     metric ? "" : " ms", reg.last_score, fast ? PK_REGRESSION_FAST_K * 5 : rule->baseline_k,
                     fast ? "minutes" : "hours");
        else
            snprintf(summary, sizeof summary, "check %s back to its baseline (%s, expected %.*f%s)", m->name, what,
                     metric ? 2 : 1, metric ? reg.expected : reg.expected / 1000, metric ? "" : " ms");
        struct labels l = {m->name, m->service, "", ""};
        apply(t, rule, m->name, raised, raised ? reg.since_us : t->now, &l, summary, NAN);
    }
}

static void evaluate(struct tick *t)
{
    char err[512], q[600];
    if (store_alert_states(t->s, &t->states, &t->n_states, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading alert state failed", "error=%s", pk_log_q(q, sizeof q, err));
        return;
    }
    struct store_check_meta *meta = NULL;
    size_t n_meta = 0;
    if (store_check_meta(t->s, &meta, &n_meta, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading checks failed", "error=%s", pk_log_q(q, sizeof q, err));
        free(t->states);
        return;
    }
    if (maint_apply_windows(t->s, &t->maint, &t->n_maint, err, sizeof err) < 0)
        PK_WARN("alerts", "reading maintenance windows failed; none apply this tick", "error=%s",
                pk_log_q(q, sizeof q, err));
    for (int i = 0; i < t->a->cfg.n_rules; i++) {
        const struct alert_rule *r = &t->a->cfg.rules[i];
        switch (r->type) {
        case ALERT_INCIDENT:
            eval_incidents(t, r, meta, n_meta);
            break;
        case ALERT_SILENT_PROBE:
        case ALERT_SPOOL_DROPS:
            eval_probes(t, r);
            break;
        case ALERT_LATENCY_BUDGET:
        case ALERT_SLO_BURN:
            eval_rollups(t, r, meta, n_meta);
            break;
        case ALERT_BASELINE:
            if (t->now >= t->a->next_baseline_us[i]) {
                t->a->next_baseline_us[i] = t->now + r->window_ms * 1000;
                eval_baseline(t, r, meta, n_meta);
            }
            break;
        default:
            break;
        }
    }
    free(meta);
    free(t->maint);
    t->maint = NULL;
    t->n_maint = 0;
    free(t->states);
    t->states = NULL;
    t->n_states = 0;
}

/* ------------------------------------------------------------- delivery */

static const struct alert_rule *rule_of_key(const struct alerts *a, const char *event_key)
{
    size_t len = strcspn(event_key, "|");
    for (int i = 0; i < a->cfg.n_rules; i++)
        if (strlen(a->cfg.rules[i].name) == len && !strncmp(a->cfg.rules[i].name, event_key, len))
            return &a->cfg.rules[i];
    return NULL;
}

static int key_is_resolved(const char *event_key) { return strstr(event_key, "|resolved|") != NULL; }

#define GROUP_POST_MAX 50

/* The POST body for rows idx[0..n) of one receiver and group; NULL with err. */
static char *envelope(const struct alert_receiver *r, const struct store_outbox_row *rows, const size_t *idx, size_t n,
                      char *err, size_t errlen)
{
    struct pk_buf b;
    if (r->type >= ALERT_RCV_PAGERDUTY) {
        const char *payloads[GROUP_POST_MAX];
        for (size_t i = 0; i < n && i < GROUP_POST_MAX; i++)
            payloads[i] = rows[idx[i]].payload;
        return notify_payload_envelope(r, payloads, rows[idx[0]].event_key, n, err, errlen);
    }
    pk_buf_init(&b, 0);
    if (r->type == ALERT_RCV_ALERTMANAGER) {
        pk_buf_add(&b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                pk_buf_add(&b, ",", 1);
            pk_buf_add(&b, rows[idx[i]].payload, strlen(rows[idx[i]].payload));
        }
        pk_buf_add(&b, "]", 1);
    } else if (r->type == ALERT_RCV_SLACK) {
        /* each payload is a JSON string literal: join their insides with \n */
        pk_buf_add(&b, "{\"text\":\"", 9);
        for (size_t i = 0; i < n; i++) {
            const char *p = rows[idx[i]].payload;
            size_t len = strlen(p);
            if (i)
                pk_buf_add(&b, "\\n", 2);
            if (len >= 2)
                pk_buf_add(&b, p + 1, len - 2);
        }
        pk_buf_add(&b, "\"}", 2);
    } else {
        int firing = 0;
        for (size_t i = 0; i < n; i++)
            firing |= !key_is_resolved(rows[idx[i]].event_key);
        pk_buf_add(&b, "{\"version\":\"1\",\"receiver\":", 26);
        pk_buf_add_json_string(&b, r->name, strlen(r->name));
        pk_buf_addf(&b, ",\"status\":\"%s\",\"group_key\":", firing ? "firing" : "resolved");
        pk_buf_add_json_string(&b, rows[idx[0]].group_key, strlen(rows[idx[0]].group_key));
        pk_buf_add(&b, ",\"alerts\":[", 11);
        for (size_t i = 0; i < n; i++) {
            if (i)
                pk_buf_add(&b, ",", 1);
            pk_buf_add(&b, rows[idx[i]].payload, strlen(rows[idx[i]].payload));
        }
        pk_buf_add(&b, "]}", 2);
    }
    char *out = pk_buf_take(&b);
    if (!out)
        snprintf(err, errlen, "out of memory");
    return out;
}

#define OUTBOX_BATCH 200

/* How many rows of one group ride in one request to r. */
static size_t batch_max(const struct alert_receiver *r)
{
    size_t n = r ? notify_batch_max(r) : 1;
    return n < GROUP_POST_MAX ? n : GROUP_POST_MAX;
}

/* retry_initial doubled per attempt, capped at retry_max. */
static int64_t backoff_ms(const struct alert_receiver *r, int attempts)
{
    int64_t ms = r->retry_initial_ms;
    for (int k = 0; k < attempts && ms < r->retry_max_ms; k++)
        ms *= 2;
    return ms > r->retry_max_ms ? r->retry_max_ms : ms;
}

static void deliver(struct alerts *a, struct store *s)
{
    struct group_sent *sent = a->sent;
    struct store_outbox_row *rows = NULL;
    size_t n = 0;
    char err[512], q[600];
    if (store_outbox_due(s, OUTBOX_BATCH, &rows, &n, err, sizeof err) < 0) {
        PK_WARN("alerts", "reading the outbox failed", "error=%s", pk_log_q(q, sizeof q, err));
        return;
    }
    char done[OUTBOX_BATCH] = {0};
    int64_t now = now_us();
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const struct alert_receiver *r = NULL;
        for (int j = 0; j < a->cfg.n_receivers; j++)
            if (!strcmp(a->cfg.receivers[j].name, rows[i].receiver))
                r = &a->cfg.receivers[j];
        /* group_interval: a group POSTed to this receiver lately waits */
        const struct alert_rule *rule = rule_of_key(a, rows[i].event_key);
        struct group_sent *g = NULL;
        for (size_t k = 0; k < GROUP_MEMORY; k++)
            if (sent[k].at_us && !strcmp(sent[k].receiver, rows[i].receiver) &&
                !strcmp(sent[k].group_key, rows[i].group_key))
                g = &sent[k];
        if (r && rule && g && rule->group_interval_ms > 0 && now - g->at_us < rule->group_interval_ms * 1000) {
            for (size_t k = i; k < n; k++)
                if (!strcmp(rows[k].receiver, rows[i].receiver) && !strcmp(rows[k].group_key, rows[i].group_key))
                    done[k] = 1;
            continue;
        }
        size_t idx[GROUP_POST_MAX], m = 0, batch = batch_max(r);
        for (size_t k = i; k < n && m < batch; k++)
            if (!done[k] && !strcmp(rows[k].receiver, rows[i].receiver) &&
                !strcmp(rows[k].group_key, rows[i].group_key)) {
                idx[m++] = k;
                done[k] = 1;
            }
        int64_t retry_ms = 300000;
        int status = -1;
        char *body = NULL;
        if (!r) {
            snprintf(err, sizeof err, "receiver '%s' is not in the alerts file", rows[i].receiver);
        } else if (!(body = envelope(r, rows, idx, m, err, sizeof err))) {
            retry_ms = r->retry_max_ms;
        } else {
            char key[600];
            if (m == 1)
                snprintf(key, sizeof key, "%s", rows[i].event_key);
            else
                snprintf(key, sizeof key, "%.500s+%zu", rows[i].event_key, m - 1);
            status = notify_receiver_send(r, rows[i].event_key, key, body, err, sizeof err);
            if (status >= 0 && (status < 200 || status > 299))
                snprintf(err, sizeof err, "%.400s answered HTTP %d", r->url, status);
            retry_ms = backoff_ms(r, rows[i].attempts);
        }
        free(body);
        int ok = status >= 200 && status <= 299;
        if (ok) {
            if (!g) {
                g = &sent[a->sent_next];
                a->sent_next = (a->sent_next + 1) % GROUP_MEMORY;
                pk_strlcpy(g->receiver, rows[i].receiver, sizeof g->receiver);
                pk_strlcpy(g->group_key, rows[i].group_key, sizeof g->group_key);
            }
            g->at_us = now;
        }
        for (size_t k = 0; k < m; k++) {
            const struct store_outbox_row *row = &rows[idx[k]];
            char err2[512];
            if (store_outbox_mark(s, row->id, ok, ok ? NULL : err, retry_ms, err2, sizeof err2) < 0)
                PK_WARN("alerts", "recording a delivery failed", "error=%s", pk_log_q(q, sizeof q, err2));
            else if (ok)
                PK_INFO("alerts", "notification delivered", "receiver=%s key=%s attempts=%d group_size=%zu",
                        pk_log_q(q, 300, row->receiver), pk_log_q(q + 300, 300, row->event_key), row->attempts + 1, m);
            else
                PK_WARN("alerts", "notification not delivered; will retry",
                        "receiver=%s key=%s retry_ms=%lld error=%s", row->receiver, pk_log_q(q, 300, row->event_key),
                        (long long)retry_ms, pk_log_q(q + 300, 300, err));
        }
    }
    store_outbox_free(rows, n);
}

/* --------------------------------------------------------------- thread */

#define DELIVERY_TICK_MS 200

static void *alerts_main(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-alerts");
    struct alerts *a = arg;
    struct store *s = NULL;
    int leader = 0, logged = 0;
    int64_t next_eval = 0, next_connect = 0;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        if (!a->stopping) {
            struct timespec until = pk_realtime_after_ms(DELIVERY_TICK_MS);
            pthread_cond_timedwait(&a->cond, &a->mu, &until);
        }
        int stop = a->stopping;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        int64_t now = now_us();
        char err[512], q[600];
        if (!s) {
            if (now < next_connect)
                continue;
            s = store_open(a->conninfo, err, sizeof err);
            if (!s) {
                if (!logged++)
                    PK_WARN("alerts", "database unreachable; retrying", "error=%s", pk_log_q(q, sizeof q, err));
                next_connect = now + 2000000;
                continue;
            }
            logged = 0;
            leader = 0;
        }
        if (store_ping(s) != 0) {
            store_close(s);
            s = NULL;
            continue;
        }
        if (!leader_holds()) {
            leader = 0;
            continue; /* another collector evaluates (leader.h) */
        }
        if (!leader) {
            leader = 1;
            PK_INFO("alerts", "evaluating alerts", "rules=%d receivers=%d interval_ms=%lld", a->cfg.n_rules,
                    a->cfg.n_receivers, (long long)a->cfg.evaluation_interval_ms);
        }
        if (now >= next_eval) {
            next_eval = now + a->cfg.evaluation_interval_ms * 1000;
            struct tick t = {.a = a, .s = s, .now = now};
            evaluate(&t);
        }
        deliver(a, s);
    }
    if (s)
        store_close(s);
    return NULL;
}

struct alerts *alerts_start(const char *conninfo, const struct alert_config *cfg, char *err, size_t errlen)
{
    struct alerts *a = calloc(1, sizeof *a);
    if (!a || !(a->conninfo = strdup(conninfo))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
        snprintf(err, errlen, "cannot start the alerting thread");
        free(a->conninfo);
        free(a);
        return NULL;
    }
    return a;
}

void alerts_stop(struct alerts *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cond);
    regression_cache_free(&a->baseline_cache);
    free(a->conninfo);
    free(a);
}
