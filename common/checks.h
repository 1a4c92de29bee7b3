/* checks.h: the check language as parsed data. A check file is YAML:
 *
 *   checks:
 *     - name: rag-health
 *       type: http
 *       url: http://127.0.0.1:8000/health
 *       ...
 *
 * Loading is all-or-nothing: one bad check rejects the whole file with
 * "file:line:column: reason". Owns every string it points at; free with
 * pk_checkset_free(). */
#ifndef PK_CHECKS_H
#define PK_CHECKS_H

#include <stddef.h>
#include <stdint.h>

struct pk_kv {
    char *key;
    char *value;
};

struct pk_check {
    char *name;            /* unique within a set */
    char *type;            /* "http" (more types arrive with the check language) */
    char *file;            /* where it was defined, for error messages */
    int line;
    int64_t interval_ms;   /* default 30000 */
    int64_t timeout_ms;    /* default 10000, never more than interval */
    struct pk_kv *labels;
    size_t n_labels;

    /* http */
    char *url;
    char *method;          /* default "GET" */
    struct pk_kv *headers;
    size_t n_headers;
    char *body;            /* NULL when none */
    int *expect_status;    /* default {200} */
    size_t n_expect_status;
};

struct pk_checkset {
    struct pk_check *checks;
    size_t n_checks;
};

/* Returns 0, or -1 with "path:line:col: reason" in err. *out is untouched on error. */
int pk_checkset_load_file(const char *path, struct pk_checkset *out, char *err, size_t errlen);
/* Same, from memory; `origin` names the input in errors. */
int pk_checkset_load_string(const char *text, size_t len, const char *origin, struct pk_checkset *out,
                            char *err, size_t errlen);
void pk_checkset_free(struct pk_checkset *set);

/* "500ms", "30s", "1m", "2h", combinations like "1m30s", or a plain integer
 * meaning seconds. 0 with *ms set, or -1 (and *ms untouched) when malformed. */
int pk_parse_duration_ms(const char *s, int64_t *ms);

#endif
