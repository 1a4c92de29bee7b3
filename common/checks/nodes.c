/* nodes.c: reading YAML nodes for the check loader: errors pointing at a node
 * (FILE:LINE:COL), the alias-expansion budget, scalars as strings, integers,
 * numbers, booleans, durations and sizes, key checks and string maps, and the
 * options block shared by the non-HTTP types. Owns nothing beyond what it
 * returns to the caller; never reads the environment except through get_string. */
#include "checks_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "origin:line:col: " and the message into the caller's err. */
static int vfail_at_pos(struct pk_check_loader *L, int line, int col, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vfail_at_pos(struct pk_check_loader *L, int line, int col, const char *fmt, va_list ap)
{
    int n = snprintf(L->err, L->errlen, "%s:%d:%d: ", L->origin, line, col);
    if (n >= 0 && (size_t)n < L->errlen)
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
    return -1;
}

__attribute__((format(printf, 3, 4))) int ck_fail_at(struct pk_check_loader *L, const yaml_node_t *node,
                                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at_pos(L, node ? (int)node->start_mark.line + 1 : 1, node ? (int)node->start_mark.column + 1 : 1, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 4, 5))) int ck_fail_at_pos(struct pk_check_loader *L, int line, int col, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at_pos(L, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

/* Every node the loader reads goes through here, so alias expansion is bounded. */
yaml_node_t *ck_child(struct pk_check_loader *L, int id)
{
    yaml_node_t *n = yaml_document_get_node(&L->doc, id);
    if (!n) {
        ck_fail_at(L, NULL, "internal error: dangling YAML node");
        return NULL;
    }
    L->budget -= NODE_COST + (n->type == YAML_SCALAR_NODE ? (int64_t)n->data.scalar.length : 0);
    if (L->budget < 0) {
        ck_fail_at(L, n, "anchors and aliases expand to more than %d MiB", (int)(MAX_EXPANDED_BYTES >> 20));
        return NULL;
    }
    return n;
}

const char *ck_text_of(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

int ck_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = ck_text_of(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

int ck_is_string(const yaml_node_t *n) { return n->type == YAML_SCALAR_NODE && !ck_is_null(n); }

int ck_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

size_t ck_count_pairs(const yaml_node_t *map)
{
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

size_t ck_count_items(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

const char *ck_in_check(struct pk_check_loader *L) { return L->check ? L->check : "?"; }

/* A fresh copy of a string scalar in *out (caller frees), ${ENV} substituted. */
int ck_get_string(struct pk_check_loader *L, const yaml_node_t *n, const char *what, char **out)
{
    if (!ck_is_string(n))
        return ck_fail_at(L, n, "'%s' must be a string", what);
    if (memchr(ck_text_of(n), '\0', n->data.scalar.length))
        return ck_fail_at(L, n, "'%s' contains a NUL byte", what);
    if (!strstr(ck_text_of(n), "${")) {
        *out = strdup(ck_text_of(n));
        if (!*out)
            return ck_fail_at(L, n, "out of memory");
        return 0;
    }
    return ck_substitute_env(L, n, ck_text_of(n), out);
}

int ck_get_int(const yaml_node_t *n, long min, long max, long *out)
{
    if (!ck_is_string(n))
        return -1;
    const char *s = ck_text_of(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (((s[0] < '0' || s[0] > '9') && s[0] != '-') || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ck_get_int_in(struct pk_check_loader *L, const yaml_node_t *n, const char *what, long min, long max, long *out)
{
    if (ck_get_int(n, min, max, out) < 0)
        return ck_fail_at(L, n, "'%s' must be an integer from %ld to %ld", what, min, max);
    return 0;
}

int ck_get_number(struct pk_check_loader *L, const yaml_node_t *n, const char *what, double *out)
{
    if (!ck_is_string(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return ck_fail_at(L, n, "'%s' must be a number", what);
    char *end;
    errno = 0;
    double v = strtod(ck_text_of(n), &end);
    if (*end || errno || !isfinite(v) || end == ck_text_of(n))
        return ck_fail_at(L, n, "'%s' must be a number", what);
    *out = v;
    return 0;
}

int ck_get_bool(struct pk_check_loader *L, const yaml_node_t *n, const char *what, int *out)
{
    if (ck_is_string(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *s = ck_text_of(n);
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = 0;
            return 0;
        }
    }
    return ck_fail_at(L, n, "'%s' must be true or false", what);
}

int ck_get_duration(struct pk_check_loader *L, const yaml_node_t *n, const char *what, const char *example, int64_t *ms)
{
    if (!ck_is_string(n))
        return ck_fail_at(L, n, "'%s' must be a duration like %s", what, example);
    /* ${ENV:-1h} works here too: one file, an hourly schedule in production
     * and a quicker one in a demo or a test. */
    char *text = NULL;
    if (ck_get_string(L, n, what, &text) < 0)
        return -1;
    int rc = 0;
    if (pk_parse_duration_ms(text, ms) < 0)
        rc = ck_fail_at(L, n, "'%s' must be a duration like %s, got '%s'", what, example, text);
    free(text);
    return rc;
}

/* "1MiB", "64KiB", "10kB", "512B" or a plain byte count. */
int ck_get_size(struct pk_check_loader *L, const yaml_node_t *n, const char *what, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"", 1},      {"B", 1},     {"KiB", 1 << 10}, {"MiB", 1 << 20},  {"GiB", 1 << 30},
                 {"kB", 1000}, {"KB", 1000}, {"MB", 1000000},  {"GB", 1000000000}};
    if (ck_is_string(n)) {
        const char *s = ck_text_of(n);
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (s[0] >= '0' && s[0] <= '9' && !errno)
            for (size_t i = 0; i < sizeof units / sizeof *units; i++)
                if (strcmp(end, units[i].suffix) == 0 && v <= MAX_SIZE / units[i].mult && v * units[i].mult > 0 &&
                    v * units[i].mult <= MAX_SIZE) {
                    *out = v * units[i].mult;
                    return 0;
                }
    }
    return ck_fail_at(L, n, "'%s' must be a size from 1 byte to 1GiB like 1MiB, 64KiB or 4096", what);
}

int ck_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= PK_NAME_MAX)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* RFC 9110 token characters. */
int ck_valid_header_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~") == n;
}

/* Prometheus label-name rules (labels end up on /metrics); also metric,
 * variable, capture and environment names. */
int ck_valid_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = strlen(s);
    return n < 128 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

void ck_free_kvs(struct pk_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void ck_free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Every key of map must be a string from `allowed` (NULL-terminated), at most once. */
int ck_check_keys(struct pk_check_loader *L, const yaml_node_t *map, const char *where, const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        if (!k || !v)
            return -1;
        if (!ck_is_string(k))
            return ck_fail_at(L, k, "keys in %s of check '%s' must be strings", where, ck_in_check(L));
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], ck_text_of(k)) != 0)
            i++;
        if (!allowed[i])
            return ck_fail_at(L, k, "unknown key '%s' in %s '%s'", ck_text_of(k), where, ck_in_check(L));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *earlier = yaml_document_get_node(&L->doc, q->key);
            if (earlier && ck_is_string(earlier) && strcmp(ck_text_of(earlier), ck_text_of(k)) == 0)
                return ck_fail_at(L, k, "duplicate key '%s' in %s '%s'", ck_text_of(k), where, ck_in_check(L));
        }
    }
    return 0;
}

const yaml_node_t *ck_find_value(struct pk_check_loader *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(ck_text_of(k), key) == 0)
            return yaml_document_get_node(&L->doc, p->value);
    }
    return NULL;
}

const yaml_node_t *ck_find_key(struct pk_check_loader *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(ck_text_of(k), key) == 0)
            return k;
    }
    return NULL;
}

/* A mapping of string to string; values are (template) when `templated`. */
int ck_get_kv_map(struct pk_check_loader *L, const yaml_node_t *map, const char *what, enum kv_mode mode, int templated,
                  struct pk_kv **out, size_t *n_out)
{
    if (map->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, map, "'%s' must be a mapping of strings", what);
    size_t count = ck_count_pairs(map);
    size_t limit = mode == KV_LABELS ? MAX_LABELS : MAX_HEADERS;
    if (count > limit)
        return ck_fail_at(L, map, "'%s' has %zu entries, at most %zu are allowed", what, count, limit);
    struct pk_kv *kv = calloc(count ? count : 1, sizeof *kv);
    size_t n = 0;
    if (!kv)
        return ck_fail_at(L, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        if (!k || !v)
            goto fail;
        if (!ck_is_string(k) || v->type != YAML_SCALAR_NODE || (ck_is_null(v) && mode != KV_FORM)) {
            ck_fail_at(L, ck_is_string(k) ? v : k, "'%s' must be a mapping of strings", what);
            goto fail;
        }
        n++; /* so a half-filled entry is freed too */
        if (ck_get_string(L, k, what, &kv[n - 1].key) < 0)
            goto fail;
        if (ck_is_null(v) ? !(kv[n - 1].value = strdup(""))
                          : (templated ? ck_get_template(L, v, what, &kv[n - 1].value)
                                       : ck_get_string(L, v, what, &kv[n - 1].value)) < 0) {
            if (!kv[n - 1].value && ck_is_null(v))
                ck_fail_at(L, v, "out of memory");
            goto fail;
        }
        const char *key = kv[n - 1].key;
        if (mode == KV_HEADERS && !ck_valid_header_name(key)) {
            ck_fail_at(L, k, "invalid header name '%s'", key);
            goto fail;
        }
        if ((mode == KV_LABELS || mode == KV_ENV) && !ck_valid_ident(key)) {
            ck_fail_at(L, k, "invalid %s '%s' (want [A-Za-z_][A-Za-z0-9_]*)",
                       mode == KV_LABELS ? "label key" : "environment variable name", key);
            goto fail;
        }
        if (mode == KV_FORM && !key[0]) {
            ck_fail_at(L, k, "empty key in '%s'", what);
            goto fail;
        }
        /* A CR or LF in a header value would forge extra headers; in a label, extra log lines. */
        if (mode != KV_FORM && ck_has_control(kv[n - 1].value)) {
            ck_fail_at(L, v, "'%s' value for '%s' contains a control character", what, key);
            goto fail;
        }
        for (size_t i = 0; i + 1 < n; i++)
            if ((mode == KV_HEADERS ? strcasecmp(kv[i].key, key) : strcmp(kv[i].key, key)) == 0) {
                ck_fail_at(L, k, "duplicate key '%s' in '%s'", key, what);
                goto fail;
            }
    }
    *out = kv;
    *n_out = n;
    return 0;
fail:
    ck_free_kvs(kv, n);
    return -1;
}

/* The options block of tcp dns tls grpc exec, named after the type. */
const yaml_node_t *ck_options_block(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                                    const char *const *keys)
{
    const yaml_node_t *o = ck_find_value(L, map, c->type);
    if (!o) {
        ck_fail_at(L, map, "check '%s' of type %s has no '%s' block", c->name, c->type, c->type);
        return NULL;
    }
    if (o->type != YAML_MAPPING_NODE) {
        ck_fail_at(L, o, "'%s' must be a mapping in check '%s'", c->type, c->name);
        return NULL;
    }
    char where[32];
    snprintf(where, sizeof where, "'%s' of check", c->type);
    return ck_check_keys(L, o, where, keys) < 0 ? NULL : o;
}

int ck_get_port(struct pk_check_loader *L, const yaml_node_t *o, int required, int *port)
{
    const yaml_node_t *v = ck_find_value(L, o, "port");
    long x;
    if (!v)
        return required ? ck_fail_at(L, o, "'port' is required in check '%s'", ck_in_check(L)) : 0;
    if (ck_get_int_in(L, v, "port", 1, 65535, &x) < 0)
        return -1;
    *port = (int)x;
    return 0;
}

int ck_host_port_target(struct pk_check_loader *L, const yaml_node_t *at, struct pk_check *c, const char *host,
                        int port)
{
    if (asprintf(&c->target, "%s:%d", host, port) < 0) {
        c->target = NULL;
        return ck_fail_at(L, at, "out of memory");
    }
    return 0;
}

int pk_parse_duration_ms(const char *s, int64_t *ms)
{
    /* Far beyond any sane schedule, far below int64 overflow. */
    const int64_t limit = (int64_t)1 << 50;
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -1;
        const char *digits = p;
        int64_t n = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (n > limit / 10)
                return -1;
            n = n * 10 + (*p - '0');
        }
        int64_t unit;
        if (*p == '\0' && digits == s)
            unit = 1000; /* a bare integer means seconds */
        else if (p[0] == 'm' && p[1] == 's')
            unit = 1, p += 2;
        else if (*p == 's')
            unit = 1000, p++;
        else if (*p == 'm')
            unit = 60 * 1000, p++;
        else if (*p == 'h')
            unit = 3600 * 1000, p++;
        else
            return -1;
        if (n > (limit - total) / unit)
            return -1;
        total += n * unit;
    }
    *ms = total;
    return 0;
}
