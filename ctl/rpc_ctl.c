/* rpc_ctl.c: picketctl's gRPC calls (QueryService, AdminService). Each call opens
 * a channel (with the security main() set), makes one unary call with a deadline,
 * and closes it. Never prints or logs a token itself: main.c prints it once. */
#include "rpc_ctl.h"

#include <grpc/support/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_client.h"
#include "wire.h"

/* gRPC core's own log lines (handshake failures and the like) would reach the
 * user's terminal beside picketctl's sentence: they are dropped; the call's
 * status says what went wrong. */
static void quiet_log(gpr_log_func_args *args) { (void)args; }

static void ctl_grpc_init(void)
{
    gpr_set_log_function(quiet_log);
    grpc_init();
}

static int contains(const char *s, const char *needle) { return strcasestr(s, needle) != NULL; }

/* The failed call as one sentence for people: no method path, no gRPC core
 * wording. details is the status text after rpc_unary's "METHOD: status N: ". */
static void explain(const char *address, int code, const char *why, int timeout_ms, char *err, size_t errlen)
{
    const char *details = why;
    const char *p = strstr(why, ": status ");
    if (p && (p = strchr(p + 9, ':')) != NULL)
        details = p + 2;
    switch (code) {
    case GRPC_STATUS_UNAVAILABLE:
        if (contains(details, "refused"))
            snprintf(err, errlen, "cannot reach the collector at %s: connection refused (is picket-collector running, "
                     "and is this its gRPC address? see --collector)", address);
        else if (contains(details, "ssl") || contains(details, "handshake") || contains(details, "certificate") ||
                 contains(details, "tls"))
            snprintf(err, errlen, "cannot reach the collector at %s: the TLS handshake failed (does --tls-ca sign "
                     "the collector's certificate, and do both sides use TLS?)", address);
        else if (contains(details, "failed to connect") || contains(details, "socket closed") ||
                 contains(details, "connection reset") || contains(details, "end of tcp stream") ||
                 contains(details, "hpack") || contains(details, "protocol") || contains(details, "frame"))
            snprintf(err, errlen, "cannot reach the collector at %s: the connection was closed (is this its gRPC "
                     "address, and do both sides agree on TLS or --insecure-plaintext?)", address);
        else if (contains(details, "dns") || contains(details, "resolve") || contains(details, "name"))
            snprintf(err, errlen, "cannot reach the collector at %s: the name does not resolve", address);
        else
            snprintf(err, errlen, "the collector at %s could not answer: %.400s", address, details);
        break;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        snprintf(err, errlen, "the collector at %s did not answer within %d ms (is this its gRPC address? raise "
                 "--timeout for slow queries)", address, timeout_ms);
        break;
    case GRPC_STATUS_UNAUTHENTICATED:
        snprintf(err, errlen, "the collector at %s refused the credential: %.400s", address, details);
        break;
    case GRPC_STATUS_PERMISSION_DENIED:
        snprintf(err, errlen, "the collector at %s refused: %.400s", address, details);
        break;
    case GRPC_STATUS_UNIMPLEMENTED:
        snprintf(err, errlen, "the collector at %s does not offer this command (is it an older version?)", address);
        break;
    default:
        snprintf(err, errlen, "%.600s", details[0] ? details : "the collector gave no reason");
        break;
    }
}

/* -2 for an answer about the user's input (not found, invalid), else -1. */
static int failure_rc(int code)
{
    return code == GRPC_STATUS_NOT_FOUND || code == GRPC_STATUS_INVALID_ARGUMENT ? -2 : -1;
}

/* One unary call: packs req, unpacks the answer with desc. 0 with *out, or -1 + err. */
static int call(const char *address, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, int timeout_ms, ProtobufCMessage **out, char *err,
                size_t errlen)
{
    ctl_grpc_init();
    int rc = -1;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    int code = GRPC_STATUS_UNKNOWN;
    grpc_channel *ch = rpc_channel_create(address);
    char why[1200];
    if (!ch || wire_pack(req, &buf, &len) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (rpc_unary(ch, method, buf, len, &resp, &resp_len, timeout_ms, &code, why, sizeof why) < 0) {
        explain(address, code, why, timeout_ms, err, errlen);
        rc = failure_rc(code);
        goto out;
    }
    *out = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
    if (!*out) {
        snprintf(err, errlen, "the collector at %s sent an answer picketctl cannot read (a different version?)",
                 address);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    free(resp);
    if (ch)
        grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}

int ctl_add_probe(const char *address, const char *name, const char *region, int timeout_ms,
                  Picket__V1__AddProbeResponse **out, char *err, size_t errlen)
{
    Picket__V1__AddProbeRequest req = PICKET__V1__ADD_PROBE_REQUEST__INIT;
    req.probe_name = (char *)name;
    req.region = (char *)(region ? region : "");
    return call(address, "/picket.v1.AdminService/AddProbe", &req.base, &picket__v1__add_probe_response__descriptor,
                timeout_ms, (ProtobufCMessage **)out, err, errlen);
}

int ctl_revoke(const char *address, const char *name, long long id, int timeout_ms, long long *revoked, char *err,
               size_t errlen)
{
    Picket__V1__RevokeCredentialRequest req = PICKET__V1__REVOKE_CREDENTIAL_REQUEST__INIT;
    req.probe_name = (char *)(name ? name : "");
    req.credential_id = id;
    Picket__V1__RevokeCredentialResponse *resp = NULL;
    int rc = call(address, "/picket.v1.AdminService/RevokeCredential", &req.base,
                  &picket__v1__revoke_credential_response__descriptor, timeout_ms, (ProtobufCMessage **)&resp, err,
                  errlen);
    if (rc < 0)
        return rc;
    *revoked = resp->revoked;
    picket__v1__revoke_credential_response__free_unpacked(resp, NULL);
    return 0;
}

int ctl_status(const char *address, const char *check_name, int timeout_ms, Picket__V1__StatusResponse **out,
               char *err, size_t errlen)
{
    Picket__V1__StatusRequest req = PICKET__V1__STATUS_REQUEST__INIT;
    req.check_name = (char *)(check_name ? check_name : "");
    return call(address, "/picket.v1.QueryService/Status", &req.base, &picket__v1__status_response__descriptor,
                timeout_ms, (ProtobufCMessage **)out, err, errlen);
}

int ctl_admin_call(const char *address, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **out,
                   int *invalid, char *err, size_t errlen)
{
    int rc = call(address, method, req, resp_desc, timeout_ms, out, err, errlen);
    *invalid = rc == -2;
    return rc < 0 ? -1 : 0;
}
