/* yaml_doc.c: see yaml_doc.h. */
#include "yaml_doc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yaml_doc_load(struct yaml_doc *L, const char *origin, const char *text, size_t len, char *err, size_t errlen)
{
    *L = (struct yaml_doc){.origin = origin, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, &L->doc);
    if (!ok)
        snprintf(err, errlen, "%s:%d:%d: YAML: %s", origin, (int)parser.problem_mark.line + 1,
                 (int)parser.problem_mark.column + 1, parser.problem ? parser.problem : "malformed");
    yaml_parser_delete(&parser);
    return ok ? 0 : -1;
}

void yaml_doc_free(struct yaml_doc *L) { yaml_document_delete(&L->doc); }

int yaml_doc_fail(struct yaml_doc *L, const yaml_node_t *n, const char *fmt, ...)
{
    int line = n ? (int)n->start_mark.line + 1 : 1, col = n ? (int)n->start_mark.column + 1 : 1;
    int k = snprintf(L->err, L->errlen, "%s:%d:%d: ", L->origin, line, col);
    if (k >= 0 && (size_t)k < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

yaml_node_t *yaml_doc_node(struct yaml_doc *L, int id) { return yaml_document_get_node(&L->doc, id); }

const char *yaml_doc_txt(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

int yaml_doc_is_scalar(const yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length > 0; }

int yaml_doc_root_list(struct yaml_doc *L, const struct yaml_doc_list_file *spec, const yaml_node_t **list, size_t *n)
{
    const yaml_node_t *root = yaml_document_get_root_node(&L->doc), *found = NULL;
    *list = NULL;
    *n = 0;
    if (!root || root->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, root, "the %s must be a mapping with a list '%s'", spec->file, spec->key);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        if (!yaml_doc_is_scalar(k) || strcmp(yaml_doc_txt(k), spec->key) != 0)
            return yaml_doc_fail(L, k, "%s: unknown key '%s' (only '%s')", spec->file,
                                 yaml_doc_is_scalar(k) ? yaml_doc_txt(k) : "", spec->key);
        if (found)
            return yaml_doc_fail(L, k, "%s: key '%s' given twice", spec->file, spec->key);
        found = yaml_doc_node(L, p->value);
    }
    size_t items = found && found->type == YAML_SEQUENCE_NODE
                       ? (size_t)(found->data.sequence.items.top - found->data.sequence.items.start)
                       : 0;
    if (!found || found->type != YAML_SEQUENCE_NODE || (!items && !spec->allow_empty))
        return spec->allow_empty
                   ? yaml_doc_fail(L, found ? found : root, "'%s' must be a list (it may be empty: %s: [])", spec->key,
                                   spec->key)
                   : yaml_doc_fail(L, found ? found : root, "'%s' must be a non-empty list", spec->key);
    if (items > spec->max)
        return yaml_doc_fail(L, found, "more than %zu %s", spec->max, spec->items);
    *list = found;
    *n = items;
    return 0;
}

char *yaml_doc_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(YAML_DOC_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, YAML_DOC_FILE_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > YAML_DOC_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, !buf ? "out of memory" : bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
