/* rpc_security.h: how the process's gRPC clients authenticate, without gRPC types,
 * so main() files can set it (implemented in rpc_client.c). */
#ifndef PK_RPC_SECURITY_H
#define PK_RPC_SECURITY_H

#include <stddef.h>

#include "auth.h"

/* Every later channel uses TLS with sec's CA, client certificate and/or bearer
 * token, or plaintext when sec->plaintext. Copies what it needs. Call once from
 * main() before any channel exists. 0, or -1 + err. */
int rpc_client_set_security(const struct pk_tls_client *sec, char *err, size_t errlen);
/* Forgets (and wipes) what rpc_client_set_security copied. */
void rpc_client_clear_security(void);

/* Loads the options (pk_tls_client_load) and applies them; prints the plaintext
 * warning when asked for plaintext. 0, or -1 with err saying what to give. */
int rpc_client_security_from_opts(const struct pk_tls_opts *opts, const char *prog, char *err, size_t errlen);

#endif
