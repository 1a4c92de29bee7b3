/* checks.c: the check language loader. Reads a YAML check file through
 * libyaml's document API into a struct pk_checkset, applying every rule and
 * default of the language, and points each error a user can cause at the exact
 * node as "file:line:col: reason". All-or-nothing: on error everything built so
 * far is freed and *out is untouched. Never executes a check or opens a socket. */
#include "checks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "result.h"

#define MAX_FILE_BYTES ((size_t)16 << 20)
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
/* Grows with the language: checks.c knows each type's keys, the probe's
 * registry knows how to run them. */
#define KNOWN_TYPES "http"

struct loader {
    const char *origin;
    yaml_document_t doc;
    int64_t budget;
    char *err;
    size_t errlen;
};

enum check_key {
    KEY_NAME,
    KEY_TYPE,
    KEY_URL,
    KEY_METHOD,
    KEY_HEADERS,
    KEY_BODY,
    KEY_EXPECT_STATUS,
    KEY_INTERVAL,
    KEY_TIMEOUT,
    KEY_LABELS,
    KEY_COUNT
};

static const char *const check_keys[KEY_COUNT] = {
    "name", "type", "url", "method", "headers", "body", "expect_status", "interval", "timeout", "labels",
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

/* A fresh copy of a string scalar in *out (caller frees). */
static int get_string(struct loader *L, const yaml_node_t *n, const char *what, char **out)
{
    if (!is_string(n))
        return fail_at(L, n, "'%s' must be a string", what);
    if (memchr(text_of(n), '\0', n->data.scalar.length))
        return fail_at(L, n, "'%s' contains a NUL byte", what);
    *out = strdup(text_of(n));
    if (!*out)
        return fail_at(L, n, "out of memory");
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
    if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int get_duration(struct loader *L, const yaml_node_t *n, const char *what, const char *example, int64_t *ms)
{
    if (!is_string(n))
        return fail_at(L, n, "'%s' must be a duration like %s", what, example);
    if (pk_parse_duration_ms(text_of(n), ms) < 0)
        return fail_at(L, n, "'%s' must be a duration like %s, got '%s'", what, example, text_of(n));
    return 0;
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

/* Prometheus label-name rules, since labels end up on /metrics. */
static int valid_label_key(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = strlen(s);
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void free_kvs(struct pk_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/* headers (is_headers) or labels: a mapping of string to string. */
static int get_kv_map(struct loader *L, const yaml_node_t *map, const char *what, int is_headers, struct pk_kv **out,
                      size_t *n_out)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(L, map, "'%s' must be a mapping of strings", what);
    size_t count = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    size_t limit = is_headers ? MAX_HEADERS : MAX_LABELS;
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
        if (!is_string(k) || !is_string(v)) {
            fail_at(L, is_string(k) ? v : k, "'%s' must be a mapping of strings", what);
            goto fail;
        }
        if (get_string(L, k, what, &kv[n].key) < 0 || get_string(L, v, what, &kv[n].value) < 0) {
            n++; /* so the half-filled entry is freed too */
            goto fail;
        }
        n++;
        const char *key = kv[n - 1].key;
        if (is_headers ? !valid_header_name(key) : !valid_label_key(key)) {
            fail_at(L, k,
                    is_headers ? "invalid header name '%s'" : "invalid label key '%s' (want [A-Za-z_][A-Za-z0-9_]*)",
                    key);
            goto fail;
        }
        /* A CR or LF in a header value would forge extra headers; in a label, extra log lines. */
        if (has_control(kv[n - 1].value)) {
            fail_at(L, v, "'%s' value for '%s' contains a control character", what, key);
            goto fail;
        }
        for (size_t i = 0; i + 1 < n; i++)
            if ((is_headers ? strcasecmp(kv[i].key, key) : strcmp(kv[i].key, key)) == 0) {
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

static int get_expect_status(struct loader *L, const yaml_node_t *n, struct pk_check *c)
{
    static const char reason[] = "'expect_status' must be an HTTP status (100..599) or a list of them";
    const yaml_node_t *one = n;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
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

static void check_free(struct pk_check *c)
{
    free(c->name);
    free(c->type);
    free(c->file);
    free_kvs(c->labels, c->n_labels);
    free(c->url);
    free(c->method);
    free_kvs(c->headers, c->n_headers);
    free(c->body);
    free(c->expect_status);
    memset(c, 0, sizeof *c);
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

/* Fills *c from one entry of `checks`; on error *c is left empty. *name_node
 * gets the node of the name, for duplicate reports. */
static int parse_check(struct loader *L, const yaml_node_t *map, struct pk_check *c, const yaml_node_t **name_node)
{
    const yaml_node_t *timeout_node = NULL;
    unsigned seen = 0;
    memset(c, 0, sizeof *c);
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

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            goto fail;
        if (!is_string(k)) {
            fail_at(L, k, "keys in check '%s' must be strings", c->name);
            goto fail;
        }
        int key = 0;
        while (key < KEY_COUNT && strcmp(text_of(k), check_keys[key]) != 0)
            key++;
        if (key == KEY_COUNT) {
            fail_at(L, k, "unknown key '%s' in check '%s'", text_of(k), c->name);
            goto fail;
        }
        if (seen & (1u << key)) {
            fail_at(L, k, "duplicate key '%s' in check '%s'", text_of(k), c->name);
            goto fail;
        }
        seen |= 1u << key;
        int rc = 0;
        switch ((enum check_key)key) {
        case KEY_NAME:
            break;
        case KEY_TYPE:
            if ((rc = get_string(L, v, "type", &c->type)) == 0 && strcmp(c->type, "http") != 0)
                rc = fail_at(L, v, "unknown type '%s' in check '%s' (known types: " KNOWN_TYPES ")", c->type, c->name);
            break;
        case KEY_URL:
            if ((rc = get_string(L, v, "url", &c->url)) < 0)
                break;
            if (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)
                rc = fail_at(L, v, "'url' must start with http:// or https://");
            else if (strpbrk(c->url, " ") || has_control(c->url))
                rc = fail_at(L, v, "'url' must not contain spaces or control characters");
            break;
        case KEY_METHOD:
            if ((rc = get_string(L, v, "method", &c->method)) == 0 &&
                (!c->method[0] || strlen(c->method) > 32 ||
                 strspn(c->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(c->method)))
                rc = fail_at(L, v, "'method' must be uppercase letters, like GET or POST");
            break;
        case KEY_HEADERS:
            rc = get_kv_map(L, v, "headers", 1, &c->headers, &c->n_headers);
            break;
        case KEY_BODY:
            rc = get_string(L, v, "body", &c->body);
            break;
        case KEY_EXPECT_STATUS:
            rc = get_expect_status(L, v, c);
            break;
        case KEY_INTERVAL:
            if ((rc = get_duration(L, v, "interval", "30s", &c->interval_ms)) < 0)
                break;
            if (c->interval_ms < MIN_INTERVAL_MS)
                rc = fail_at(L, v, "'interval' must be at least %dms", MIN_INTERVAL_MS);
            else if (c->interval_ms > MAX_INTERVAL_MS)
                rc = fail_at(L, v, "'interval' must be at most 7 days");
            break;
        case KEY_TIMEOUT:
            timeout_node = v;
            if ((rc = get_duration(L, v, "timeout", "10s", &c->timeout_ms)) == 0 && c->timeout_ms <= 0)
                rc = fail_at(L, v, "'timeout' must be more than 0");
            break;
        case KEY_LABELS:
            rc = get_kv_map(L, v, "labels", 0, &c->labels, &c->n_labels);
            break;
        case KEY_COUNT:
            break;
        }
        if (rc < 0)
            goto fail;
    }

    if (!c->type) {
        fail_at(L, map, "check '%s' has no 'type' (known types: " KNOWN_TYPES ")", c->name);
        goto fail;
    }
    if (!c->url) {
        fail_at(L, map, "check '%s' of type http has no 'url'", c->name);
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
    if (!c->method && !(c->method = strdup("GET"))) {
        fail_at(L, map, "out of memory");
        goto fail;
    }
    if (!c->expect_status) {
        if (!(c->expect_status = malloc(sizeof *c->expect_status))) {
            fail_at(L, map, "out of memory");
            goto fail;
        }
        c->expect_status[0] = 200;
        c->n_expect_status = 1;
    }
    return 0;
fail:
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

static int parse_root(struct loader *L, const yaml_node_t *root, struct pk_checkset *set)
{
    const yaml_node_t *list = NULL;
    size_t *seen_names = NULL; /* open-addressed hash of check index + 1 */
    int rc = -1;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(L, root, "expected a mapping with a 'checks' list at the top level");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = child(L, p->key), *v = child(L, p->value);
        if (!k || !v)
            return -1;
        if (!is_string(k) || strcmp(text_of(k), "checks") != 0)
            return fail_at(L, k, "unknown top-level key '%s' (expected 'checks')", is_string(k) ? text_of(k) : "");
        if (list)
            return fail_at(L, k, "duplicate key 'checks'");
        list = v;
    }
    if (!list)
        return fail_at(L, root, "missing 'checks' list");
    if (list->type != YAML_SEQUENCE_NODE)
        return fail_at(L, list, "'checks' must be a list");

    size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
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
    }
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

int pk_checkset_load_string(const char *text, size_t len, const char *origin, struct pk_checkset *out, char *err,
                            size_t errlen)
{
    struct loader L = {
        .origin = origin ? origin : "<string>", .budget = MAX_EXPANDED_BYTES, .err = err, .errlen = errlen};
    struct pk_checkset set = {0};
    yaml_parser_t parser;
    yaml_document_t extra;
    int parser_ready = 0, doc_ready = 0, rc = -1;

    if (len > MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: larger than %zu MiB", L.origin, MAX_FILE_BYTES >> 20);
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
    if (extra_root || parse_root(&L, root, &set) < 0)
        goto out;
    *out = set;
    set = (struct pk_checkset){0};
    rc = 0;
out:
    pk_checkset_free(&set);
    if (doc_ready)
        yaml_document_delete(&L.doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    return rc;
}

/* Reads a whole file of at most MAX_FILE_BYTES into *text (caller frees). */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    size_t cap = 64 << 10, n = 0;
    char *buf = NULL;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (n == cap || !buf) {
            cap = buf ? cap * 2 : cap;
            if (cap > MAX_FILE_BYTES + 1)
                cap = MAX_FILE_BYTES + 1;
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
        if (n > MAX_FILE_BYTES) {
            snprintf(err, errlen, "%s: larger than %zu MiB", path, MAX_FILE_BYTES >> 20);
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

int pk_checkset_load_file(const char *path, struct pk_checkset *out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, err, errlen) < 0)
        return -1;
    int rc = pk_checkset_load_string(text, len, path, out, err, errlen);
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
