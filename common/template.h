/* template.h: the {{ ... }} request templates of the check language.
 *
 * Syntax, inside any string marked (template) in checks.h:
 *
 *   {{ name }}                         a variable (file `vars:`), a secret, or a capture
 *                                      made by an EARLIER flow step; `body` is the
 *                                      expanded request body (headers only)
 *   {{ uuid() }}                       a fresh random UUID v4, lowercase
 *   {{ now() }}                        RFC 3339 UTC, "2026-11-25T10:45:52Z"
 *   {{ now_unix() }}  {{ now_ms() }}   seconds / milliseconds since the epoch
 *   {{ hmac_sha256_hex(secret, data) }}     HMAC-SHA256 keyed by a variable or secret
 *   {{ hmac_sha256_base64(secret, data) }}  (usually a secret), lowercase hex / base64
 *   {{ base64(data) }}                 standard base64 with padding
 *   {{ 'literal' }}                    a quoted string ('...' or "...", \ escapes);
 *                                      {{'{{'}} writes a literal "{{"
 *
 * where `data` is a name (`body`, a variable, a capture) or a quoted string.
 * Whitespace inside {{ }} is free. Text outside {{ }} is copied as is.
 *
 * Use: the loader (checks.c) validates every template at load time with
 * pk_template_validate, so an executor only meets names that exist. An executor
 * renders with pk_check_render (the easy way: vars and secrets come from the
 * check itself, captures and body from the caller) or pk_template_render (any
 * lookup). Errors never contain a variable's or secret's value, only names.
 *
 * How an executor renders a pk_request (checks.h):
 *   url, header values, exec argv/env, tcp host/send, dns name: PK_TEMPLATE_RAW.
 *   body, PK_BODY_RAW: PK_TEMPLATE_RAW.
 *   body, PK_BODY_JSON: PK_TEMPLATE_JSON_STRING (the loader serialized the YAML to
 *     compact JSON and left each {{...}} verbatim inside its JSON string, so the
 *     rendered text is valid JSON whatever the value holds).
 *   form, PK_BODY_FORM: render each value RAW, then url-encode key and value.
 *   headers: render the body first, then pass it as `body` so a header can sign
 *     it ({{hmac_sha256_hex(secret, body)}}).
 *   flow: pass the captures of earlier steps; later entries win on equal names.
 * A FORM request's stored body holds url-encoded text with {{...}} spans left
 * verbatim (rendered RAW, values are not encoded).
 * When *used_secret is set, the rendered text holds a secret: do not log it or
 * put it in a result message. Thread-safe; no global state. */
#ifndef PK_TEMPLATE_H
#define PK_TEMPLATE_H

#include <stddef.h>

struct pk_check;
struct pk_kv;

/* What a name refers to, as a lookup or a validator reports it. */
enum pk_template_name_kind {
    PK_TNAME_UNKNOWN = 0,
    PK_TNAME_VAR = 1,
    PK_TNAME_SECRET = 2,
    PK_TNAME_CAPTURE = 3,
    PK_TNAME_BODY = 4,
};

/* Rendering flags. */
enum {
    PK_TEMPLATE_RAW = 0,
    /* Each inserted value is escaped for the inside of a JSON string ("\"", "\\",
     * control characters as \uXXXX); use it for a PK_BODY_JSON body, whose
     * templates the loader keeps inside JSON string literals. Literal text is
     * copied unchanged. */
    PK_TEMPLATE_JSON_STRING = 1,
};

/* Looks `name` up at render time. Returns its kind (PK_TNAME_*) and sets *value
 * (borrowed; must stay valid until the render call returns), or PK_TNAME_UNKNOWN. */
typedef int (*pk_template_lookup_fn)(void *user, const char *name, const char **value);

/* Renders src into *out (NUL-terminated, caller frees). *used_secret (may be
 * NULL) is set to 1 when a secret's value was used, directly or through hmac.
 * Returns 0, or -1 with a sentence in err ("unknown variable 'x'",
 * "column 12: unknown function 'foo'"); err never holds a value. */
int pk_template_render(const char *src, pk_template_lookup_fn lookup, void *user, int flags, char **out,
                       int *used_secret, char *err, size_t errlen);

/* Checks src's syntax and that every name resolves, without rendering; for the
 * loader. `kind_of` answers with a PK_TNAME_* (values are not needed). On error
 * returns -1, sets *err_offset to the byte offset in src of the offending part
 * (the unknown name or function, or where the syntax goes wrong)
 * and writes a sentence like "unknown variable 'x'" (without location: the caller
 * adds file:line:col and the check name). Returns the number of templates
 * ({{...}} spans) found, so 0 means the string is literal text. */
typedef int (*pk_template_kind_fn)(void *user, const char *name);
int pk_template_validate(const char *src, pk_template_kind_fn kind_of, void *user, size_t *err_offset, char *err,
                         size_t errlen);

/* 1 when src contains "{{" (possibly a template), else 0. */
int pk_template_has_any(const char *src);

/* Renders src for check c: names resolve to, in order, `body` (when body is not
 * NULL), the captures given (flow: those made by earlier steps; may be NULL/0),
 * then c->vars (file vars, overrides and secrets resolved at load). flags as
 * above. Same return, *out and *used_secret rules as pk_template_render. */
int pk_check_render(const struct pk_check *c, const char *src, const struct pk_kv *captures, size_t n_captures,
                    const char *body, int flags, char **out, int *used_secret, char *err, size_t errlen);

/* The primitives, exposed for tests and executors. Each returns 0 or -1. */
/* out gets 36 chars + NUL. */
int pk_template_uuid4(char out[37]);
/* Lowercase hex (64 chars + NUL) of HMAC-SHA256(key, data). */
int pk_template_hmac_sha256_hex(const char *key, size_t keylen, const char *data, size_t datalen, char out[65]);
/* Standard base64 of HMAC-SHA256(key, data): 44 chars + NUL. */
int pk_template_hmac_sha256_base64(const char *key, size_t keylen, const char *data, size_t datalen, char out[45]);
/* Standard base64 with padding; *out allocated, caller frees. */
int pk_template_base64(const char *data, size_t len, char **out);

#endif
