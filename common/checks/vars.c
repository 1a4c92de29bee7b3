/* vars.c: ${ENV} substitution, {{template}} validation against the variables,
 * captures and functions in scope, and the file's `vars:` and `secrets:` blocks
 * with per-probe overrides. Never puts a secret's value in an error or a target. */
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

/* Resolves the ${NAME} or ${NAME:-default} that starts at p: *value is the
 * environment's value, the default (then *fallback owns it) or "" when the
 * environment is deferred; *next points after the closing brace. */
static int env_reference(struct pk_check_loader *L, const yaml_node_t *n, const char *src, const char *p,
                         const char **value, char **fallback, const char **next)
{
    const char *name = p + 2, *end = strchr(name, '}');
    size_t name_len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (!end || name_len == 0 || (name[0] >= '0' && name[0] <= '9') ||
        (name[name_len] != '}' && strncmp(name + name_len, ":-", 2) != 0))
        return ck_fail_at(L, n, "malformed '${' in '%s': write ${NAME} or ${NAME:-default}", src);
    char var[256];
    if (name_len >= sizeof var)
        return ck_fail_at(L, n, "environment variable name too long");
    memcpy(var, name, name_len);
    var[name_len] = '\0';
    *value = getenv(var);
    if (name[name_len] == ':' && (!*value || !**value)) {
        if (!(*fallback = strndup(name + name_len + 2, (size_t)(end - (name + name_len + 2)))))
            return ck_fail_at(L, n, "out of memory");
        *value = *fallback;
    }
    if (!*value && L->defer_env)
        *value = ""; /* resolved on the probe that runs the check */
    if (!*value)
        return ck_fail_at(L, n, "environment variable '%s' is not set (write ${%s:-default} to give a default)", var,
                          var);
    *next = end + 1;
    return 0;
}

/* ${NAME} and ${NAME:-default} from the environment; "$${" writes "${". *out is
 * a fresh string (caller frees). */
int ck_substitute_env(struct pk_check_loader *L, const yaml_node_t *n, const char *src, char **out)
{
    struct pk_buf b;
    pk_buf_init(&b, CK_TEXT_MAX);
    for (const char *p = src; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            pk_buf_add(&b, "${", 2);
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *value = NULL;
            char *fallback = NULL;
            int rc = env_reference(L, n, src, p, &value, &fallback, &p);
            if (rc == 0)
                pk_buf_adds(&b, value);
            free(fallback);
            if (rc < 0) {
                pk_buf_free(&b);
                return -1;
            }
        } else {
            pk_buf_add(&b, p++, 1);
        }
    }
    if (!(*out = pk_buf_take(&b)))
        return ck_fail_at(L, n, "out of memory");
    return 0;
}

static int template_kind(void *user, const char *name)
{
    struct pk_check_loader *L = user;
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
static int check_template(struct pk_check_loader *L, const yaml_node_t *n, const char *s)
{
    char msg[300];
    size_t off = 0;
    if (!pk_template_has_any(s))
        return 0;
    if (pk_template_validate(s, template_kind, L, &off, msg, sizeof msg) >= 0)
        return 0;
    int line = (int)n->start_mark.line + 1, col = (int)n->start_mark.column + 1;
    /* Point inside the scalar when its text maps one to one onto the file. */
    if (n->type == YAML_SCALAR_NODE && n->start_mark.line == n->end_mark.line && strcmp(s, ck_text_of(n)) == 0 &&
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
                    return ck_fail_at_pos(
                        L, line, col, "capture '%s' is used before the step that makes it (step '%s') in check '%s'",
                        name, L->caps[i].step_name, ck_in_check(L));
    }
    return ck_fail_at_pos(L, line, col, "%s in check '%s'", msg, ck_in_check(L));
}

/* get_string, then validated as a template. */
int ck_get_template(struct pk_check_loader *L, const yaml_node_t *n, const char *what, char **out)
{
    if (ck_get_string(L, n, what, out) < 0)
        return -1;
    if (check_template(L, n, *out) < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void ck_vars_free(struct pk_var_source *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        if (v[i].value) /* secrets do not linger in freed memory */
            explicit_bzero(v[i].value, strlen(v[i].value));
        free(v[i].value);
    }
    free(v);
}

/* The target for reports: the URL with plain variables filled in (never secrets). */
static int plain_var(void *user, const char *name, const char **value)
{
    const struct pk_check_loader *L = user;
    for (size_t i = 0; i < L->n_vars; i++)
        if (!L->vars[i].secret && strcmp(L->vars[i].name, name) == 0) {
            *value = L->vars[i].value;
            return PK_TNAME_VAR;
        }
    return PK_TNAME_UNKNOWN;
}

char *ck_display_target(struct pk_check_loader *L, const char *src)
{
    char *out = NULL, err[64];
    int secret = 0;
    if (strstr(src, "{{") &&
        pk_template_render(src, plain_var, L, PK_TEMPLATE_RAW, &out, &secret, err, sizeof err) == 0 && !secret)
        return out;
    free(out);
    return strdup(src);
}

static int reserved_name(const char *s)
{
    static const char *const words[] = {
        "body", "uuid", "now", "now_unix", "now_ms", "hmac_sha256_hex", "hmac_sha256_base64", "base64", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcmp(words[i], s) == 0)
            return 1;
    return 0;
}

static struct pk_var_source *find_var(struct pk_check_loader *L, const char *name)
{
    for (size_t i = 0; i < L->n_vars; i++)
        if (strcmp(L->vars[i].name, name) == 0)
            return &L->vars[i];
    return NULL;
}

static int add_var(struct pk_check_loader *L, const yaml_node_t *at, const char *name, char *value, int secret)
{
    struct pk_var_source *grown = realloc(L->vars, (L->n_vars + 1) * sizeof *grown);
    if (!grown || !(name = strdup(name))) {
        if (grown)
            L->vars = grown;
        free(value);
        return ck_fail_at(L, at, "out of memory");
    }
    L->vars = grown;
    grown[L->n_vars].name = (char *)name;
    grown[L->n_vars].value = value;
    grown[L->n_vars].secret = secret;
    L->n_vars++;
    return 0;
}

static int var_name_ok(struct pk_check_loader *L, const yaml_node_t *k, const char *what)
{
    if (L->n_vars >= MAX_VARS)
        return ck_fail_at(L, k, "more than %d variables and secrets", MAX_VARS);
    if (!ck_is_string(k) || !ck_valid_ident(ck_text_of(k)))
        return ck_fail_at(L, k, "%s name '%s' must match [A-Za-z_][A-Za-z0-9_]*", what,
                          ck_is_string(k) ? ck_text_of(k) : "");
    if (reserved_name(ck_text_of(k)))
        return ck_fail_at(L, k, "%s name '%s' is reserved for templates", what, ck_text_of(k));
    if (find_var(L, ck_text_of(k)))
        return ck_fail_at(L, k, "duplicate variable or secret '%s'", ck_text_of(k));
    return 0;
}

int ck_parse_vars(struct pk_check_loader *L, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'vars' must be a mapping of name to string");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        char *value = NULL;
        if (!k || !v || var_name_ok(L, k, "variable") < 0)
            return -1;
        if (v->type != YAML_SCALAR_NODE)
            return ck_fail_at(L, v, "variable '%s' must be a string", ck_text_of(k));
        if (ck_is_null(v) && !(value = strdup("")))
            return ck_fail_at(L, v, "out of memory");
        if (!ck_is_null(v) && ck_get_string(L, v, "vars", &value) < 0)
            return -1;
        if (add_var(L, k, ck_text_of(k), value, 0) < 0)
            return -1;
    }
    return 0;
}

/* Reads a secret file; the message names the file, never its contents. */
static int read_secret_file(struct pk_check_loader *L, const yaml_node_t *at, const char *secret, const char *path,
                            char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ck_fail_at(L, at, "secret '%s': cannot read file '%s': %s", secret, path, strerror(errno));
    char *buf = malloc(MAX_SECRET_FILE + 1);
    size_t n = 0;
    if (!buf) {
        close(fd);
        return ck_fail_at(L, at, "out of memory");
    }
    for (;;) {
        ssize_t got = read(fd, buf + n, MAX_SECRET_FILE + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return ck_fail_at(L, at, "secret '%s': cannot read file '%s': %s", secret, path, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > MAX_SECRET_FILE) {
            close(fd);
            explicit_bzero(buf, n);
            free(buf);
            return ck_fail_at(L, at, "secret '%s': file '%s' is larger than %zu KiB", secret, path,
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
        return ck_fail_at(L, at, "secret '%s': file '%s' contains a NUL byte", secret, path);
    }
    *out = buf;
    return 0;
}

int ck_parse_secrets(struct pk_check_loader *L, const yaml_node_t *n)
{
    static const char *const keys[] = {"env", "file", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'secrets' must be a mapping of name to {env: NAME} or {file: PATH}");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        if (!k || !v || var_name_ok(L, k, "secret") < 0)
            return -1;
        const char *name = ck_text_of(k);
        if (v->type != YAML_MAPPING_NODE)
            return ck_fail_at(L, v, "secret '%s' must be {env: NAME} or {file: PATH}", name);
        L->check = name;
        int rc = ck_check_keys(L, v, "secret", keys);
        L->check = NULL;
        if (rc < 0)
            return -1;
        const yaml_node_t *env = ck_find_value(L, v, "env"), *file = ck_find_value(L, v, "file");
        if (!env == !file)
            return ck_fail_at(L, v, "secret '%s' must be {env: NAME} or {file: PATH}", name);
        char *source = NULL, *value = NULL;
        if (ck_get_string(L, env ? env : file, env ? "env" : "file", &source) < 0)
            return -1;
        if (L->defer_env) {
            value = strdup(""); /* read on the probe that runs the check */
            if (!value) {
                free(source);
                return ck_fail_at(L, k, "out of memory");
            }
        } else if (env) {
            const char *e = getenv(source);
            if (!e) {
                ck_fail_at(L, env, "secret '%s': environment variable '%s' is not set", name, source);
                free(source);
                return -1;
            }
            value = strdup(e);
            if (!value) {
                free(source);
                return ck_fail_at(L, env, "out of memory");
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
int ck_apply_overrides(struct pk_check_loader *L, const yaml_node_t *root, const struct pk_var_overrides *ov)
{
    for (size_t i = 0; ov && i < ov->n_vars; i++) {
        const char *name = ov->vars[i].key, *value = ov->vars[i].value;
        if (!name || !ck_valid_ident(name) || reserved_name(name))
            return ck_fail_at(L, root, "override variable '%s' must match [A-Za-z_][A-Za-z0-9_]* and not be reserved",
                              name ? name : "");
        char *copy = strdup(value ? value : "");
        if (!copy)
            return ck_fail_at(L, root, "out of memory");
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

int ck_copy_vars(struct pk_check_loader *L, const yaml_node_t *at, struct pk_check *c)
{
    if (!L->n_vars)
        return 0;
    if (!(c->vars = calloc(L->n_vars, sizeof *c->vars)))
        return ck_fail_at(L, at, "out of memory");
    for (size_t i = 0; i < L->n_vars; i++) {
        c->n_vars = i + 1;
        c->vars[i].name = strdup(L->vars[i].name);
        c->vars[i].value = strdup(L->vars[i].value);
        c->vars[i].secret = L->vars[i].secret;
        if (!c->vars[i].name || !c->vars[i].value)
            return ck_fail_at(L, at, "out of memory");
    }
    return 0;
}
