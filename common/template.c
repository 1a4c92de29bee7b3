/* template.c: parses, validates and renders the {{ ... }} templates of the check
 * language (syntax in template.h). One scanner serves both validation at load
 * time (names checked through a callback, nothing rendered) and rendering at run
 * time. Owns nothing beyond the string it returns; never puts a variable's or a
 * secret's value into an error message. */
#include "template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "checks.h"

#define MAX_NAME 128
#define MAX_ARGS 2
#define MAX_LITERAL 4096

struct ctx {
    const char *src;
    /* validation */
    pk_template_kind_fn kind_of;
    /* rendering */
    pk_template_lookup_fn lookup;
    void *user;
    int flags;
    struct pk_buf out; /* pk_buf_init'd by pk_template_render only */
    int used_secret;
    size_t err_offset;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *x, size_t offset, const char *fmt, ...)
{
    va_list ap;
    x->err_offset = offset;
    if (x->err && x->errlen) {
        va_start(ap, fmt);
        vsnprintf(x->err, x->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* One argument or the whole expression: a name or a string literal. */
struct arg {
    int is_literal;
    char text[MAX_LITERAL]; /* the name, or the unescaped literal */
    size_t len;
    size_t offset;
    int kind;               /* names: PK_TNAME_* */
    const char *value;      /* names when rendering; literals point at text */
    size_t value_len;
};

static void skip_ws(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t')
        (*i)++;
}

static int is_name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int parse_name(struct ctx *x, size_t *i, struct arg *a)
{
    const char *s = x->src;
    size_t start = *i;
    a->is_literal = 0;
    a->offset = start;
    while (is_name_char(s[*i]))
        (*i)++;
    a->len = *i - start;
    if (a->len >= MAX_NAME)
        return fail(x, start, "name longer than %d characters", MAX_NAME - 1);
    memcpy(a->text, s + start, a->len);
    a->text[a->len] = '\0';
    return 0;
}

static int parse_literal(struct ctx *x, size_t *i, struct arg *a)
{
    const char *s = x->src;
    char quote = s[*i];
    a->is_literal = 1;
    a->offset = *i;
    a->len = 0;
    (*i)++;
    for (;;) {
        char c = s[*i];
        if (c == '\0')
            return fail(x, a->offset, "unterminated string in template");
        (*i)++;
        if (c == quote)
            break;
        if (c == '\\') {
            c = s[*i];
            if (c == '\0')
                return fail(x, a->offset, "unterminated string in template");
            (*i)++;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'r')
                c = '\r';
        }
        if (a->len + 1 >= MAX_LITERAL)
            return fail(x, a->offset, "string in template longer than %d bytes", MAX_LITERAL - 1);
        a->text[a->len++] = c;
    }
    a->text[a->len] = '\0';
    a->value = a->text;
    a->value_len = a->len;
    a->kind = PK_TNAME_VAR;
    return 0;
}

static int parse_arg(struct ctx *x, size_t *i, struct arg *a)
{
    char c = x->src[*i];
    if (c == '\'' || c == '"')
        return parse_literal(x, i, a);
    if (is_name_start(c))
        return parse_name(x, i, a);
    return fail(x, *i, "expected a name or a quoted string in template");
}

/* Resolves a name argument: its kind, and when rendering its value. */
static int resolve(struct ctx *x, struct arg *a)
{
    if (a->is_literal)
        return 0;
    if (x->lookup) {
        const char *v = NULL;
        a->kind = x->lookup(x->user, a->text, &v);
        if (a->kind != PK_TNAME_UNKNOWN && !v)
            a->kind = PK_TNAME_UNKNOWN;
        a->value = v;
        a->value_len = v ? strlen(v) : 0;
    } else {
        a->kind = x->kind_of ? x->kind_of(x->user, a->text) : PK_TNAME_UNKNOWN;
    }
    if (a->kind == PK_TNAME_UNKNOWN)
        return fail(x, a->offset, "unknown variable '%s'", a->text);
    if (a->kind == PK_TNAME_SECRET)
        x->used_secret = 1;
    return 0;
}

static void emit(struct ctx *x, const char *s, size_t len)
{
    if (!x->lookup)
        return;
    if (x->flags & PK_TEMPLATE_JSON_STRING)
        pk_buf_add_json_chars(&x->out, s, len);
    else
        pk_buf_add(&x->out, s, len);
}

static const struct {
    const char *name;
    int n_args;
} functions[] = {
    {"uuid", 0},   {"now", 0},  {"now_unix", 0}, {"now_ms", 0}, {"hmac_sha256_hex", 2}, {"hmac_sha256_base64", 2},
    {"base64", 1},
};

static int call(struct ctx *x, const struct arg *fn, struct arg *args, int n_args)
{
    size_t f = 0;
    while (f < sizeof functions / sizeof *functions && strcmp(functions[f].name, fn->text) != 0)
        f++;
    if (f == sizeof functions / sizeof *functions)
        return fail(x, fn->offset, "unknown function '%s'", fn->text);
    if (n_args != functions[f].n_args)
        return fail(x, fn->offset, "function '%s' takes %d argument%s, got %d", fn->text, functions[f].n_args,
                    functions[f].n_args == 1 ? "" : "s", n_args);
    if (fn->text[0] == 'h') {
        if (args[0].is_literal)
            return fail(x, args[0].offset, "the key of '%s' must name a secret or variable, not a string", fn->text);
    }
    for (int i = 0; i < n_args; i++)
        if (resolve(x, &args[i]) < 0)
            return -1;
    if (fn->text[0] == 'h' && args[0].kind != PK_TNAME_SECRET && args[0].kind != PK_TNAME_VAR)
        return fail(x, args[0].offset, "the key of '%s' must name a secret or variable", fn->text);
    if (!x->lookup)
        return 0;

    char small[64];
    if (strcmp(fn->text, "uuid") == 0) {
        char u[37];
        if (pk_template_uuid4(u) < 0)
            return fail(x, fn->offset, "cannot read random bytes for uuid()");
        emit(x, u, 36);
    } else if (strncmp(fn->text, "now", 3) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (strcmp(fn->text, "now") == 0) {
            struct tm tm;
            gmtime_r(&ts.tv_sec, &tm);
            strftime(small, sizeof small, "%Y-%m-%dT%H:%M:%SZ", &tm);
        } else if (strcmp(fn->text, "now_unix") == 0) {
            snprintf(small, sizeof small, "%lld", (long long)ts.tv_sec);
        } else {
            snprintf(small, sizeof small, "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        }
        emit(x, small, strlen(small));
    } else if (strcmp(fn->text, "base64") == 0) {
        char *b = NULL;
        if (pk_template_base64(args[0].value, args[0].value_len, &b) < 0)
            return fail(x, fn->offset, "out of memory in base64()");
        emit(x, b, strlen(b));
        free(b);
    } else {
        char mac[65];
        int rc = strcmp(fn->text, "hmac_sha256_hex") == 0
                     ? pk_template_hmac_sha256_hex(args[0].value, args[0].value_len, args[1].value,
                                                   args[1].value_len, mac)
                     : pk_template_hmac_sha256_base64(args[0].value, args[0].value_len, args[1].value,
                                                      args[1].value_len, mac);
        if (rc < 0)
            return fail(x, fn->offset, "%s failed", fn->text);
        emit(x, mac, strlen(mac));
    }
    return 0;
}

/* One {{ ... }} starting at *i (just after the braces). */
static int expression(struct ctx *x, size_t open, size_t *i)
{
    const char *s = x->src;
    struct arg *head = calloc(1 + MAX_ARGS, sizeof *head);
    int rc = -1;
    if (!head)
        return fail(x, open, "out of memory");
    struct arg *args = head + 1;
    skip_ws(s, i);
    if (s[*i] == '}' && s[*i + 1] == '}') {
        fail(x, open, "empty template '{{}}'");
        goto out;
    }
    if (parse_arg(x, i, head) < 0)
        goto out;
    skip_ws(s, i);
    if (!head->is_literal && s[*i] == '(') {
        int n = 0;
        (*i)++;
        skip_ws(s, i);
        if (s[*i] != ')') {
            for (;;) {
                if (n == MAX_ARGS) {
                    fail(x, *i, "too many arguments to '%s'", head->text);
                    goto out;
                }
                if (parse_arg(x, i, &args[n]) < 0)
                    goto out;
                n++;
                skip_ws(s, i);
                if (s[*i] == ',') {
                    (*i)++;
                    skip_ws(s, i);
                    continue;
                }
                if (s[*i] == ')')
                    break;
                fail(x, *i, "expected ',' or ')' in call to '%s'", head->text);
                goto out;
            }
        }
        (*i)++;
        skip_ws(s, i);
        if (s[*i] != '}' || s[*i + 1] != '}') {
            fail(x, *i, "expected '}}' to close the template opened at column %zu", open + 1);
            goto out;
        }
        if (call(x, head, args, n) < 0)
            goto out;
    } else {
        if (s[*i] != '}' || s[*i + 1] != '}') {
            fail(x, s[*i] ? *i : open, s[*i] ? "expected '}}' in template" : "unterminated '{{' in template");
            goto out;
        }
        if (resolve(x, head) < 0)
            goto out;
        emit(x, head->value, head->value_len);
    }
    *i += 2;
    rc = 0;
out:
    free(head);
    return rc;
}

/* Returns the number of templates, or -1. */
static int run(struct ctx *x)
{
    const char *s = x->src;
    size_t i = 0, lit = 0;
    int count = 0;
    while (s[i]) {
        if (s[i] == '{' && s[i + 1] == '{') {
            if (x->lookup)
                pk_buf_add(&x->out, s + lit, i - lit);
            size_t open = i;
            i += 2;
            if (expression(x, open, &i) < 0)
                return -1;
            count++;
            lit = i;
            continue;
        }
        i++;
    }
    if (x->lookup) {
        pk_buf_add(&x->out, s + lit, i - lit);
        if (pk_buf_ok(&x->out) < 0)
            return fail(x, 0, "out of memory rendering a template");
    }
    return count;
}

int pk_template_render(const char *src, pk_template_lookup_fn lookup, void *user, int flags, char **out,
                       int *used_secret, char *err, size_t errlen)
{
    struct ctx x = {.src = src, .lookup = lookup, .user = user, .flags = flags, .err = err, .errlen = errlen};
    if (!lookup) {
        snprintf(err, errlen, "no lookup given");
        return -1;
    }
    pk_buf_init(&x.out, 0);
    if (run(&x) < 0) {
        pk_buf_free(&x.out);
        return -1;
    }
    *out = pk_buf_take(&x.out);
    if (!*out) {
        snprintf(err, errlen, "out of memory rendering a template");
        return -1;
    }
    if (used_secret)
        *used_secret = x.used_secret;
    return 0;
}

int pk_template_validate(const char *src, pk_template_kind_fn kind_of, void *user, size_t *err_offset, char *err,
                         size_t errlen)
{
    struct ctx x = {.src = src, .kind_of = kind_of, .user = user, .err = err, .errlen = errlen};
    int n = run(&x);
    if (n < 0 && err_offset)
        *err_offset = x.err_offset;
    return n;
}

int pk_template_has_any(const char *src) { return src && strstr(src, "{{") != NULL; }

struct check_lookup {
    const struct pk_check *check;
    const struct pk_kv *captures;
    size_t n_captures;
    const char *body;
};

static int check_lookup(void *user, const char *name, const char **value)
{
    const struct check_lookup *l = user;
    if (l->body && strcmp(name, "body") == 0) {
        *value = l->body;
        return PK_TNAME_BODY;
    }
    for (size_t i = l->n_captures; i-- > 0;)
        if (strcmp(l->captures[i].key, name) == 0) {
            *value = l->captures[i].value;
            return PK_TNAME_CAPTURE;
        }
    for (size_t i = 0; i < l->check->n_vars; i++)
        if (strcmp(l->check->vars[i].name, name) == 0) {
            *value = l->check->vars[i].value;
            return l->check->vars[i].secret ? PK_TNAME_SECRET : PK_TNAME_VAR;
        }
    return PK_TNAME_UNKNOWN;
}

int pk_check_render(const struct pk_check *c, const char *src, const struct pk_kv *captures, size_t n_captures,
                    const char *body, int flags, char **out, int *used_secret, char *err, size_t errlen)
{
    struct check_lookup l = {c, captures, n_captures, body};
    return pk_template_render(src, check_lookup, &l, flags, out, used_secret, err, errlen);
}

int pk_template_uuid4(char out[37])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

static int hmac(const char *key, size_t keylen, const char *data, size_t datalen, unsigned char mac[32])
{
    unsigned int len = 0;
    if (keylen > INT32_MAX)
        return -1;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, datalen, mac, &len) || len != 32)
        return -1;
    return 0;
}

int pk_template_hmac_sha256_hex(const char *key, size_t keylen, const char *data, size_t datalen, char out[65])
{
    unsigned char mac[32];
    static const char hex[] = "0123456789abcdef";
    if (hmac(key, keylen, data, datalen, mac) < 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int pk_template_hmac_sha256_base64(const char *key, size_t keylen, const char *data, size_t datalen, char out[45])
{
    unsigned char mac[32];
    if (hmac(key, keylen, data, datalen, mac) < 0)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, mac, 32) == 44 ? 0 : -1;
}

int pk_template_base64(const char *data, size_t len, char **out)
{
    if (len > (size_t)INT32_MAX / 2)
        return -1;
    char *b = malloc(4 * ((len + 2) / 3) + 1);
    if (!b)
        return -1;
    EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)data, (int)len);
    *out = b;
    return 0;
}
