/* rpc_ctl.h: picketctl's calls to the collector. Hides gRPC from ctl/main.c;
 * answers come back as decoded protobuf-c messages the caller frees with the
 * matching *_free_unpacked. */
#ifndef PK_RPC_CTL_H
#define PK_RPC_CTL_H

#include <stddef.h>

#include "picket/v1/picket.pb-c.h"

/* Every call: 0 with *out set; -1 with one sentence naming the collector in err
 * (unreachable, TLS, credential, timeout: never a gRPC method path); -2 when
 * the collector answered that the input is wrong (a check, probe or region it
 * does not know: "check 'x' is not known"; an invalid value) -- exit code 2. */
int ctl_status(const char *address, const char *check_name, int timeout_ms, Picket__V1__StatusResponse **out,
               char *err, size_t errlen);

/* AdminService.AddProbe: issues a token for probe `name` (creating the probe in
 * `region` if it is new). *out is freed with picket__v1__add_probe_response__free_unpacked. */
int ctl_add_probe(const char *address, const char *name, const char *region, int timeout_ms,
                  Picket__V1__AddProbeResponse **out, char *err, size_t errlen);
/* AdminService.RevokeCredential: every live token of probe `name`, or only
 * credential `id` when id > 0. *revoked receives the count. */
int ctl_revoke(const char *address, const char *name, long long id, int timeout_ms, long long *revoked, char *err,
               size_t errlen);
/* One AdminService call (ApplyChecks, DiffChecks): 0 with *out (free with
 * protobuf_c_message_free_unpacked), or -1 with err; *invalid is 1 when the
 * collector refused the request as invalid or naming something not known. */
int ctl_admin_call(const char *address, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **out,
                   int *invalid, char *err, size_t errlen);

#endif
