/* rpc_auth.c: who a gRPC call comes from and what it may do. Every call but
 * Health is authenticated when it arrives, on the completion-queue thread: a
 * verified client certificate's CN gives the identity at once, a bearer token
 * only its hash, which the control thread looks up (rpc_auth_resolve) before the
 * call's work starts. Then each method's need (probe, read, write) is checked;
 * see docs/SECURITY.md. Tokens are never logged. */
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rpc_int.h"

static const char *need_name(enum need n)
{
    return n == NEED_PROBE ? "a probe credential" : n == NEED_READ ? "a read credential" : "a write credential";
}

/* With a deny list on: the certificate's fingerprint, kept in auth (open streams
 * are checked against the list again), and -1 + why when it is denied. */
static int certificate_allowed(struct server *srv, grpc_auth_context *ctx, struct call_auth *auth, char *why,
                               size_t whylen)
{
    grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, "x509_pem_cert");
    const grpc_auth_property *pem = grpc_auth_property_iterator_next(&it);
    if (!pem || cert_fingerprint_pem(pem->value, pem->value_length, auth->cert_sha256) < 0) {
        snprintf(why, whylen, "certificate of '%s' cannot be checked against the deny list", auth->who.name);
        return -1;
    }
    if (cert_deny_has(srv->deny, auth->cert_sha256)) {
        snprintf(why, whylen, "certificate of '%s' (SHA-256 %s) is on the deny list", auth->who.name,
                 auth->cert_sha256);
        return -1;
    }
    return 0;
}

/* Authenticates a new call from its certificate or its authorization metadata.
 * 0 with *auth filled (the identity, or a token hash to resolve later); -1 with
 * why when the call has no usable credential. CQ thread, no database. */
static int call_authenticate(struct server *srv, grpc_call *call, const grpc_metadata_array *md,
                             struct call_auth *auth, char *why, size_t whylen)
{
    memset(auth, 0, sizeof *auth);
    if (srv->plaintext) {
        auth->who.role = PK_ROLE_ANY;
        pk_strlcpy(auth->who.name, "plaintext", sizeof auth->who.name);
        return 0;
    }
    int rc = -1;
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (ctx) {
        grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, "x509_common_name");
        const grpc_auth_property *prop = grpc_auth_property_iterator_next(&it);
        if (prop) {
            /* The handshake verified this certificate against the CA already. */
            char cn[256];
            size_t n = prop->value_length < sizeof cn - 1 ? prop->value_length : sizeof cn - 1;
            memcpy(cn, prop->value, n);
            cn[n] = '\0';
            rc = pk_identity_from_cn(cn, &auth->who, why, whylen);
            if (rc == 0 && srv->deny)
                rc = certificate_allowed(srv, ctx, auth, why, whylen);
            grpc_auth_context_release(ctx);
            return rc;
        }
        grpc_auth_context_release(ctx);
    }
    for (size_t i = 0; i < md->count; i++) {
        const grpc_metadata *m = &md->metadata[i];
        if (GRPC_SLICE_LENGTH(m->key) != 13 || memcmp(GRPC_SLICE_START_PTR(m->key), "authorization", 13) != 0)
            continue;
        char token[PK_TOKEN_LEN + 8];
        if (pk_bearer_token((const char *)GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value), token,
                            sizeof token) < 0 ||
            pk_token_check_format(token) < 0) {
            snprintf(why, whylen, "malformed bearer token (expected authorization: Bearer %s...)", PK_TOKEN_PREFIX);
            return -1;
        }
        pk_token_hash_hex(token, auth->token_hash);
        memset(token, 0, sizeof token);
        return 0;
    }
    snprintf(why, whylen, "no credential: present a client certificate from the Picket CA or a bearer token");
    return -1;
}

/* 1 when the (resolved) identity may call a method that needs `need`. */
static int auth_allows(const struct call_auth *auth, enum need need)
{
    switch (need) {
    case NEED_NOTHING:
        return 1;
    case NEED_PROBE:
        return auth->who.role == PK_ROLE_PROBE || auth->who.role == PK_ROLE_ANY;
    case NEED_READ:
        return pk_identity_can_read(&auth->who);
    case NEED_WRITE:
        return pk_identity_can_write(&auth->who);
    }
    return 0;
}

int rpc_auth_resolve(struct store *store, struct call_auth *auth, enum need need, grpc_status_code *code, char *why,
                     size_t whylen)
{
    if (auth->who.role == PK_ROLE_NONE && auth->token_hash[0]) {
        char err[300];
        int found = store_credential_lookup(store, auth->token_hash, &auth->who, &auth->credential_id, err, sizeof err);
        if (found < 0) {
            *code = GRPC_STATUS_UNAVAILABLE;
            snprintf(why, whylen, "cannot check the token: %s", err);
            return -1;
        }
        if (!found) {
            *code = GRPC_STATUS_UNAUTHENTICATED;
            snprintf(why, whylen, "unknown or revoked token");
            rpc_stat_add(RPC_STAT_AUTH_DENIED, 1);
            PK_WARN("auth", "call refused", "reason=\"unknown or revoked token\"");
            return -1;
        }
    }
    if (!auth_allows(auth, need)) {
        *code = GRPC_STATUS_PERMISSION_DENIED;
        snprintf(why, whylen, "%s credential '%s' cannot do this: it needs %s", pk_role_name(auth->who.role),
                 auth->who.name, need_name(need));
        char q[400];
        PK_WARN("auth", "call refused", "reason=%s", pk_log_q(q, sizeof q, why));
        rpc_stat_add(RPC_STAT_AUTH_DENIED, 1);
        return -1;
    }
    return 0;
}

grpc_status_code rpc_auth_admit_call(struct server *srv, const struct rpc_method *m, grpc_call *call,
                                     const grpc_metadata_array *md, struct call_auth *auth, char *why,
                                     size_t whylen)
{
    memset(auth, 0, sizeof *auth);
    if (m->need == NEED_NOTHING)
        return GRPC_STATUS_OK;
    grpc_status_code refuse = GRPC_STATUS_OK;
    if (call_authenticate(srv, call, md, auth, why, whylen) < 0)
        refuse = GRPC_STATUS_UNAUTHENTICATED;
    /* A certificate's role is known now; a token's only after the lookup. */
    else if (auth->who.role != PK_ROLE_NONE && !auth_allows(auth, m->need)) {
        refuse = GRPC_STATUS_PERMISSION_DENIED;
        snprintf(why, whylen, "%s credential '%s' cannot do this: it needs %s", pk_role_name(auth->who.role),
                 auth->who.name, need_name(m->need));
    }
    if (refuse != GRPC_STATUS_OK) {
        char q[500], qm[200];
        PK_WARN("auth", "call refused", "method=%s code=%d reason=%s", pk_log_q(qm, sizeof qm, m->path), (int)refuse,
                pk_log_q(q, sizeof q, why));
        rpc_stat_add(RPC_STAT_AUTH_DENIED, 1);
    }
    return refuse;
}

int rpc_job_admit(struct store *store, struct unary *u)
{
    if (!store) {
        rpc_unary_reply(u, GRPC_STATUS_UNAVAILABLE, "database unavailable", NULL);
        return -1;
    }
    char why[512];
    grpc_status_code code;
    if (rpc_auth_resolve(store, &u->auth, u->method->need, &code, why, sizeof why) < 0) {
        rpc_unary_reply(u, code, why, NULL);
        return -1;
    }
    return 0;
}
