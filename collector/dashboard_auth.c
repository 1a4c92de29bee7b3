/* dashboard_auth.c: the dashboard's optional login (docs/DASHBOARD.md,
 * "Login"). picket-collector --dashboard-auth FILE reads, one per line:
 *     token SHA256HEX      a bearer token, by the SHA-256 of the token (lowercase hex)
 *     user NAME HASH       a user and a crypt(3) hash of the password (yescrypt
 *                          "$y$...", sha512-crypt "$6$...", bcrypt "$2b$..."; mkpasswd makes them)
 *     cert CN              a TLS client certificate with this common name ("*": any),
 *                          verified against --http-client-ca (the listener serves HTTPS)
 * ('#' starts a comment). A request then needs "Authorization: Bearer TOKEN",
 * "Authorization: Basic base64(NAME:PASSWORD)" or a verified client certificate
 * of a listed CN; anything else gets 401 with a Basic challenge, so a browser asks for the user and password. Passwords are
 * checked with crypt_r (libcrypt); a good answer is remembered for a minute by
 * the SHA-256 of its header, so a page refreshing every 5 s does not pay a slow
 * hash each time. Read-only either way: the login only decides who may look. */
#include "dashboard_int.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "pk_error.h"
#include "result.h"

#define MAX_ENTRIES 256
#define CACHE_SLOTS 16
#define CACHE_US INT64_C(60000000)

struct auth_user {
    char name[128];
    char hash[256];
};

struct dash_auth {
    char (*tokens)[PK_TOKEN_HASH_HEX + 1];
    size_t n_tokens;
    char (*certs)[128]; /* client certificate common names; "*": any verified one */
    size_t n_certs;
    struct auth_user *users;
    size_t n_users;
    pthread_mutex_t mu; /* guards cache */
    struct {
        char key[PK_TOKEN_HASH_HEX + 1];
        int64_t until_us;
    } cache[CACHE_SLOTS];
};

void dash_auth_free(struct dash_auth *a)
{
    if (!a)
        return;
    free(a->tokens);
    free(a->certs);
    free(a->users);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static int is_hex64(const char *s)
{
    if (strlen(s) != PK_TOKEN_HASH_HEX)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* One line of the file into a; 0, or -1 with err naming path and line. */
static int parse_line(struct dash_auth *a, char *line, const char *path, int lineno, char *err, size_t errlen)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *save = NULL, *kind = strtok_r(line, " \t\r\n", &save);
    if (!kind)
        return 0;
    char *f1 = strtok_r(NULL, " \t\r\n", &save), *f2 = strtok_r(NULL, " \t\r\n", &save);
    char *extra = strtok_r(NULL, " \t\r\n", &save);
    if (a->n_tokens + a->n_users + a->n_certs >= MAX_ENTRIES)
        return pk_fail(err, errlen, "%s:%d: more than %d entries", path, lineno, MAX_ENTRIES);
    if (strcmp(kind, "token") == 0 && f1 && !f2) {
        if (!is_hex64(f1))
            return pk_fail(err, errlen, "%s:%d: a token is given by its SHA-256 as 64 lowercase hex digits "
                                        "(sha256sum of the token)", path, lineno);
        snprintf(a->tokens[a->n_tokens++], PK_TOKEN_HASH_HEX + 1, "%s", f1);
        return 0;
    }
    if (strcmp(kind, "user") == 0 && f1 && f2 && !extra) {
        if (f2[0] != '$' || strlen(f2) >= sizeof a->users[0].hash || strlen(f1) >= sizeof a->users[0].name ||
            strchr(f1, ':'))
            return pk_fail(err, errlen, "%s:%d: user '%.64s': expected a crypt(3) hash such as \"$y$...\" or "
                                        "\"$6$...\" (mkpasswd -m yescrypt) and a name without ':'",
                           path, lineno, f1);
        struct auth_user *u = &a->users[a->n_users++];
        snprintf(u->name, sizeof u->name, "%s", f1);
        snprintf(u->hash, sizeof u->hash, "%s", f2);
        return 0;
    }
    if (strcmp(kind, "cert") == 0 && f1 && !f2) {
        if (strlen(f1) >= sizeof a->certs[0])
            return pk_fail(err, errlen, "%s:%d: cert: a common name is at most %zu bytes", path, lineno,
                           sizeof a->certs[0] - 1);
        snprintf(a->certs[a->n_certs++], sizeof a->certs[0], "%s", f1);
        return 0;
    }
    return pk_fail(err, errlen, "%s:%d: expected \"token SHA256HEX\", \"user NAME CRYPT-HASH\" or \"cert CN\"", path,
                   lineno);
}

struct dash_auth *dash_auth_load(const char *path, char *err, size_t errlen)
{
    char *text = pk_read_small_file(path, err, errlen);
    if (!text)
        return NULL;
    struct dash_auth *a = calloc(1, sizeof *a);
    if (a) {
        a->tokens = calloc(MAX_ENTRIES, sizeof *a->tokens);
        a->users = calloc(MAX_ENTRIES, sizeof *a->users);
        a->certs = calloc(MAX_ENTRIES, sizeof *a->certs);
        pthread_mutex_init(&a->mu, NULL);
    }
    if (!a || !a->tokens || !a->users || !a->certs) {
        pk_fail(err, errlen, "%s: out of memory", path);
        free(text);
        dash_auth_free(a);
        return NULL;
    }
    int lineno = 0, rc = 0;
    for (char *line = text, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = parse_line(a, line, path, ++lineno, err, errlen);
    }
    free(text);
    if (rc == 0 && a->n_tokens + a->n_users + a->n_certs == 0)
        rc = pk_fail(err, errlen, "%s: no token, user or cert: nobody could log in", path);
    if (rc < 0) {
        dash_auth_free(a);
        return NULL;
    }
    return a;
}

/* 1 when name:password matches a user's hash. */
static int password_ok(const struct dash_auth *a, const char *name, const char *password)
{
    for (size_t i = 0; i < a->n_users; i++) {
        if (strcmp(a->users[i].name, name) != 0)
            continue;
        struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
            return 0;
        const char *h = crypt_r(password, a->users[i].hash, cd);
        size_t n = strlen(a->users[i].hash);
        int ok = h && h[0] != '*' && strlen(h) == n && pk_ct_equal(h, a->users[i].hash, n);
        free(cd);
        return ok;
    }
    return 0;
}

/* "Basic base64(name:password)" checked against the users. */
static int basic_ok(const struct dash_auth *a, const char *value)
{
    char decoded[512];
    size_t len = strlen(value);
    if (len > 600)
        return 0;
    int n = EVP_DecodeBlock((unsigned char *)decoded, (const unsigned char *)value, (int)len);
    if (n <= 0 || n >= (int)sizeof decoded)
        return 0;
    decoded[n] = '\0';
    while (len > 0 && value[len - 1] == '=' && n > 0) { /* EVP_DecodeBlock keeps the padding's zero bytes */
        len--;
        decoded[--n] = '\0';
    }
    char *colon = strchr(decoded, ':');
    if (!colon || strlen(decoded) != (size_t)n)
        return 0;
    *colon = '\0';
    int ok = password_ok(a, decoded, colon + 1);
    OPENSSL_cleanse(decoded, sizeof decoded);
    return ok;
}

static int cached(struct dash_auth *a, const char *key, int64_t now_us, int store)
{
    int hit = 0;
    pthread_mutex_lock(&a->mu);
    size_t oldest = 0;
    for (size_t i = 0; i < CACHE_SLOTS && !hit; i++) {
        if (a->cache[i].until_us > now_us && pk_ct_equal(a->cache[i].key, key, PK_TOKEN_HASH_HEX))
            hit = 1;
        if (a->cache[i].until_us < a->cache[oldest].until_us)
            oldest = i;
    }
    if (store && !hit) {
        snprintf(a->cache[oldest].key, sizeof a->cache[oldest].key, "%s", key);
        a->cache[oldest].until_us = now_us + CACHE_US;
    }
    pthread_mutex_unlock(&a->mu);
    return hit;
}

int dash_auth_wants_certs(const struct dash_auth *a) { return a && a->n_certs > 0; }

int dash_auth_allows(struct dash_auth *a, const char *authorization, const char *client_cn)
{
    for (size_t i = 0; client_cn && i < a->n_certs; i++)
        if (strcmp(a->certs[i], "*") == 0 || strcmp(a->certs[i], client_cn) == 0)
            return 1;
    if (!authorization || !authorization[0])
        return 0;
    char token[256], key[PK_TOKEN_HASH_HEX + 1];
    if (pk_bearer_token(authorization, strlen(authorization), token, sizeof token) == 0) {
        pk_token_hash_hex(token, key);
        for (size_t i = 0; i < a->n_tokens; i++)
            if (pk_ct_equal(a->tokens[i], key, PK_TOKEN_HASH_HEX))
                return 1;
        return 0;
    }
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return 0;
    pk_token_hash_hex(authorization, key); /* the cache holds only hashes of good headers */
    int64_t now = pk_now_us();
    if (cached(a, key, now, 0))
        return 1;
    const char *v = authorization + 6;
    while (*v == ' ')
        v++;
    if (!basic_ok(a, v))
        return 0;
    cached(a, key, now, 1);
    return 1;
}
