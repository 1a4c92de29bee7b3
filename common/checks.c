/* checks.c: the check language loader. Reads a YAML check file through
 * libyaml's document API into a struct pk_checkset, applying every rule and
 * default of the language (types http flow tcp dns tls grpc exec, assertions,
 * captures, extractions, bursts, vars, secrets and {{templates}}), and points each
 * error a user can cause at the exact node as "file:line:col: reason".
 * Regexes (PCRE2) and jq programs are compiled here so a bad one is a load error.
 * All-or-nothing: on error everything built so far is freed and *out is untouched.
 * Never executes a check or opens a socket; never puts a secret's value in an error. */
#include "checks.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <pcre2.h>

#include "result.h"
#include "template.h"

/* A check file larger than this is refused before it is read (a runaway
 * generator or a wrong path must not cost the probe its memory);
 * pk_checkset_set_max_file_bytes raises it (PICKET_MAX_CHECK_FILE_BYTES). */
static size_t max_file_bytes = PK_CHECKS_DEFAULT_MAX_FILE_BYTES;
/* Aliases let a small file name one node many times; bound what expanding them
 * may cost (each node is charged NODE_COST plus its text). */
#define MAX_EXPANDED_BYTES ((int64_t)64 << 20)
#define NODE_COST 64
#define MIN_INTERVAL_MS 100
#define MAX_INTERVAL_MS ((int64_t)7 * 24 * 3600 * 1000)
#define DEFAULT_INTERVAL_MS 30000
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_HEADERS 100
#define MAX_LABELS 64
#define MAX_EXPECT_STATUS 100
#define MAX_LIST 1000
#define MAX_STEPS 100
#define MAX_JSON_DEPTH 64
#define MAX_RETRIES 10
#define DEFAULT_MAX_BODY ((int64_t)1 << 20)
#define DEFAULT_MAX_OUTPUT ((int64_t)64 << 10)
#define MAX_SIZE ((int64_t)1 << 30)
#define MAX_SECRET_FILE ((size_t)64 << 10)
#define MAX_VARS 1000
#define MAX_JSON_KEYS 1000
/* Grows with the language: checks.c knows each type's keys, the probe's
 * registry knows how to run them. */
#define KNOWN_TYPES "http flow tcp dns tls grpc exec"

struct flow_capture_name {
    const char *name; /* borrowed from the YAML document */
    size_t step;
    const char *step_name;
};

struct loader {
    const char *origin;
    yaml_document_t doc;
    int64_t budget;
    char *err;
    size_t errlen;
    const char *check; /* name of the check being read, for messages */
    struct pk_var_source *vars;
    size_t n_vars;
    /* template scope while reading a flow step */
    const struct flow_capture_name *caps;
    size_t n_caps;
    size_t step;   /* captures of steps < step are visible */
    int allow_body;
    int defer_env; /* pk_var_overrides.defer_environment */
};

__attribute__((format(printf, 3, 4))) static int fail_at(struct loader *L, const yaml_node_t *node, const char *fmt,
                                                         ...)
{
    int line = node ? (int)node->start_mark.line + 1 : 1;
    int col = node ? (int)node->start_mark.column + 1 : 1;
    int n = snprintf(L->err, L->errlen, "%s:%d:%d: ", L->origin, line, col);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

__attribute__((format(printf, 4, 5))) static int fail_at_pos(struct loader *L, int line, int col, const char *fmt,
                                                             ...)
{
    int n = snprintf(L->err, L->errlen, "%s:%d:%d: ", L->origin, line, col);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Every node the loader reads goes through here, so alias expansion is bounded. */
static yaml_node_t *child(struct loader *L, int id)
{
    yaml_node_t *n = yaml_document_get_node(&L->doc, id);
    if (!n) {
        fail_at(L, NULL, "internal error: dangling YAML node");
        return NULL;
    }
    L->budget -= NODE_COST + (n->type == YAML_SCALAR_NODE ? (int64_t)n->data.scalar.length : 0);
    if (L->budget < 0) {
        fail_at(L, n, "anchors and aliases expand to more than %d MiB", (int)(MAX_EXPANDED_BYTES >> 20));
        return NULL;
    }
    return n;
}

static const char *text_of(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = text_of(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int is_string(const yaml_node_t *n) { return n->type == YAML_SCALAR_NODE && !is_null(n); }

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static size_t count_pairs(const yaml_node_t *map)
{
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

static size_t count_items(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static const char *in_check(struct loader *L) { return L->check ? L->check : "?"; }

/* ${NAME} and ${NAME:-default} from the environment; "$${" writes "${". *out is
 * a fresh string (caller frees). */
static int substitute_env(struct loader *L, const yaml_node_t *n, const char *src, char **out)
{
    size_t cap = strlen(src) + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return fail_at(L, n, "out of memory");
    for (const char *p = src; *p;) {
        const char *piece = p;
        size_t piece_len = 1;
        char *fallback = NULL;
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            piece = "${";
            piece_len = 2;
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *name = p + 2, *end = strchr(name, '}');
            size_t name_len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
            if (!end || name_len == 0 || (name[0] >= '0' && name[0] <= '9') ||
                (name[name_len] != '}' && strncmp(name + name_len, ":-", 2) != 0)) {
                free(buf);
                return fail_at(L, n, "malformed '${' in '%s': write ${NAME} or ${NAME:-default}", src);
            }
            char var[256];
            if (name_len >= sizeof var) {
                free(buf);
                return fail_at(L, n, "environment variable name too long");
            }
            memcpy(var, name, name_len);
            var[name_len] = '\0';
            const char *value = getenv(var);
            if (name[name_len] == ':' && (!value || !*value)) {
                size_t fl = (size_t)(end - (name + name_len + 2));
                fallback = strndup(name + name_len + 2, fl);
                if (!fallback) {
                    free(buf);
                    return fail_at(L, n, "out of memory");
                }
                value = fallback;
            }
            if (!value && L->defer_env)
                value = ""; /* resolved on the probe that runs the check */
            if (!value) {
                free(buf);
                return fail_at(L, n, "environment variable '%s' is not set (write ${%s:-default} to give a default)",
                               var, var);
            }
            piece = value;
            piece_len = strlen(value);
            p = end + 1;
        } else {
            p++;
        }
        if (len + piece_len + 1 > cap) {
            while (len + piece_len + 1 > cap)
                cap *= 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                free(fallback);
                return fail_at(L, n, "out of memory");
            }
            buf = grown;
        }
        memcpy(buf + len, piece, piece_len);
        len += piece_len;
        free(fallback);
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* A fresh copy of a string scalar in *out (caller frees), ${ENV} substituted. */
static int get_string(struct loader *L, const yaml_node_t *n, const char *what, char **out)
{
    if (!is_string(n))
        return fail_at(L, n, "'%s' must be a string", what);
    if (memchr(text_of(n), '\0', n->data.scalar.length))
        return fail_at(L, n, "'%s' contains a NUL byte", what);
    if (!strstr(text_of(n), "${")) {
        *out = strdup(text_of(n));
        if (!*out)
            return fail_at(L, n, "out of memory");
        return 0;
    }
    return substitute_env(L, n, text_of(n), out);
}

static int template_kind(void *user, const char *name)
{
    struct loader *L = user;
    if (L->allow_body && strcmp(name, "body") == 0)
        return PK_TNAME_BODY;
    for (size_t i = 0; i < L->n_caps; i++)
        if (L->caps[i].step < L->step && strcmp(L->caps[i].name, name) == 0)
            return PK_TNAME_CAPTURE;
    for (size_t i = 0; i < L->n_vars; i++)
        if (strcmp(L->vars[i].name, name) == 0)
            return L->vars[i].secret ? PK_TNAME_SECRET : PK_TNAME_VAR;
    return PK_TNAME_UNKNOWN;
}

/* Validates the {{templates}} of s (read from node n) and reports the exact column. */
static int check_template(struct loader *L, const yaml_node_t *n, const char *s)
{
    char msg[300];
    size_t off = 0;
    if (!pk_template_has_any(s))
        return 0;
    if (pk_template_validate(s, template_kind, L, &off, msg, sizeof msg) >= 0)
        return 0;
    int line = (int)n->start_mark.line + 1, col = (int)n->start_mark.column + 1;
    /* Point inside the scalar when its text maps one to one onto the file. */
    if (n->type == YAML_SCALAR_NODE && n->start_mark.line == n->end_mark.line && strcmp(s, text_of(n)) == 0 &&
        n->data.scalar.style != YAML_LITERAL_SCALAR_STYLE && n->data.scalar.style != YAML_FOLDED_SCALAR_STYLE) {
        size_t width = n->end_mark.column - n->start_mark.column;
        int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                     n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if (width == strlen(s) + (quoted ? 2u : 0u))
            col += (int)off + quoted;
    }
    /* A name a later step captures deserves a better sentence. */
    const char *q = strstr(msg, "unknown variable '");
    if (q && L->caps) {
        char name[130];
        if (sscanf(q, "unknown variable '%129[A-Za-z0-9_]'", name) == 1)
            for (size_t i = 0; i < L->n_caps; i++)
                if (strcmp(L->caps[i].name, name) == 0 && L->caps[i].step >= L->step)
                    return fail_at_pos(L, line, col,
                                       "capture '%s' is used before the step that makes it (step '%s') in check '%s'",
                                       name, L->caps[i].step_name, in_check(L));
    }
    return fail_at_pos(L, line, col, "%s in check '%s'", msg, in_check(L));
}

/* get_string, then validated as a template. */
static int get_template(struct loader *L, const yaml_node_t *n, const char *what, char **out)
{
    if (get_string(L, n, what, out) < 0)
        return -1;
    if (check_template(L, n, *out) < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int get_int(const yaml_node_t *n, long min, long max, long *out)
{
    if (!is_string(n))
        return -1;
    const char *s = text_of(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (((s[0] < '0' || s[0] > '9') && s[0] != '-') || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int get_int_in(struct loader *L, const yaml_node_t *n, const char *what, long min, long max, long *out)
{
    if (get_int(n, min, max, out) < 0)
        return fail_at(L, n, "'%s' must be an integer from %ld to %ld", what, min, max);
    return 0;
}

static int get_number(struct loader *L, const yaml_node_t *n, const char *what, double *out)
{
    if (!is_string(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail_at(L, n, "'%s' must be a number", what);
    char *end;
    errno = 0;
    double v = strtod(text_of(n), &end);
    if (*end || errno || !isfinite(v) || end == text_of(n))
        return fail_at(L, n, "'%s' must be a number", what);
    *out = v;
    return 0;
}

static int get_bool(struct loader *L, const yaml_node_t *n, const char *what, int *out)
{
    if (is_string(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *s = text_of(n);
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = 0;
            return 0;
        }
    }
    return fail_at(L, n, "'%s' must be true or false", what);
}

static int get_duration(struct loader *L, const yaml_node_t *n, const char *what, const char *example, int64_t *ms)
{
    if (!is_string(n))
        return fail_at(L, n, "'%s' must be a duration like %s", what, example);
    if (pk_parse_duration_ms(text_of(n), ms) < 0)
        return fail_at(L, n, "'%s' must be a duration like %s, got '%s'", what, example, text_of(n));
    return 0;
}

/* "1MiB", "64KiB", "10kB", "512B" or a plain byte count. */
static int get_size(struct loader *L, const yaml_node_t *n, const char *what, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"", 1},        {"B", 1},          {"KiB", 1 << 10}, {"MiB", 1 << 20},
                 {"GiB", 1 << 30}, {"kB", 1000},    {"KB", 1000},     {"MB", 1000000}, {"GB", 1000000000}};
    if (is_string(n)) {
        const char *s = text_of(n);
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
    return fail_at(L, n, "'%s' must be a size from 1 byte to 1GiB like 1MiB, 64KiB or 4096", what);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= PK_NAME_MAX)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* RFC 9110 token characters. */
static int valid_header_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~") == n;
}

/* Prometheus label-name rules (labels end up on /metrics); also metric,
 * variable, capture and environment names. */
static int valid_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = strlen(s);
    return n < 128 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void free_kvs(struct pk_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Every key of map must be a string from `allowed` (NULL-terminated), at most once. */
static int check_keys(struct loader *L, const yaml_node_t *map, const char *where, const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            return -1;
        if (!is_string(k))
            return fail_at(L, k, "keys in %s of check '%s' must be strings", where, in_check(L));
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], text_of(k)) != 0)
            i++;
        if (!allowed[i])
            return fail_at(L, k, "unknown key '%s' in %s '%s'", text_of(k), where, in_check(L));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *earlier = yaml_document_get_node(&L->doc, q->key);
            if (earlier && is_string(earlier) && strcmp(text_of(earlier), text_of(k)) == 0)
                return fail_at(L, k, "duplicate key '%s' in %s '%s'", text_of(k), where, in_check(L));
        }
    }
    return 0;
}

static const yaml_node_t *find_value(struct loader *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(text_of(k), key) == 0)
            return yaml_document_get_node(&L->doc, p->value);
    }
    return NULL;
}

static const yaml_node_t *find_key(struct loader *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(text_of(k), key) == 0)
            return k;
    }
    return NULL;
}

enum kv_mode { KV_HEADERS, KV_LABELS, KV_ENV, KV_FORM };

/* A mapping of string to string; values are (template) when `templated`. */
static int get_kv_map(struct loader *L, const yaml_node_t *map, const char *what, enum kv_mode mode, int templated,
                      struct pk_kv **out, size_t *n_out)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(L, map, "'%s' must be a mapping of strings", what);
    size_t count = count_pairs(map);
    size_t limit = mode == KV_LABELS ? MAX_LABELS : MAX_HEADERS;
    if (count > limit)
        return fail_at(L, map, "'%s' has %zu entries, at most %zu are allowed", what, count, limit);
    struct pk_kv *kv = calloc(count ? count : 1, sizeof *kv);
    size_t n = 0;
    if (!kv)
        return fail_at(L, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            goto fail;
        if (!is_string(k) || v->type != YAML_SCALAR_NODE || (is_null(v) && mode != KV_FORM)) {
            fail_at(L, is_string(k) ? v : k, "'%s' must be a mapping of strings", what);
            goto fail;
        }
        n++; /* so a half-filled entry is freed too */
        if (get_string(L, k, what, &kv[n - 1].key) < 0)
            goto fail;
        if (is_null(v) ? !(kv[n - 1].value = strdup(""))
                       : (templated ? get_template(L, v, what, &kv[n - 1].value)
                                    : get_string(L, v, what, &kv[n - 1].value)) < 0) {
            if (!kv[n - 1].value && is_null(v))
                fail_at(L, v, "out of memory");
            goto fail;
        }
        const char *key = kv[n - 1].key;
        if (mode == KV_HEADERS && !valid_header_name(key)) {
            fail_at(L, k, "invalid header name '%s'", key);
            goto fail;
        }
        if ((mode == KV_LABELS || mode == KV_ENV) && !valid_ident(key)) {
            fail_at(L, k, "invalid %s '%s' (want [A-Za-z_][A-Za-z0-9_]*)",
                    mode == KV_LABELS ? "label key" : "environment variable name", key);
            goto fail;
        }
        if (mode == KV_FORM && !key[0]) {
            fail_at(L, k, "empty key in '%s'", what);
            goto fail;
        }
        /* A CR or LF in a header value would forge extra headers; in a label, extra log lines. */
        if (mode != KV_FORM && has_control(kv[n - 1].value)) {
            fail_at(L, v, "'%s' value for '%s' contains a control character", what, key);
            goto fail;
        }
        for (size_t i = 0; i + 1 < n; i++)
            if ((mode == KV_HEADERS ? strcasecmp(kv[i].key, key) : strcmp(kv[i].key, key)) == 0) {
                fail_at(L, k, "duplicate key '%s' in '%s'", key, what);
                goto fail;
            }
    }
    *out = kv;
    *n_out = n;
    return 0;
fail:
    free_kvs(kv, n);
    return -1;
}

/* ---- compiled expressions ---- */

static int compile_regex(struct loader *L, const yaml_node_t *n, const char *src, void **out)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return fail_at(L, n, "bad regex '%s' in check '%s': %s at offset %zu", src, in_check(L), (const char *)msg,
                       (size_t)offset);
    }
    *out = re;
    return 0;
}

struct jq_error {
    char msg[300];
    int have;
};

static void jq_error_cb(void *data, jv msg)
{
    struct jq_error *e = data;
    if (!e->have) {
        jv text = jv_get_kind(msg) == JV_KIND_INVALID ? jv_invalid_get_msg(jv_copy(msg)) : jv_copy(msg);
        if (jv_get_kind(text) != JV_KIND_STRING)
            text = jv_dump_string(text, 0);
        const char *s = jv_string_value(text);
        if (strncmp(s, "jq: error: ", 11) == 0)
            s += 11;
        size_t len = strcspn(s, "\n");
        if (len > 0 && s[len - 1] == ':') /* the program text followed on the next line */
            len--;
        if (len >= sizeof e->msg)
            len = sizeof e->msg - 1;
        memcpy(e->msg, s, len);
        e->msg[len] = '\0';
        e->have = 1;
        jv_free(text);
    }
    jv_free(msg);
}

static int compile_jq(struct loader *L, const yaml_node_t *n, const char *src, void **out)
{
    struct jq_error e = {.have = 0};
    jq_state *jq = jq_init();
    if (!jq)
        return fail_at(L, n, "out of memory");
    /* Never let jq print to stderr: every message comes through here. */
    jq_set_error_cb(jq, jq_error_cb, &e);
    if (!jq_compile(jq, src)) {
        jq_teardown(&jq);
        return fail_at(L, n, "bad jq expression '%s' in check '%s': %s", src, in_check(L),
                       e.have ? e.msg : "does not compile");
    }
    *out = jq;
    return 0;
}

static void free_regex(void *re) { pcre2_code_free((pcre2_code *)re); }

static void free_jq(void *jq)
{
    jq_state *j = jq;
    if (j)
        jq_teardown(&j);
}

/* ---- assertions ---- */

static void assertion_free(struct pk_assertion *a)
{
    free(a->describe);
    free(a->status_ranges);
    free(a->header_name);
    free(a->text);
    free_regex(a->regex);
    free_jq(a->jq);
    memset(a, 0, sizeof *a);
}

static void asserts_free(struct pk_assertion *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assertion_free(&a[i]);
    free(a);
}

/* One status term: 200, "2xx", "200-299". */
static int status_term(const yaml_node_t *n, int *lo, int *hi)
{
    long v;
    if (get_int(n, 100, 599, &v) == 0) {
        *lo = *hi = (int)v;
        return 0;
    }
    if (!is_string(n))
        return -1;
    const char *s = text_of(n);
    if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        *lo = (s[0] - '0') * 100;
        *hi = *lo + 99;
        return 0;
    }
    int a, b, used = 0;
    if (sscanf(s, "%3d-%3d%n", &a, &b, &used) == 2 && (size_t)used == strlen(s) && a >= 100 && b <= 599 && a <= b &&
        strspn(s, "0123456789-") == strlen(s)) {
        *lo = a;
        *hi = b;
        return 0;
    }
    return -1;
}

static int get_status_spec(struct loader *L, const yaml_node_t *n, struct pk_assertion *a)
{
    static const char reason[] =
        "bad status '%s' in check '%s': want a status 100..599, a class like 2xx, a range like 200-299, or a list";
    size_t count = n->type == YAML_SEQUENCE_NODE ? count_items(n) : 1;
    if (n->type == YAML_SEQUENCE_NODE && (count == 0 || count > MAX_EXPECT_STATUS))
        return fail_at(L, n, "'status' must list 1..%d statuses in check '%s'", MAX_EXPECT_STATUS, in_check(L));
    if (n->type == YAML_MAPPING_NODE)
        return fail_at(L, n, reason, "{...}", in_check(L));
    if (!(a->status_ranges = calloc(2 * count, sizeof *a->status_ranges)))
        return fail_at(L, n, "out of memory");
    char desc[1024] = "status in [";
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *one = n;
        if (n->type == YAML_SEQUENCE_NODE && !(one = child(L, n->data.sequence.items.start[i])))
            return -1;
        int lo, hi;
        if (status_term(one, &lo, &hi) < 0)
            return fail_at(L, one, reason, one->type == YAML_SCALAR_NODE ? text_of(one) : "[...]", in_check(L));
        a->status_ranges[2 * i] = lo;
        a->status_ranges[2 * i + 1] = hi;
        a->n_status_ranges = i + 1;
        size_t used = strlen(desc);
        if (lo == hi)
            snprintf(desc + used, sizeof desc - used, "%s%d", i ? ", " : "", lo);
        else
            snprintf(desc + used, sizeof desc - used, "%s%d-%d", i ? ", " : "", lo, hi);
    }
    size_t used = strlen(desc);
    snprintf(desc + used, sizeof desc - used, "]");
    if (!(a->describe = strdup(desc)))
        return fail_at(L, n, "out of memory");
    return 0;
}

static int describe(struct loader *L, const yaml_node_t *n, struct pk_assertion *a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int describe(struct loader *L, const yaml_node_t *n, struct pk_assertion *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&a->describe, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        a->describe = NULL;
        return fail_at(L, n, "out of memory");
    }
    return 0;
}

/* Prometheus series selector: name or name{label="v",...}. */
static int valid_series(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:");
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    if (s[n] == '\0')
        return 1;
    return s[n] == '{' && s[strlen(s) - 1] == '}';
}

enum assert_set { AS_HTTP, AS_OUTPUT, AS_TIME };

static const char *const assert_names[] = {"status",      "header",       "body_contains", "body_not_contains",
                                           "body_matches", "json",         "time_under",    "output_contains",
                                           "metric",       NULL};

static int parse_assertion(struct loader *L, const yaml_node_t *item, enum assert_set allowed, struct pk_assertion *a)
{
    a->line = (int)item->start_mark.line + 1;
    a->column = (int)item->start_mark.column + 1;
    a->severity = PK_SEV_FAILED;
    if (item->type != YAML_MAPPING_NODE)
        return fail_at(L, item, "each 'assert' entry of check '%s' must be a mapping like {status: 200}", in_check(L));
    const yaml_node_t *key = NULL, *v = NULL;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *val = child(L, p->value);
        if (!k || !val)
            return -1;
        if (!is_string(k))
            return fail_at(L, k, "keys in 'assert' of check '%s' must be strings", in_check(L));
        if (strcmp(text_of(k), "severity") == 0) {
            if (is_string(val) && strcmp(text_of(val), "degraded") == 0)
                a->severity = PK_SEV_DEGRADED;
            else if (is_string(val) && strcmp(text_of(val), "failed") == 0)
                a->severity = PK_SEV_FAILED;
            else
                return fail_at(L, val, "'severity' must be degraded or failed in check '%s'", in_check(L));
            continue;
        }
        size_t i = 0;
        while (assert_names[i] && strcmp(assert_names[i], text_of(k)) != 0)
            i++;
        if (!assert_names[i])
            return fail_at(L, k, "unknown assertion '%s' in check '%s'", text_of(k), in_check(L));
        if (key)
            return fail_at(L, k, "one assertion per 'assert' entry in check '%s': '%s' and '%s'", in_check(L),
                           text_of(key), text_of(k));
        key = k;
        v = val;
    }
    if (!key)
        return fail_at(L, item, "'assert' entry without an assertion in check '%s'", in_check(L));
    const char *name = text_of(key);
    int ok = strcmp(name, "time_under") == 0 ||
             (allowed == AS_HTTP && strcmp(name, "output_contains") != 0) ||
             (allowed == AS_OUTPUT && strcmp(name, "output_contains") == 0);
    if (!ok)
        return fail_at(L, key, "assertion '%s' does not apply to this check type in check '%s'", name, in_check(L));

    if (strcmp(name, "status") == 0) {
        a->kind = PK_ASSERT_STATUS;
        return get_status_spec(L, v, a);
    }
    if (strcmp(name, "header") == 0) {
        static const char *const keys[] = {"name", "equals", "matches", NULL};
        if (v->type != YAML_MAPPING_NODE)
            return fail_at(L, v, "'header' must be a mapping like {name: Location, matches: 'R'} in check '%s'",
                           in_check(L));
        if (check_keys(L, v, "'header' assertion of check", keys) < 0)
            return -1;
        const yaml_node_t *hn = find_value(L, v, "name"), *eq = find_value(L, v, "equals"),
                          *m = find_value(L, v, "matches");
        if (!hn || (!eq == !m))
            return fail_at(L, v, "'header' needs 'name' and one of 'equals' or 'matches' in check '%s'", in_check(L));
        if (get_string(L, hn, "name", &a->header_name) < 0)
            return -1;
        if (!valid_header_name(a->header_name))
            return fail_at(L, hn, "invalid header name '%s'", a->header_name);
        if (eq) {
            a->kind = PK_ASSERT_HEADER_EQUALS;
            if (get_string(L, eq, "equals", &a->text) < 0)
                return -1;
            return describe(L, v, a, "header %s equals '%s'", a->header_name, a->text);
        }
        a->kind = PK_ASSERT_HEADER_MATCHES;
        if (get_string(L, m, "matches", &a->text) < 0 || compile_regex(L, m, a->text, &a->regex) < 0)
            return -1;
        return describe(L, v, a, "header %s matches '%s'", a->header_name, a->text);
    }
    if (strcmp(name, "body_contains") == 0 || strcmp(name, "body_not_contains") == 0 ||
        strcmp(name, "output_contains") == 0) {
        a->kind = name[0] == 'o'                ? PK_ASSERT_OUTPUT_CONTAINS
                  : strcmp(name, "body_contains") == 0 ? PK_ASSERT_BODY_CONTAINS
                                                       : PK_ASSERT_BODY_NOT_CONTAINS;
        if (get_string(L, v, name, &a->text) < 0)
            return -1;
        if (!a->text[0])
            return fail_at(L, v, "'%s' must not be empty in check '%s'", name, in_check(L));
        return describe(L, v, a, "%s %s '%s'", name[0] == 'o' ? "output" : "body",
                        a->kind == PK_ASSERT_BODY_NOT_CONTAINS ? "does not contain" : "contains", a->text);
    }
    if (strcmp(name, "body_matches") == 0) {
        a->kind = PK_ASSERT_BODY_MATCHES;
        if (get_string(L, v, name, &a->text) < 0 || compile_regex(L, v, a->text, &a->regex) < 0)
            return -1;
        return describe(L, v, a, "body matches '%s'", a->text);
    }
    if (strcmp(name, "json") == 0) {
        a->kind = PK_ASSERT_JSON;
        if (get_string(L, v, name, &a->text) < 0 || compile_jq(L, v, a->text, &a->jq) < 0)
            return -1;
        return describe(L, v, a, "json: %s", a->text);
    }
    if (strcmp(name, "time_under") == 0) {
        a->kind = PK_ASSERT_TIME_UNDER;
        if (get_duration(L, v, "time_under", "10s", &a->max_ms) < 0)
            return -1;
        if (a->max_ms <= 0)
            return fail_at(L, v, "'time_under' must be more than 0");
        return describe(L, v, a, "time under %lld ms", (long long)a->max_ms);
    }
    /* metric */
    static const char *const keys[] = {"series", "op", "value", NULL};
    static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!=", NULL};
    a->kind = PK_ASSERT_METRIC;
    if (v->type != YAML_MAPPING_NODE)
        return fail_at(L, v, "'metric' must be a mapping like {series: 'up{job=\"x\"}', op: '>', value: 0} in "
                             "check '%s'", in_check(L));
    if (check_keys(L, v, "'metric' assertion of check", keys) < 0)
        return -1;
    const yaml_node_t *series = find_value(L, v, "series"), *op = find_value(L, v, "op"),
                      *value = find_value(L, v, "value");
    if (!series || !op || !value)
        return fail_at(L, v, "'metric' needs 'series', 'op' and 'value' in check '%s'", in_check(L));
    if (get_string(L, series, "series", &a->text) < 0)
        return -1;
    if (!valid_series(a->text))
        return fail_at(L, series, "bad series '%s' in check '%s': want name or name{label=\"value\"}", a->text,
                       in_check(L));
    size_t i = 0;
    while (ops[i] && !(is_string(op) && strcmp(ops[i], text_of(op)) == 0))
        i++;
    if (!ops[i])
        return fail_at(L, op, "'op' must be one of < <= > >= == != in check '%s'", in_check(L));
    snprintf(a->op, sizeof a->op, "%s", ops[i]);
    if (get_number(L, value, "value", &a->value) < 0)
        return -1;
    return describe(L, v, a, "metric %s %s %g", a->text, a->op, a->value);
}

static int get_asserts(struct loader *L, const yaml_node_t *n, enum assert_set allowed, struct pk_assertion **out,
                       size_t *n_out)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(L, n, "'assert' must be a list in check '%s'", in_check(L));
    size_t count = count_items(n);
    if (count > MAX_LIST)
        return fail_at(L, n, "'assert' has more than %d entries", MAX_LIST);
    struct pk_assertion *a = calloc(count ? count : 1, sizeof *a);
    if (!a)
        return fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = child(L, n->data.sequence.items.start[i]);
        if (!item || parse_assertion(L, item, allowed, &a[i]) < 0) {
            asserts_free(a, i + 1);
            return -1;
        }
    }
    *out = a;
    *n_out = count;
    return 0;
}

/* ---- captures and extractions ---- */

static void captures_free(struct pk_capture *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].header_name);
        free(c[i].expr);
        free_regex(c[i].regex);
        free_jq(c[i].jq);
    }
    free(c);
}

static void extracts_free(struct pk_extraction *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].expr);
        free_jq(e[i].jq);
    }
    free(e);
}

static int parse_capture(struct loader *L, const yaml_node_t *k, const yaml_node_t *v, struct pk_capture *c)
{
    static const char *const keys[] = {"status", "header", "regex", "body_regex", "json", NULL};
    if (get_string(L, k, "capture", &c->name) < 0)
        return -1;
    if (!valid_ident(c->name) || strcmp(c->name, "body") == 0)
        return fail_at(L, k, "capture name '%s' in check '%s' must match [A-Za-z_][A-Za-z0-9_]* and not be 'body'",
                       c->name, in_check(L));
    for (size_t i = 0; i < L->n_vars; i++)
        if (strcmp(L->vars[i].name, c->name) == 0)
            return fail_at(L, k, "capture '%s' in check '%s' has the name of a variable", c->name, in_check(L));
    if (v->type != YAML_MAPPING_NODE)
        return fail_at(L, v,
                       "capture '%s' must be {status: true}, {header: NAME}, {body_regex: R} or {json: EXPR} in "
                       "check '%s'", c->name, in_check(L));
    if (check_keys(L, v, "capture of check", keys) < 0)
        return -1;
    const yaml_node_t *st = find_value(L, v, "status"), *h = find_value(L, v, "header"),
                      *re = find_value(L, v, "regex"), *br = find_value(L, v, "body_regex"),
                      *js = find_value(L, v, "json");
    if (!!st + !!h + !!br + !!js != 1 || (re && !h))
        return fail_at(L, v,
                       "capture '%s' needs exactly one of status, header (with optional regex), body_regex or json "
                       "in check '%s'", c->name, in_check(L));
    if (st) {
        int yes;
        if (get_bool(L, st, "status", &yes) < 0)
            return -1;
        if (!yes)
            return fail_at(L, st, "'status' in a capture must be true");
        c->source = PK_CAPTURE_STATUS;
        return 0;
    }
    if (h) {
        c->source = PK_CAPTURE_HEADER;
        if (get_string(L, h, "header", &c->header_name) < 0)
            return -1;
        if (!valid_header_name(c->header_name))
            return fail_at(L, h, "invalid header name '%s'", c->header_name);
        if (re && (get_string(L, re, "regex", &c->expr) < 0 || compile_regex(L, re, c->expr, &c->regex) < 0))
            return -1;
        return 0;
    }
    if (br) {
        c->source = PK_CAPTURE_BODY_REGEX;
        return get_string(L, br, "body_regex", &c->expr) < 0 ? -1 : compile_regex(L, br, c->expr, &c->regex);
    }
    c->source = PK_CAPTURE_JSON;
    return get_string(L, js, "json", &c->expr) < 0 ? -1 : compile_jq(L, js, c->expr, &c->jq);
}

static int get_captures(struct loader *L, const yaml_node_t *n, struct pk_step *s)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'capture' must be a mapping of name to source in check '%s'", in_check(L));
    size_t count = count_pairs(n);
    if (count > MAX_HEADERS)
        return fail_at(L, n, "'capture' has more than %d entries", MAX_HEADERS);
    if (!(s->captures = calloc(count ? count : 1, sizeof *s->captures)))
        return fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        s->n_captures = i + 1;
        if (!k || !v)
            return -1;
        if (!is_string(k))
            return fail_at(L, k, "capture names must be strings in check '%s'", in_check(L));
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->captures[j].name, text_of(k)) == 0)
                return fail_at(L, k, "duplicate capture '%s' in check '%s'", text_of(k), in_check(L));
        if (parse_capture(L, k, v, &s->captures[i]) < 0)
            return -1;
    }
    return 0;
}

/* names: the extractions made so far in this check, to keep metric names unique. */
static int get_extracts(struct loader *L, const yaml_node_t *n, struct pk_step *s, const struct pk_step *earlier,
                        size_t n_earlier)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'extract' must be a mapping of metric name to jq expression in check '%s'",
                       in_check(L));
    size_t count = count_pairs(n);
    if (count > MAX_HEADERS)
        return fail_at(L, n, "'extract' has more than %d entries", MAX_HEADERS);
    if (!(s->extracts = calloc(count ? count : 1, sizeof *s->extracts)))
        return fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        struct pk_extraction *e = &s->extracts[i];
        s->n_extracts = i + 1;
        if (!k || !v)
            return -1;
        if (get_string(L, k, "extract", &e->name) < 0)
            return -1;
        if (!valid_ident(e->name))
            return fail_at(L, k, "metric name '%s' in check '%s' must match [a-zA-Z_][a-zA-Z0-9_]*", e->name,
                           in_check(L));
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(s->extracts[j].name, e->name) == 0;
        for (size_t st = 0; st < n_earlier; st++)
            for (size_t j = 0; j < earlier[st].n_extracts; j++)
                dup |= strcmp(earlier[st].extracts[j].name, e->name) == 0;
        if (dup)
            return fail_at(L, k, "duplicate metric '%s' in check '%s'", e->name, in_check(L));
        if (get_string(L, v, e->name, &e->expr) < 0 || compile_jq(L, v, e->expr, &e->jq) < 0)
            return -1;
    }
    return 0;
}

/* ---- requests ---- */

struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

/* Where the {{ span opened at s[i] ends (index after "}}"), minding quotes. */
static size_t span_end(const char *s, size_t i)
{
    char quote = 0;
    for (i += 2; s[i]; i++) {
        if (quote) {
            if (s[i] == '\\' && s[i + 1])
                i++;
            else if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '\'' || s[i] == '"') {
            quote = s[i];
        } else if (s[i] == '}' && s[i + 1] == '}') {
            return i + 2;
        }
    }
    return i;
}

/* Writes s escaped for a JSON string (json=1) or for a form value (json=0),
 * leaving {{template}} spans verbatim for the executor to render. */
static void sb_escaped(struct sbuf *b, const char *s, int json)
{
    for (size_t i = 0; s[i];) {
        if (s[i] == '{' && s[i + 1] == '{') {
            size_t end = span_end(s, i);
            sb_add(b, s + i, end - i);
            i = end;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc[8];
        if (json) {
            if (c == '"' || c == '\\') {
                esc[0] = '\\';
                esc[1] = (char)c;
                sb_add(b, esc, 2);
            } else if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_add(b, esc, 6);
            } else {
                sb_add(b, (const char *)&c, 1);
            }
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '.' || c == '_' || c == '~') {
            sb_add(b, (const char *)&c, 1);
        } else {
            snprintf(esc, sizeof esc, "%%%02X", c);
            sb_add(b, esc, 3);
        }
    }
}

static int is_json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return 0;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Serializes any YAML node to compact JSON; string scalars are (template). */
static int to_json(struct loader *L, const yaml_node_t *n, struct sbuf *b, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return fail_at(L, n, "'json' nests deeper than %d levels", MAX_JSON_DEPTH);
    if (n->type == YAML_MAPPING_NODE) {
        if (count_pairs(n) > MAX_JSON_KEYS)
            return fail_at(L, n, "a mapping in 'json' has more than %d keys", MAX_JSON_KEYS);
        sb_add(b, "{", 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
            if (!k || !v)
                return -1;
            if (k->type != YAML_SCALAR_NODE)
                return fail_at(L, k, "keys in 'json' must be strings in check '%s'", in_check(L));
            for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                const yaml_node_t *e = yaml_document_get_node(&L->doc, q->key);
                if (e && e->type == YAML_SCALAR_NODE && strcmp(text_of(e), text_of(k)) == 0)
                    return fail_at(L, k, "duplicate key '%s' in 'json' of check '%s'", text_of(k), in_check(L));
            }
            if (p != n->data.mapping.pairs.start)
                sb_add(b, ",", 1);
            char *key = NULL;
            if (get_template(L, k, "json", &key) < 0)
                return -1;
            sb_add(b, "\"", 1);
            sb_escaped(b, key, 1);
            sb_add(b, "\":", 2);
            free(key);
            if (to_json(L, v, b, depth + 1) < 0)
                return -1;
        }
        sb_add(b, "}", 1);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        sb_add(b, "[", 1);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            const yaml_node_t *v = child(L, *it);
            if (!v)
                return -1;
            if (it != n->data.sequence.items.start)
                sb_add(b, ",", 1);
            if (to_json(L, v, b, depth + 1) < 0)
                return -1;
        }
        sb_add(b, "]", 1);
    } else {
        const char *s = text_of(n);
        if (is_null(n)) {
            sb_add(b, "null", 4);
        } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                   (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || is_json_number(s))) {
            sb_add(b, s, strlen(s));
        } else {
            char *str = NULL;
            if (get_template(L, n, "json", &str) < 0)
                return -1;
            sb_add(b, "\"", 1);
            sb_escaped(b, str, 1);
            sb_add(b, "\"", 1);
            free(str);
        }
    }
    return b->oom ? fail_at(L, n, "out of memory") : 0;
}

static void request_free(struct pk_request *r)
{
    free(r->method);
    free(r->url);
    free_kvs(r->headers, r->n_headers);
    free(r->body);
    free_kvs(r->form, r->n_form);
    free(r->tls.ca_file);
    free(r->tls.cert_file);
    free(r->tls.key_file);
    free(r->tls.server_name);
    memset(r, 0, sizeof *r);
}

static int check_method(struct loader *L, const yaml_node_t *v, const char *m)
{
    if (!m[0] || strlen(m) > 32 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(m))
        return fail_at(L, v, "'method' must be uppercase letters, like GET or POST");
    return 0;
}

static int check_url(struct loader *L, const yaml_node_t *v, const char *url)
{
    /* A template may supply the scheme ({{base_url}}/x); check it when literal. */
    if (strncmp(url, "{{", 2) != 0 && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail_at(L, v, "'url' must start with http:// or https://");
    if (strpbrk(url, " ") || has_control(url))
        return fail_at(L, v, "'url' must not contain spaces or control characters");
    return 0;
}

static int has_kv(const struct pk_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(kv[i].key, key) == 0)
            return 1;
    return 0;
}

static int add_kv(struct pk_kv **kv, size_t *n, const char *key, const char *value)
{
    struct pk_kv *grown = realloc(*kv, (*n + 1) * sizeof **kv);
    if (!grown)
        return -1;
    *kv = grown;
    grown[*n].key = strdup(key);
    grown[*n].value = strdup(value);
    if (!grown[*n].key || !grown[*n].value) {
        free(grown[*n].key);
        free(grown[*n].value);
        return -1;
    }
    (*n)++;
    return 0;
}

/* The url-encoded form text for the issue-3 `body` field; templates stay verbatim. */
static char *form_text(const struct pk_request *r)
{
    struct sbuf b = {0};
    for (size_t i = 0; i < r->n_form; i++) {
        if (i)
            sb_add(&b, "&", 1);
        sb_escaped(&b, r->form[i].key, 0);
        sb_add(&b, "=", 1);
        sb_escaped(&b, r->form[i].value, 0);
    }
    sb_add(&b, "", 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int tls_options(struct loader *L, const yaml_node_t *n, struct pk_tls_options *t)
{
    static const char *const keys[] = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify",
                                       NULL};
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'tls' must be a mapping in check '%s'", in_check(L));
    if (check_keys(L, n, "'tls' of check", keys) < 0)
        return -1;
    const yaml_node_t *v;
    if ((v = find_value(L, n, "ca_file")) && get_string(L, v, "ca_file", &t->ca_file) < 0)
        return -1;
    if ((v = find_value(L, n, "cert_file")) && get_string(L, v, "cert_file", &t->cert_file) < 0)
        return -1;
    if ((v = find_value(L, n, "key_file")) && get_string(L, v, "key_file", &t->key_file) < 0)
        return -1;
    if ((v = find_value(L, n, "server_name")) && get_string(L, v, "server_name", &t->server_name) < 0)
        return -1;
    if ((v = find_value(L, n, "insecure_skip_verify")) &&
        get_bool(L, v, "insecure_skip_verify", &t->insecure_skip_verify) < 0)
        return -1;
    if (!t->cert_file != !t->key_file)
        return fail_at(L, n, "'cert_file' and 'key_file' go together in check '%s'", in_check(L));
    return 0;
}

static int parse_request(struct loader *L, const yaml_node_t *n, struct pk_request *r)
{
    static const char *const keys[] = {"method", "url", "headers", "json", "form", "body", "follow_redirects",
                                       "max_body", "tls", NULL};
    const yaml_node_t *v;
    r->max_body_bytes = DEFAULT_MAX_BODY;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'request' must be a mapping in check '%s'", in_check(L));
    if (check_keys(L, n, "'request' of check", keys) < 0)
        return -1;
    const yaml_node_t *json = find_value(L, n, "json"), *form = find_value(L, n, "form"),
                      *body = find_value(L, n, "body");
    if (!!json + !!form + !!body > 1)
        return fail_at(L, json && form ? find_key(L, n, "form") : find_key(L, n, "body"),
                       "give only one of 'json', 'form' or 'body' in check '%s'", in_check(L));
    if (!(v = find_value(L, n, "url")))
        return fail_at(L, n, "'request' of check '%s' has no 'url'", in_check(L));
    if (get_template(L, v, "url", &r->url) < 0 || check_url(L, v, r->url) < 0)
        return -1;
    if ((v = find_value(L, n, "method")) &&
        (get_string(L, v, "method", &r->method) < 0 || check_method(L, v, r->method) < 0))
        return -1;
    if (json) {
        struct sbuf b = {0};
        r->body_kind = PK_BODY_JSON;
        if (to_json(L, json, &b, 0) < 0) {
            free(b.p);
            return -1;
        }
        r->body = b.p;
    } else if (form) {
        r->body_kind = PK_BODY_FORM;
        if (get_kv_map(L, form, "form", KV_FORM, 1, &r->form, &r->n_form) < 0)
            return -1;
    } else if (body) {
        r->body_kind = PK_BODY_RAW;
        if (get_template(L, body, "body", &r->body) < 0)
            return -1;
    }
    /* Header values may sign the body: {{hmac_sha256_hex(secret, body)}}. */
    if ((v = find_value(L, n, "headers"))) {
        L->allow_body = r->body_kind != PK_BODY_NONE;
        int rc = get_kv_map(L, v, "headers", KV_HEADERS, 1, &r->headers, &r->n_headers);
        L->allow_body = 0;
        if (rc < 0)
            return -1;
    }
    if ((v = find_value(L, n, "follow_redirects")) && get_bool(L, v, "follow_redirects", &r->follow_redirects) < 0)
        return -1;
    if ((v = find_value(L, n, "max_body")) && get_size(L, v, "max_body", &r->max_body_bytes) < 0)
        return -1;
    if ((v = find_value(L, n, "tls")) && tls_options(L, v, &r->tls) < 0)
        return -1;
    if (!r->method && !(r->method = strdup(r->body_kind == PK_BODY_NONE ? "GET" : "POST")))
        return fail_at(L, n, "out of memory");
    if (r->body_kind == PK_BODY_JSON && !has_kv(r->headers, r->n_headers, "Content-Type") &&
        add_kv(&r->headers, &r->n_headers, "Content-Type", "application/json") < 0)
        return fail_at(L, n, "out of memory");
    if (r->body_kind == PK_BODY_FORM && !has_kv(r->headers, r->n_headers, "Content-Type") &&
        add_kv(&r->headers, &r->n_headers, "Content-Type", "application/x-www-form-urlencoded") < 0)
        return fail_at(L, n, "out of memory");
    return 0;
}

/* ---- steps ---- */

static void step_free(struct pk_step *s)
{
    free(s->name);
    request_free(&s->request);
    asserts_free(s->asserts, s->n_asserts);
    captures_free(s->captures, s->n_captures);
    extracts_free(s->extracts, s->n_extracts);
    memset(s, 0, sizeof *s);
}

static int has_status_assert(const struct pk_step *s)
{
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            return 1;
    return 0;
}

/* Without a status assertion a step expects 200, as issue 3's expect_status did. */
static int add_default_status(struct loader *L, const yaml_node_t *at, struct pk_step *s)
{
    if (has_status_assert(s))
        return 0;
    struct pk_assertion *grown = realloc(s->asserts, (s->n_asserts + 1) * sizeof *grown);
    if (!grown)
        return fail_at(L, at, "out of memory");
    s->asserts = grown;
    memmove(grown + 1, grown, s->n_asserts * sizeof *grown);
    struct pk_assertion *a = &grown[0];
    s->n_asserts++;
    memset(a, 0, sizeof *a);
    a->kind = PK_ASSERT_STATUS;
    a->line = (int)at->start_mark.line + 1;
    a->column = (int)at->start_mark.column + 1;
    a->status_ranges = malloc(2 * sizeof *a->status_ranges);
    a->describe = strdup("status in [200]");
    if (!a->status_ranges || !a->describe)
        return fail_at(L, at, "out of memory");
    a->status_ranges[0] = a->status_ranges[1] = 200;
    a->n_status_ranges = 1;
    return 0;
}

static int parse_step(struct loader *L, const yaml_node_t *n, size_t index, struct pk_step *steps)
{
    static const char *const keys[] = {"name", "request", "assert", "capture", "extract", NULL};
    struct pk_step *s = &steps[index];
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "each entry of 'steps' must be a mapping in check '%s'", in_check(L));
    s->line = (int)n->start_mark.line + 1;
    if (check_keys(L, n, "step of check", keys) < 0)
        return -1;
    if ((v = find_value(L, n, "name"))) {
        if (get_string(L, v, "name", &s->name) < 0)
            return -1;
        if (!valid_name(s->name))
            return fail_at(L, v, "step name '%s' must be 1..%d characters of A-Z a-z 0-9 _ . -", s->name,
                           PK_NAME_MAX - 1);
        for (size_t i = 0; i < index; i++)
            if (strcmp(steps[i].name, s->name) == 0)
                return fail_at(L, v, "duplicate step name '%s' in check '%s'", s->name, in_check(L));
    } else if (asprintf(&s->name, "step-%zu", index + 1) < 0) {
        s->name = NULL;
        return fail_at(L, n, "out of memory");
    }
    L->step = index;
    if (!(v = find_value(L, n, "request")))
        return fail_at(L, n, "step '%s' of check '%s' has no 'request'", s->name, in_check(L));
    if (parse_request(L, v, &s->request) < 0)
        return -1;
    if ((v = find_value(L, n, "assert")) && get_asserts(L, v, AS_HTTP, &s->asserts, &s->n_asserts) < 0)
        return -1;
    if (add_default_status(L, n, s) < 0)
        return -1;
    if ((v = find_value(L, n, "capture")) && get_captures(L, v, s) < 0)
        return -1;
    if ((v = find_value(L, n, "extract")) && get_extracts(L, v, s, steps, index) < 0)
        return -1;
    return 0;
}

/* ---- checks ---- */

static void vars_free(struct pk_var_source *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        if (v[i].value) /* secrets do not linger in freed memory */
            explicit_bzero(v[i].value, strlen(v[i].value));
        free(v[i].value);
    }
    free(v);
}

static void check_free(struct pk_check *c)
{
    free(c->name);
    free(c->type);
    free(c->service);
    free(c->file);
    free_kvs(c->labels, c->n_labels);
    free(c->target);
    free(c->url);
    free(c->method);
    free_kvs(c->headers, c->n_headers);
    free(c->body);
    free(c->expect_status);
    for (size_t i = 0; i < c->n_steps; i++)
        step_free(&c->steps[i]);
    free(c->steps);
    free(c->tcp.host);
    free(c->tcp.send);
    free(c->tcp.expect);
    free_regex(c->tcp.expect_regex);
    free(c->dns.name);
    free(c->dns.server);
    free(c->dns.record_type);
    free_strv(c->dns.expect, c->dns.n_expect);
    free(c->tls.host);
    free(c->tls.server_name);
    free(c->tls.ca_file);
    free(c->grpc.target);
    free(c->grpc.service);
    free(c->grpc.ca_file);
    free_strv(c->exec.argv, c->exec.argc);
    free_kvs(c->exec.env, c->exec.n_env);
    free(c->exec.workdir);
    asserts_free(c->asserts, c->n_asserts);
    vars_free(c->vars, c->n_vars);
    free_strv(c->selector_regions, c->n_selector_regions);
    free_kvs(c->selector_labels, c->n_selector_labels);
    free(c->definition);
    free_kvs(c->def_keys, c->n_def_keys);
    memset(c, 0, sizeof *c);
}

static const char *const common_keys[] = {"name", "type", "service", "interval", "timeout", "retries", "labels",
                                          "budgets", "slo", "selector"};
#define N_COMMON (sizeof common_keys / sizeof *common_keys)

static const struct {
    const char *type;
    const char *keys[12];
} type_keys[] = {
    {"http", {"request", "assert", "extract", "burst", "url", "method", "headers", "body", "expect_status", NULL}},
    {"flow", {"steps", NULL}},
    {"tcp", {"tcp", "assert", NULL}},
    {"dns", {"dns", "assert", NULL}},
    {"tls", {"tls", "assert", NULL}},
    {"grpc", {"grpc", "assert", NULL}},
    {"exec", {"exec", "assert", NULL}},
};

/* The issue-3 flat `expect_status`. */
static int get_expect_status(struct loader *L, const yaml_node_t *n, struct pk_check *c)
{
    static const char reason[] = "'expect_status' must be an HTTP status (100..599) or a list of them";
    const yaml_node_t *one = n;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        count = count_items(n);
        if (count == 0 || count > MAX_EXPECT_STATUS)
            return fail_at(L, n, "'expect_status' must list 1..%d statuses", MAX_EXPECT_STATUS);
    }
    c->expect_status = calloc(count, sizeof *c->expect_status);
    if (!c->expect_status)
        return fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        if (n->type == YAML_SEQUENCE_NODE && !(one = child(L, n->data.sequence.items.start[i])))
            return -1;
        long v;
        if (get_int(one, 100, 599, &v) < 0)
            return fail_at(L, one, "%s", reason);
        c->expect_status[i] = (int)v;
        c->n_expect_status = i + 1;
    }
    return 0;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The issue-3 fields (url, method, headers, body, expect_status) mirror steps[0]
 * for the http executor that still reads them. */
static int mirror_issue3(struct loader *L, const yaml_node_t *at, struct pk_check *c)
{
    const struct pk_step *s = &c->steps[0];
    const struct pk_request *r = &s->request;
    free(c->url);
    free(c->method);
    free(c->body);
    free_kvs(c->headers, c->n_headers);
    free(c->expect_status);
    c->headers = NULL;
    c->n_headers = 0;
    c->expect_status = NULL;
    c->n_expect_status = 0;
    c->url = strdup(r->url);
    c->method = strdup(r->method);
    c->body = r->body_kind == PK_BODY_FORM ? form_text(r) : dup_or_null(r->body);
    if (!c->url || !c->method || ((r->body_kind != PK_BODY_NONE) && !c->body))
        return fail_at(L, at, "out of memory");
    for (size_t i = 0; i < r->n_headers; i++)
        if (add_kv(&c->headers, &c->n_headers, r->headers[i].key, r->headers[i].value) < 0)
            return fail_at(L, at, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            for (size_t j = 0; j < s->asserts[i].n_status_ranges; j++)
                total += (size_t)(s->asserts[i].status_ranges[2 * j + 1] - s->asserts[i].status_ranges[2 * j] + 1);
    if (!(c->expect_status = calloc(total ? total : 1, sizeof *c->expect_status)))
        return fail_at(L, at, "out of memory");
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            for (size_t j = 0; j < s->asserts[i].n_status_ranges; j++)
                for (int st = s->asserts[i].status_ranges[2 * j]; st <= s->asserts[i].status_ranges[2 * j + 1]; st++)
                    c->expect_status[c->n_expect_status++] = st;
    return 0;
}

/* Builds steps[0] of an http check from the flat issue-3 keys. */
static int http_flat(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    struct pk_step *s = &c->steps[0];
    struct pk_request *r = &s->request;
    const yaml_node_t *v;
    r->max_body_bytes = DEFAULT_MAX_BODY;
    if (!(v = find_value(L, map, "url")))
        return fail_at(L, map, "check '%s' of type http has no 'url'", c->name);
    if (get_template(L, v, "url", &r->url) < 0 || check_url(L, v, r->url) < 0)
        return -1;
    if ((v = find_value(L, map, "method")) &&
        (get_string(L, v, "method", &r->method) < 0 || check_method(L, v, r->method) < 0))
        return -1;
    if ((v = find_value(L, map, "body"))) {
        r->body_kind = PK_BODY_RAW;
        if (get_template(L, v, "body", &r->body) < 0)
            return -1;
    }
    if ((v = find_value(L, map, "headers"))) {
        L->allow_body = r->body_kind != PK_BODY_NONE;
        int rc = get_kv_map(L, v, "headers", KV_HEADERS, 1, &r->headers, &r->n_headers);
        L->allow_body = 0;
        if (rc < 0)
            return -1;
    }
    /* issue 3 kept GET unless told otherwise, even with a body */
    if (!r->method && !(r->method = strdup("GET")))
        return fail_at(L, map, "out of memory");
    if ((v = find_value(L, map, "expect_status"))) {
        if (get_expect_status(L, v, c) < 0)
            return -1;
        if (!(s->asserts = calloc(1, sizeof *s->asserts)))
            return fail_at(L, v, "out of memory");
        s->n_asserts = 1;
        struct pk_assertion *a = &s->asserts[0];
        a->kind = PK_ASSERT_STATUS;
        a->line = (int)v->start_mark.line + 1;
        a->column = (int)v->start_mark.column + 1;
        if (get_status_spec(L, v, a) < 0)
            return -1;
    }
    return 0;
}

static int parse_burst(struct loader *L, const yaml_node_t *n, struct pk_burst *b)
{
    static const char *const keys[] = {"count", "within", "expect_status", "at_least", "at_most", NULL};
    const yaml_node_t *v;
    long x;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'burst' must be a mapping in check '%s'", in_check(L));
    if (check_keys(L, n, "'burst' of check", keys) < 0)
        return -1;
    if (!(v = find_value(L, n, "count")))
        return fail_at(L, n, "'burst' needs 'count' in check '%s'", in_check(L));
    if (get_int_in(L, v, "count", 1, 1000, &x) < 0)
        return -1;
    b->count = (int)x;
    b->expect_at_most = -1;
    if ((v = find_value(L, n, "within")) && get_duration(L, v, "within", "1s", &b->within_ms) < 0)
        return -1;
    if (!(v = find_value(L, n, "expect_status")))
        return fail_at(L, n, "'burst' needs 'expect_status' in check '%s'", in_check(L));
    if (get_int_in(L, v, "expect_status", 100, 599, &x) < 0)
        return -1;
    b->expect_status = (int)x;
    if ((v = find_value(L, n, "at_least"))) {
        if (get_int_in(L, v, "at_least", 0, b->count, &x) < 0)
            return -1;
        b->expect_at_least = (int)x;
    }
    if ((v = find_value(L, n, "at_most"))) {
        if (get_int_in(L, v, "at_most", 0, b->count, &x) < 0)
            return -1;
        b->expect_at_most = (int)x;
        if (b->expect_at_most < b->expect_at_least)
            return fail_at(L, v, "'at_most' must not be less than 'at_least' in check '%s'", in_check(L));
    }
    if (!find_value(L, n, "at_least") && !find_value(L, n, "at_most"))
        return fail_at(L, n, "'burst' needs 'at_least' or 'at_most' in check '%s'", in_check(L));
    return 0;
}

/* Reads the capture names of every step first, so a step can be told that a
 * name it uses is captured only later. */
static int prescan_captures(struct loader *L, const yaml_node_t *steps, struct flow_capture_name **out, size_t *n_out)
{
    size_t cap = 0, n = 0;
    struct flow_capture_name *caps = NULL;
    for (size_t i = 0; i < count_items(steps); i++) {
        const yaml_node_t *st = yaml_document_get_node(&L->doc, steps->data.sequence.items.start[i]);
        if (!st || st->type != YAML_MAPPING_NODE)
            continue;
        const yaml_node_t *cm = find_value(L, st, "capture"), *nm = find_value(L, st, "name");
        if (!cm || cm->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = cm->data.mapping.pairs.start; p < cm->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
            if (!k || !is_string(k))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                struct flow_capture_name *grown = realloc(caps, cap * sizeof *caps);
                if (!grown) {
                    free(caps);
                    return fail_at(L, cm, "out of memory");
                }
                caps = grown;
            }
            caps[n].name = text_of(k);
            caps[n].step = i;
            caps[n].step_name = nm && is_string(nm) ? text_of(nm) : "?";
            n++;
        }
    }
    *out = caps;
    *n_out = n;
    return 0;
}

static int parse_flow(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    const yaml_node_t *steps = find_value(L, map, "steps");
    struct flow_capture_name *caps = NULL;
    size_t n_caps = 0;
    int rc = -1;
    if (!steps)
        return fail_at(L, map, "check '%s' of type flow has no 'steps'", c->name);
    if (steps->type != YAML_SEQUENCE_NODE || count_items(steps) == 0 || count_items(steps) > MAX_STEPS)
        return fail_at(L, steps, "'steps' must be a list of 1..%d steps in check '%s'", MAX_STEPS, c->name);
    if (prescan_captures(L, steps, &caps, &n_caps) < 0)
        return -1;
    size_t count = count_items(steps);
    if (!(c->steps = calloc(count, sizeof *c->steps))) {
        fail_at(L, steps, "out of memory");
        goto out;
    }
    L->caps = caps;
    L->n_caps = n_caps;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *st = child(L, steps->data.sequence.items.start[i]);
        c->n_steps = i + 1;
        if (!st || parse_step(L, st, i, c->steps) < 0)
            goto out;
    }
    rc = 0;
out:
    L->caps = NULL;
    L->n_caps = 0;
    L->step = 0;
    free(caps);
    return rc;
}

static int parse_http(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    const yaml_node_t *req = find_value(L, map, "request"), *v;
    static const char *const flat[] = {"url", "method", "headers", "body", "expect_status"};
    if (!(c->steps = calloc(1, sizeof *c->steps)))
        return fail_at(L, map, "out of memory");
    c->n_steps = 1;
    struct pk_step *s = &c->steps[0];
    if (!(s->name = strdup(c->name)))
        return fail_at(L, map, "out of memory");
    s->line = c->line;
    if (req) {
        for (size_t i = 0; i < sizeof flat / sizeof *flat; i++)
            if ((v = find_key(L, map, flat[i])))
                return fail_at(L, v, "'%s' cannot be used with 'request' in check '%s'; %s", flat[i], c->name,
                               strcmp(flat[i], "expect_status") ? "move it into 'request'"
                                                                : "write assert: [{status: ...}] instead");
        if (parse_request(L, req, &s->request) < 0)
            return -1;
    } else if (http_flat(L, map, c) < 0) {
        return -1;
    }
    if ((v = find_value(L, map, "assert"))) {
        if (c->expect_status)
            return fail_at(L, v, "use either 'expect_status' or 'assert' in check '%s'", c->name);
        if (get_asserts(L, v, AS_HTTP, &s->asserts, &s->n_asserts) < 0)
            return -1;
    }
    if (add_default_status(L, map, s) < 0)
        return -1;
    if ((v = find_value(L, map, "extract")) && get_extracts(L, v, s, NULL, 0) < 0)
        return -1;
    if ((v = find_value(L, map, "burst")) && parse_burst(L, v, &c->burst) < 0)
        return -1;
    return mirror_issue3(L, map, c);
}

/* The options block of tcp dns tls grpc exec, named after the type. */
static const yaml_node_t *options_block(struct loader *L, const yaml_node_t *map, struct pk_check *c,
                                        const char *const *keys)
{
    const yaml_node_t *o = find_value(L, map, c->type);
    if (!o) {
        fail_at(L, map, "check '%s' of type %s has no '%s' block", c->name, c->type, c->type);
        return NULL;
    }
    if (o->type != YAML_MAPPING_NODE) {
        fail_at(L, o, "'%s' must be a mapping in check '%s'", c->type, c->name);
        return NULL;
    }
    char where[32];
    snprintf(where, sizeof where, "'%s' of check", c->type);
    return check_keys(L, o, where, keys) < 0 ? NULL : o;
}

static int get_port(struct loader *L, const yaml_node_t *o, int required, int *port)
{
    const yaml_node_t *v = find_value(L, o, "port");
    long x;
    if (!v)
        return required ? fail_at(L, o, "'port' is required in check '%s'", in_check(L)) : 0;
    if (get_int_in(L, v, "port", 1, 65535, &x) < 0)
        return -1;
    *port = (int)x;
    return 0;
}

static int host_port_target(struct loader *L, const yaml_node_t *at, struct pk_check *c, const char *host, int port)
{
    if (asprintf(&c->target, "%s:%d", host, port) < 0) {
        c->target = NULL;
        return fail_at(L, at, "out of memory");
    }
    return 0;
}

static int parse_tcp(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"host", "port", "send", "expect", NULL};
    const yaml_node_t *o = options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = find_value(L, o, "host")))
        return fail_at(L, o, "'host' is required in check '%s'", c->name);
    if (get_template(L, v, "host", &c->tcp.host) < 0 || get_port(L, o, 1, &c->tcp.port) < 0)
        return -1;
    if ((v = find_value(L, o, "send")) && get_template(L, v, "send", &c->tcp.send) < 0)
        return -1;
    if ((v = find_value(L, o, "expect")) &&
        (get_string(L, v, "expect", &c->tcp.expect) < 0 ||
         compile_regex(L, v, c->tcp.expect, &c->tcp.expect_regex) < 0))
        return -1;
    return host_port_target(L, o, c, c->tcp.host, c->tcp.port);
}

static int parse_dns(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"name", "server", "record", "type", "expect", NULL};
    static const char *const records[] = {"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "PTR", NULL};
    const yaml_node_t *o = options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = find_value(L, o, "name")))
        return fail_at(L, o, "'name' is required in 'dns' of check '%s'", c->name);
    if (get_template(L, v, "name", &c->dns.name) < 0)
        return -1;
    if ((v = find_value(L, o, "server")) && get_string(L, v, "server", &c->dns.server) < 0)
        return -1;
    const yaml_node_t *rec = find_value(L, o, "record"), *typ = find_value(L, o, "type");
    if (rec && typ)
        return fail_at(L, typ, "give 'record' or 'type', not both, in check '%s'", c->name);
    if ((v = rec ? rec : typ)) {
        if (get_string(L, v, "record", &c->dns.record_type) < 0)
            return -1;
        size_t i = 0;
        while (records[i] && strcasecmp(records[i], c->dns.record_type) != 0)
            i++;
        if (!records[i])
            return fail_at(L, v, "unknown record type '%s' in check '%s' (known: A AAAA CNAME MX TXT NS SOA SRV PTR)",
                           c->dns.record_type, c->name);
        snprintf(c->dns.record_type, strlen(c->dns.record_type) + 1, "%s", records[i]);
    } else if (!(c->dns.record_type = strdup("A"))) {
        return fail_at(L, o, "out of memory");
    }
    if ((v = find_value(L, o, "expect"))) {
        const yaml_node_t *list = v;
        size_t count = list->type == YAML_SEQUENCE_NODE ? count_items(list) : 1;
        if (list->type == YAML_MAPPING_NODE || count > MAX_LIST)
            return fail_at(L, list, "'expect' must be a list of answers in check '%s'", c->name);
        if (!(c->dns.expect = calloc(count + 1, sizeof *c->dns.expect)))
            return fail_at(L, list, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *one = list;
            if (list->type == YAML_SEQUENCE_NODE && !(one = child(L, list->data.sequence.items.start[i])))
                return -1;
            c->dns.n_expect = i + 1;
            if (get_string(L, one, "expect", &c->dns.expect[i]) < 0)
                return -1;
        }
    }
    return (c->target = strdup(c->dns.name)) ? 0 : fail_at(L, o, "out of memory");
}

static int parse_tls(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"host", "port", "server_name", "degraded_days", "failed_days", "ca_file",
                                       NULL};
    const yaml_node_t *o = options_block(L, map, c, keys), *v;
    long x;
    if (!o)
        return -1;
    c->tls.port = 443;
    c->tls.degraded_days = 30;
    c->tls.failed_days = 7;
    if (!(v = find_value(L, o, "host")))
        return fail_at(L, o, "'host' is required in 'tls' of check '%s'", c->name);
    if (get_string(L, v, "host", &c->tls.host) < 0 || get_port(L, o, 0, &c->tls.port) < 0)
        return -1;
    if ((v = find_value(L, o, "server_name")) && get_string(L, v, "server_name", &c->tls.server_name) < 0)
        return -1;
    if ((v = find_value(L, o, "ca_file")) && get_string(L, v, "ca_file", &c->tls.ca_file) < 0)
        return -1;
    if ((v = find_value(L, o, "degraded_days"))) {
        if (get_int_in(L, v, "degraded_days", 0, 3650, &x) < 0)
            return -1;
        c->tls.degraded_days = x;
    }
    if ((v = find_value(L, o, "failed_days"))) {
        if (get_int_in(L, v, "failed_days", 0, 3650, &x) < 0)
            return -1;
        c->tls.failed_days = x;
    }
    if (c->tls.failed_days > c->tls.degraded_days)
        return fail_at(L, o, "'failed_days' (%lld) must not exceed 'degraded_days' (%lld) in check '%s'",
                       (long long)c->tls.failed_days, (long long)c->tls.degraded_days, c->name);
    return host_port_target(L, o, c, c->tls.host, c->tls.port);
}

static int parse_grpc(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"target", "service", "tls", "ca_file", NULL};
    const yaml_node_t *o = options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = find_value(L, o, "target")))
        return fail_at(L, o, "'target' is required in 'grpc' of check '%s'", c->name);
    if (get_string(L, v, "target", &c->grpc.target) < 0)
        return -1;
    if ((v = find_value(L, o, "service")) && !is_null(v)) {
        if (get_string(L, v, "service", &c->grpc.service) < 0)
            return -1;
    } else if (!(c->grpc.service = strdup(""))) {
        return fail_at(L, o, "out of memory");
    }
    if ((v = find_value(L, o, "tls")) && get_bool(L, v, "tls", &c->grpc.tls) < 0)
        return -1;
    if ((v = find_value(L, o, "ca_file")) && get_string(L, v, "ca_file", &c->grpc.ca_file) < 0)
        return -1;
    return (c->target = strdup(c->grpc.target)) ? 0 : fail_at(L, o, "out of memory");
}

static int parse_exec(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"command", "shell", "env", "workdir", "max_output", NULL};
    const yaml_node_t *o = options_block(L, map, c, keys), *v, *cmd;
    if (!o)
        return -1;
    c->exec.max_output_bytes = DEFAULT_MAX_OUTPUT;
    if ((v = find_value(L, o, "shell")) && get_bool(L, v, "shell", &c->exec.shell) < 0)
        return -1;
    if (!(cmd = find_value(L, o, "command")))
        return fail_at(L, o, "'command' is required in 'exec' of check '%s'", c->name);
    if (c->exec.shell) {
        if (cmd->type != YAML_SCALAR_NODE)
            return fail_at(L, cmd, "with 'shell: true', 'command' must be a string in check '%s'", c->name);
        if (!(c->exec.argv = calloc(2, sizeof *c->exec.argv)))
            return fail_at(L, cmd, "out of memory");
        c->exec.argc = 1;
        if (get_template(L, cmd, "command", &c->exec.argv[0]) < 0)
            return -1;
    } else {
        if (cmd->type != YAML_SEQUENCE_NODE)
            return fail_at(L, cmd,
                           "'command' must be a list like [npm, audit] (or a string with 'shell: true') in check '%s'",
                           c->name);
        size_t count = count_items(cmd);
        if (count == 0 || count > MAX_LIST)
            return fail_at(L, cmd, "'command' must list 1..%d arguments in check '%s'", MAX_LIST, c->name);
        if (!(c->exec.argv = calloc(count + 1, sizeof *c->exec.argv)))
            return fail_at(L, cmd, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *a = child(L, cmd->data.sequence.items.start[i]);
            c->exec.argc = i + 1;
            if (!a || get_template(L, a, "command", &c->exec.argv[i]) < 0)
                return -1;
        }
    }
    if ((v = find_value(L, o, "env")) && get_kv_map(L, v, "env", KV_ENV, 1, &c->exec.env, &c->exec.n_env) < 0)
        return -1;
    if ((v = find_value(L, o, "workdir")) && get_string(L, v, "workdir", &c->exec.workdir) < 0)
        return -1;
    if ((v = find_value(L, o, "max_output")) && get_size(L, v, "max_output", &c->exec.max_output_bytes) < 0)
        return -1;
    return (c->target = strdup(c->exec.argv[0])) ? 0 : fail_at(L, o, "out of memory");
}

static int parse_budgets(struct loader *L, const yaml_node_t *n, struct pk_budgets *b)
{
    static const char *const keys[] = {"p50", "p95", "p99", NULL};
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'budgets' must be a mapping like {p50: 3s, p95: 8s, p99: 10s} in check '%s'",
                       in_check(L));
    if (check_keys(L, n, "'budgets' of check", keys) < 0)
        return -1;
    if ((v = find_value(L, n, "p50")) && get_duration(L, v, "p50", "3s", &b->p50_ms) < 0)
        return -1;
    if ((v = find_value(L, n, "p95")) && get_duration(L, v, "p95", "8s", &b->p95_ms) < 0)
        return -1;
    if ((v = find_value(L, n, "p99")) && get_duration(L, v, "p99", "10s", &b->p99_ms) < 0)
        return -1;
    if ((b->p50_ms && b->p95_ms && b->p50_ms > b->p95_ms) || (b->p95_ms && b->p99_ms && b->p95_ms > b->p99_ms) ||
        (b->p50_ms && b->p99_ms && b->p50_ms > b->p99_ms))
        return fail_at(L, n, "'budgets' must not decrease from p50 to p99 in check '%s'", in_check(L));
    return 0;
}

static int parse_slo(struct loader *L, const yaml_node_t *n, struct pk_check_slo *s)
{
    static const char *const keys[] = {"target", "window", NULL};
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'slo' must be a mapping like {target: 99.9%%, window: 30d} in check '%s'",
                       in_check(L));
    if (check_keys(L, n, "'slo' of check", keys) < 0)
        return -1;
    if (!(v = find_value(L, n, "target")))
        return fail_at(L, n, "'slo' needs 'target' in check '%s'", in_check(L));
    /* 99.9 or 99.9% (a percentage either way) */
    const char *t = is_string(v) && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? text_of(v) : NULL;
    size_t tn = t ? strlen(t) : 0;
    if (tn > 1 && t[tn - 1] == '%') {
        char *end;
        errno = 0;
        s->target_percent = strtod(t, &end);
        if (end != t + tn - 1 || errno || !isfinite(s->target_percent))
            return fail_at(L, v, "'target' must be a percentage like 99.9 or 99.9%% in check '%s'", in_check(L));
    } else if (get_number(L, v, "target", &s->target_percent) < 0)
        return -1;
    if (!(s->target_percent > 0 && s->target_percent < 100))
        return fail_at(L, v, "'target' must be a percentage between 0 and 100 (exclusive) in check '%s'",
                       in_check(L));
    s->window_ms = (int64_t)30 * 24 * 3600 * 1000;
    if ((v = find_value(L, n, "window"))) {
        /* days are common for SLO windows: "30d" */
        char *end;
        if (is_string(v) && (errno = 0, strtol(text_of(v), &end, 10) > 0) && strcmp(end, "d") == 0 &&
            text_of(v)[0] >= '0' && text_of(v)[0] <= '9' && strtol(text_of(v), NULL, 10) <= 366)
            s->window_ms = strtol(text_of(v), NULL, 10) * 24 * 3600 * 1000;
        else if (get_duration(L, v, "window", "30d", &s->window_ms) < 0)
            return -1;
        if (s->window_ms <= 0)
            return fail_at(L, v, "'window' must be more than 0");
    }
    return 0;
}

/* The target for reports: the URL with plain variables filled in (never secrets). */
static int plain_var(void *user, const char *name, const char **value)
{
    const struct loader *L = user;
    for (size_t i = 0; i < L->n_vars; i++)
        if (!L->vars[i].secret && strcmp(L->vars[i].name, name) == 0) {
            *value = L->vars[i].value;
            return PK_TNAME_VAR;
        }
    return PK_TNAME_UNKNOWN;
}

static char *display_target(struct loader *L, const char *src)
{
    char *out = NULL, err[64];
    int secret = 0;
    if (strstr(src, "{{") &&
        pk_template_render(src, plain_var, L, PK_TEMPLATE_RAW, &out, &secret, err, sizeof err) == 0 && !secret)
        return out;
    free(out);
    return strdup(src);
}

/* ---- selector and the normalised definition (central assignment) ---- */

static int parse_selector(struct loader *L, const yaml_node_t *n, struct pk_check *c)
{
    static const char *const keys[] = {"regions", "labels", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'selector' must be a mapping with 'regions' and/or 'labels' in check '%s'", c->name);
    if (check_keys(L, n, "selector", keys) < 0)
        return -1;
    const yaml_node_t *regions = find_value(L, n, "regions"), *labels = find_value(L, n, "labels");
    if (regions) {
        if (regions->type != YAML_SEQUENCE_NODE || count_items(regions) == 0)
            return fail_at(L, regions,
                           "'selector.regions' must be a non-empty list of region names in check '%s' (leave it "
                           "out to select every region)",
                           c->name);
        size_t count = count_items(regions);
        if (count > MAX_LIST)
            return fail_at(L, regions, "'selector.regions' has more than %d entries", MAX_LIST);
        if (!(c->selector_regions = calloc(count, sizeof *c->selector_regions)))
            return fail_at(L, regions, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *item = child(L, regions->data.sequence.items.start[i]);
            if (!item)
                return -1;
            if (!is_string(item))
                return fail_at(L, item, "entries of 'selector.regions' must be strings in check '%s'", c->name);
            if (get_string(L, item, "selector.regions", &c->selector_regions[i]) < 0)
                return -1;
            c->n_selector_regions = i + 1;
            if (!c->selector_regions[i][0] || strlen(c->selector_regions[i]) > 63 ||
                has_control(c->selector_regions[i]))
                return fail_at(L, item, "region '%s' must be 1..63 characters without control characters",
                               c->selector_regions[i]);
        }
    }
    if (labels && get_kv_map(L, labels, "selector.labels", KV_LABELS, 0, &c->selector_labels,
                             &c->n_selector_labels) < 0)
        return -1;
    return 0;
}

/* A scalar that reads back as the same plain scalar inside a flow collection. */
static int plain_safe(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-' || ch == '+' || ch == '/'))
            return 0;
    }
    /* "-x" starts a plain scalar only when followed by a letter or digit. */
    if (s[0] == '-' && (len == 1 || !((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'z') ||
                                      (s[1] >= 'A' && s[1] <= 'Z'))))
        return 0;
    return 1;
}

/* Writes node n as flow YAML that loads back to the same nodes: plain scalars
 * stay plain (so 5, true and null keep their meaning), every other scalar is
 * double-quoted. Aliases are expanded (charged to the budget like any read). */
static int emit_flow(struct loader *L, const yaml_node_t *n, struct sbuf *b, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return fail_at(L, n, "nests deeper than %d levels", MAX_JSON_DEPTH);
    if (n->type == YAML_MAPPING_NODE) {
        sb_add(b, "{", 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
            if (!k || !v)
                return -1;
            if (p != n->data.mapping.pairs.start)
                sb_add(b, ", ", 2);
            if (emit_flow(L, k, b, depth + 1) < 0)
                return -1;
            sb_add(b, ": ", 2);
            if (emit_flow(L, v, b, depth + 1) < 0)
                return -1;
        }
        sb_add(b, "}", 1);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        sb_add(b, "[", 1);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            const yaml_node_t *v = child(L, *it);
            if (!v)
                return -1;
            if (it != n->data.sequence.items.start)
                sb_add(b, ", ", 2);
            if (emit_flow(L, v, b, depth + 1) < 0)
                return -1;
        }
        sb_add(b, "]", 1);
    } else {
        const char *s = text_of(n);
        size_t len = n->data.scalar.length;
        if (is_null(n)) {
            sb_add(b, "null", 4);
        } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_safe(s, len)) {
            sb_add(b, s, len);
        } else {
            sb_add(b, "\"", 1);
            for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                char esc[8];
                if (ch == '"' || ch == '\\') {
                    esc[0] = '\\';
                    esc[1] = (char)ch;
                    sb_add(b, esc, 2);
                } else if (ch < 0x20 || ch == 0x7f) {
                    snprintf(esc, sizeof esc, "\\x%02x", ch);
                    sb_add(b, esc, 4);
                } else {
                    sb_add(b, (const char *)&ch, 1);
                }
            }
            sb_add(b, "\"", 1);
        }
    }
    return b->oom ? fail_at(L, n, "out of memory") : 0;
}

/* The normalised text of a node (caller frees), or NULL with the error set. */
static char *normalised(struct loader *L, const yaml_node_t *n)
{
    struct sbuf b = {0};
    if (emit_flow(L, n, &b, 0) < 0) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int cmp_kv_key(const void *a, const void *b)
{
    return strcmp(((const struct pk_kv *)a)->key, ((const struct pk_kv *)b)->key);
}

/* Fills c->definition and c->def_keys from the check's mapping. */
static int check_definition(struct loader *L, const yaml_node_t *map, struct pk_check *c)
{
    size_t count = count_pairs(map);
    struct sbuf b = {0};
    if (!(c->def_keys = calloc(count ? count : 1, sizeof *c->def_keys)))
        return fail_at(L, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            return -1;
        struct pk_kv *kv = &c->def_keys[c->n_def_keys];
        if (!(kv->key = strdup(text_of(k))))
            return fail_at(L, k, "out of memory");
        c->n_def_keys++;
        if (!(kv->value = normalised(L, v)))
            return -1;
    }
    qsort(c->def_keys, c->n_def_keys, sizeof *c->def_keys, cmp_kv_key);
    sb_add(&b, "{", 1);
    for (size_t i = 0; i < c->n_def_keys; i++) {
        if (i)
            sb_add(&b, ", ", 2);
        /* Keys are plain names (the loader checked them); quote anything else. */
        if (plain_safe(c->def_keys[i].key, strlen(c->def_keys[i].key)))
            sb_add(&b, c->def_keys[i].key, strlen(c->def_keys[i].key));
        else {
            sb_add(&b, "\"", 1);
            sb_add(&b, c->def_keys[i].key, strlen(c->def_keys[i].key));
            sb_add(&b, "\"", 1);
        }
        sb_add(&b, ": ", 2);
        sb_add(&b, c->def_keys[i].value, strlen(c->def_keys[i].value));
    }
    sb_add(&b, "}", 1);
    if (b.oom) {
        free(b.p);
        return fail_at(L, map, "out of memory");
    }
    c->definition = b.p;
    return 0;
}

/* Fills *c from one entry of `checks`; on error *c is left empty. *name_node
 * gets the node of the name, for duplicate reports. */
static int parse_check(struct loader *L, const yaml_node_t *map, struct pk_check *c, const yaml_node_t **name_node)
{
    const yaml_node_t *timeout_node = NULL, *v;
    memset(c, 0, sizeof *c);
    L->check = NULL;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(L, map, "each entry of 'checks' must be a mapping");
    c->line = (int)map->start_mark.line + 1;
    c->interval_ms = DEFAULT_INTERVAL_MS;
    c->timeout_ms = -1;
    if (!(c->file = strdup(L->origin))) {
        fail_at(L, map, "out of memory");
        goto fail;
    }
    /* The name comes first so every later error can say which check it is in. */
    *name_node = find_value(L, map, "name");
    if (!*name_node) {
        fail_at(L, map, "check has no 'name'");
        goto fail;
    }
    if (get_string(L, *name_node, "name", &c->name) < 0)
        goto fail;
    if (!valid_name(c->name)) {
        fail_at(L, *name_node, "name '%s' must be 1..%d characters of A-Z a-z 0-9 _ . -", c->name, PK_NAME_MAX - 1);
        goto fail;
    }
    L->check = c->name;

    /* Keys: the common ones plus those of the type; the type is read first so an
     * unknown key can be judged, but an unknown key is reported before a missing type. */
    const yaml_node_t *type_node = find_value(L, map, "type");
    size_t t = sizeof type_keys / sizeof *type_keys;
    if (type_node && is_string(type_node))
        for (t = 0; t < sizeof type_keys / sizeof *type_keys; t++)
            if (strcmp(type_keys[t].type, text_of(type_node)) == 0)
                break;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *val = child(L, p->value);
        if (!k || !val)
            goto fail;
        if (!is_string(k)) {
            fail_at(L, k, "keys in check '%s' must be strings", c->name);
            goto fail;
        }
        int known = 0;
        for (size_t i = 0; i < N_COMMON && !known; i++)
            known = strcmp(common_keys[i], text_of(k)) == 0;
        for (size_t i = 0; t < sizeof type_keys / sizeof *type_keys && type_keys[t].keys[i] && !known; i++)
            known = strcmp(type_keys[t].keys[i], text_of(k)) == 0;
        /* Without a known type, any type's key is plausible; judge it later. */
        for (size_t tt = 0; t == sizeof type_keys / sizeof *type_keys && tt < t && !known; tt++)
            for (size_t i = 0; type_keys[tt].keys[i] && !known; i++)
                known = strcmp(type_keys[tt].keys[i], text_of(k)) == 0;
        if (!known) {
            int other = 0;
            for (size_t tt = 0; tt < sizeof type_keys / sizeof *type_keys && !other; tt++)
                for (size_t i = 0; type_keys[tt].keys[i] && !other; i++)
                    other = strcmp(type_keys[tt].keys[i], text_of(k)) == 0;
            if (other)
                fail_at(L, k, "key '%s' does not apply to type %s in check '%s'", text_of(k), type_keys[t].type,
                        c->name);
            else
                fail_at(L, k, "unknown key '%s' in check '%s'", text_of(k), c->name);
            goto fail;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *earlier = yaml_document_get_node(&L->doc, q->key);
            if (earlier && is_string(earlier) && strcmp(text_of(earlier), text_of(k)) == 0) {
                fail_at(L, k, "duplicate key '%s' in check '%s'", text_of(k), c->name);
                goto fail;
            }
        }
    }
    if (!type_node) {
        fail_at(L, map, "check '%s' has no 'type' (known types: " KNOWN_TYPES ")", c->name);
        goto fail;
    }
    if (get_string(L, type_node, "type", &c->type) < 0)
        goto fail;
    if (t == sizeof type_keys / sizeof *type_keys) {
        fail_at(L, type_node, "unknown type '%s' in check '%s' (known types: " KNOWN_TYPES ")", c->type, c->name);
        goto fail;
    }

    if ((v = find_value(L, map, "service")) && get_string(L, v, "service", &c->service) < 0)
        goto fail;
    if ((v = find_value(L, map, "interval"))) {
        if (get_duration(L, v, "interval", "30s", &c->interval_ms) < 0)
            goto fail;
        if (c->interval_ms < MIN_INTERVAL_MS) {
            fail_at(L, v, "'interval' must be at least %dms", MIN_INTERVAL_MS);
            goto fail;
        }
        if (c->interval_ms > MAX_INTERVAL_MS) {
            fail_at(L, v, "'interval' must be at most 7 days");
            goto fail;
        }
    }
    if ((timeout_node = find_value(L, map, "timeout"))) {
        if (get_duration(L, timeout_node, "timeout", "10s", &c->timeout_ms) < 0)
            goto fail;
        if (c->timeout_ms <= 0) {
            fail_at(L, timeout_node, "'timeout' must be more than 0");
            goto fail;
        }
    }
    if ((v = find_value(L, map, "retries"))) {
        long x;
        if (get_int_in(L, v, "retries", 0, MAX_RETRIES, &x) < 0)
            goto fail;
        c->retries = (int)x;
    }
    if ((v = find_value(L, map, "labels")) && get_kv_map(L, v, "labels", KV_LABELS, 0, &c->labels, &c->n_labels) < 0)
        goto fail;
    if ((v = find_value(L, map, "budgets")) && parse_budgets(L, v, &c->budgets) < 0)
        goto fail;
    if ((v = find_value(L, map, "slo")) && parse_slo(L, v, &c->slo) < 0)
        goto fail;
    if ((v = find_value(L, map, "selector")) && parse_selector(L, v, c) < 0)
        goto fail;

    int rc;
    const char *type = c->type;
    if (strcmp(type, "http") == 0)
        rc = parse_http(L, map, c);
    else if (strcmp(type, "flow") == 0)
        rc = parse_flow(L, map, c);
    else if (strcmp(type, "tcp") == 0)
        rc = parse_tcp(L, map, c);
    else if (strcmp(type, "dns") == 0)
        rc = parse_dns(L, map, c);
    else if (strcmp(type, "tls") == 0)
        rc = parse_tls(L, map, c);
    else if (strcmp(type, "grpc") == 0)
        rc = parse_grpc(L, map, c);
    else
        rc = parse_exec(L, map, c);
    if (rc < 0)
        goto fail;
    if (strcmp(type, "http") != 0 && strcmp(type, "flow") != 0 && (v = find_value(L, map, "assert")) &&
        get_asserts(L, v, strcmp(type, "tcp") == 0 || strcmp(type, "exec") == 0 ? AS_OUTPUT : AS_TIME, &c->asserts,
                    &c->n_asserts) < 0)
        goto fail;
    if (c->n_steps && !(c->target = display_target(L, c->steps[0].request.url))) {
        fail_at(L, map, "out of memory");
        goto fail;
    }

    /* An explicit timeout must fit the interval; the default shrinks to fit. */
    if (c->timeout_ms < 0) {
        c->timeout_ms = c->interval_ms < DEFAULT_TIMEOUT_MS ? c->interval_ms : DEFAULT_TIMEOUT_MS;
    } else if (c->timeout_ms > c->interval_ms) {
        fail_at(L, timeout_node, "'timeout' (%lldms) must not exceed 'interval' (%lldms) in check '%s'",
                (long long)c->timeout_ms, (long long)c->interval_ms, c->name);
        goto fail;
    }
    if (check_definition(L, map, c) < 0)
        goto fail;
    L->check = NULL;
    return 0;
fail:
    L->check = NULL;
    check_free(c);
    return -1;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- vars and secrets ---- */

static int reserved_name(const char *s)
{
    static const char *const words[] = {"body", "uuid", "now", "now_unix", "now_ms", "hmac_sha256_hex",
                                        "hmac_sha256_base64", "base64", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcmp(words[i], s) == 0)
            return 1;
    return 0;
}

static struct pk_var_source *find_var(struct loader *L, const char *name)
{
    for (size_t i = 0; i < L->n_vars; i++)
        if (strcmp(L->vars[i].name, name) == 0)
            return &L->vars[i];
    return NULL;
}

static int add_var(struct loader *L, const yaml_node_t *at, const char *name, char *value, int secret)
{
    struct pk_var_source *grown = realloc(L->vars, (L->n_vars + 1) * sizeof *grown);
    if (!grown || !(name = strdup(name))) {
        if (grown)
            L->vars = grown;
        free(value);
        return fail_at(L, at, "out of memory");
    }
    L->vars = grown;
    grown[L->n_vars].name = (char *)name;
    grown[L->n_vars].value = value;
    grown[L->n_vars].secret = secret;
    L->n_vars++;
    return 0;
}

static int var_name_ok(struct loader *L, const yaml_node_t *k, const char *what)
{
    if (L->n_vars >= MAX_VARS)
        return fail_at(L, k, "more than %d variables and secrets", MAX_VARS);
    if (!is_string(k) || !valid_ident(text_of(k)))
        return fail_at(L, k, "%s name '%s' must match [A-Za-z_][A-Za-z0-9_]*", what,
                       is_string(k) ? text_of(k) : "");
    if (reserved_name(text_of(k)))
        return fail_at(L, k, "%s name '%s' is reserved for templates", what, text_of(k));
    if (find_var(L, text_of(k)))
        return fail_at(L, k, "duplicate variable or secret '%s'", text_of(k));
    return 0;
}

static int parse_vars(struct loader *L, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'vars' must be a mapping of name to string");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        char *value = NULL;
        if (!k || !v || var_name_ok(L, k, "variable") < 0)
            return -1;
        if (v->type != YAML_SCALAR_NODE)
            return fail_at(L, v, "variable '%s' must be a string", text_of(k));
        if (is_null(v) && !(value = strdup("")))
            return fail_at(L, v, "out of memory");
        if (!is_null(v) && get_string(L, v, "vars", &value) < 0)
            return -1;
        if (add_var(L, k, text_of(k), value, 0) < 0)
            return -1;
    }
    return 0;
}

/* Reads a secret file; the message names the file, never its contents. */
static int read_secret_file(struct loader *L, const yaml_node_t *at, const char *secret, const char *path,
                            char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_at(L, at, "secret '%s': cannot read file '%s': %s", secret, path, strerror(errno));
    char *buf = malloc(MAX_SECRET_FILE + 1);
    size_t n = 0;
    if (!buf) {
        close(fd);
        return fail_at(L, at, "out of memory");
    }
    for (;;) {
        ssize_t got = read(fd, buf + n, MAX_SECRET_FILE + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return fail_at(L, at, "secret '%s': cannot read file '%s': %s", secret, path, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > MAX_SECRET_FILE) {
            close(fd);
            explicit_bzero(buf, n);
            free(buf);
            return fail_at(L, at, "secret '%s': file '%s' is larger than %zu KiB", secret, path,
                           MAX_SECRET_FILE >> 10);
        }
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        explicit_bzero(buf, n);
        free(buf);
        return fail_at(L, at, "secret '%s': file '%s' contains a NUL byte", secret, path);
    }
    *out = buf;
    return 0;
}

static int parse_secrets(struct loader *L, const yaml_node_t *n)
{
    static const char *const keys[] = {"env", "file", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(L, n, "'secrets' must be a mapping of name to {env: NAME} or {file: PATH}");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v || var_name_ok(L, k, "secret") < 0)
            return -1;
        const char *name = text_of(k);
        if (v->type != YAML_MAPPING_NODE)
            return fail_at(L, v, "secret '%s' must be {env: NAME} or {file: PATH}", name);
        L->check = name;
        int rc = check_keys(L, v, "secret", keys);
        L->check = NULL;
        if (rc < 0)
            return -1;
        const yaml_node_t *env = find_value(L, v, "env"), *file = find_value(L, v, "file");
        if (!env == !file)
            return fail_at(L, v, "secret '%s' must be {env: NAME} or {file: PATH}", name);
        char *source = NULL, *value = NULL;
        if (get_string(L, env ? env : file, env ? "env" : "file", &source) < 0)
            return -1;
        if (L->defer_env) {
            value = strdup(""); /* read on the probe that runs the check */
            if (!value) {
                free(source);
                return fail_at(L, k, "out of memory");
            }
        } else if (env) {
            const char *e = getenv(source);
            if (!e) {
                fail_at(L, env, "secret '%s': environment variable '%s' is not set", name, source);
                free(source);
                return -1;
            }
            value = strdup(e);
            if (!value) {
                free(source);
                return fail_at(L, env, "out of memory");
            }
        } else if (read_secret_file(L, file, name, source, &value) < 0) {
            free(source);
            return -1;
        }
        free(source);
        if (add_var(L, k, name, value, 1) < 0)
            return -1;
    }
    return 0;
}

/* A probe's vars replace file vars of the same name and may add new ones; a
 * secret keeps being treated as one. */
static int apply_overrides(struct loader *L, const yaml_node_t *root, const struct pk_var_overrides *ov)
{
    for (size_t i = 0; ov && i < ov->n_vars; i++) {
        const char *name = ov->vars[i].key, *value = ov->vars[i].value;
        if (!name || !valid_ident(name) || reserved_name(name))
            return fail_at(L, root, "override variable '%s' must match [A-Za-z_][A-Za-z0-9_]* and not be reserved",
                           name ? name : "");
        char *copy = strdup(value ? value : "");
        if (!copy)
            return fail_at(L, root, "out of memory");
        struct pk_var_source *v = find_var(L, name);
        if (v) {
            explicit_bzero(v->value, strlen(v->value));
            free(v->value);
            v->value = copy;
        } else if (add_var(L, root, name, copy, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static int copy_vars(struct loader *L, const yaml_node_t *at, struct pk_check *c)
{
    if (!L->n_vars)
        return 0;
    if (!(c->vars = calloc(L->n_vars, sizeof *c->vars)))
        return fail_at(L, at, "out of memory");
    for (size_t i = 0; i < L->n_vars; i++) {
        c->n_vars = i + 1;
        c->vars[i].name = strdup(L->vars[i].name);
        c->vars[i].value = strdup(L->vars[i].value);
        c->vars[i].secret = L->vars[i].secret;
        if (!c->vars[i].name || !c->vars[i].value)
            return fail_at(L, at, "out of memory");
    }
    return 0;
}

static int parse_root(struct loader *L, const yaml_node_t *root, const struct pk_var_overrides *ov,
                      struct pk_checkset *set)
{
    const yaml_node_t *list = NULL, *vars = NULL, *secrets = NULL;
    size_t *seen_names = NULL; /* open-addressed hash of check index + 1 */
    int rc = -1;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(L, root, "expected a mapping with a 'checks' list at the top level");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            return -1;
        const yaml_node_t **slot = NULL;
        if (is_string(k) && strcmp(text_of(k), "checks") == 0)
            slot = &list;
        else if (is_string(k) && strcmp(text_of(k), "vars") == 0)
            slot = &vars;
        else if (is_string(k) && strcmp(text_of(k), "secrets") == 0)
            slot = &secrets;
        else
            return fail_at(L, k, "unknown top-level key '%s' (expected 'checks', 'vars' or 'secrets')",
                           is_string(k) ? text_of(k) : "");
        if (*slot)
            return fail_at(L, k, "duplicate key '%s'", text_of(k));
        *slot = v;
    }
    if (!list)
        return fail_at(L, root, "missing 'checks' list");
    if (vars && parse_vars(L, vars) < 0)
        return -1;
    if (secrets && parse_secrets(L, secrets) < 0)
        return -1;
    if (vars && !(set->vars_definition = normalised(L, vars)))
        return -1;
    if (secrets && !(set->secrets_definition = normalised(L, secrets)))
        return -1;
    if (apply_overrides(L, root, ov) < 0)
        return -1;
    if (list->type != YAML_SEQUENCE_NODE)
        return fail_at(L, list, "'checks' must be a list");

    size_t count = count_items(list);
    size_t buckets = 2;
    while (buckets < 2 * count)
        buckets *= 2;
    set->checks = calloc(count ? count : 1, sizeof *set->checks);
    seen_names = calloc(buckets, sizeof *seen_names);
    if (!set->checks || !seen_names) {
        fail_at(L, list, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = child(L, list->data.sequence.items.start[i]), *name_node = NULL;
        if (!item)
            goto out;
        struct pk_check *c = &set->checks[set->n_checks];
        if (parse_check(L, item, c, &name_node) < 0)
            goto out;
        set->n_checks++;
        size_t b = (size_t)fnv1a(c->name) & (buckets - 1);
        for (; seen_names[b]; b = (b + 1) & (buckets - 1)) {
            const struct pk_check *first = &set->checks[seen_names[b] - 1];
            if (strcmp(first->name, c->name) == 0) {
                fail_at(L, name_node, "duplicate name '%s' (first defined at line %d)", c->name, first->line);
                goto out;
            }
        }
        seen_names[b] = set->n_checks;
        if (copy_vars(L, item, c) < 0)
            goto out;
    }
    set->vars = L->vars;
    set->n_vars = L->n_vars;
    L->vars = NULL;
    L->n_vars = 0;
    rc = 0;
out:
    free(seen_names);
    return rc;
}

static void syntax_error(struct loader *L, const yaml_parser_t *parser, const char *text, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        snprintf(L->err, L->errlen, "%s: out of memory", L->origin);
        return;
    }
    size_t line = parser->problem_mark.line, col = parser->problem_mark.column;
    /* The reader (encoding) stage only reports a byte offset. */
    if (parser->error == YAML_READER_ERROR) {
        line = col = 0;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            col++;
            if (text[i] == '\n') {
                line++;
                col = 0;
            }
        }
    }
    snprintf(L->err, L->errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", L->origin, line + 1, col + 1,
             parser->problem ? parser->problem : "malformed input", parser->context ? " (" : "",
             parser->context ? parser->context : "", parser->context ? ")" : "");
}

int pk_checkset_load_string_with_vars(const char *text, size_t len, const char *origin,
                                      const struct pk_var_overrides *ov, struct pk_checkset *out, char *err,
                                      size_t errlen)
{
    struct loader L = {.origin = origin ? origin : "<string>",
                       .budget = MAX_EXPANDED_BYTES,
                       .err = err,
                       .errlen = errlen,
                       .defer_env = ov && ov->defer_environment};
    struct pk_checkset set = {0};
    yaml_parser_t parser;
    yaml_document_t extra;
    int parser_ready = 0, doc_ready = 0, rc = -1;

    if (len > max_file_bytes) {
        snprintf(err, errlen, "%s: %zu bytes is over the %zu-byte limit", L.origin, len, max_file_bytes);
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", L.origin);
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &L.doc)) {
        syntax_error(&L, &parser, text, len);
        goto out;
    }
    doc_ready = 1;
    const yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!root) {
        snprintf(err, errlen, "%s:1:1: empty file: expected a mapping with a 'checks' list", L.origin);
        goto out;
    }
    /* A second document would be silently ignored; say so instead. */
    if (!yaml_parser_load(&parser, &extra)) {
        syntax_error(&L, &parser, text, len);
        goto out;
    }
    const yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    if (extra_root)
        fail_at(&L, extra_root, "only one YAML document per file is allowed");
    yaml_document_delete(&extra);
    if (extra_root || parse_root(&L, root, ov, &set) < 0)
        goto out;
    *out = set;
    set = (struct pk_checkset){0};
    rc = 0;
out:
    pk_checkset_free(&set);
    vars_free(L.vars, L.n_vars);
    if (doc_ready)
        yaml_document_delete(&L.doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    return rc;
}

void pk_checkset_set_max_file_bytes(size_t bytes)
{
    max_file_bytes = bytes ? bytes : PK_CHECKS_DEFAULT_MAX_FILE_BYTES;
}

size_t pk_checkset_max_file_bytes(void) { return max_file_bytes; }

/* Reads a whole file of at most max_file_bytes into *text (caller frees). A
 * regular file's size is looked at first, so a huge one is refused unread; a
 * pipe or a file that grows while read is cut off at the limit + 1 byte. */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    size_t cap = 64 << 10, n = 0;
    char *buf = NULL;
    int rc = -1;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > (uintmax_t)max_file_bytes) {
        snprintf(err, errlen, "%s: %jd bytes is over the %zu-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)",
                 path, (intmax_t)st.st_size, max_file_bytes);
        goto out;
    }
    for (;;) {
        if (n == cap || !buf) {
            cap = buf ? cap * 2 : cap;
            if (cap > max_file_bytes + 1)
                cap = max_file_bytes + 1;
            char *grown = realloc(buf, cap);
            if (!grown) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = grown;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max_file_bytes) {
            snprintf(err, errlen, "%s: over the %zu-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)", path,
                     max_file_bytes);
            goto out;
        }
    }
    *text = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int pk_checkset_load_string(const char *text, size_t len, const char *origin, struct pk_checkset *out, char *err,
                            size_t errlen)
{
    return pk_checkset_load_string_with_vars(text, len, origin, NULL, out, err, errlen);
}

int pk_checkset_load_file(const char *path, struct pk_checkset *out, char *err, size_t errlen)
{
    return pk_checkset_load_file_with_vars(path, NULL, out, err, errlen);
}

int pk_checkset_load_file_with_vars(const char *path, const struct pk_var_overrides *ov, struct pk_checkset *out,
                                    char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, err, errlen) < 0)
        return -1;
    int rc = pk_checkset_load_string_with_vars(text, len, path, ov, out, err, errlen);
    free(text);
    return rc;
}

void pk_checkset_free(struct pk_checkset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_checks; i++)
        check_free(&set->checks[i]);
    free(set->checks);
    set->checks = NULL;
    set->n_checks = 0;
    vars_free(set->vars, set->n_vars);
    set->vars = NULL;
    set->n_vars = 0;
    free(set->vars_definition);
    free(set->secrets_definition);
    set->vars_definition = set->secrets_definition = NULL;
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

int pk_check_selects(const struct pk_check *c, const char *region, const struct pk_kv *labels, size_t n_labels)
{
    if (c->n_selector_regions) {
        int found = 0;
        for (size_t i = 0; i < c->n_selector_regions && !found; i++)
            found = region && strcmp(c->selector_regions[i], region) == 0;
        if (!found)
            return 0;
    }
    for (size_t i = 0; i < c->n_selector_labels; i++) {
        int found = 0;
        for (size_t j = 0; j < n_labels && !found; j++)
            found = labels[j].key && labels[j].value && strcmp(labels[j].key, c->selector_labels[i].key) == 0 &&
                    strcmp(labels[j].value, c->selector_labels[i].value) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

size_t pk_checkset_select(struct pk_checkset *set, const char *region, const struct pk_kv *labels, size_t n_labels)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < set->n_checks; i++) {
        if (pk_check_selects(&set->checks[i], region, labels, n_labels)) {
            if (kept != i)
                set->checks[kept] = set->checks[i];
            kept++;
        } else {
            check_free(&set->checks[i]);
            removed++;
        }
    }
    set->n_checks = kept;
    return removed;
}

size_t pk_checkset_select_region(struct pk_checkset *set, const char *region)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < set->n_checks; i++) {
        const struct pk_check *c = &set->checks[i];
        int in = c->n_selector_regions == 0;
        for (size_t k = 0; k < c->n_selector_regions && !in; k++)
            in = strcmp(c->selector_regions[k], region) == 0;
        if (in) {
            if (kept != i)
                set->checks[kept] = set->checks[i];
            kept++;
        } else {
            check_free(&set->checks[i]);
            removed++;
        }
    }
    set->n_checks = kept;
    return removed;
}

int pk_check_same_definition(const struct pk_check *a, const struct pk_check *b)
{
    if (!a->definition || !b->definition || strcmp(a->definition, b->definition) != 0 || a->n_vars != b->n_vars)
        return 0;
    for (size_t i = 0; i < a->n_vars; i++)
        if (strcmp(a->vars[i].name, b->vars[i].name) != 0 || strcmp(a->vars[i].value, b->vars[i].value) != 0 ||
            a->vars[i].secret != b->vars[i].secret)
            return 0;
    return 1;
}
