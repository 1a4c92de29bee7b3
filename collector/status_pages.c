/* status_pages.c: status pages for groups of services (docs/DASHBOARD.md,
 * "Status pages"). The --status-pages YAML file names each page's title, logo,
 * services and whether it is public; a page not in the file is the services
 * named by the group or starting with "<group>." or "<group>/", as before. The
 * 90 days of daily bars per service (its worst check's share of good results
 * that day, from the rollups) and each service's incidents over those days (the
 * Query API's IncidentsResponse, merged per service) are computed by the
 * dashboard's background thread every HIST_EVERY_US (HIST_SOON_US in its first
 * 10 minutes) and kept in a struct dash_hist that requests only read; the same
 * rollup reads give each check's days, the overview's day bars (/api/day-bars,
 * rendered here once per history); the maintenance windows ongoing or planned
 * on each service (maint_apply_windows, expanded by maint_intervals) every
 * pass, in a struct dash_maint. Validated at load, with FILE:LINE:COL. */
#define _POSIX_C_SOURCE 200809L
#include "dashboard_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "auth.h"
#include "buf.h"
#include "log.h"
#include "maint_apply.h"
#include "picket/v1/picket.pb-c.h"
#include "result.h"
#include "rollup.h"
#include "rpc_query.h"
#include "yaml_doc.h"

#define DAY_US INT64_C(86400000000)
#define HIST_EVERY_US INT64_C(300000000)
#define HIST_SOON_US INT64_C(30000000)
#define LOGO_MAX (256 * 1024)

/* ------------------------------------------------------------ the file */

static int get_text(struct yaml_doc *L, const yaml_node_t *n, const char *what, char *out, size_t outlen)
{
    if (!yaml_doc_is_scalar(n))
        return yaml_doc_fail(L, n, "'%s' must be a non-empty string", what);
    if (n->data.scalar.length >= outlen)
        return yaml_doc_fail(L, n, "'%s' is longer than %zu characters", what, outlen - 1);
    snprintf(out, outlen, "%s", yaml_doc_txt(n));
    return 0;
}

static int get_logo(struct yaml_doc *L, const yaml_node_t *n, struct status_page *p)
{
    char path[512], err[600];
    if (get_text(L, n, "logo", path, sizeof path) < 0)
        return -1;
    size_t len = strlen(path);
    const char *type = len > 4 && strcmp(path + len - 4, ".svg") == 0   ? "image/svg+xml"
                       : len > 4 && strcmp(path + len - 4, ".png") == 0 ? "image/png"
                                                                         : NULL;
    if (!type)
        return yaml_doc_fail(L, n, "'logo' of page '%s' must be a .svg or .png file", p->name);
    size_t got = 0;
    char *data = yaml_doc_read_file(path, &got, err, sizeof err);
    if (!data)
        return yaml_doc_fail(L, n, "'logo' of page '%s': %s", p->name, err);
    if (got > LOGO_MAX) {
        free(data);
        return yaml_doc_fail(L, n, "'logo' of page '%s' is over %d KiB", p->name, LOGO_MAX / 1024);
    }
    p->logo = data;
    p->logo_len = got;
    p->logo_type = type;
    return 0;
}

static int parse_page(struct yaml_doc *L, const yaml_node_t *m, struct status_page *p)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, m, "each status page must be a mapping (name, title, logo, services, public)");
    p->public_page = 1;
    const yaml_node_t *services = NULL;
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *k = yaml_doc_node(L, kv->key), *v = yaml_doc_node(L, kv->value);
        const char *key = yaml_doc_is_scalar(k) ? yaml_doc_txt(k) : "";
        int rc = 0;
        if (strcmp(key, "name") == 0) {
            rc = get_text(L, v, "name", p->name, sizeof p->name);
            if (rc == 0 && strspn(p->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                                strlen(p->name))
                rc = yaml_doc_fail(L, v, "page name '%s' may hold only letters, digits, '.', '_' and '-'", p->name);
        } else if (strcmp(key, "title") == 0)
            rc = get_text(L, v, "title", p->title, sizeof p->title);
        else if (strcmp(key, "logo") == 0)
            rc = get_logo(L, v, p);
        else if (strcmp(key, "public") == 0) {
            const char *t = yaml_doc_is_scalar(v) ? yaml_doc_txt(v) : "";
            if (strcmp(t, "true") != 0 && strcmp(t, "false") != 0)
                rc = yaml_doc_fail(L, v, "'public' must be true or false");
            p->public_page = strcmp(t, "true") == 0;
        } else if (strcmp(key, "services") == 0)
            services = v;
        else
            rc = yaml_doc_fail(L, k, "status page: unknown key '%s' (name, title, logo, services, public)", key);
        if (rc < 0)
            return -1;
    }
    if (!p->name[0])
        return yaml_doc_fail(L, m, "a status page needs a 'name' (its URL is /status/NAME)");
    if (!services || services->type != YAML_SEQUENCE_NODE ||
        services->data.sequence.items.start == services->data.sequence.items.top)
        return yaml_doc_fail(L, services ? services : m, "page '%s' needs 'services', a non-empty list", p->name);
    for (yaml_node_item_t *it = services->data.sequence.items.start; it < services->data.sequence.items.top; it++) {
        if (p->n_services == STATUS_PAGE_MAX_SERVICES)
            return yaml_doc_fail(L, services, "page '%s' lists over %d services", p->name, STATUS_PAGE_MAX_SERVICES);
        if (get_text(L, yaml_doc_node(L, *it), "services", p->services[p->n_services], PK_NAME_MAX) < 0)
            return -1;
        p->n_services++;
    }
    if (!p->title[0])
        snprintf(p->title, sizeof p->title, "%s status", p->name);
    return 0;
}

void status_pages_free(struct status_pages *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->n; i++)
        free(sp->pages[i].logo);
    free(sp->pages);
    free(sp);
}

struct status_pages *status_pages_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = yaml_doc_read_file(path, &len, err, errlen);
    if (!text)
        return NULL;
    struct yaml_doc L;
    struct status_pages *sp = NULL;
    if (yaml_doc_load(&L, path, text, len, err, errlen) < 0) {
        free(text);
        return NULL;
    }
    free(text);
    yaml_node_t *root = yaml_document_get_root_node(&L.doc), *list = NULL;
    if (root && root->type == YAML_MAPPING_NODE && root->data.mapping.pairs.top - root->data.mapping.pairs.start == 1 &&
        strcmp(yaml_doc_txt(yaml_doc_node(&L, root->data.mapping.pairs.start->key)), "status_pages") == 0)
        list = yaml_doc_node(&L, root->data.mapping.pairs.start->value);
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        yaml_doc_fail(&L, root, "the file must be a mapping with one key, 'status_pages', a list of pages");
        goto fail;
    }
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->pages = calloc(n ? n : 1, sizeof *sp->pages))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *node = yaml_doc_node(&L, *it);
        if (parse_page(&L, node, &sp->pages[sp->n++]) < 0)
            goto fail;
        for (size_t k = 0; k + 1 < sp->n; k++)
            if (strcmp(sp->pages[k].name, sp->pages[sp->n - 1].name) == 0) {
                yaml_doc_fail(&L, node, "status page '%s' is given twice", sp->pages[k].name);
                goto fail;
            }
    }
    yaml_doc_free(&L);
    return sp;
fail:
    yaml_doc_free(&L);
    status_pages_free(sp);
    return NULL;
}

const struct status_page *status_page_find(const struct status_pages *sp, const char *name)
{
    for (size_t i = 0; sp && i < sp->n; i++)
        if (strcmp(sp->pages[i].name, name) == 0)
            return &sp->pages[i];
    return NULL;
}

int status_page_has(const struct status_page *p, const char *group, const char *service)
{
    if (p) {
        for (size_t i = 0; i < p->n_services; i++)
            if (strcmp(p->services[i], service) == 0)
                return 1;
        return 0;
    }
    size_t n = strlen(group);
    return strncmp(service, group, n) == 0 && (service[n] == '\0' || service[n] == '.' || service[n] == '/');
}

int status_pages_publish(const struct status_pages *sp, const char *service)
{
    for (size_t i = 0; sp && i < sp->n; i++)
        if (sp->pages[i].public_page && status_page_has(&sp->pages[i], "", service))
            return 1;
    return 0;
}

/* ------------------------------------------------- 90 days per service */

void dash_hist_free(struct dash_hist *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->svcs[i].inc);
    free(h->svcs);
    free(h->checks);
    free(h->day_bars);
    free(h);
}

static struct dash_svc_hist *svc_of(struct dash_hist *h, const char *service)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->svcs[i].service, service) == 0)
            return &h->svcs[i];
    struct dash_svc_hist *grown = realloc(h->svcs, (h->n + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    h->svcs = grown;
    struct dash_svc_hist *s = &h->svcs[h->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->service, sizeof s->service, "%s", service);
    for (int d = 0; d < DASH_DAYS; d++)
        s->day[d] = NAN;
    return s;
}

/* Each check's days (rollups, whole days) kept in h->checks and folded into
 * its service: the worst check's share of good results. */
static int fold_days(struct store *st, struct dash_hist *h, int64_t now_us, char *err, size_t errlen)
{
    struct store_check_meta *meta = NULL;
    size_t nm = 0;
    if (store_check_meta(st, &meta, &nm, err, errlen) < 0)
        return -1;
    h->checks = calloc(nm ? nm : 1, sizeof *h->checks);
    if (!h->checks) {
        free(meta);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < nm && rc == 0; i++) {
        struct store_rollup_filter f = {.since_us = h->day0_us, .until_us = rollup_floor(now_us, ROLLUP_MINUTE_US) +
                                                                            ROLLUP_MINUTE_US,
                                        .check = meta[i].name, .group = STORE_ROLLUP_BY_CHECK, .bucket_us = DAY_US};
        struct store_rollup_row *rows = NULL;
        size_t n = 0;
        rc = store_rollup_query(st, &f, &rows, &n, err, errlen);
        struct dash_svc_hist *s = rc == 0 ? svc_of(h, meta[i].service) : NULL;
        struct dash_check_days *c = &h->checks[h->n_checks++];
        snprintf(c->check, sizeof c->check, "%s", meta[i].name);
        for (int d = 0; d < DASH_DAYS; d++)
            c->day[d] = NAN;
        for (size_t k = 0; s && k < n; k++) {
            int d = (int)((rows[k].bucket_start_us - h->day0_us) / DAY_US);
            uint64_t good = rows[k].ok + rows[k].degraded, judged = good + rows[k].failed;
            double u = judged ? (double)good / (double)judged : NAN;
            if (d < 0 || d >= DASH_DAYS || isnan(u))
                continue;
            c->day[d] = u;
            if (isnan(s->day[d]) || u < s->day[d])
                s->day[d] = u;
        }
        free(rows);
    }
    free(meta);
    return rc;
}

static int fold_incidents(struct store *st, struct dash_hist *h, int64_t now_us, char *err, size_t errlen)
{
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    w.since_us = h->day0_us;
    w.until_us = now_us + ROLLUP_MINUTE_US;
    Picket__V1__IncidentsRequest req = PICKET__V1__INCIDENTS_REQUEST__INIT;
    req.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int rc = rpc_query_run(st, RQ_INCIDENTS, &req.base, now_us, &resp, &arena, err, errlen);
    const Picket__V1__IncidentsResponse *r = rc == 0 ? (const Picket__V1__IncidentsResponse *)resp : NULL;
    for (size_t i = 0; r && i < r->n_services; i++) {
        const Picket__V1__ServiceIncidents *si = r->services[i];
        struct dash_svc_hist *s = svc_of(h, si->service);
        if (!s || !si->n_incidents)
            continue;
        s->inc = calloc(si->n_incidents, sizeof *s->inc);
        for (size_t k = 0; s->inc && k < si->n_incidents; k++)
            s->inc[s->n_inc++] = (struct dash_incident){si->incidents[k]->start_us, si->incidents[k]->end_us,
                                                        si->incidents[k]->duration_us};
    }
    rpc_query_arena_free(arena);
    return rc == 0 ? 0 : -1;
}

void dash_hist_refresh(struct store *st, int64_t now_us, struct dash_hist **cur, struct dash_hist **fresh)
{
    *fresh = NULL;
    /* Every 30 s in the first 10 minutes (a new collector's first results show soon), then every 5 minutes. */
    int64_t first = *cur ? (*cur)->first_at_us : now_us;
    if (*cur && now_us - (*cur)->at_us < (now_us - first < 20 * HIST_SOON_US ? HIST_SOON_US : HIST_EVERY_US))
        return;
    char err[512], q[256];
    struct dash_hist *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->at_us = now_us;
    h->first_at_us = first;
    h->day0_us = (now_us / DAY_US - (DASH_DAYS - 1)) * DAY_US; /* today (UTC) is the last day */
    if (fold_days(st, h, now_us, err, sizeof err) < 0 || fold_incidents(st, h, now_us, err, sizeof err) < 0) {
        PK_WARN("dashboard", "status history failed", "detail=%s", pk_log_q(q, sizeof q, err));
        dash_hist_free(h);
        return;
    }
    h->compute_ms = (double)(pk_now_us() - now_us) / 1000.0;
    h->day_bars = dash_day_bars_json(h, &h->day_bars_len); /* NULL: /api/day-bars answers 503 until the next */
    *fresh = h;
}

/* ------------------------------------------- the overview's day bars */

char dash_day_state(double good)
{
    if (isnan(good))
        return '-';
    return good >= DASH_DAY_UP ? 'u' : good >= DASH_DAY_PARTIAL ? 'p' : 'd';
}

char *dash_day_bars_json(const struct dash_hist *h, size_t *len)
{
    const int skip = DASH_DAYS - DASH_DAY_BARS; /* the 90 days' oldest ones */
    struct pk_buf b;
    pk_buf_init(&b, 0);
    pk_buf_addf(&b, "{\"at_us\":%lld,\"compute_ms\":%.1f,\"first_day_us\":%lld,\"days\":%d,\"checks\":{",
                (long long)h->at_us, h->compute_ms, (long long)(h->day0_us + skip * DAY_US), DASH_DAY_BARS);
    for (size_t i = 0; i < h->n_checks; i++) {
        const struct dash_check_days *c = &h->checks[i];
        char line[DASH_DAY_BARS + 1];
        for (int d = 0; d < DASH_DAY_BARS; d++)
            line[d] = dash_day_state(c->day[skip + d]);
        line[DASH_DAY_BARS] = '\0';
        if (i)
            pk_buf_addc(&b, ',');
        pk_buf_add_json_string(&b, c->check, strlen(c->check));
        pk_buf_addf(&b, ":[\"%s\",[", line);
        int first = 1;
        for (int d = skip; d < DASH_DAYS; d++)
            if (!isnan(c->day[d])) {
                pk_buf_addf(&b, "%s%.6g", first ? "" : ",", c->day[d]);
                first = 0;
            }
        pk_buf_adds(&b, "]]");
    }
    pk_buf_adds(&b, "}}");
    *len = b.len;
    char *out = pk_buf_take(&b);
    if (!out)
        *len = 0;
    return out;
}

/* ------------------------------------------------------------- JSON */

static struct json_object *ratio(double v) { return isnan(v) ? NULL : json_object_new_double(v); }

void dash_status_page_json(struct json_object *j, const struct status_page *p, const struct dash_hist *h)
{
    json_object_object_add(j, "title", p ? json_object_new_string(p->title) : NULL);
    char logo[128];
    snprintf(logo, sizeof logo, "/status/%s/logo", p ? p->name : "");
    json_object_object_add(j, "logo", p && p->logo ? json_object_new_string(logo) : NULL);
    json_object_object_add(j, "days_start_us", json_object_new_int64(h ? h->day0_us : 0));
    json_object_object_add(j, "history_at_us", json_object_new_int64(h ? h->at_us : 0));
    json_object_object_add(j, "history_compute_ms", h ? json_object_new_double(h->compute_ms) : NULL);
}

void dash_status_service_json(struct json_object *o, const struct dash_hist *h, const char *service)
{
    const struct dash_svc_hist *s = NULL;
    for (size_t i = 0; h && i < h->n && !s; i++)
        if (strcmp(h->svcs[i].service, service) == 0)
            s = &h->svcs[i];
    struct json_object *days = json_object_new_array_ext(DASH_DAYS), *inc = json_object_new_array();
    char line[DASH_DAYS + 1]; /* each day's state by dash_day_state, as the overview's day bars */
    for (int d = 0; d < DASH_DAYS; d++) {
        json_object_array_add(days, s ? ratio(s->day[d]) : NULL);
        line[d] = s ? dash_day_state(s->day[d]) : '-';
    }
    line[DASH_DAYS] = '\0';
    json_object_object_add(o, "day_states", json_object_new_string(line));
    for (size_t k = s ? s->n_inc : 0; k-- > 0;) { /* newest first */
        struct json_object *x = json_object_new_object();
        json_object_object_add(x, "start_us", json_object_new_int64(s->inc[k].start_us));
        json_object_object_add(x, "end_us", json_object_new_int64(s->inc[k].end_us));
        json_object_object_add(x, "duration_us", json_object_new_int64(s->inc[k].duration_us));
        json_object_array_add(inc, x);
    }
    json_object_object_add(o, "days", days);
    json_object_object_add(o, "incidents", inc);
}

/* ------------------------------------------------------- maintenance */

/* The maintenance shown on a status page is computed by the refresh thread on
 * every pass (every 5 s while someone reads), not per request (a public page
 * never starts a query) and not at the 90 days' 5-minute cadence (a window
 * added with picketctl shows within seconds): two small reads (the windows,
 * the checks' names, services and labels) and each window expanded once. */

void dash_maint_free(struct dash_maint *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->occ[i].cover);
    free(m->occ);
    free(m);
}

/* Per service of the checks w covers: how many, of how many (totals). */
static int cover_of(const struct maint_window *w, const struct store_check_meta *meta, size_t nm,
                    const struct dash_maint_cover *totals, size_t nt, struct dash_maint_occ *o)
{
    for (size_t i = 0; i < nm; i++) {
        if (!meta[i].service[0] || !maint_selects_check(w, &meta[i]))
            continue;
        size_t k = 0;
        while (k < o->n_cover && strcmp(o->cover[k].service, meta[i].service) != 0)
            k++;
        if (k == o->n_cover) {
            struct dash_maint_cover *grown = realloc(o->cover, (o->n_cover + 1) * sizeof *grown);
            if (!grown)
                return -1;
            o->cover = grown;
            o->cover[o->n_cover++] = (struct dash_maint_cover){.checks = 0};
            snprintf(o->cover[k].service, sizeof o->cover[k].service, "%s", meta[i].service);
            for (size_t t = 0; t < nt; t++)
                if (strcmp(totals[t].service, meta[i].service) == 0)
                    o->cover[k].checks_total = totals[t].checks_total;
        }
        o->cover[k].checks++;
    }
    return 0;
}

/* Each service's number of checks. *out malloc'd. */
static int service_totals(const struct store_check_meta *meta, size_t nm, struct dash_maint_cover **out, size_t *n)
{
    *n = 0;
    if (!(*out = calloc(nm ? nm : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < nm; i++) {
        size_t k = 0;
        while (k < *n && strcmp((*out)[k].service, meta[i].service) != 0)
            k++;
        if (k == *n)
            snprintf((*out)[(*n)++].service, sizeof (*out)[k].service, "%s", meta[i].service);
        (*out)[k].checks_total++;
    }
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct dash_maint_occ *x = a, *y = b;
    return x->start_us < y->start_us ? -1 : x->start_us > y->start_us ? 1 : strcmp(x->name, y->name);
}

struct dash_maint *dash_maint_compute(struct store *st, int64_t now_us)
{
    struct maint_window *w = NULL;
    struct store_check_meta *meta = NULL;
    struct dash_maint_cover *totals = NULL;
    size_t nw = 0, nm = 0, nt = 0;
    char err[512], q[600];
    struct dash_maint *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->at_us = now_us;
    if (maint_apply_windows(st, &w, &nw, err, sizeof err) < 0 || store_check_meta(st, &meta, &nm, err, sizeof err) < 0)
        goto fail;
    snprintf(err, sizeof err, "out of memory");
    if (service_totals(meta, nm, &totals, &nt) < 0 || !(m->occ = calloc(nw ? nw : 1, sizeof *m->occ)))
        goto fail;
    for (size_t i = 0; i < nw; i++) {
        struct maint_interval iv;
        if (!maint_occurrence(&w[i], now_us, DASH_MAINT_AHEAD_US, &iv))
            continue;
        struct dash_maint_occ *o = &m->occ[m->n];
        *o = (struct dash_maint_occ){.start_us = iv.start_us, .end_us = iv.end_us};
        snprintf(o->name, sizeof o->name, "%s", w[i].name);
        snprintf(o->reason, sizeof o->reason, "%s", w[i].reason);
        m->n++; /* counted before cover_of so a failure frees its cover */
        if (cover_of(&w[i], meta, nm, totals, nt, o) < 0)
            goto fail;
        if (!o->n_cover) {
            free(o->cover);
            m->n--;
        }
    }
    qsort(m->occ, m->n, sizeof *m->occ, by_start);
    free(w);
    free(meta);
    free(totals);
    return m;
fail:
    PK_WARN("dashboard", "status maintenance failed", "detail=%s", pk_log_q(q, sizeof q, err));
    free(w);
    free(meta);
    free(totals);
    dash_maint_free(m);
    return NULL;
}

void dash_status_maint_json(struct json_object *j, const struct dash_maint *m, const struct status_page *p,
                            const char *group, int64_t now_us)
{
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; m && i < m->n; i++) {
        const struct dash_maint_occ *o = &m->occ[i];
        if (o->end_us <= now_us) /* over since the last pass */
            continue;
        struct json_object *svcs = json_object_new_array();
        for (size_t k = 0; k < o->n_cover; k++) {
            if (!status_page_has(p, group, o->cover[k].service))
                continue;
            struct json_object *c = json_object_new_object();
            json_object_object_add(c, "service", json_object_new_string(o->cover[k].service));
            json_object_object_add(c, "checks", json_object_new_int(o->cover[k].checks));
            json_object_object_add(c, "checks_total", json_object_new_int(o->cover[k].checks_total));
            json_object_array_add(svcs, c);
        }
        if (json_object_array_length(svcs) == 0) {
            json_object_put(svcs);
            continue;
        }
        struct json_object *x = json_object_new_object();
        json_object_object_add(x, "name", json_object_new_string(o->name));
        json_object_object_add(x, "reason", o->reason[0] ? json_object_new_string(o->reason) : NULL);
        json_object_object_add(x, "start_us", json_object_new_int64(o->start_us));
        json_object_object_add(x, "end_us", json_object_new_int64(o->end_us));
        json_object_object_add(x, "ongoing", json_object_new_boolean(o->start_us <= now_us));
        json_object_object_add(x, "services", svcs);
        json_object_array_add(list, x);
    }
    json_object_object_add(j, "maintenance", list);
    json_object_object_add(j, "maintenance_at_us", json_object_new_int64(m ? m->at_us : 0));
}
