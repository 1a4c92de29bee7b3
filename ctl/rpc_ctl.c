/* rpc_ctl.c: picketctl's gRPC calls (QueryService, AdminService). Each call opens
 * a channel (with the security main() set), makes one unary call with a deadline,
 * and closes it. Never prints or logs a token itself: main.c prints it once. */
#include "rpc_ctl.h"

#include <stdio.h>
#include <stdlib.h>

#include "rpc_client.h"
#include "wire.h"

/* One unary call: packs req, unpacks the answer with desc. 0 with *out, or -1 + err. */
static int call(const char *address, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, int timeout_ms, ProtobufCMessage **out, char *err,
                size_t errlen)
{
    grpc_init();
    int rc = -1;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    grpc_channel *ch = rpc_channel_create(address);
    char why[512];
    if (!ch || wire_pack(req, &buf, &len) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (rpc_unary(ch, method, buf, len, &resp, &resp_len, timeout_ms, NULL, why, sizeof why) < 0) {
        snprintf(err, errlen, "collector %s: %s", address, why);
        goto out;
    }
    *out = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
    if (!*out) {
        snprintf(err, errlen, "collector %s: malformed %s answer", address, method);
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
    if (call(address, "/picket.v1.AdminService/RevokeCredential", &req.base,
             &picket__v1__revoke_credential_response__descriptor, timeout_ms, (ProtobufCMessage **)&resp, err,
             errlen) < 0)
        return -1;
    *revoked = resp->revoked;
    picket__v1__revoke_credential_response__free_unpacked(resp, NULL);
    return 0;
}

int ctl_status(const char *address, const char *check_name, int timeout_ms, Picket__V1__StatusResponse **out,
               char *err, size_t errlen)
{
    grpc_init();
    int rc = -1;
    Picket__V1__StatusRequest req = PICKET__V1__STATUS_REQUEST__INIT;
    req.check_name = (char *)(check_name ? check_name : "");
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    grpc_channel *ch = rpc_channel_create(address);
    char why[512];
    if (wire_pack(&req.base, &buf, &len) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (rpc_unary(ch, "/picket.v1.QueryService/Status", buf, len, &resp, &resp_len, timeout_ms, NULL, why,
                  sizeof why) < 0) {
        snprintf(err, errlen, "collector %s: %s", address, why);
        goto out;
    }
    *out = picket__v1__status_response__unpack(NULL, resp_len, resp);
    if (!*out) {
        snprintf(err, errlen, "collector %s: malformed StatusResponse", address);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    free(resp);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}

int ctl_admin_call(const char *address, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **out,
                   int *invalid, char *err, size_t errlen)
{
    grpc_init();
    int rc = -1, code = 0;
    uint8_t *buf = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    grpc_channel *ch = rpc_channel_create(address);
    char why[1200];
    *invalid = 0;
    if (wire_pack(req, &buf, &len) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (rpc_unary(ch, method, buf, len, &resp, &resp_len, timeout_ms, &code, why, sizeof why) < 0) {
        *invalid = code == GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(err, errlen, "collector %s: %s", address, why);
        goto out;
    }
    *out = protobuf_c_message_unpack(resp_desc, NULL, resp_len, resp);
    if (!*out) {
        snprintf(err, errlen, "collector %s: malformed %s", address, resp_desc->name);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    free(resp);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}
