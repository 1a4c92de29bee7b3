/* check.c: one entry of a file's `checks:` list: the keys every type shares
 * (name, type, service, interval, timeout, retries, labels, budgets, slo,
 * selector), dispatch to the type's parser, check-level assertions and the
 * normalised definition. On error the check is freed and left empty. */
#include "checks_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ck_check_free(struct pk_check *c)
{
    free(c->name);
    free(c->type);
    free(c->service);
    free(c->file);
    ck_free_kvs(c->labels, c->n_labels);
    free(c->target);
    if (c->kind >= 0 && c->kind < PK_CHECK_KINDS)
        pk_check_types[c->kind].free(c);
    ck_asserts_free(c->asserts, c->n_asserts);
    ck_vars_free(c->vars, c->n_vars);
    ck_free_strv(c->selector_regions, c->n_selector_regions);
    ck_free_kvs(c->selector_labels, c->n_selector_labels);
    ck_free_strv(c->depends_on, c->n_depends_on);
    free(c->definition);
    ck_free_kvs(c->def_keys, c->n_def_keys);
    memset(c, 0, sizeof *c);
}

static int parse_budgets(struct pk_check_loader *L, const yaml_node_t *n, struct pk_budgets *b)
{
    static const char *const keys[] = {"p50", "p95", "p99", NULL};
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'budgets' must be a mapping like {p50: 3s, p95: 8s, p99: 10s} in check '%s'",
                          ck_in_check(L));
    if (ck_check_keys(L, n, "'budgets' of check", keys) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "p50")) && ck_get_duration(L, v, "p50", "3s", &b->p50_ms) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "p95")) && ck_get_duration(L, v, "p95", "8s", &b->p95_ms) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "p99")) && ck_get_duration(L, v, "p99", "10s", &b->p99_ms) < 0)
        return -1;
    if ((b->p50_ms && b->p95_ms && b->p50_ms > b->p95_ms) || (b->p95_ms && b->p99_ms && b->p95_ms > b->p99_ms) ||
        (b->p50_ms && b->p99_ms && b->p50_ms > b->p99_ms))
        return ck_fail_at(L, n, "'budgets' must not decrease from p50 to p99 in check '%s'", ck_in_check(L));
    return 0;
}

static int parse_slo(struct pk_check_loader *L, const yaml_node_t *n, struct pk_check_slo *s)
{
    static const char *const keys[] = {"target", "window", NULL};
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'slo' must be a mapping like {target: 99.9%%, window: 30d} in check '%s'",
                          ck_in_check(L));
    if (ck_check_keys(L, n, "'slo' of check", keys) < 0)
        return -1;
    if (!(v = ck_find_value(L, n, "target")))
        return ck_fail_at(L, n, "'slo' needs 'target' in check '%s'", ck_in_check(L));
    /* 99.9 or 99.9% (a percentage either way) */
    const char *t = ck_is_string(v) && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? ck_text_of(v) : NULL;
    size_t tn = t ? strlen(t) : 0;
    if (tn > 1 && t[tn - 1] == '%') {
        char *end;
        errno = 0;
        s->target_percent = strtod(t, &end);
        if (end != t + tn - 1 || errno || !isfinite(s->target_percent))
            return ck_fail_at(L, v, "'target' must be a percentage like 99.9 or 99.9%% in check '%s'", ck_in_check(L));
    } else if (ck_get_number(L, v, "target", &s->target_percent) < 0)
        return -1;
    if (!(s->target_percent > 0 && s->target_percent < 100))
        return ck_fail_at(L, v, "'target' must be a percentage between 0 and 100 (exclusive) in check '%s'",
                          ck_in_check(L));
    s->window_ms = (int64_t)30 * 24 * 3600 * 1000;
    if ((v = ck_find_value(L, n, "window"))) {
        /* days are common for SLO windows: "30d" */
        char *end;
        if (ck_is_string(v) && (errno = 0, strtol(ck_text_of(v), &end, 10) > 0) && strcmp(end, "d") == 0 &&
            ck_text_of(v)[0] >= '0' && ck_text_of(v)[0] <= '9' && strtol(ck_text_of(v), NULL, 10) <= 366)
            s->window_ms = strtol(ck_text_of(v), NULL, 10) * 24 * 3600 * 1000;
        else if (ck_get_duration(L, v, "window", "30d", &s->window_ms) < 0)
            return -1;
        if (s->window_ms <= 0)
            return ck_fail_at(L, v, "'window' must be more than 0");
    }
    return 0;
}

static int parse_selector(struct pk_check_loader *L, const yaml_node_t *n, struct pk_check *c)
{
    static const char *const keys[] = {"regions", "labels", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'selector' must be a mapping with 'regions' and/or 'labels' in check '%s'", c->name);
    if (ck_check_keys(L, n, "selector", keys) < 0)
        return -1;
    const yaml_node_t *regions = ck_find_value(L, n, "regions"), *labels = ck_find_value(L, n, "labels");
    if (regions) {
        if (regions->type != YAML_SEQUENCE_NODE || ck_count_items(regions) == 0)
            return ck_fail_at(L, regions,
                              "'selector.regions' must be a non-empty list of region names in check '%s' (leave it "
                              "out to select every region)",
                              c->name);
        size_t count = ck_count_items(regions);
        if (count > MAX_LIST)
            return ck_fail_at(L, regions, "'selector.regions' has more than %d entries", MAX_LIST);
        if (!(c->selector_regions = calloc(count, sizeof *c->selector_regions)))
            return ck_fail_at(L, regions, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *item = ck_child(L, regions->data.sequence.items.start[i]);
            if (!item)
                return -1;
            if (!ck_is_string(item))
                return ck_fail_at(L, item, "entries of 'selector.regions' must be strings in check '%s'", c->name);
            if (ck_get_string(L, item, "selector.regions", &c->selector_regions[i]) < 0)
                return -1;
            c->n_selector_regions = i + 1;
            if (!c->selector_regions[i][0] || strlen(c->selector_regions[i]) > 63 ||
                ck_has_control(c->selector_regions[i]))
                return ck_fail_at(L, item, "region '%s' must be 1..63 characters without control characters",
                                  c->selector_regions[i]);
        }
    }
    if (labels &&
        ck_get_kv_map(L, labels, "selector.labels", KV_LABELS, 0, &c->selector_labels, &c->n_selector_labels) < 0)
        return -1;
    return 0;
}

static const char *const common_keys[] = {"name",    "type",   "service", "interval", "timeout",
                                          "retries", "labels", "budgets", "slo",      "selector",
                                          "depends_on"};
#define N_COMMON (sizeof common_keys / sizeof *common_keys)

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

/* 1 when some type (t == NULL: any type) takes this key. */
static int type_takes(const struct pk_check_type *t, const char *key)
{
    for (size_t k = 0; k < PK_CHECK_KINDS; k++)
        if ((!t || t == &pk_check_types[k]) && in_list(pk_check_types[k].keys, key))
            return 1;
    return 0;
}

/* Every key must be a shared one or one of the type's (any type's when the type
 * is unknown: judged later), at most once. */
static int check_check_keys(struct pk_check_loader *L, const yaml_node_t *map, const struct pk_check *c,
                            const struct pk_check_type *t)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *val = ck_child(L, p->value);
        if (!k || !val)
            return -1;
        if (!ck_is_string(k))
            return ck_fail_at(L, k, "keys in check '%s' must be strings", c->name);
        const char *key = ck_text_of(k);
        int known = 0;
        for (size_t i = 0; i < N_COMMON && !known; i++)
            known = strcmp(common_keys[i], key) == 0;
        if (!known && !type_takes(t, key)) {
            if (type_takes(NULL, key))
                return ck_fail_at(L, k, "key '%s' does not apply to type %s in check '%s'", key, t->name, c->name);
            return ck_fail_at(L, k, "unknown key '%s' in check '%s'", key, c->name);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *earlier = yaml_document_get_node(&L->doc, q->key);
            if (earlier && ck_is_string(earlier) && strcmp(ck_text_of(earlier), key) == 0)
                return ck_fail_at(L, k, "duplicate key '%s' in check '%s'", key, c->name);
        }
    }
    return 0;
}

/* The name comes first so every later error can say which check it is in. */
static int check_name(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                      const yaml_node_t **name_node)
{
    *name_node = ck_find_value(L, map, "name");
    if (!*name_node)
        return ck_fail_at(L, map, "check has no 'name'");
    if (ck_get_string(L, *name_node, "name", &c->name) < 0)
        return -1;
    if (!ck_valid_name(c->name))
        return ck_fail_at(L, *name_node, "name '%s' must be 1..%d characters of A-Z a-z 0-9 _ . -", c->name,
                          PK_NAME_MAX - 1);
    L->check = c->name;
    return 0;
}

/* Keys: the shared ones plus those of the type; the type is read first so an
 * unknown key can be judged, but an unknown key is reported before a missing type. */
static int check_type(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                      const struct pk_check_type **type)
{
    const yaml_node_t *type_node = ck_find_value(L, map, "type");
    const struct pk_check_type *t =
        type_node && ck_is_string(type_node) ? pk_check_type_find(ck_text_of(type_node)) : NULL;
    char known[128] = "";
    if (check_check_keys(L, map, c, t) < 0)
        return -1;
    for (size_t k = 0; k < PK_CHECK_KINDS; k++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", k ? " " : "", pk_check_types[k].name);
    }
    if (!type_node)
        return ck_fail_at(L, map, "check '%s' has no 'type' (known types: %s)", c->name, known);
    if (ck_get_string(L, type_node, "type", &c->type) < 0)
        return -1;
    if (!t)
        return ck_fail_at(L, type_node, "unknown type '%s' in check '%s' (known types: %s)", c->type, c->name, known);
    c->kind = t->kind;
    *type = t;
    return 0;
}

static int check_interval(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                          const yaml_node_t **timeout_node)
{
    const yaml_node_t *v;
    if ((v = ck_find_value(L, map, "interval"))) {
        if (ck_get_duration(L, v, "interval", "30s", &c->interval_ms) < 0)
            return -1;
        if (c->interval_ms < MIN_INTERVAL_MS)
            return ck_fail_at(L, v, "'interval' must be at least %dms", MIN_INTERVAL_MS);
        if (c->interval_ms > MAX_INTERVAL_MS)
            return ck_fail_at(L, v, "'interval' must be at most 7 days");
    }
    if ((*timeout_node = ck_find_value(L, map, "timeout"))) {
        if (ck_get_duration(L, *timeout_node, "timeout", "10s", &c->timeout_ms) < 0)
            return -1;
        if (c->timeout_ms <= 0)
            return ck_fail_at(L, *timeout_node, "'timeout' must be more than 0");
    }
    return 0;
}

/* depends_on: [NAME | service:NAME, ...]; each 1..127 characters without ',' or
 * control characters, not the check itself, none twice. Whether the names exist
 * and form no cycle is judged over all files (pk_checks_check_depends). */
static int parse_depends(struct pk_check_loader *L, const yaml_node_t *n, struct pk_check *c)
{
    size_t count = n->type == YAML_SEQUENCE_NODE ? ck_count_items(n) : 0;
    if (count == 0)
        return ck_fail_at(L, n,
                          "'depends_on' must be a non-empty list of check names or service:NAME in check '%s'",
                          c->name);
    if (count > 64)
        return ck_fail_at(L, n, "'depends_on' has more than 64 entries in check '%s'", c->name);
    if (!(c->depends_on = calloc(count, sizeof *c->depends_on)))
        return ck_fail_at(L, n, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = ck_child(L, n->data.sequence.items.start[i]);
        if (!item)
            return -1;
        if (!ck_is_string(item))
            return ck_fail_at(L, item, "entries of 'depends_on' must be strings in check '%s'", c->name);
        if (ck_get_string(L, item, "depends_on", &c->depends_on[i]) < 0)
            return -1;
        c->n_depends_on = i + 1;
        const char *d = c->depends_on[i];
        size_t len = strlen(d);
        total += len + 1;
        if (!len || len > 127 || strchr(d, ',') || ck_has_control(d) || strcmp(d, "service:") == 0)
            return ck_fail_at(L, item, "'depends_on' entry '%s' in check '%s' must be a check name or service:NAME "
                              "(1..127 characters, no ',')", d, c->name);
        if (strcmp(d, c->name) == 0)
            return ck_fail_at(L, item, "check '%s' cannot depend on itself", c->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->depends_on[k], d) == 0)
                return ck_fail_at(L, item, "'depends_on' of check '%s' lists '%s' twice", c->name, d);
    }
    if (total >= PK_DEPENDS_MAX)
        return ck_fail_at(L, n, "'depends_on' of check '%s' is longer than %d characters in all", c->name,
                          PK_DEPENDS_MAX - 1);
    return 0;
}

/* service, interval, timeout, retries, labels, budgets, slo, selector, depends_on. */
static int check_shared(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c,
                        const yaml_node_t **timeout_node)
{
    const yaml_node_t *v;
    if ((v = ck_find_value(L, map, "service")) && ck_get_string(L, v, "service", &c->service) < 0)
        return -1;
    if (check_interval(L, map, c, timeout_node) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "retries"))) {
        long x;
        if (ck_get_int_in(L, v, "retries", 0, MAX_RETRIES, &x) < 0)
            return -1;
        c->retries = (int)x;
    }
    if ((v = ck_find_value(L, map, "labels")) &&
        ck_get_kv_map(L, v, "labels", KV_LABELS, 0, &c->labels, &c->n_labels) < 0)
        return -1;
    /* The service groups checks in every query (latency --service, /status/NAME,
     * the report); a label of that name would look like it and group nothing. */
    for (size_t i = 0; i < c->n_labels; i++)
        if (strcmp(c->labels[i].key, "service") == 0)
            return ck_fail_at(L, v, "'labels: {service: %s}' in check '%s' does not set the check's service; "
                              "write 'service: %s' as a key of the check instead", c->labels[i].value, c->name,
                              c->labels[i].value);
    if ((v = ck_find_value(L, map, "budgets")) && parse_budgets(L, v, &c->budgets) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "slo")) && parse_slo(L, v, &c->slo) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "selector")) && parse_selector(L, v, c) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "depends_on")) && parse_depends(L, v, c) < 0)
        return -1;
    return 0;
}

int ck_check_asserts(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c, enum assert_set allowed)
{
    const yaml_node_t *v = ck_find_value(L, map, "assert");
    return v ? ck_get_asserts(L, v, allowed, &c->asserts, &c->n_asserts) : 0;
}

/* Fills *c from one entry of `checks`; on error *c is left empty. *name_node
 * gets the node of the name, for duplicate reports. */
int ck_parse_check(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c, const yaml_node_t **name_node)
{
    const yaml_node_t *timeout_node = NULL;
    const struct pk_check_type *t = NULL;
    memset(c, 0, sizeof *c);
    L->check = NULL;
    if (map->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, map, "each entry of 'checks' must be a mapping");
    c->line = (int)map->start_mark.line + 1;
    c->interval_ms = DEFAULT_INTERVAL_MS;
    c->timeout_ms = -1;
    if (!(c->file = strdup(L->origin))) {
        ck_fail_at(L, map, "out of memory");
        goto fail;
    }
    if (check_name(L, map, c, name_node) < 0 || check_type(L, map, c, &t) < 0 ||
        check_shared(L, map, c, &timeout_node) < 0 || t->parse(L, map, c) < 0)
        goto fail;
    /* An explicit timeout must fit the interval; the default shrinks to fit. */
    if (c->timeout_ms < 0) {
        c->timeout_ms = c->interval_ms < DEFAULT_TIMEOUT_MS ? c->interval_ms : DEFAULT_TIMEOUT_MS;
    } else if (c->timeout_ms > c->interval_ms) {
        ck_fail_at(L, timeout_node, "'timeout' (%lldms) must not exceed 'interval' (%lldms) in check '%s'",
                   (long long)c->timeout_ms, (long long)c->interval_ms, c->name);
        goto fail;
    }
    if (ck_check_definition(L, map, c) < 0)
        goto fail;
    L->check = NULL;
    return 0;
fail:
    L->check = NULL;
    ck_check_free(c);
    return -1;
}

struct pk_check_meta pk_check_meta_of(const struct pk_check *c)
{
    struct pk_check_meta m = {
        .budget_p50_ms = c->budgets.p50_ms,
        .budget_p95_ms = c->budgets.p95_ms,
        .budget_p99_ms = c->budgets.p99_ms,
        .slo_target_percent = c->slo.target_percent,
        .slo_window_ms = c->slo.window_ms,
    };
    size_t len = 0;
    for (size_t i = 0; i < c->n_depends_on; i++)
        len += (size_t)snprintf(m.depends_on + len, len < sizeof m.depends_on ? sizeof m.depends_on - len : 0,
                                "%s%s", i ? "," : "", c->depends_on[i]);
    const struct pk_kv *sorted[64];
    size_t n = 0;
    for (size_t i = 0; i < c->n_labels && n < 64; i++) { /* insertion by key: a dozen labels at most */
        size_t k = n++;
        while (k > 0 && strcmp(sorted[k - 1]->key, c->labels[i].key) > 0) {
            sorted[k] = sorted[k - 1];
            k--;
        }
        sorted[k] = &c->labels[i];
    }
    len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(m.labels + len, sizeof m.labels - len, "%s%s=%s", i ? "\n" : "", sorted[i]->key,
                         sorted[i]->value);
        if (w < 0 || (size_t)w >= sizeof m.labels - len) { /* whole labels only */
            m.labels[len] = '\0';
            break;
        }
        len += (size_t)w;
    }
    return m;
}
