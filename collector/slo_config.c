/* slo_config.c: the --slos YAML file (slo_config.h; docs/ANALYTICS.md, "SLOs over
 * groups of checks"). Validates everything at load so a bad file stops the
 * collector at start with FILE:LINE:COL, never at query time. Owns the groups
 * array it returns; never touches the database. */
#define _POSIX_C_SOURCE 200809L
#include "slo_config.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "checks.h"
#include "result.h"
#include "yaml_doc.h"

#define DAY_MS (INT64_C(86400000))
#define MAX_WINDOW_DAYS 366

static int get_str(struct yaml_doc *L, const yaml_node_t *n, const char *what, const char *slo, char *out, size_t outlen)
{
    if (!yaml_doc_is_scalar(n))
        return yaml_doc_fail(L, n, "'%s' of SLO '%s' must be a non-empty string", what, slo);
    if (n->data.scalar.length >= outlen)
        return yaml_doc_fail(L, n, "'%s' of SLO '%s' is longer than %zu characters", what, slo, outlen - 1);
    pk_strlcpy(out, yaml_doc_txt(n), outlen);
    return 0;
}

/* 99.9 or 99.9% (a percentage either way), as a check file's slo: target. */
static int get_target(struct yaml_doc *L, const yaml_node_t *n, const char *slo, double *out)
{
    const char *t = yaml_doc_is_scalar(n) ? yaml_doc_txt(n) : "";
    size_t tn = strlen(t);
    char *end = NULL;
    errno = 0;
    double v = tn ? strtod(t, &end) : NAN;
    if (end && tn > 1 && t[tn - 1] == '%' && end == t + tn - 1)
        end++;
    if (!tn || !end || *end || errno || !isfinite(v))
        return yaml_doc_fail(L, n, "'target' of SLO '%s' must be a percentage like 99.9 or 99.9%%, got '%s'", slo, t);
    if (!(v > 0 && v < 100))
        return yaml_doc_fail(L, n, "'target' of SLO '%s' must be between 0 and 100 (exclusive), got '%s'", slo, t);
    *out = v;
    return 0;
}

/* "30d" (days, 1..366) or a duration like 12h; at least a minute (the rollups'
 * resolution), at most 366 days. */
static int get_window(struct yaml_doc *L, const yaml_node_t *n, const char *slo, int64_t *out)
{
    const char *t = yaml_doc_is_scalar(n) ? yaml_doc_txt(n) : "";
    int64_t ms = -1;
    size_t tn = strlen(t);
    if (tn > 1 && t[tn - 1] == 'd' && strspn(t, "0123456789") == tn - 1) {
        long days = tn - 1 <= 3 ? strtol(t, NULL, 10) : MAX_WINDOW_DAYS + 1;
        if (days >= 1 && days <= MAX_WINDOW_DAYS)
            ms = days * DAY_MS;
    } else if (pk_parse_duration_ms(t, &ms) < 0) {
        ms = -1;
    }
    if (ms < 60000 || ms > MAX_WINDOW_DAYS * DAY_MS)
        return yaml_doc_fail(L, n, "'window' of SLO '%s' must be a duration from 1m to %dd like 30d or 12h, got '%s'", slo,
                    MAX_WINDOW_DAYS, t);
    *out = ms;
    return 0;
}

static const char *const SLO_KEYS[] = {"name", "description", "target", "window", "service", "checks", NULL};

static const yaml_node_t *find(struct yaml_doc *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        if (yaml_doc_is_scalar(k) && strcmp(yaml_doc_txt(k), key) == 0)
            return yaml_doc_node(L, p->value);
    }
    return NULL;
}

static int parse_group(struct yaml_doc *L, const yaml_node_t *m, struct slo_config *cfg)
{
    if (m->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, m, "an SLO must be a mapping with name, target and service and/or checks");
    if (cfg->n_groups >= SLO_CONFIG_MAX_GROUPS)
        return yaml_doc_fail(L, m, "more than %d SLOs", SLO_CONFIG_MAX_GROUPS);
    struct slo_group *g = &cfg->groups[cfg->n_groups];
    memset(g, 0, sizeof *g);
    g->line = (int)m->start_mark.line + 1;
    g->window_ms = 30 * DAY_MS;
    const yaml_node_t *v = find(L, m, "name");
    if (!v)
        return yaml_doc_fail(L, m, "an SLO needs a 'name'");
    if (!yaml_doc_is_scalar(v))
        return yaml_doc_fail(L, v, "'name' of an SLO must be a non-empty string");
    if (v->data.scalar.length >= sizeof g->name)
        return yaml_doc_fail(L, v, "SLO name '%.40s...' is longer than %zu characters", yaml_doc_txt(v), sizeof g->name - 1);
    pk_strlcpy(g->name, yaml_doc_txt(v), sizeof g->name);
    if (strchr(g->name, '|'))
        return yaml_doc_fail(L, v, "SLO name '%s' must not contain '|'", g->name);
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (strcmp(cfg->groups[i].name, g->name) == 0)
            return yaml_doc_fail(L, v, "SLO '%s' is defined twice (first at line %d)", g->name, cfg->groups[i].line);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        if (!yaml_doc_is_scalar(k))
            return yaml_doc_fail(L, k, "SLO '%s': keys must be strings", g->name);
        int known = 0;
        for (int i = 0; SLO_KEYS[i]; i++)
            known |= strcmp(yaml_doc_txt(k), SLO_KEYS[i]) == 0;
        if (!known)
            return yaml_doc_fail(L, k,
                        "SLO '%s': unknown key '%s' (name, description, target, window, service, checks; check "
                        "labels do not reach the collector, select by service or check name)",
                        g->name, yaml_doc_txt(k));
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
            if (strcmp(yaml_doc_txt(yaml_doc_node(L, q->key)), yaml_doc_txt(k)) == 0)
                return yaml_doc_fail(L, k, "SLO '%s': key '%s' given twice", g->name, yaml_doc_txt(k));
    }
    if ((v = find(L, m, "description")) && get_str(L, v, "description", g->name, g->description,
                                                   sizeof g->description) < 0)
        return -1;
    if (!(v = find(L, m, "target")))
        return yaml_doc_fail(L, m, "SLO '%s' needs a 'target' like 99.9%%", g->name);
    if (get_target(L, v, g->name, &g->target_percent) < 0)
        return -1;
    if ((v = find(L, m, "window")) && get_window(L, v, g->name, &g->window_ms) < 0)
        return -1;
    if ((v = find(L, m, "service")) && get_str(L, v, "service", g->name, g->service, sizeof g->service) < 0)
        return -1;
    if ((v = find(L, m, "checks"))) {
        if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.start == v->data.sequence.items.top)
            return yaml_doc_fail(L, v, "'checks' of SLO '%s' must be a non-empty list of check names or patterns like "
                              "[checkout-*]", g->name);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_doc_node(L, *it);
            if (g->n_patterns >= SLO_GROUP_MAX_PATTERNS)
                return yaml_doc_fail(L, e, "'checks' of SLO '%s' has more than %d items", g->name, SLO_GROUP_MAX_PATTERNS);
            if (get_str(L, e, "checks", g->name, g->patterns[g->n_patterns], sizeof g->patterns[0]) < 0)
                return -1;
            for (int i = 0; i < g->n_patterns; i++)
                if (strcmp(g->patterns[i], g->patterns[g->n_patterns]) == 0)
                    return yaml_doc_fail(L, e, "'checks' of SLO '%s' lists '%s' twice", g->name, g->patterns[i]);
            g->n_patterns++;
        }
    }
    if (!g->service[0] && g->n_patterns == 0)
        return yaml_doc_fail(L, m, "SLO '%s' selects no checks: give 'service' and/or 'checks'", g->name);
    cfg->n_groups++;
    return 0;
}

int slo_config_parse(const char *origin, const char *text, size_t len, struct slo_config *cfg, char *err,
                     size_t errlen)
{
    struct yaml_doc L;
    memset(cfg, 0, sizeof *cfg);
    pk_strlcpy(cfg->origin, origin, sizeof cfg->origin);
    if (yaml_doc_load(&L, origin, text, len, err, errlen) < 0)
        return -1;
    int rc = -1;
    static const struct yaml_doc_list_file spec = {"SLO file", "slos", "SLOs", SLO_CONFIG_MAX_GROUPS, 0};
    const yaml_node_t *list;
    size_t n;
    if (yaml_doc_root_list(&L, &spec, &list, &n) < 0)
        goto out;
    if (!(cfg->groups = calloc(n, sizeof *cfg->groups))) {
        snprintf(err, errlen, "%s: out of memory", origin);
        goto out;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++)
        if (parse_group(&L, yaml_doc_node(&L, *it), cfg) < 0)
            goto out;
    rc = 0;
out:
    yaml_doc_free(&L);
    if (rc < 0)
        slo_config_free(cfg);
    return rc;
}

int slo_config_load(const char *path, struct slo_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n = 0;
    char *buf = yaml_doc_read_file(path, &n, err, errlen);
    if (!buf)
        return -1;
    int rc = slo_config_parse(path, buf, n, cfg, err, errlen);
    free(buf);
    return rc;
}

void slo_config_free(struct slo_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->groups);
    cfg->groups = NULL;
    cfg->n_groups = 0;
}

int slo_group_selects(const struct slo_group *g, const char *check, const char *service)
{
    if (g->service[0] && strcmp(g->service, service ? service : "") != 0)
        return 0;
    if (g->n_patterns == 0)
        return 1;
    for (int i = 0; i < g->n_patterns; i++)
        if (fnmatch(g->patterns[i], check, 0) == 0)
            return 1;
    return 0;
}

const struct slo_group *slo_config_find(const struct slo_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && i < cfg->n_groups; i++)
        if (strcmp(cfg->groups[i].name, name) == 0)
            return &cfg->groups[i];
    return NULL;
}
