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
