/* rpc_admin.c: AdminService, the calls that change who may do what and which
 * checks run where: AddProbe issues a probe's token (only its hash is stored),
 * RevokeCredential ends tokens, ApplyChecks and DiffChecks store or compare a
 * central check assignment (rpc_probe.c pushes it to the probes). All run on the
 * control thread, each behind rpc_job_admit (a write credential). Tokens are
 * never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "log.h"
#include "rpc_int.h"

static int valid_probe_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 127)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

void rpc_admin_add_probe_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__AddProbeRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512];
    if (!valid_probe_name(req->probe_name)) {
        /* The name ends up in certificate CNs and logs: keep it plain. */
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "probe name must be 1..127 printable ASCII bytes, no spaces",
                    NULL);
        return;
    }
    if (strlen(req->region) > 63) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "region must be at most 63 bytes", NULL);
        return;
    }
    pk_utf8_sanitize(req->region);
    char token[PK_TOKEN_LEN + 1], hash[PK_TOKEN_HASH_HEX + 1];
    int64_t id = 0;
    if (pk_token_generate(token, err, sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_INTERNAL, err, NULL);
        return;
    }
    pk_token_hash_hex(token, hash);
    if (store_credential_add(store, PK_ROLE_PROBE, req->probe_name, req->region, hash, &id, err, sizeof err) < 0) {
        memset(token, 0, sizeof token);
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    char qp[300], qb[300];
    PK_INFO("auth", "probe credential issued", "probe=%s credential_id=%lld by=%s",
            pk_log_q(qp, sizeof qp, req->probe_name), (long long)id, pk_log_q(qb, sizeof qb, u->auth.who.name));
    Picket__V1__AddProbeResponse resp = PICKET__V1__ADD_PROBE_RESPONSE__INIT;
    resp.token = token;
    resp.credential_id = id;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    memset(token, 0, sizeof token);
}

void rpc_admin_revoke_job(struct store *store, void *ctx)
{
    struct unary *u = ctx;
    Picket__V1__RevokeCredentialRequest *req = u->job_data;
    if (rpc_job_admit(store, u) < 0)
        return;
    char err[512];
    if (req->credential_id <= 0 && !valid_probe_name(req->probe_name)) {
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, "give a probe name or a credential id", NULL);
        return;
    }
    long revoked = 0;
    if (store_credential_revoke(store, req->credential_id, PK_ROLE_PROBE, req->probe_name, &revoked, err,
                                sizeof err) < 0) {
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        return;
    }
    char qp[300], qb[300];
    PK_INFO("auth", "credentials revoked", "probe=%s credential_id=%lld revoked=%ld by=%s",
            pk_log_q(qp, sizeof qp, req->probe_name), (long long)req->credential_id, revoked,
            pk_log_q(qb, sizeof qb, u->auth.who.name));
    if (revoked == 0) {
        if (req->credential_id > 0)
            snprintf(err, sizeof err, "no live credential with id %lld", (long long)req->credential_id);
        else
            snprintf(err, sizeof err, "probe '%s' has no live token", req->probe_name);
        rpc_unary_reply(u, GRPC_STATUS_NOT_FOUND, err, NULL);
        return;
    }
    Picket__V1__RevokeCredentialResponse resp = PICKET__V1__REVOKE_CREDENTIAL_RESPONSE__INIT;
    resp.revoked = revoked;
    rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
}

/* ApplyChecks and DiffChecks: validate again (never trust the client's check),
 * then compare with, and for apply store, the current version. Control thread. */
static void assign_admin_job(struct store *store, struct unary *u, int apply)
{
    size_t n_files = apply ? ((Picket__V1__ApplyChecksRequest *)u->job_data)->n_files
                           : ((Picket__V1__DiffChecksRequest *)u->job_data)->n_files;
    Picket__V1__CheckFile **files = apply ? ((Picket__V1__ApplyChecksRequest *)u->job_data)->files
                                          : ((Picket__V1__DiffChecksRequest *)u->job_data)->files;
    char err[1024];
    struct assign_input *in = calloc(n_files ? n_files : 1, sizeof *in);
    struct assign_set set = {0};
    struct store_assign_change *changes = NULL;
    size_t n_changes = 0;
    Picket__V1__CheckChange *cc = NULL, **ccp = NULL;
    char ***keyv = NULL;
    if (rpc_job_admit(store, u) < 0)
        goto out;
    if (!in) {
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n_files; i++)
        in[i] = (struct assign_input){files[i]->name, files[i]->content, strlen(files[i]->content)};
    if (assign_load(in, n_files, &set, err, sizeof err) < 0) {
        char q[1100];
        PK_WARN("rpc", apply ? "apply refused" : "diff refused", "error=%s", pk_log_q(q, sizeof q, err));
        rpc_unary_reply(u, GRPC_STATUS_INVALID_ARGUMENT, err, NULL);
        goto out;
    }
    int64_t version = 0;
    int created = 0;
    if (store_assign_apply(store, set.files, set.n_sets, set.checks, set.n_checks, apply, &version, &created,
                           &changes, &n_changes, err, sizeof err) < 0) {
        char q[1100];
        PK_ERROR("rpc", apply ? "apply failed" : "diff failed", "error=%s", pk_log_q(q, sizeof q, err));
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, err, NULL);
        goto out;
    }
    cc = calloc(n_changes ? n_changes : 1, sizeof *cc);
    ccp = calloc(n_changes ? n_changes : 1, sizeof *ccp);
    keyv = calloc(n_changes ? n_changes : 1, sizeof *keyv);
    if (!cc || !ccp || !keyv) {
        rpc_unary_reply(u, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    for (size_t i = 0; i < n_changes; i++) {
        picket__v1__check_change__init(&cc[i]);
        cc[i].name = changes[i].name;
        cc[i].change = changes[i].change;
        size_t nk = 0;
        for (char *k = changes[i].keys; *k; k++)
            nk += *k == ',';
        nk += changes[i].keys[0] ? 1 : 0;
        keyv[i] = calloc(nk ? nk : 1, sizeof *keyv[i]);
        if (keyv[i] && nk) {
            size_t j = 0;
            for (char *save = NULL, *k = strtok_r(changes[i].keys, ",", &save); k && j < nk;
                 k = strtok_r(NULL, ",", &save))
                keyv[i][j++] = k;
            cc[i].n_keys = j;
            cc[i].keys = keyv[i];
        }
        ccp[i] = &cc[i];
    }
    if (apply) {
        PK_INFO("rpc", created ? "checks applied" : "checks applied; nothing changed",
                "version=%lld checks=%zu changes=%zu", (long long)version, set.n_checks, n_changes);
        Picket__V1__ApplyChecksResponse resp = PICKET__V1__APPLY_CHECKS_RESPONSE__INIT;
        resp.version = version;
        resp.created = created;
        resp.n_changes = n_changes;
        resp.changes = ccp;
        rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    } else {
        Picket__V1__DiffChecksResponse resp = PICKET__V1__DIFF_CHECKS_RESPONSE__INIT;
        resp.current_version = version;
        resp.n_changes = n_changes;
        resp.changes = ccp;
        rpc_unary_reply(u, GRPC_STATUS_OK, NULL, &resp.base);
    }
out:
    for (size_t i = 0; keyv && i < n_changes; i++)
        free(keyv[i]);
    free(keyv);
    free(cc);
    free(ccp);
    free(changes);
    assign_free(&set);
    free(in);
}

void rpc_admin_apply_job(struct store *store, void *ctx)
{
    assign_admin_job(store, ctx, 1);
}

void rpc_admin_diff_job(struct store *store, void *ctx)
{
    assign_admin_job(store, ctx, 0);
}
