/* auth.c: credential helpers shared by the collector, the probe and picketctl:
 * the common-name scheme, token format/generation/hashing, and loading the TLS
 * and token options. Pure C plus OpenSSL's SHA-256; no gRPC, no database.
 * Never logs or prints a token. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "log.h"

#define SMALL_FILE_MAX (1024 * 1024)

const char *pk_role_name(enum pk_role role)
{
    switch (role) {
    case PK_ROLE_PROBE:
        return "probe";
    case PK_ROLE_READ:
        return "read";
    case PK_ROLE_WRITE:
        return "write";
    case PK_ROLE_ANY:
        return "any";
    case PK_ROLE_NONE:
        break;
    }
    return "none";
}

enum pk_role pk_role_parse(const char *name)
{
    if (!name)
        return PK_ROLE_NONE;
    if (!strcmp(name, "probe"))
        return PK_ROLE_PROBE;
    if (!strcmp(name, "read"))
        return PK_ROLE_READ;
    if (!strcmp(name, "write"))
        return PK_ROLE_WRITE;
    return PK_ROLE_NONE;
}

int pk_identity_from_cn(const char *cn, struct pk_identity *id, char *err, size_t errlen)
{
    memset(id, 0, sizeof *id);
    const char *colon = cn ? strchr(cn, ':') : NULL;
    if (!colon) {
        snprintf(err, errlen, "certificate CN '%.100s' is not ROLE:NAME (probe:NAME, read:WHO or write:WHO)",
                 cn ? cn : "");
        return -1;
    }
    char role[16];
    size_t rlen = (size_t)(colon - cn);
    if (rlen >= sizeof role) {
        snprintf(err, errlen, "certificate CN '%.100s': unknown role", cn);
        return -1;
    }
    memcpy(role, cn, rlen);
    role[rlen] = '\0';
    enum pk_role r = pk_role_parse(role);
    if (r == PK_ROLE_NONE) {
        snprintf(err, errlen, "certificate CN '%.100s': unknown role '%s' (probe, read or write)", cn, role);
        return -1;
    }
    const char *name = colon + 1;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= PK_IDENTITY_NAME_MAX) {
        snprintf(err, errlen, "certificate CN '%.100s': the name must be 1..%d bytes", cn, PK_IDENTITY_NAME_MAX - 1);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x21 || *p > 0x7e) {
            snprintf(err, errlen, "certificate CN '%.100s': the name must be printable ASCII without spaces", cn);
            return -1;
        }
    id->role = r;
    memcpy(id->name, name, nlen + 1);
    return 0;
}

int pk_identity_can_read(const struct pk_identity *id)
{
    return id->role == PK_ROLE_READ || id->role == PK_ROLE_WRITE || id->role == PK_ROLE_ANY;
}

int pk_identity_can_write(const struct pk_identity *id)
{
    return id->role == PK_ROLE_WRITE || id->role == PK_ROLE_ANY;
}

int pk_identity_is_probe(const struct pk_identity *id, const char *probe_name)
{
    if (id->role == PK_ROLE_ANY)
        return 1;
    return id->role == PK_ROLE_PROBE && probe_name && strcmp(id->name, probe_name) == 0;
}

/* ------------------------------------------------------------------ tokens */

static const char hex_digits[] = "0123456789abcdef";

int pk_token_generate(char *out, char *err, size_t errlen)
{
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "cannot read random bytes for a token: %s", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    memcpy(out, PK_TOKEN_PREFIX, 4);
    for (size_t i = 0; i < sizeof raw; i++) {
        out[4 + 2 * i] = hex_digits[raw[i] >> 4];
        out[4 + 2 * i + 1] = hex_digits[raw[i] & 15];
    }
    out[PK_TOKEN_LEN] = '\0';
    memset(raw, 0, sizeof raw);
    return 0;
}

int pk_token_check_format(const char *token)
{
    if (!token || strlen(token) != PK_TOKEN_LEN || strncmp(token, PK_TOKEN_PREFIX, 4) != 0)
        return -1;
    for (const char *p = token + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    return 0;
}

void pk_token_hash_hex(const char *token, char *out)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), digest);
    for (size_t i = 0; i < sizeof digest; i++) {
        out[2 * i] = hex_digits[digest[i] >> 4];
        out[2 * i + 1] = hex_digits[digest[i] & 15];
    }
    out[PK_TOKEN_HASH_HEX] = '\0';
}

int pk_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

int pk_bearer_token(const char *value, size_t len, char *out, size_t outlen)
{
    if (len < 7 || strncasecmp(value, "bearer ", 7) != 0)
        return -1;
    size_t start = 7;
    while (start < len && value[start] == ' ')
        start++;
    size_t end = len;
    while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
        end--;
    if (end == start || end - start >= outlen)
        return -1;
    memcpy(out, value + start, end - start);
    out[end - start] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ files */

char *pk_read_small_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SMALL_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SMALL_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > SMALL_FILE_MAX || n == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf ? "out of memory" : n > SMALL_FILE_MAX ? "larger than 1 MiB" : n == 0 ? "empty" : "read error");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int pk_read_token_file(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char *text = pk_read_small_file(path, err, errlen);
    if (!text)
        return -1;
    char *p = text;
    while (*p && isspace((unsigned char)*p))
        p++;
    size_t n = strcspn(p, "\r\n");
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    p[n] = '\0';
    int rc = -1;
    if (pk_token_check_format(p) < 0)
        snprintf(err, errlen, "%s: not a Picket token (expected %s followed by 64 hex digits on the first line)",
                 path, PK_TOKEN_PREFIX);
    else if (n >= outlen)
        snprintf(err, errlen, "%s: token too long", path);
    else {
        memcpy(out, p, n + 1);
        rc = 0;
    }
    memset(text, 0, strlen(text));
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ options */

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

void pk_tls_opts_from_env(struct pk_tls_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ca_file = env_or_null("PICKET_TLS_CA");
    o->cert_file = env_or_null("PICKET_TLS_CERT");
    o->key_file = env_or_null("PICKET_TLS_KEY");
    o->token_file = env_or_null("PICKET_TOKEN_FILE");
    o->token = env_or_null("PICKET_TOKEN");
}

void pk_warn_plaintext(const char *prog)
{
    fprintf(stderr,
            "%s: WARNING: --insecure-plaintext: no TLS and no authentication; anyone who can reach the "
            "port can read and forge monitoring data. Use this for development only.\n",
            prog);
    PK_WARN("security", "insecure plaintext mode", "program=%s tls=off authentication=off", prog);
}

void pk_tls_client_free(struct pk_tls_client *c)
{
    free(c->ca_pem);
    free(c->cert_pem);
    if (c->key_pem) {
        memset(c->key_pem, 0, strlen(c->key_pem));
        free(c->key_pem);
    }
    memset(c, 0, sizeof *c);
}

int pk_tls_client_load(const struct pk_tls_opts *o, const char *prog, struct pk_tls_client *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (o->insecure_plaintext) {
        pk_warn_plaintext(prog);
        out->plaintext = 1;
        return 0;
    }
    if (!o->ca_file) {
        snprintf(err, errlen,
                 "no TLS configuration: give --tls-ca FILE (env PICKET_TLS_CA) with either --tls-cert FILE "
                 "--tls-key FILE or --token-file FILE (env PICKET_TOKEN_FILE / PICKET_TOKEN); "
                 "or --insecure-plaintext for development");
        return -1;
    }
    if (!o->cert_file != !o->key_file) {
        snprintf(err, errlen, "%s without %s: a client certificate needs both --tls-cert and --tls-key",
                 o->cert_file ? "--tls-cert" : "--tls-key", o->cert_file ? "--tls-key" : "--tls-cert");
        return -1;
    }
    if (!o->cert_file && !o->token_file && !o->token) {
        snprintf(err, errlen,
                 "no credential: give --tls-cert FILE --tls-key FILE (a client certificate from the "
                 "Picket CA) or --token-file FILE (env PICKET_TOKEN_FILE / PICKET_TOKEN)");
        return -1;
    }
    char why[512];
    out->ca_pem = pk_read_small_file(o->ca_file, why, sizeof why);
    if (!out->ca_pem) {
        snprintf(err, errlen, "--tls-ca %s", why);
        goto fail;
    }
    if (o->cert_file) {
        out->cert_pem = pk_read_small_file(o->cert_file, why, sizeof why);
        if (!out->cert_pem) {
            snprintf(err, errlen, "--tls-cert %s", why);
            goto fail;
        }
        out->key_pem = pk_read_small_file(o->key_file, why, sizeof why);
        if (!out->key_pem) {
            snprintf(err, errlen, "--tls-key %s", why);
            goto fail;
        }
    }
    if (o->token_file) {
        if (pk_read_token_file(o->token_file, out->token, sizeof out->token, why, sizeof why) < 0) {
            snprintf(err, errlen, "--token-file %s", why);
            goto fail;
        }
    } else if (o->token) {
        if (pk_token_check_format(o->token) < 0) {
            snprintf(err, errlen, "PICKET_TOKEN is not a Picket token (expected %s followed by 64 hex digits)",
                     PK_TOKEN_PREFIX);
            goto fail;
        }
        memcpy(out->token, o->token, PK_TOKEN_LEN + 1);
    }
    return 0;
fail:
    pk_tls_client_free(out);
    return -1;
}
