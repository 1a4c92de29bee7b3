/* cert_deny.c: the certificate deny list (cert_deny.h). The list is a sorted
 * array of fingerprints behind a mutex, replaced whole on reload; lookups are a
 * binary search. Reads its one file; never touches gRPC or PostgreSQL. */
#include "cert_deny.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "pk_error.h"

#define DENY_MAX 100000

struct cert_deny {
    char *path;
    pthread_mutex_t mu;
    char (*fps)[CERT_SHA256_HEX + 1]; /* sorted */
    size_t n;
    struct timespec mtime;
    off_t size;
};

static int by_fp(const void *a, const void *b) { return strcmp(a, b); }

/* One line to a fingerprint: 1 when it holds one, 0 when blank, -1 when bad. */
static int parse_line(char *line, char *out)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *eq = strchr(line, '=');
    char *p = eq ? eq + 1 : line;
    size_t k = 0;
    for (; *p; p++) {
        if (isspace((unsigned char)*p) || *p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || k == CERT_SHA256_HEX)
            return -1;
        out[k++] = (char)tolower((unsigned char)*p);
    }
    out[k] = '\0';
    if (k == 0 && !eq)
        return 0;
    return k == CERT_SHA256_HEX ? 1 : -1;
}

/* Reads path into a new sorted array. 0, or -1 + err. */
static int load(const char *path, char (**fps)[CERT_SHA256_HEX + 1], size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return pk_fail(err, errlen, "--deny-certificates %s: cannot open it", path);
    char line[512];
    size_t cap = 0, count = 0;
    int lineno = 0, rc = -1;
    char(*v)[CERT_SHA256_HEX + 1] = NULL;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char fp[CERT_SHA256_HEX + 1];
        int got = parse_line(line, fp);
        if (got < 0) {
            pk_fail(err, errlen, "%s:%d: not a SHA-256 fingerprint (64 hex digits, colons allowed)", path, lineno);
            goto out;
        }
        if (!got)
            continue;
        if (count == DENY_MAX) {
            pk_fail(err, errlen, "%s:%d: more than %d fingerprints", path, lineno, DENY_MAX);
            goto out;
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *nv = realloc(v, ncap * sizeof *v);
            if (!nv) {
                pk_fail(err, errlen, "%s: out of memory", path);
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        memcpy(v[count++], fp, sizeof fp);
    }
    if (ferror(f)) {
        pk_fail(err, errlen, "%s: read error", path);
        goto out;
    }
    if (count)
        qsort(v, count, sizeof *v, by_fp);
    *fps = v;
    *n = count;
    v = NULL;
    rc = 0;
out:
    free(v);
    fclose(f);
    return rc;
}

struct cert_deny *cert_deny_open(const char *path, char *err, size_t errlen)
{
    struct cert_deny *d = calloc(1, sizeof *d);
    struct stat st;
    if (!d || !(d->path = strdup(path))) {
        free(d);
        pk_fail(err, errlen, "out of memory");
        return NULL;
    }
    if (stat(path, &st) < 0 || load(path, &d->fps, &d->n, err, errlen) < 0) {
        if (err[0] == '\0' || strstr(err, path) == NULL)
            pk_fail(err, errlen, "--deny-certificates %s: cannot read it", path);
        free(d->path);
        free(d);
        return NULL;
    }
    d->mtime = st.st_mtim;
    d->size = st.st_size;
    pthread_mutex_init(&d->mu, NULL);
    PK_INFO("auth", "certificate deny list loaded", "file=%s fingerprints=%zu", path, d->n);
    return d;
}

int cert_deny_refresh(struct cert_deny *d)
{
    struct stat st;
    if (stat(d->path, &st) < 0)
        return 0; /* keep the list: a file being replaced may be missing for a moment */
    if (st.st_mtim.tv_sec == d->mtime.tv_sec && st.st_mtim.tv_nsec == d->mtime.tv_nsec && st.st_size == d->size)
        return 0;
    char err[600];
    char(*fps)[CERT_SHA256_HEX + 1] = NULL;
    size_t n = 0;
    d->mtime = st.st_mtim;
    d->size = st.st_size;
    if (load(d->path, &fps, &n, err, sizeof err) < 0) {
        char q[700];
        PK_ERROR("auth", "certificate deny list not reloaded; the previous one stays", "error=%s",
                 pk_log_q(q, sizeof q, err));
        return 0;
    }
    pthread_mutex_lock(&d->mu);
    free(d->fps);
    d->fps = fps;
    d->n = n;
    pthread_mutex_unlock(&d->mu);
    PK_INFO("auth", "certificate deny list reloaded", "file=%s fingerprints=%zu", d->path, n);
    return 1;
}

int cert_deny_has(struct cert_deny *d, const char *fingerprint)
{
    pthread_mutex_lock(&d->mu);
    int found = d->n && bsearch(fingerprint, d->fps, d->n, sizeof *d->fps, by_fp) != NULL;
    pthread_mutex_unlock(&d->mu);
    return found;
}

void cert_deny_close(struct cert_deny *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d->fps);
    free(d->path);
    free(d);
}

int cert_fingerprint_pem(const char *pem, size_t len, char *out)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = -1;
    if (x && X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32) {
        for (unsigned i = 0; i < n; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
        rc = 0;
    }
    X509_free(x);
    BIO_free(bio);
    return rc;
}
