/* yaml_doc.h: what Picket's YAML files share (the collector's --alerts and --slos,
 * the probe's configuration): loading a file of at most 1 MiB into a libyaml
 * document, and errors that name FILE:LINE:COL of the node at fault. Each file's own
 * keys are parsed by its module. */
#ifndef PK_YAML_DOC_H
#define PK_YAML_DOC_H

#include <stddef.h>
#include <yaml.h>

#define YAML_DOC_FILE_MAX (1 << 20)

struct yaml_doc {
    const char *origin; /* the file name errors start with */
    yaml_document_t doc;
    char *err;
    size_t errlen;
};

/* Parses text into L->doc: 0, or -1 with "ORIGIN:LINE:COL: YAML: problem" in
 * err (and nothing to free). */
int yaml_doc_load(struct yaml_doc *L, const char *origin, const char *text, size_t len, char *err, size_t errlen);
void yaml_doc_free(struct yaml_doc *L);

/* "ORIGIN:LINE:COL: message" for node n (line 1 when n is NULL); returns -1. */
int yaml_doc_fail(struct yaml_doc *L, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

yaml_node_t *yaml_doc_node(struct yaml_doc *L, int id);
const char *yaml_doc_txt(const yaml_node_t *n);          /* a scalar's text */
int yaml_doc_is_scalar(const yaml_node_t *n);            /* a non-empty scalar */

/* A file that is a mapping with one key holding a list (`slos:`, `windows:`). */
struct yaml_doc_list_file {
    const char *file;  /* what errors call the file: "SLO file" */
    const char *key;   /* the one key: "slos" */
    const char *items; /* what errors call the items: "SLOs" */
    size_t max;        /* more items than this is an error */
    int allow_empty;   /* 1: `key: []` is a list of none */
};
/* The list under spec->key at L's root: 0 with the node in *list and its length
 * in *n, or -1 with FILE:LINE:COL of the node at fault in L's err (a root that is
 * not a mapping, another or a repeated key, no list, an empty one unless
 * allow_empty, more than max items). */
int yaml_doc_root_list(struct yaml_doc *L, const struct yaml_doc_list_file *spec, const yaml_node_t **list, size_t *n);

/* The whole file, NUL-terminated, malloc'd; NULL with "PATH: why" in err when it
 * cannot be read or is larger than YAML_DOC_FILE_MAX. */
char *yaml_doc_read_file(const char *path, size_t *len, char *err, size_t errlen);

#endif
