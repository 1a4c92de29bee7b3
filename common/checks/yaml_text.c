/* yaml_text.c: YAML nodes written out as text: a request's `json:` block as
 * compact JSON (strings stay templates) and a check's normalised one-line flow
 * YAML definition, which the collector compares to tell changed checks apart.
 * Pure functions of the document; never reads the environment. */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Writes s escaped for a JSON string, leaving {{template}} spans verbatim for
 * the executor to render (with JSON escaping of what they produce). */
static void add_json_template(struct pk_buf *b, const char *s)
{
    for (size_t i = 0; s[i];) {
        if (s[i] == '{' && s[i + 1] == '{') {
            size_t end = span_end(s, i);
            pk_buf_add(b, s + i, end - i);
            i = end;
            continue;
        }
        size_t j = i;
        while (s[j] && !(s[j] == '{' && s[j + 1] == '{'))
            j++;
        pk_buf_add_json_chars(b, s + i, j - i);
        i = j;
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

/* A sequence node as "[e1<sep>e2...]", each item written by emit at depth + 1. */
static int emit_sequence(struct pk_check_loader *L, const yaml_node_t *n, struct pk_buf *b, int depth,
                         const char *sep,
                         int (*emit)(struct pk_check_loader *L, const yaml_node_t *n, struct pk_buf *b, int depth))
{
    pk_buf_add(b, "[", 1);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *v = ck_child(L, *it);
        if (!v)
            return -1;
        if (it != n->data.sequence.items.start)
            pk_buf_add(b, sep, strlen(sep));
        if (emit(L, v, b, depth + 1) < 0)
            return -1;
    }
    pk_buf_add(b, "]", 1);
    return 0;
}

/* Serializes any YAML node to compact JSON; string scalars are (template). */
int ck_to_json(struct pk_check_loader *L, const yaml_node_t *n, struct pk_buf *b, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return ck_fail_at(L, n, "'json' nests deeper than %d levels", MAX_JSON_DEPTH);
    if (n->type == YAML_MAPPING_NODE) {
        if (ck_count_pairs(n) > MAX_JSON_KEYS)
            return ck_fail_at(L, n, "a mapping in 'json' has more than %d keys", MAX_JSON_KEYS);
        pk_buf_add(b, "{", 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
            if (!k || !v)
                return -1;
            if (k->type != YAML_SCALAR_NODE)
                return ck_fail_at(L, k, "keys in 'json' must be strings in check '%s'", ck_in_check(L));
            for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
                const yaml_node_t *e = yaml_document_get_node(&L->doc, q->key);
                if (e && e->type == YAML_SCALAR_NODE && strcmp(ck_text_of(e), ck_text_of(k)) == 0)
                    return ck_fail_at(L, k, "duplicate key '%s' in 'json' of check '%s'", ck_text_of(k),
                                      ck_in_check(L));
            }
            if (p != n->data.mapping.pairs.start)
                pk_buf_add(b, ",", 1);
            char *key = NULL;
            if (ck_get_template(L, k, "json", &key) < 0)
                return -1;
            pk_buf_add(b, "\"", 1);
            add_json_template(b, key);
            pk_buf_add(b, "\":", 2);
            free(key);
            if (ck_to_json(L, v, b, depth + 1) < 0)
                return -1;
        }
        pk_buf_add(b, "}", 1);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        if (emit_sequence(L, n, b, depth, ",", ck_to_json) < 0)
            return -1;
    } else {
        const char *s = ck_text_of(n);
        if (ck_is_null(n)) {
            pk_buf_add(b, "null", 4);
        } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                   (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 || is_json_number(s))) {
            pk_buf_add(b, s, strlen(s));
        } else {
            char *str = NULL;
            if (ck_get_template(L, n, "json", &str) < 0)
                return -1;
            pk_buf_add(b, "\"", 1);
            add_json_template(b, str);
            pk_buf_add(b, "\"", 1);
            free(str);
        }
    }
    return b->failed ? ck_fail_at(L, n, "out of memory") : 0;
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
    if (s[0] == '-' &&
        (len == 1 || !((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z'))))
        return 0;
    return 1;
}

/* Writes node n as flow YAML that loads back to the same nodes: plain scalars
 * stay plain (so 5, true and null keep their meaning), every other scalar is
 * double-quoted. Aliases are expanded (charged to the budget like any read). */
static int emit_flow(struct pk_check_loader *L, const yaml_node_t *n, struct pk_buf *b, int depth)
{
    if (depth > MAX_JSON_DEPTH)
        return ck_fail_at(L, n, "nests deeper than %d levels", MAX_JSON_DEPTH);
    if (n->type == YAML_MAPPING_NODE) {
        pk_buf_add(b, "{", 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
            if (!k || !v)
                return -1;
            if (p != n->data.mapping.pairs.start)
                pk_buf_add(b, ", ", 2);
            if (emit_flow(L, k, b, depth + 1) < 0)
                return -1;
            pk_buf_add(b, ": ", 2);
            if (emit_flow(L, v, b, depth + 1) < 0)
                return -1;
        }
        pk_buf_add(b, "}", 1);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        if (emit_sequence(L, n, b, depth, ", ", emit_flow) < 0)
            return -1;
    } else {
        const char *s = ck_text_of(n);
        size_t len = n->data.scalar.length;
        if (ck_is_null(n)) {
            pk_buf_add(b, "null", 4);
        } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && plain_safe(s, len)) {
            pk_buf_add(b, s, len);
        } else {
            pk_buf_add(b, "\"", 1);
            for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                char esc[8];
                if (ch == '"' || ch == '\\') {
                    esc[0] = '\\';
                    esc[1] = (char)ch;
                    pk_buf_add(b, esc, 2);
                } else if (ch < 0x20 || ch == 0x7f) {
                    snprintf(esc, sizeof esc, "\\x%02x", ch);
                    pk_buf_add(b, esc, 4);
                } else {
                    pk_buf_add(b, (const char *)&ch, 1);
                }
            }
            pk_buf_add(b, "\"", 1);
        }
    }
    return b->failed ? ck_fail_at(L, n, "out of memory") : 0;
}

/* The normalised text of a node (caller frees), or NULL with the error set. */
char *ck_normalised(struct pk_check_loader *L, const yaml_node_t *n)
{
    struct pk_buf b;
    pk_buf_init(&b, CK_TEXT_MAX);
    if (emit_flow(L, n, &b, 0) < 0) {
        pk_buf_free(&b);
        return NULL;
    }
    return pk_buf_take(&b);
}

static int cmp_kv_key(const void *a, const void *b)
{
    return strcmp(((const struct pk_kv *)a)->key, ((const struct pk_kv *)b)->key);
}

/* Fills c->definition and c->def_keys from the check's mapping. */
int ck_check_definition(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    size_t count = ck_count_pairs(map);
    struct pk_buf b;
    pk_buf_init(&b, CK_TEXT_MAX);
    if (!(c->def_keys = calloc(count ? count : 1, sizeof *c->def_keys)))
        return ck_fail_at(L, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        if (!k || !v)
            return -1;
        struct pk_kv *kv = &c->def_keys[c->n_def_keys];
        if (!(kv->key = strdup(ck_text_of(k))))
            return ck_fail_at(L, k, "out of memory");
        c->n_def_keys++;
        if (!(kv->value = ck_normalised(L, v)))
            return -1;
    }
    qsort(c->def_keys, c->n_def_keys, sizeof *c->def_keys, cmp_kv_key);
    pk_buf_add(&b, "{", 1);
    for (size_t i = 0; i < c->n_def_keys; i++) {
        if (i)
            pk_buf_add(&b, ", ", 2);
        /* Keys are plain names (the loader checked them); quote anything else. */
        if (plain_safe(c->def_keys[i].key, strlen(c->def_keys[i].key)))
            pk_buf_add(&b, c->def_keys[i].key, strlen(c->def_keys[i].key));
        else {
            pk_buf_add(&b, "\"", 1);
            pk_buf_add(&b, c->def_keys[i].key, strlen(c->def_keys[i].key));
            pk_buf_add(&b, "\"", 1);
        }
        pk_buf_add(&b, ": ", 2);
        pk_buf_add(&b, c->def_keys[i].value, strlen(c->def_keys[i].value));
    }
    pk_buf_add(&b, "}", 1);
    if (!(c->definition = pk_buf_take(&b)))
        return ck_fail_at(L, map, "out of memory");
    return 0;
}
