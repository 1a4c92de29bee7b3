/* rpc_ctl.h: picketctl's calls to the collector. Hides gRPC from ctl/main.c;
 * answers come back as decoded protobuf-c messages the caller frees with the
 * matching *_free_unpacked. */
#ifndef PK_RPC_CTL_H
#define PK_RPC_CTL_H

#include <stddef.h>

#include "picket/v1/picket.pb-c.h"

/* 0 with *out set, or -1 with a sentence naming the collector in err. */
int ctl_status(const char *address, const char *check_name, int timeout_ms, Picket__V1__StatusResponse **out,
               char *err, size_t errlen);

#endif
