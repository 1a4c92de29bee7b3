/* auth.h: credentials without gRPC: who a peer is (roles and the certificate
 * common-name scheme), per-probe tokens (format, generation, SHA-256 hashing),
 * and the TLS/token options every binary takes (--tls-ca, --tls-cert, --tls-key,
 * --token-file, --insecure-plaintext and their PICKET_* variables).
 * Tokens are secrets: nothing here logs them. */
#ifndef PK_AUTH_H
#define PK_AUTH_H

#include <stddef.h>

enum pk_role {
    PK_ROLE_NONE = 0,
    PK_ROLE_PROBE, /* may register and stream as its own probe name only */
    PK_ROLE_READ,  /* QueryService */
    PK_ROLE_WRITE, /* QueryService and AdminService (write implies read) */
    PK_ROLE_ANY,   /* --insecure-plaintext: everyone may do everything */
};

#define PK_IDENTITY_NAME_MAX 128

struct pk_identity {
    enum pk_role role;
    char name[PK_IDENTITY_NAME_MAX]; /* probe name for PK_ROLE_PROBE, the holder's name otherwise */
};

/* "probe", "read", "write" (and "any", "none"). */
const char *pk_role_name(enum pk_role role);
/* PK_ROLE_PROBE/READ/WRITE from "probe"/"read"/"write"; PK_ROLE_NONE otherwise. */
enum pk_role pk_role_parse(const char *name);

/* Certificate common names: "probe:<name>", "read:<who>", "write:<who>"; the name
 * is 1..127 bytes of printable ASCII. 0, or -1 with err saying what is wrong. */
int pk_identity_from_cn(const char *cn, struct pk_identity *id, char *err, size_t errlen);

/* Permission checks. */
int pk_identity_can_read(const struct pk_identity *id);
int pk_identity_can_write(const struct pk_identity *id);
/* True when id may act as probe `probe_name` (its own name, or PK_ROLE_ANY). */
int pk_identity_is_probe(const struct pk_identity *id, const char *probe_name);

/* Tokens: "pkt_" + 64 lowercase hex digits (32 random bytes). */
#define PK_TOKEN_PREFIX "pkt_"
#define PK_TOKEN_LEN 68
#define PK_TOKEN_HASH_HEX 64

/* Fills out (PK_TOKEN_LEN + 1 bytes) from the kernel's random source. 0 or -1 + err. */
int pk_token_generate(char *out, char *err, size_t errlen);
/* 0 when token has the exact format above, -1 otherwise. */
int pk_token_check_format(const char *token);
/* SHA-256 of the token's bytes as 64 lowercase hex digits + NUL (out: 65 bytes). */
void pk_token_hash_hex(const char *token, char *out);
/* Constant-time equality of two n-byte buffers (1 when equal). */
int pk_ct_equal(const void *a, const void *b, size_t n);
/* Takes the token out of an "authorization" metadata value ("Bearer <token>", the
 * scheme case-insensitive). 0 with out filled, -1 when it is not a bearer value or
 * does not fit. value need not be NUL-terminated. */
int pk_bearer_token(const char *value, size_t len, char *out, size_t outlen);

/* Reads a whole (small, <= 1 MiB) file, such as a PEM, into a NUL-terminated
 * malloc'd buffer the caller frees. NULL + err naming the file on failure. */
char *pk_read_small_file(const char *path, char *err, size_t errlen);
/* Reads a token file: the first line, surrounding whitespace removed, must be a
 * token in the format above. 0, or -1 with err naming the file. */
int pk_read_token_file(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/* TLS and token options. Pointers are borrowed from argv/environ. */
struct pk_tls_opts {
    const char *ca_file;   /* CA that peers' certificates must chain to */
    const char *cert_file; /* own certificate (the collector: its server certificate) */
    const char *key_file;  /* its private key */
    const char *token_file;
    const char *token; /* PICKET_TOKEN: the token itself */
    int insecure_plaintext;
};

/* Defaults from PICKET_TLS_CA, PICKET_TLS_CERT, PICKET_TLS_KEY, PICKET_TOKEN_FILE,
 * PICKET_TOKEN. --insecure-plaintext has no variable: it must be explicit. */
void pk_tls_opts_from_env(struct pk_tls_opts *o);

/* Loaded client material: PEM strings and token, owned (pk_tls_client_free). */
struct pk_tls_client {
    int plaintext;
    char *ca_pem;
    char *cert_pem; /* NULL without a client certificate */
    char *key_pem;
    char token[PK_TOKEN_LEN + 1]; /* "" without a token */
};
/* Validates and loads o for a client: needs --tls-ca plus a certificate/key pair or
 * a token, or --insecure-plaintext (then prints the warning to stderr and the log,
 * naming prog). -1 with err saying exactly what to give. */
int pk_tls_client_load(const struct pk_tls_opts *o, const char *prog, struct pk_tls_client *out, char *err,
                       size_t errlen);
void pk_tls_client_free(struct pk_tls_client *c);

/* The warning every --insecure-plaintext start prints (stderr and log). */
void pk_warn_plaintext(const char *prog);

#endif
