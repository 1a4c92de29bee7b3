/* checks_int.h: private to common/checks/, the check language loader's family:
 * loader.c walks the file, check.c reads one check's shared keys, types.c is
 * the table of types, parse_<type>.c reads each type's options, and
 * assertions.c, vars.c, nodes.c and yaml_text.c serve them. The public face
 * stays common/checks.h; nothing outside common/checks/ includes this file.
 * Names shared between the family's files carry the ck_ prefix. */
#ifndef PK_CHECKS_INT_H
#define PK_CHECKS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "buf.h"
#include "checks.h"
#include "result.h"
#include "template.h"

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

struct flow_capture_name {
    const char *name; /* borrowed from the YAML document */
    size_t step;
    const char *step_name;
};

struct pk_check_loader {
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
    size_t step; /* captures of steps < step are visible */
    int allow_body;
    int defer_env; /* pk_var_overrides.defer_environment */
};

enum kv_mode { KV_HEADERS, KV_LABELS, KV_ENV, KV_FORM };

enum assert_set { AS_HTTP, AS_OUTPUT, AS_TIME };

/* Texts made from the document (JSON bodies, definitions) are bounded by the
 * document's own bounds, not by the buffer's default cap. */
#define CK_TEXT_MAX (SIZE_MAX / 2)

/* nodes.c */
__attribute__((format(printf, 3, 4))) int ck_fail_at(struct pk_check_loader *L, const yaml_node_t *node,
                                                     const char *fmt, ...);
__attribute__((format(printf, 4, 5))) int ck_fail_at_pos(struct pk_check_loader *L, int line, int col, const char *fmt,
                                                         ...);
yaml_node_t *ck_child(struct pk_check_loader *L, int id);
const char *ck_text_of(const yaml_node_t *n);
int ck_is_null(const yaml_node_t *n);
int ck_is_string(const yaml_node_t *n);
int ck_has_control(const char *s);
size_t ck_count_pairs(const yaml_node_t *map);
size_t ck_count_items(const yaml_node_t *seq);
const char *ck_in_check(struct pk_check_loader *L);
int ck_get_string(struct pk_check_loader *L, const yaml_node_t *n, const char *what, char **out);
int ck_get_int(const yaml_node_t *n, long min, long max, long *out);
int ck_get_int_in(struct pk_check_loader *L, const yaml_node_t *n, const char *what, long min, long max, long *out);
int ck_get_number(struct pk_check_loader *L, const yaml_node_t *n, const char *what, double *out);
int ck_get_bool(struct pk_check_loader *L, const yaml_node_t *n, const char *what, int *out);
int ck_get_duration(struct pk_check_loader *L, const yaml_node_t *n, const char *what, const char *example,
                    int64_t *ms);
int ck_get_size(struct pk_check_loader *L, const yaml_node_t *n, const char *what, int64_t *out);
int ck_valid_name(const char *s);
int ck_valid_header_name(const char *s);
int ck_valid_ident(const char *s);
void ck_free_kvs(struct pk_kv *kv, size_t n);
void ck_free_strv(char **v, size_t n);
int ck_check_keys(struct pk_check_loader *L, const yaml_node_t *map, const char *where, const char *const *allowed);
const yaml_node_t *ck_find_value(struct pk_check_loader *L, const yaml_node_t *map, const char *key);
const yaml_node_t *ck_find_key(struct pk_check_loader *L, const yaml_node_t *map, const char *key);
int ck_get_kv_map(struct pk_check_loader *L, const yaml_node_t *map, const char *what, enum kv_mode mode, int templated,
                  struct pk_kv **out, size_t *n_out);
const yaml_node_t *ck_options_block(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                                    const char *const *keys);
int ck_get_port(struct pk_check_loader *L, const yaml_node_t *o, int required, int *port);
int ck_host_port_target(struct pk_check_loader *L, const yaml_node_t *at, struct pk_check *c, const char *host,
                        int port);

/* vars.c */
int ck_substitute_env(struct pk_check_loader *L, const yaml_node_t *n, const char *src, char **out);
int ck_get_template(struct pk_check_loader *L, const yaml_node_t *n, const char *what, char **out);
void ck_vars_free(struct pk_var_source *v, size_t n);
char *ck_display_target(struct pk_check_loader *L, const char *src);
int ck_parse_vars(struct pk_check_loader *L, const yaml_node_t *n);
int ck_parse_secrets(struct pk_check_loader *L, const yaml_node_t *n);
int ck_apply_overrides(struct pk_check_loader *L, const yaml_node_t *root, const struct pk_var_overrides *ov);
int ck_copy_vars(struct pk_check_loader *L, const yaml_node_t *at, struct pk_check *c);

/* assertions.c */
int ck_compile_regex(struct pk_check_loader *L, const yaml_node_t *n, const char *src, void **out);
void ck_free_regex(void *re);
/* jq_guard.c: 0 when jq 1.6 may parse the program SRC, -1 with the reason in WHY
 * when it must be turned away first (its parser leaks on errors inside strings). */
int ck_jq_guard(const char *src, char *why, size_t whylen);
void ck_asserts_free(struct pk_assertion *a, size_t n);
int ck_get_status_spec(struct pk_check_loader *L, const yaml_node_t *n, struct pk_assertion *a);
int ck_get_asserts(struct pk_check_loader *L, const yaml_node_t *n, enum assert_set allowed, struct pk_assertion **out,
                   size_t *n_out);
void ck_captures_free(struct pk_capture *c, size_t n);
void ck_extracts_free(struct pk_extraction *e, size_t n);
int ck_get_captures(struct pk_check_loader *L, const yaml_node_t *n, struct pk_step *s);
int ck_get_extracts(struct pk_check_loader *L, const yaml_node_t *n, struct pk_step *s, const struct pk_step *earlier,
                    size_t n_earlier);

/* yaml_text.c */
int ck_to_json(struct pk_check_loader *L, const yaml_node_t *n, struct pk_buf *b, int depth);
char *ck_normalised(struct pk_check_loader *L, const yaml_node_t *n);
int ck_check_definition(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);

/* One parse_<type>.c each: the row's parse and free (types.c). A parse fn
 * reads the type's options into c, sets c->target and reads any check-level
 * `assert:` (ck_check_asserts); the loader has read the shared keys. Loader
 * state is (struct pk_check_loader *) and the map a (const yaml_node_t *). */
int ck_parse_http(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_http(struct pk_check *c);
int ck_parse_flow(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_flow(struct pk_check *c);
int ck_parse_tcp(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_tcp(struct pk_check *c);
int ck_parse_dns(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_dns(struct pk_check *c);
int ck_parse_tls(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_tls(struct pk_check *c);
int ck_parse_grpc(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_grpc(struct pk_check *c);
int ck_parse_exec(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c);
void ck_free_exec(struct pk_check *c);

/* parse_http.c, shared with flow */
void ck_step_free(struct pk_step *s);
int ck_parse_step(struct pk_check_loader *L, const yaml_node_t *n, size_t index, struct pk_step *steps);
/* parse_flow.c: c->target from the first step's URL. */
int ck_step_target(struct pk_check_loader *L, const yaml_node_t *map, const struct pk_step *first, struct pk_check *c);

/* check.c */
void ck_check_free(struct pk_check *c);
/* The check-level `assert:` of tcp dns tls grpc exec, when present. */
int ck_check_asserts(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c, enum assert_set allowed);
int ck_parse_check(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                   const yaml_node_t **name_node);

#endif
