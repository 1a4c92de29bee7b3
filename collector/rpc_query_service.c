/* rpc_query_service.c: QueryService's transport. Status is answered here from
 * store_status and store_probe_status; Availability, Latency, Trend, Incidents,
 * Slo and Report are computed by rpc_query.c (which knows no gRPC) and only
 * decoded and sent here. Jobs run on the control thread behind rpc_job_admit
 * (a read credential). */
#include <stdio.h>
#include <stdlib.h>

#include "foreground.h"
#include "log.h"
#include "rpc_int.h"

/* Status: the last result of every check (or the one named) with its last hour
 * per region, and, when no check is named, what each probe last reported. */
void rpc_status_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__StatusRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512];
    struct store_status_row *rows = NULL;
    size_t n = 0, np = 0;
    struct store_probe_row *prows = NULL;
    Picket__V1__ProbeStatus *ps = NULL, **psp = NULL;
    int src = store_status(store, req->check_name && req->check_name[0] ? req->check_name : NULL, &rows, &n, err,
                           sizeof err);
    if (src < 0) {
        rpc_unary_reply(u, src == -2 ? GRPC_STATUS_NOT_FOUND : GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    Picket__V1__CheckStatus *cs = calloc(n ? n : 1, sizeof *cs);
    Picket__V1__CheckStatus **csp = calloc(n ? n : 1, sizeof *csp);
    size_t n_regions = 0;
    for (size_t i = 0; i < n; i++)
        n_regions += rows[i].n_regions;
    Picket__V1__RegionRatio *rr = calloc(n_regions ? n_regions : 1, sizeof *rr);
    Picket__V1__RegionRatio **rrp = calloc(n_regions ? n_regions : 1, sizeof *rrp);
    size_t n_metrics = 0, km = 0;
    for (size_t i = 0; i < n; i++)
        n_metrics += (size_t)rows[i].n_last_metrics;
    Picket__V1__Metric *ms = calloc(n_metrics ? n_metrics : 1, sizeof *ms);
    Picket__V1__Metric **msp = calloc(n_metrics ? n_metrics : 1, sizeof *msp);
    if (!cs || !csp || !rr || !rrp || !ms || !msp) {
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_status_row *row = &rows[i];
        picket__v1__check_status__init(&cs[i]);
        cs[i].check_name = row->check_name;
        cs[i].check_type = row->check_type;
        cs[i].last_started_at_us = row->last_started_at_us;
        cs[i].last_outcome = (Picket__V1__Outcome)row->last_outcome;
        cs[i].last_message = row->last_message;
        cs[i].last_total_us = row->last_total_us;
        cs[i].last_probe = row->last_probe;
        cs[i].last_region = row->last_region;
        cs[i].probes = row->probes;
        cs[i].last_status_code = row->last_status_code;
        cs[i].n_last_hour = row->n_regions;
        cs[i].last_hour = row->n_regions ? &rrp[k] : NULL;
        for (size_t j = 0; j < row->n_regions; j++, k++) {
            picket__v1__region_ratio__init(&rr[k]);
            rr[k].region = row->regions[j].region;
            rr[k].total = row->regions[j].total;
            rr[k].ok = row->regions[j].ok;
            rrp[k] = &rr[k];
        }
        cs[i].last_metrics_at_us = row->last_metrics_at_us;
        cs[i].n_last_metrics = (size_t)row->n_last_metrics;
        cs[i].last_metrics = row->n_last_metrics ? &msp[km] : NULL;
        for (int j = 0; j < row->n_last_metrics; j++, km++) {
            picket__v1__metric__init(&ms[km]);
            ms[km].name = row->last_metrics[j].name;
            ms[km].value = row->last_metrics[j].value;
            msp[km] = &ms[km];
        }
        csp[i] = &cs[i];
    }
    Picket__V1__StatusResponse resp = PICKET__V1__STATUS_RESPONSE__INIT;
    resp.now_us = pk_now_us();
    resp.n_checks = n;
    resp.checks = csp;
    if (!(req->check_name && req->check_name[0])) {
        if (store_probe_status(store, &prows, &np, err, sizeof err) < 0) {
            rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
            goto out;
        }
        ps = calloc(np ? np : 1, sizeof *ps);
        psp = calloc(np ? np : 1, sizeof *psp);
        if (!ps || !psp) {
            rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
            goto out;
        }
        for (size_t i = 0; i < np; i++) {
            picket__v1__probe_status__init(&ps[i]);
            ps[i].name = prows[i].name;
            ps[i].region = prows[i].region;
            ps[i].last_seen_us = prows[i].last_seen_us;
            ps[i].pending_results = prows[i].pending;
            ps[i].dropped_results = prows[i].dropped;
            ps[i].spool_bytes = prows[i].spool_bytes;
            ps[i].committed_sequence = prows[i].committed_seq;
            ps[i].checks_version = prows[i].checks_version;
            ps[i].checks_refused_version = prows[i].checks_refused_version;
            ps[i].checks_error = prows[i].checks_error;
            psp[i] = &ps[i];
        }
        resp.n_probes = np;
        resp.probes = psp;
    }
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
out:
    free(ps);
    free(psp);
    free(prows);
    free(cs);
    free(csp);
    free(rr);
    free(rrp);
    free(ms);
    free(msp);
    free(rows);
}

/* Availability, Latency, Trend, Incidents, Slo, Report: rpc_query.c computes,
 * from rollups only; this sends the answer. */
void rpc_query_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512], err2[256];
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    /* The caller's deadline bounds the work: a query nobody waits for any more
     * stops (store_set_deadline) and frees the control thread. */
    pk_fg_enter(); /* background passes wait (foreground.c) */
    int64_t t0 = pk_now_us();
    int rc = store_set_deadline(store, u->deadline_us, err, sizeof err);
    if (rc == 0)
        rc = rpc_query_run(store, u->method->query, u->job_data, pk_now_us(), &resp, &arena, err, sizeof err);
    pk_fg_leave();
    PK_DEBUG("rpc", "query answered", "query=%d rc=%d ms=%.1f", (int)u->method->query, rc,
             (double)(pk_now_us() - t0) / 1000.0);
    if (u->deadline_us && store_set_deadline(store, 0, err2, sizeof err2) < 0)
    {
        char q2[300];
        PK_WARN("rpc", "could not clear a query's deadline", "error=%s", pk_log_q(q2, sizeof q2, err2));
    }
    if (rc < 0 && u->deadline_us && pk_now_us() >= u->deadline_us) {
        PK_INFO("rpc", "query stopped at its caller's deadline", "query=%d", (int)u->method->query);
        rpc_unary_reply(u, GRPC_STATUS_DEADLINE_EXCEEDED, err, NULL);
    } else if (rc == 0)
        rpc_unary_reply(u, GRPC_STATUS_OK, NULL, resp);
    else {
        char q[600];
        PK_WARN("rpc", "query failed", "query=%d invalid=%d error=%s", (int)u->method->query, rc == -2,
                pk_log_q(q, sizeof q, err));
        rpc_unary_reply(u, rc == -3   ? GRPC_STATUS_NOT_FOUND
                           : rc == -2 ? GRPC_STATUS_INVALID_ARGUMENT
                                      : GRPC_STATUS_UNAVAILABLE,
                        err, NULL);
    }
    rpc_query_arena_free(arena);
}
