/* fuzz_dash_auth.c: libFuzzer target for the dashboard's login (collector/
 * dashboard_auth.c), the one parser every HTTP client reaches before it has
 * proven anything: the Authorization header (Bearer token, or Basic base64 of
 * user:password checked with crypt_r and a cache of good headers) and the TLS
 * client certificate's common name. The first input byte picks what the rest is:
 *   even: "Authorization header" [NUL "client CN"], judged against a fixed file
 *         (token "secret-token", user alice with password "pw", cert probe-1);
 *         the answer must not change when asked again (the cache must agree),
 *         and nothing but those credentials may get in;
 *   odd:  a --dashboard-auth file, loaded: it loads or fails naming its path.
 * Hashes in a fuzzed file are never run (a "$2b$31$" cost would take hours, and
 * the file is the operator's own). */
#include <crypt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth.h"
#include "dashboard_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dash_auth *fixed;
static char fixed_path[64], file_path[64];

static void cleanup(void)
{
    dash_auth_free(fixed);
    unlink(fixed_path);
    unlink(file_path);
}

static void setup(void)
{
    char key[PK_TOKEN_HASH_HEX + 1], err[512];
    pk_token_hash_hex("secret-token", key);
    struct crypt_data cd = {0};
    const char *h = crypt_r("pw", "$5$rounds=1000$fuzzsaltfuzzsalt", &cd); /* cheap: the fuzzer may try many */
    snprintf(fixed_path, sizeof fixed_path, "/tmp/picket-fuzz-auth-XXXXXX");
    int fd = mkstemp(fixed_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f || !h)
        abort();
    fprintf(f, "# fuzz_dash_auth\ntoken %s\nuser alice %s\ncert probe-1\n", key, h);
    fclose(f);
    fixed = dash_auth_load(fixed_path, err, sizeof err);
    snprintf(file_path, sizeof file_path, "/tmp/picket-fuzz-authf-XXXXXX");
    fd = mkstemp(file_path);
    if (!fixed || fd < 0) {
        fprintf(stderr, "fuzz_dash_auth: %s\n", err);
        abort();
    }
    close(fd);
    atexit(cleanup);
}

/* 1 when HEADER carries exactly the fixed token or alice:pw (an oracle written
 * apart from dashboard_auth.c's parsing: base64 by OpenSSL, padding dropped as
 * RFC 4648 says). */
static int known_good(const char *header)
{
    char token[256];
    if (pk_bearer_token(header, strlen(header), token, sizeof token) == 0)
        return strcmp(token, "secret-token") == 0;
    if (strncasecmp(header, "Basic ", 6) != 0)
        return 0;
    const char *v = header + 6;
    while (*v == ' ')
        v++;
    unsigned char out[1024];
    size_t len = strlen(v);
    if (len > 600)
        return 0;
    int n = EVP_DecodeBlock(out, (const unsigned char *)v, (int)len);
    /* RFC 4648: each '=' stands for one byte less; the bits it leaves over are
     * ignored, so "cHd=" is "pw" as well as "cHc=" is. */
    for (size_t i = len; n > 0 && i > 0 && v[i - 1] == '='; i--)
        n--;
    return n == 8 && memcmp(out, "alice:pw", 8) == 0;
}

static void judge_header(const uint8_t *data, size_t size)
{
    char header[1024], cn[256];
    const uint8_t *nul = memchr(data, 0, size);
    size_t hl = nul ? (size_t)(nul - data) : size;
    if (hl >= sizeof header)
        hl = sizeof header - 1;
    memcpy(header, data, hl);
    header[hl] = '\0';
    const char *client_cn = NULL;
    if (nul) {
        size_t cl = size - hl - 1;
        if (cl >= sizeof cn)
            cl = sizeof cn - 1;
        memcpy(cn, nul + 1, cl);
        cn[cl] = '\0';
        client_cn = cn;
    }
    int first = dash_auth_allows(fixed, header, client_cn);
    int again = dash_auth_allows(fixed, header, client_cn);
    if (first != again)
        abort(); /* the cache of good headers changed the answer */
    int cert = client_cn && strcmp(client_cn, "probe-1") == 0;
    if (first && !cert && !known_good(header))
        abort(); /* let in without the token, alice's password or probe-1's certificate */
    if (!first && cert)
        abort(); /* probe-1's certificate refused */
}

static void load_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(file_path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    char err[512] = "";
    struct dash_auth *a = dash_auth_load(file_path, err, sizeof err);
    if (a)
        dash_auth_free(a);
    else if (strncmp(err, file_path, strlen(file_path)) != 0)
        abort(); /* an error that does not name the file */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed)
        setup();
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        judge_header(data + 1, size - 1);
    else
        load_file(data + 1, size - 1);
    return 0;
}
