/* probe_config.c: who a probe is and where it sends results, from built-in
 * defaults, a YAML file and PICKET_* variables (order in probe_config.h). Each
 * source applies all-or-nothing through a staging layer, and a list a later
 * source sets REPLACES the earlier list. Collector addresses become gRPC target
 * strings here, so the uplink never parses "host:port". Never opens a socket
 * and never resolves a name. */
#include "probe_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "result.h"
#include "yaml_doc.h"

#define MAX_CONFIG_BYTES ((size_t)1 << 20)

/* What one source sets. Lists a source does not mention stay empty and unflagged. */
struct layer {
    struct pk_probe_config v; /* batch_max/flush_ms/heartbeat_ms/spool_cap: 0 = not set */
    int has_name, has_region, has_labels, has_collectors, has_check_files, has_spool_dir, has_spool_fsync;
};

static void free_vars(struct pk_probe_config *c)
{
    for (size_t i = 0; i < c->n_vars; i++) {
        free(c->vars[i].key);
        free(c->vars[i].value);
    }
    c->n_vars = 0;
}

/* Sets (or replaces) one variable. */
static int put_var(struct pk_probe_config *c, const char *key, size_t keylen, const char *value, char *err,
                   size_t errlen)
{
    if (keylen == 0 || (key[0] >= '0' && key[0] <= '9') ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") < keylen) {
        snprintf(err, errlen, "invalid variable name '%.*s' (want [A-Za-z_][A-Za-z0-9_]*)", (int)keylen, key);
        return -1;
    }
    char *v = strdup(value);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->n_vars; i++)
        if (strlen(c->vars[i].key) == keylen && memcmp(c->vars[i].key, key, keylen) == 0) {
            free(c->vars[i].value);
            c->vars[i].value = v;
            return 0;
        }
    if (c->n_vars == PK_PROBE_MAX_VARS) {
        free(v);
        snprintf(err, errlen, "more than %d variables", PK_PROBE_MAX_VARS);
        return -1;
    }
    char *k = strndup(key, keylen);
    if (!k) {
        free(v);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->vars[c->n_vars].key = k;
    c->vars[c->n_vars].value = v;
    c->n_vars++;
    return 0;
}

static int put_var_spec(struct pk_probe_config *c, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        snprintf(err, errlen, "variable '%s' must be written K=V", spec);
        return -1;
    }
    return put_var(c, spec, (size_t)(eq - spec), eq + 1, err, errlen);
}

/* Moves every variable of from into to, key by key. */
static void merge_vars(struct pk_probe_config *to, struct pk_probe_config *from)
{
    char err[128];
    for (size_t i = 0; i < from->n_vars; i++)
        put_var(to, from->vars[i].key, strlen(from->vars[i].key), from->vars[i].value, err, sizeof err);
    free_vars(from);
}

static void free_labels(struct pk_probe_config *c)
{
    for (size_t i = 0; i < c->n_labels; i++) {
        free(c->labels[i].key);
        free(c->labels[i].value);
    }
    c->n_labels = 0;
}

static void free_strings(char **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    *n = 0;
}

void pk_probe_config_free(struct pk_probe_config *cfg)
{
    if (!cfg)
        return;
    free_labels(cfg);
    free_vars(cfg);
    free_strings(cfg->collectors, &cfg->n_collectors);
    free_strings(cfg->check_files, &cfg->n_check_files);
}

void pk_probe_config_defaults(struct pk_probe_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (gethostname(cfg->name, sizeof cfg->name - 1) < 0 || !cfg->name[0])
        pk_strlcpy(cfg->name, "unknown", sizeof cfg->name);
    pk_strlcpy(cfg->region, "default", sizeof cfg->region);
    cfg->batch_max = 500;
    cfg->flush_ms = 200;
    cfg->heartbeat_ms = 10000;
    cfg->spool_cap = 256ull << 20;
    cfg->spool_fsync_ms = 1000;
}

int pk_probe_config_parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) {
        end++;
        if (*end == 'i' || *end == 'B')
            end += *end == 'i' && end[1] == 'B' ? 2 : 1;
    }
    if (*end || v > (~0ull >> shift))
        return -1;
    v <<= shift;
    if (v < (64ull << 10))
        return -1;
    *out = v;
    return 0;
}

int pk_probe_config_parse_fsync(const char *s, int *ms)
{
    if (!s)
        return -1;
    if (strcmp(s, "always") == 0) {
        *ms = 0;
        return 0;
    }
    if (strcmp(s, "never") == 0) {
        *ms = -1;
        return 0;
    }
    int64_t v;
    if (pk_parse_duration_ms(s, &v) < 0 || v < 1 || v > 3600000)
        return -1;
    *ms = (int)v;
    return 0;
}

void pk_probe_config_spool_dir(const struct pk_probe_config *cfg, char *out, size_t outlen)
{
    const char *state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (cfg->spool_dir[0])
        pk_strlcpy(out, cfg->spool_dir, outlen);
    else if (state && state[0])
        snprintf(out, outlen, "%.*s/spool", (int)strcspn(state, ":"), state);
    else
        snprintf(out, outlen, "var/spool/%s", cfg->name);
}

/* Moves what the layer set into cfg; the layer is left empty. */
static void layer_apply(struct pk_probe_config *cfg, struct layer *l)
{
    if (l->has_name)
        pk_strlcpy(cfg->name, l->v.name, sizeof cfg->name);
    if (l->has_region)
        pk_strlcpy(cfg->region, l->v.region, sizeof cfg->region);
    merge_vars(cfg, &l->v);
    if (l->has_labels) {
        free_labels(cfg);
        memcpy(cfg->labels, l->v.labels, l->v.n_labels * sizeof *cfg->labels);
        cfg->n_labels = l->v.n_labels;
        l->v.n_labels = 0;
    }
    if (l->has_collectors) {
        free_strings(cfg->collectors, &cfg->n_collectors);
        memcpy(cfg->collectors, l->v.collectors, l->v.n_collectors * sizeof *cfg->collectors);
        cfg->n_collectors = l->v.n_collectors;
        l->v.n_collectors = 0;
    }
    if (l->has_check_files) {
        free_strings(cfg->check_files, &cfg->n_check_files);
        memcpy(cfg->check_files, l->v.check_files, l->v.n_check_files * sizeof *cfg->check_files);
        cfg->n_check_files = l->v.n_check_files;
        l->v.n_check_files = 0;
    }
    if (l->v.batch_max)
        cfg->batch_max = l->v.batch_max;
    if (l->v.flush_ms)
        cfg->flush_ms = l->v.flush_ms;
    if (l->v.heartbeat_ms)
        cfg->heartbeat_ms = l->v.heartbeat_ms;
    if (l->has_spool_dir)
        pk_strlcpy(cfg->spool_dir, l->v.spool_dir, sizeof cfg->spool_dir);
    if (l->v.spool_cap)
        cfg->spool_cap = l->v.spool_cap;
    if (l->has_spool_fsync)
        cfg->spool_fsync_ms = l->v.spool_fsync_ms;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ list items */

static int add_label(struct pk_probe_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    size_t n = strlen(key);
    /* Prometheus label-name rules, since labels end up on /metrics. */
    if (n == 0 || (key[0] >= '0' && key[0] <= '9') ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n) {
        snprintf(err, errlen, "invalid label key '%s' (want [A-Za-z_][A-Za-z0-9_]*)", key);
        return -1;
    }
    if (has_control(value)) {
        snprintf(err, errlen, "label '%s' has a control character in its value", key);
        return -1;
    }
    for (size_t i = 0; i < c->n_labels; i++)
        if (strcmp(c->labels[i].key, key) == 0) {
            snprintf(err, errlen, "duplicate label '%s'", key);
            return -1;
        }
    if (c->n_labels == PK_PROBE_MAX_LIST) {
        snprintf(err, errlen, "more than %d labels", PK_PROBE_MAX_LIST);
        return -1;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->labels[c->n_labels].key = k;
    c->labels[c->n_labels].value = v;
    c->n_labels++;
    return 0;
}

static int valid_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return 0;
    long port = strtol(s, NULL, 10);
    return port >= 1 && port <= 65535;
}

/* "host:port" as a gRPC target string (caller frees), or NULL with err. */
static char *collector_target(const char *addr, char *err, size_t errlen)
{
    static const char *const schemes[] = {"ipv4:", "ipv6:", "dns:", "unix:"};
    char host[256], buf[300];
    const char *port;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (strncmp(addr, schemes[i], strlen(schemes[i])) == 0)
            return strdup(addr);

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        size_t len = close ? (size_t)(close - addr - 1) : 0;
        struct in6_addr a6;
        if (!close || len >= sizeof host) {
            snprintf(err, errlen, "collector '%s': unterminated IPv6 address", addr);
            return NULL;
        }
        memcpy(host, addr + 1, len);
        host[len] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            snprintf(err, errlen, "collector '%s': '%s' is not an IPv6 address", addr, host);
            return NULL;
        }
        if (close[1] != ':' || !valid_port(close + 2)) {
            snprintf(err, errlen, "collector '%s' needs a port 1..65535, like [::1]:7700", addr);
            return NULL;
        }
        snprintf(buf, sizeof buf, "ipv6:[%s]:%s", host, close + 2);
        return strdup(buf);
    }

    const char *colon = strrchr(addr, ':');
    if (colon && memchr(addr, ':', (size_t)(colon - addr))) {
        snprintf(err, errlen, "collector '%s': put IPv6 addresses in brackets, like [::1]:7700", addr);
        return NULL;
    }
    if (!colon || !valid_port(colon + 1)) {
        snprintf(err, errlen, "collector '%s' needs a port 1..65535, like host:7700", addr);
        return NULL;
    }
    size_t len = (size_t)(colon - addr);
    if (len == 0 || len >= sizeof host ||
        strspn(addr, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != len) {
        snprintf(err, errlen, "collector '%s': invalid host name", addr);
        return NULL;
    }
    memcpy(host, addr, len);
    host[len] = '\0';
    port = colon + 1;
    struct in_addr a4;
    /* gRPC's "localhost" may resolve to ::1 first while the collector listens on IPv4. */
    if (strcasecmp(host, "localhost") == 0)
        snprintf(buf, sizeof buf, "ipv4:127.0.0.1:%s", port);
    else if (inet_pton(AF_INET, host, &a4) == 1)
        snprintf(buf, sizeof buf, "ipv4:%s:%s", host, port);
    else
        snprintf(buf, sizeof buf, "dns:///%s:%s", host, port);
    return strdup(buf);
}

static int add_collector(struct pk_probe_config *c, const char *addr, char *err, size_t errlen)
{
    if (has_control(addr) || strchr(addr, ' ')) {
        snprintf(err, errlen, "collector '%s' contains spaces or control characters", addr);
        return -1;
    }
    if (c->n_collectors == PK_PROBE_MAX_LIST) {
        snprintf(err, errlen, "more than %d collectors", PK_PROBE_MAX_LIST);
        return -1;
    }
    char *target = collector_target(addr, err, errlen);
    if (!target)
        return -1;
    c->collectors[c->n_collectors++] = target;
    return 0;
}

/* base_dir ends with '/' or is "" (relative paths then stay relative to the cwd). */
static int add_check_file(struct pk_probe_config *c, const char *path, const char *base_dir, char *err, size_t errlen)
{
    if (!path[0] || has_control(path)) {
        snprintf(err, errlen, "invalid check file path '%s'", path);
        return -1;
    }
    if (c->n_check_files == PK_PROBE_MAX_LIST) {
        snprintf(err, errlen, "more than %d check files", PK_PROBE_MAX_LIST);
        return -1;
    }
    const char *base = path[0] == '/' ? "" : base_dir;
    size_t n = strlen(base) + strlen(path) + 1;
    char *full = malloc(n);
    if (!full) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(full, n, "%s%s", base, path);
    c->check_files[c->n_check_files++] = full;
    return 0;
}

/* Calls add(item) for each trimmed, non-empty item of a comma-separated spec. */
static int for_each_item(const char *spec, int (*add)(struct pk_probe_config *, const char *, char *, size_t),
                         struct pk_probe_config *into, char *err, size_t errlen)
{
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t n = strlen(item);
        while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            item[--n] = '\0';
        if (n)
            rc = add(into, item, err, errlen);
    }
    free(copy);
    return rc;
}

static int add_label_spec(struct pk_probe_config *c, const char *item, char *err, size_t errlen)
{
    const char *eq = strchr(item, '=');
    char key[128];
    if (!eq || (size_t)(eq - item) >= sizeof key) {
        snprintf(err, errlen, "label '%s' is not key=value", item);
        return -1;
    }
    memcpy(key, item, (size_t)(eq - item));
    key[eq - item] = '\0';
    return add_label(c, key, eq + 1, err, errlen);
}

static int add_check_file_cwd(struct pk_probe_config *c, const char *path, char *err, size_t errlen)
{
    return add_check_file(c, path, "", err, errlen);
}

/* -------------------------------------------------------------- flags API */

int pk_probe_config_set_var(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen)
{
    return put_var_spec(cfg, spec, err, errlen);
}

static int add_var_item(struct pk_probe_config *c, const char *item, char *err, size_t errlen)
{
    return put_var_spec(c, item, err, errlen);
}

int pk_probe_config_set_labels(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct layer l = {.has_labels = 1};
    int rc = for_each_item(spec, add_label_spec, &l.v, err, errlen);
    if (rc == 0)
        layer_apply(cfg, &l);
    pk_probe_config_free(&l.v);
    return rc;
}

/* Appends every item of spec to cfg's list, or nothing when one is bad. */
static int append_list(struct pk_probe_config *cfg, const char *spec, int collectors, char *err, size_t errlen)
{
    struct layer l = {0};
    int rc = for_each_item(spec, collectors ? add_collector : add_check_file_cwd, &l.v, err, errlen);
    char **from = collectors ? l.v.collectors : l.v.check_files;
    size_t *n_from = collectors ? &l.v.n_collectors : &l.v.n_check_files;
    char **to = collectors ? cfg->collectors : cfg->check_files;
    size_t *n_to = collectors ? &cfg->n_collectors : &cfg->n_check_files;
    if (rc == 0 && *n_to + *n_from > PK_PROBE_MAX_LIST) {
        snprintf(err, errlen, "more than %d %s", PK_PROBE_MAX_LIST, collectors ? "collectors" : "check files");
        rc = -1;
    }
    if (rc == 0) {
        memcpy(to + *n_to, from, *n_from * sizeof *from);
        *n_to += *n_from;
        *n_from = 0;
    }
    pk_probe_config_free(&l.v);
    return rc;
}

int pk_probe_config_add_collectors(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen)
{
    return append_list(cfg, spec, 1, err, errlen);
}

int pk_probe_config_add_check_files(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen)
{
    return append_list(cfg, spec, 0, err, errlen);
}

/* ------------------------------------------------------------ environment */

int pk_probe_config_load_env(struct pk_probe_config *cfg, char *err, size_t errlen)
{
    struct layer l = {0};
    char reason[512];
    const char *var = NULL, *v;
    int rc = -1;
    if ((v = getenv(var = "PICKET_PROBE_NAME")) && v[0]) {
        if (strlen(v) >= sizeof l.v.name || has_control(v)) {
            snprintf(reason, sizeof reason, "must be 1..%zu printable characters", sizeof l.v.name - 1);
            goto out;
        }
        pk_strlcpy(l.v.name, v, sizeof l.v.name);
        l.has_name = 1;
    }
    if ((v = getenv(var = "PICKET_REGION")) && v[0]) {
        if (strlen(v) >= sizeof l.v.region || has_control(v)) {
            snprintf(reason, sizeof reason, "must be 1..%zu printable characters", sizeof l.v.region - 1);
            goto out;
        }
        pk_strlcpy(l.v.region, v, sizeof l.v.region);
        l.has_region = 1;
    }
    if ((v = getenv(var = "PICKET_LABELS")) && v[0]) {
        if (for_each_item(v, add_label_spec, &l.v, reason, sizeof reason) < 0)
            goto out;
        l.has_labels = 1;
    }
    if ((v = getenv(var = "PICKET_COLLECTOR")) && v[0]) {
        if (for_each_item(v, add_collector, &l.v, reason, sizeof reason) < 0)
            goto out;
        l.has_collectors = 1;
    }
    if ((v = getenv(var = "PICKET_VARS")) && v[0]) {
        if (for_each_item(v, add_var_item, &l.v, reason, sizeof reason) < 0)
            goto out;
    }
    if ((v = getenv(var = "PICKET_CHECKS")) && v[0]) {
        if (for_each_item(v, add_check_file_cwd, &l.v, reason, sizeof reason) < 0)
            goto out;
        l.has_check_files = 1;
    }
    if ((v = getenv(var = "PICKET_SPOOL_DIR")) && v[0]) {
        if (strlen(v) >= sizeof l.v.spool_dir || has_control(v)) {
            snprintf(reason, sizeof reason, "must be a path of 1..%zu printable characters", sizeof l.v.spool_dir - 1);
            goto out;
        }
        pk_strlcpy(l.v.spool_dir, v, sizeof l.v.spool_dir);
        l.has_spool_dir = 1;
    }
    if ((v = getenv(var = "PICKET_SPOOL_CAP")) && v[0] && pk_probe_config_parse_size(v, &l.v.spool_cap) < 0) {
        snprintf(reason, sizeof reason, "'%s' is not a size of at least 64K (like 256M or 1G)", v);
        goto out;
    }
    if ((v = getenv(var = "PICKET_SPOOL_FSYNC")) && v[0]) {
        if (pk_probe_config_parse_fsync(v, &l.v.spool_fsync_ms) < 0) {
            snprintf(reason, sizeof reason, "'%s' is not always, never or a duration like 1s", v);
            goto out;
        }
        l.has_spool_fsync = 1;
    }
    layer_apply(cfg, &l);
    rc = 0;
out:
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", var, reason);
    pk_probe_config_free(&l.v);
    return rc;
}

/* ------------------------------------------------------------------- file */

static const char *scalar_text(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    /* A plain empty or ~ value is YAML's null, not a string. */
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
        return NULL;
    if (strlen(s) != n->data.scalar.length)
        return NULL; /* an embedded NUL */
    return s;
}

static int file_int(struct yaml_doc *f, const yaml_node_t *n, const char *key, long min, long max, int *out)
{
    const char *s = scalar_text(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
        return yaml_doc_fail(f, n, "'%s' must be an integer %ld..%ld", key, min, max);
    *out = (int)v;
    return 0;
}

static int file_string_list(struct yaml_doc *f, const yaml_node_t *n, const char *key,
                            const char *base_dir, struct pk_probe_config *into)
{
    char reason[512];
    if (n->type != YAML_SEQUENCE_NODE)
        return yaml_doc_fail(f, n, "'%s' must be a list of strings", key);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const yaml_node_t *item = yaml_doc_node(f, *it);
        const char *s = scalar_text(item);
        if (!s)
            return yaml_doc_fail(f, item, "'%s' must be a list of strings", key);
        int rc = base_dir ? add_check_file(into, s, base_dir, reason, sizeof reason)
                          : add_collector(into, s, reason, sizeof reason);
        if (rc < 0)
            return yaml_doc_fail(f, item, "%s", reason);
    }
    return 0;
}

/* A mapping of strings (what: 'labels' or 'vars'), each pair given to add. */
static int file_string_map(struct yaml_doc *f, const yaml_node_t *n, struct pk_probe_config *into, const char *what,
                           int (*add)(struct pk_probe_config *c, const char *key, const char *value, char *err,
                                      size_t errlen))
{
    char reason[512];
    if (n->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(f, n, "'%s' must be a mapping of strings", what);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_doc_node(f, p->key), *v = yaml_doc_node(f, p->value);
        const char *ks = scalar_text(k), *vs = scalar_text(v);
        if (!ks || !vs)
            return yaml_doc_fail(f, ks ? v : k, "'%s' must be a mapping of strings", what);
        if (add(into, ks, vs, reason, sizeof reason) < 0)
            return yaml_doc_fail(f, k, "%s", reason);
    }
    return 0;
}

static int put_var_pair(struct pk_probe_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    return put_var(c, key, strlen(key), value, err, errlen);
}

static int file_text(struct yaml_doc *f, const yaml_node_t *n, const char *key, char *dst, size_t size)
{
    const char *s = scalar_text(n);
    if (!s || strlen(s) >= size || has_control(s))
        return yaml_doc_fail(f, n, "'%s' must be a string of 1..%zu printable characters", key, size - 1);
    pk_strlcpy(dst, s, size);
    return 0;
}

static int parse_config(struct yaml_doc *f, const char *base_dir, struct layer *l)
{
    static const char *const keys[] = {"name",   "region",    "labels",   "collectors",  "checks",
                                       "batch_max", "flush_ms", "heartbeat_ms", "vars", "spool_dir",
                                       "spool_cap", "spool_fsync"};
    const yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    unsigned seen = 0;
    if (!root)
        return 0; /* an empty file sets nothing */
    if (root->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(f, root, "expected a mapping of settings at the top level");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_doc_node(f, p->key), *v = yaml_doc_node(f, p->value);
        const char *key = scalar_text(k);
        size_t i = 0;
        while (key && i < sizeof keys / sizeof *keys && strcmp(key, keys[i]) != 0)
            i++;
        if (!key || i == sizeof keys / sizeof *keys)
            return yaml_doc_fail(f, k,
                           "unknown key '%s' (known: name, region, labels, collectors, checks, batch_max, "
                           "flush_ms, heartbeat_ms, vars, spool_dir, spool_cap, spool_fsync)",
                           key ? key : "");
        if (seen & (1u << i))
            return yaml_doc_fail(f, k, "duplicate key '%s'", key);
        seen |= 1u << i;
        int rc = 0;
        switch (i) {
        case 0:
            rc = file_text(f, v, key, l->v.name, sizeof l->v.name);
            l->has_name = 1;
            break;
        case 1:
            rc = file_text(f, v, key, l->v.region, sizeof l->v.region);
            l->has_region = 1;
            break;
        case 2:
            rc = file_string_map(f, v, &l->v, "labels", add_label);
            l->has_labels = 1;
            break;
        case 3:
            rc = file_string_list(f, v, key, NULL, &l->v);
            l->has_collectors = 1;
            break;
        case 4:
            rc = file_string_list(f, v, key, base_dir, &l->v);
            l->has_check_files = 1;
            break;
        case 5:
            rc = file_int(f, v, key, 1, 5000, &l->v.batch_max);
            break;
        case 6:
            rc = file_int(f, v, key, 1, 60000, &l->v.flush_ms);
            break;
        case 8:
            rc = file_string_map(f, v, &l->v, "vars", put_var_pair);
            break;
        case 9:
            rc = file_text(f, v, key, l->v.spool_dir, sizeof l->v.spool_dir);
            l->has_spool_dir = 1;
            break;
        case 10: {
            const char *t = scalar_text(v);
            if (!t || pk_probe_config_parse_size(t, &l->v.spool_cap) < 0)
                return yaml_doc_fail(f, v, "spool_cap: expected a size of at least 64K, like 256M or 1G");
            break;
        }
        case 11: {
            const char *t = scalar_text(v);
            if (!t || pk_probe_config_parse_fsync(t, &l->v.spool_fsync_ms) < 0)
                return yaml_doc_fail(f, v, "spool_fsync: expected always, never or a duration like 1s");
            l->has_spool_fsync = 1;
            break;
        }
        default:
            rc = file_int(f, v, key, 100, 3600000, &l->v.heartbeat_ms);
            break;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int pk_probe_config_load_file(struct pk_probe_config *cfg, const char *path, char *err, size_t errlen)
{
    struct yaml_doc f = {.origin = path, .err = err, .errlen = errlen};
    struct layer l = {0};
    yaml_parser_t parser;
    int parser_ready = 0, doc_ready = 0, rc = -1;
    char *text = NULL, *base_dir = NULL;
    size_t len = 0;

    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    text = malloc(MAX_CONFIG_BYTES + 1);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    len = fread(text, 1, MAX_CONFIG_BYTES + 1, fp);
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (len > MAX_CONFIG_BYTES) {
        snprintf(err, errlen, "%s: larger than %zu MiB", path, MAX_CONFIG_BYTES >> 20);
        goto out;
    }
    /* Check files named in the config are relative to the config's folder. */
    const char *slash = strrchr(path, '/');
    base_dir = strndup(path, slash ? (size_t)(slash - path) + 1 : 0);
    if (!base_dir || !yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &f.doc)) {
        snprintf(err, errlen, "%s:%zu:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "malformed input");
        goto out;
    }
    doc_ready = 1;
    if (parse_config(&f, base_dir, &l) < 0)
        goto out;
    layer_apply(cfg, &l);
    rc = 0;
out:
    pk_probe_config_free(&l.v);
    if (doc_ready)
        yaml_doc_free(&f);
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    free(base_dir);
    free(text);
    return rc;
}
