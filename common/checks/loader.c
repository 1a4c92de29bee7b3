/* loader.c: the check language loader's entry points. Reads a check file
 * (bounded in size) through libyaml's document API, walks the top level (checks,
 * vars, secrets), rejects duplicate names, and hands each check to check.c.
 * All-or-nothing: on error everything built so far is freed and *out is
 * untouched. Also selection by region and labels, and definition equality.
 * Never executes a check or opens a socket; never puts a secret's value in an
 * error. */
#include "checks_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A check file larger than this is refused before it is read (a runaway
 * generator or a wrong path must not cost the probe its memory);
 * pk_checkset_set_max_file_bytes raises it (PICKET_MAX_CHECK_FILE_BYTES). */
static size_t max_file_bytes = PK_CHECKS_DEFAULT_MAX_FILE_BYTES;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int parse_root(struct pk_check_loader *L, const yaml_node_t *root, const struct pk_var_overrides *ov,
                      struct pk_checkset *set)
{
    const yaml_node_t *list = NULL, *vars = NULL, *secrets = NULL;
    size_t *seen_names = NULL; /* open-addressed hash of check index + 1 */
    int rc = -1;
    if (root->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, root, "expected a mapping with a 'checks' list at the top level");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        if (!k || !v)
            return -1;
        const yaml_node_t **slot = NULL;
        if (ck_is_string(k) && strcmp(ck_text_of(k), "checks") == 0)
            slot = &list;
        else if (ck_is_string(k) && strcmp(ck_text_of(k), "vars") == 0)
            slot = &vars;
        else if (ck_is_string(k) && strcmp(ck_text_of(k), "secrets") == 0)
            slot = &secrets;
        else
            return ck_fail_at(L, k, "unknown top-level key '%s' (expected 'checks', 'vars' or 'secrets')",
                              ck_is_string(k) ? ck_text_of(k) : "");
        if (*slot)
            return ck_fail_at(L, k, "duplicate key '%s'", ck_text_of(k));
        *slot = v;
    }
    if (!list)
        return ck_fail_at(L, root, "missing 'checks' list");
    if (vars && ck_parse_vars(L, vars) < 0)
        return -1;
    if (secrets && ck_parse_secrets(L, secrets) < 0)
        return -1;
    if (vars && !(set->vars_definition = ck_normalised(L, vars)))
        return -1;
    if (secrets && !(set->secrets_definition = ck_normalised(L, secrets)))
        return -1;
    if (ck_apply_overrides(L, root, ov) < 0)
        return -1;
    if (list->type != YAML_SEQUENCE_NODE)
        return ck_fail_at(L, list, "'checks' must be a list");

    size_t count = ck_count_items(list);
    size_t buckets = 2;
    while (buckets < 2 * count)
        buckets *= 2;
    set->checks = calloc(count ? count : 1, sizeof *set->checks);
    seen_names = calloc(buckets, sizeof *seen_names);
    if (!set->checks || !seen_names) {
        ck_fail_at(L, list, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = ck_child(L, list->data.sequence.items.start[i]), *name_node = NULL;
        if (!item)
            goto out;
        struct pk_check *c = &set->checks[set->n_checks];
        if (ck_parse_check(L, item, c, &name_node) < 0)
            goto out;
        set->n_checks++;
        size_t b = (size_t)fnv1a(c->name) & (buckets - 1);
        for (; seen_names[b]; b = (b + 1) & (buckets - 1)) {
            const struct pk_check *first = &set->checks[seen_names[b] - 1];
            if (strcmp(first->name, c->name) == 0) {
                ck_fail_at(L, name_node, "duplicate name '%s' (first defined at line %d)", c->name, first->line);
                goto out;
            }
        }
        seen_names[b] = set->n_checks;
        if (ck_copy_vars(L, item, c) < 0)
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

static void syntax_error(struct pk_check_loader *L, const yaml_parser_t *parser, const char *text, size_t len)
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
    struct pk_check_loader L = {.origin = origin ? origin : "<string>",
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
        ck_fail_at(&L, extra_root, "only one YAML document per file is allowed");
    yaml_document_delete(&extra);
    if (extra_root || parse_root(&L, root, ov, &set) < 0)
        goto out;
    *out = set;
    set = (struct pk_checkset){0};
    rc = 0;
out:
    pk_checkset_free(&set);
    ck_vars_free(L.vars, L.n_vars);
    if (doc_ready)
        yaml_document_delete(&L.doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    return rc;
}

void pk_checkset_set_max_file_bytes(size_t bytes) { max_file_bytes = bytes ? bytes : PK_CHECKS_DEFAULT_MAX_FILE_BYTES; }

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
        ck_check_free(&set->checks[i]);
    free(set->checks);
    set->checks = NULL;
    set->n_checks = 0;
    ck_vars_free(set->vars, set->n_vars);
    set->vars = NULL;
    set->n_vars = 0;
    free(set->vars_definition);
    free(set->secrets_definition);
    set->vars_definition = set->secrets_definition = NULL;
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

/* Which probe a selection is for; region_only ignores label selectors. */
struct selection {
    const char *region;
    const struct pk_kv *labels;
    size_t n_labels;
    int region_only;
};

static int selected(const struct pk_check *c, const struct selection *s)
{
    if (!s->region_only)
        return pk_check_selects(c, s->region, s->labels, s->n_labels);
    int in = c->n_selector_regions == 0;
    for (size_t k = 0; k < c->n_selector_regions && !in; k++)
        in = strcmp(c->selector_regions[k], s->region) == 0;
    return in;
}

/* Frees and removes the checks the selection does not select; returns how many. */
static size_t keep_selected(struct pk_checkset *set, const struct selection *s)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < set->n_checks; i++) {
        if (selected(&set->checks[i], s)) {
            if (kept != i)
                set->checks[kept] = set->checks[i];
            kept++;
        } else {
            ck_check_free(&set->checks[i]);
            removed++;
        }
    }
    set->n_checks = kept;
    return removed;
}

size_t pk_checkset_select(struct pk_checkset *set, const char *region, const struct pk_kv *labels, size_t n_labels)
{
    const struct selection s = {.region = region, .labels = labels, .n_labels = n_labels};
    return keep_selected(set, &s);
}

size_t pk_checkset_select_region(struct pk_checkset *set, const char *region)
{
    const struct selection s = {.region = region, .region_only = 1};
    return keep_selected(set, &s);
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
