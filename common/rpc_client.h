/* rpc_client.h: the client side of gRPC shared by the probe, picketctl and the
 * bench tools. Includes gRPC headers, so only rpc_* files may include it. */
#ifndef PK_RPC_CLIENT_H
#define PK_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

/* Turns "127.0.0.1:7700", "localhost:7700", "[::1]:7700" or a full gRPC target
 * ("ipv4:...", "dns:///...") into a gRPC target string. */
void rpc_target(char *out, size_t size, const char *address);

#include "rpc_security.h"

/* A channel with Picket's message size limits and the security set with
 * rpc_client_set_security (rpc_security.h); plaintext when it was never set (unit
 * tests, tools that never talk to a collector). NULL only when out of memory.
 * Caller destroys it. */
grpc_channel *rpc_channel_create(const char *address);
/* The same with explicit security instead of the process-wide one (tools that
 * speak as several identities, such as the ingest load generator). */
grpc_channel *rpc_channel_create_with(const char *address, const struct pk_tls_client *sec);
/* The same with a connection of its own: equal channels otherwise share one (the
 * load generators simulate probes that are each their own process). */
grpc_channel *rpc_channel_create_alone(const char *address, const struct pk_tls_client *sec);

/* A streaming call's batches, for the probe's uplink and the load generators.
 * rpc_call_send starts sending bb and keeps it in *slot until tag completes (the
 * caller destroys it then); -1, with bb destroyed and *slot NULL, when bb is NULL
 * or gRPC refuses the batch. rpc_call_recv starts receiving one message into
 * *slot. Both 0 or -1. */
int rpc_call_send(grpc_call *call, grpc_byte_buffer *bb, grpc_byte_buffer **slot, void *tag);
int rpc_call_recv(grpc_call *call, grpc_byte_buffer **slot, void *tag);
/* Where a client call's end is written: its status, details and trailing metadata. */
struct rpc_call_end {
    grpc_status_code *status;
    grpc_slice *details;
    grpc_metadata_array *trailing_md;
};
/* Initialises *initial_md and *end, then starts a new client call's first two
 * batches: metadata both ways (start_tag), and the status it ends with
 * (status_tag). 0, or -1 when call is NULL or gRPC refuses a batch. */
int rpc_call_begin(grpc_call *call, grpc_metadata_array *initial_md, void *start_tag, struct rpc_call_end *end,
                   void *status_tag);

/* One blocking unary call on its own completion queue. On success *resp is a
 * malloc'd buffer (caller frees). On failure err says what happened, including
 * the gRPC status and its message; *code receives the status when not NULL. */
int rpc_unary(grpc_channel *ch, const char *method, const uint8_t *req, size_t req_len, uint8_t **resp,
              size_t *resp_len, int timeout_ms, int *code, char *err, size_t errlen);

/* Helpers for byte buffers. */
grpc_byte_buffer *rpc_buffer_from(const uint8_t *data, size_t len);
/* Copies the whole buffer into a malloc'd array (caller frees); NULL on failure. */
uint8_t *rpc_buffer_read(grpc_byte_buffer *bb, size_t *len);

#endif
