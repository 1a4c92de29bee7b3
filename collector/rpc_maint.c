/* rpc_maint.c: AdminService's maintenance calls (docs/ANALYTICS.md,
 * "Maintenance"): AddMaintenance parses the window's text with the same code as
 * the --maintenance file (maint_window_from_spec, in the collector's clock and
 * tz database) and stores it; ListMaintenance answers the file's and the
 * store's windows with their current or next occurrence; EndMaintenance ends
 * stored ones early. Control thread; adding and ending need a write credential,
 * listing a read one (rpc_server.c's method table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "maint_apply.h"
#include "rpc_int.h"
#include "store_maint.h"

#define WEEK_US (INT64_C(7) * 86400 * 1000000)

static const char *kind_name(enum maint_kind k)
{
    return k == MAINT_WEEKLY ? "weekly" : k == MAINT_CRON ? "cron" : "once";
}

/* The answer's view of w (strings borrowed from w and desc). */
static void window_msg(const struct maint_window *w, int64_t now, char *desc, size_t desclen,
                       Picket__V1__MaintenanceWindow *m, char **targets)
{
    picket__v1__maintenance_window__init(m);
    m->id = w->id;
    m->name = (char *)w->name;
    for (int i = 0; i < w->n_targets; i++)
        targets[i] = (char *)w->targets[i];
    m->targets = targets;
    m->n_targets = (size_t)w->n_targets;
    m->timezone = (char *)w->tz;
    m->reason = (char *)w->reason;
    m->kind = (char *)kind_name(w->kind);
    m->every = (char *)(w->kind == MAINT_WEEKLY ? w->schedule : "");
    m->cron = (char *)(w->kind == MAINT_CRON ? w->schedule : "");
    m->start_us = w->start_us;
    m->end_us = w->end_us;
    m->duration_us = w->duration_us;
    m->ended_us = w->ended_us;
    maint_describe(w, desc, desclen);
    m->description = desc;
    /* The occurrence that holds now, or the next one within a year (merged
     * occurrences show as one). */
    struct maint_interval iv;
    if (maint_occurrence(w, now, 53 * WEEK_US, &iv)) {
        m->next_start_us = iv.start_us;
        m->next_end_us = iv.end_us;
        m->active = iv.start_us <= now;
    }
}

static const char *opt(const char *s)
{
    return s && s[0] ? s : NULL;
}

void rpc_maint_add_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__AddMaintenanceRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    const Picket__V1__MaintenanceWindow *in = req->window;
    if (!in) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "AddMaintenance needs a window", NULL);
        return;
    }
    int64_t now = pk_now_us();
    struct maint_spec sp = {.name = in->name, .start = opt(in->start), .end = opt(in->end),
                            .duration = opt(in->duration), .every = opt(in->every), .cron = opt(in->cron),
                            .timezone = opt(in->timezone), .reason = opt(in->reason),
                            .targets = (const char *const *)in->targets, .n_targets = in->n_targets, .now_us = now};
    struct maint_window w;
    char err[512];
    if (maint_window_from_spec(&sp, &w, err, sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, err, NULL);
        return;
    }
    if (store_maint_add(store, &w, u->auth.who.name, err, sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    char desc[256], q1[300], q2[300], q3[300];
    Picket__V1__MaintenanceWindow m;
    char *targets[MAINT_MAX_TARGETS];
    window_msg(&w, now, desc, sizeof desc, &m, targets);
    PK_INFO("maint", "maintenance window added", "id=%lld name=%s schedule=%s by=%s", (long long)w.id,
            pk_log_q(q1, sizeof q1, w.name), pk_log_q(q2, sizeof q2, desc), pk_log_q(q3, sizeof q3, u->auth.who.name));
    Picket__V1__AddMaintenanceResponse resp = PICKET__V1__ADD_MAINTENANCE_RESPONSE__INIT;
    resp.window = &m;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}

void rpc_maint_list_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__ListMaintenanceRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    struct maint_window *w = NULL;
    size_t n = 0, k = 0;
    char err[512];
    if (maint_apply_windows(store, &w, &n, err, sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    int64_t now = pk_now_us();
    Picket__V1__MaintenanceWindow *msgs = calloc(n ? n : 1, sizeof *msgs);
    Picket__V1__MaintenanceWindow **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    char(*desc)[256] = calloc(n ? n : 1, sizeof *desc);
    char *(*targets)[MAINT_MAX_TARGETS] = calloc(n ? n : 1, sizeof *targets);
    if (!msgs || !ptrs || !desc || !targets) {
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        window_msg(&w[i], now, desc[k], sizeof desc[k], &msgs[k], targets[k]);
        /* Without --all: only windows with an occurrence to come or holding now. */
        if (!req->all && (w[i].ended_us || !msgs[k].next_end_us))
            continue;
        ptrs[k] = &msgs[k];
        k++;
    }
    Picket__V1__ListMaintenanceResponse resp = PICKET__V1__LIST_MAINTENANCE_RESPONSE__INIT;
    resp.now_us = now;
    resp.windows = ptrs;
    resp.n_windows = k;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
out:
    free(msgs);
    free(ptrs);
    free(desc);
    free(targets);
    free(w);
}

void rpc_maint_end_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__EndMaintenanceRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512], q1[300], q2[300];
    if (req->id <= 0 && !opt(req->name)) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "give a window id or name", NULL);
        return;
    }
    long ended = 0;
    if (store_maint_end(store, req->id, req->name, pk_now_us(), &ended, err, sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    if (ended == 0) {
        if (req->id > 0)
            snprintf(err, sizeof err, "no maintenance window with id %lld that has not ended (windows of the "
                     "--maintenance file end only by editing it)", (long long)req->id);
        else
            snprintf(err, sizeof err, "no maintenance window called '%.128s' that has not ended (windows of the "
                     "--maintenance file end only by editing it)", req->name);
        rpc_unary_reply(u, GRPC_STATUS_NOT_FOUND, err, NULL);
        return;
    }
    PK_INFO("maint", "maintenance window ended", "id=%lld name=%s ended=%ld by=%s", (long long)req->id,
            pk_log_q(q1, sizeof q1, req->name), ended, pk_log_q(q2, sizeof q2, u->auth.who.name));
    Picket__V1__EndMaintenanceResponse resp = PICKET__V1__END_MAINTENANCE_RESPONSE__INIT;
    resp.ended = ended;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}
