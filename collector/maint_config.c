/* maint_config.c: the --maintenance YAML file (maint_config.h). Each window's
 * keys are read as text and handed to maint_window_from_spec (common/maint.c),
 * the same path `picketctl maintenance add` takes, so both accept the same
 * windows; an error names the window's node (FILE:LINE:COL). Never touches the
 * database. */
#include "maint_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "result.h"
#include "yaml_doc.h"

static const char *const KEYS[] = {"name", "start",  "end",    "duration", "every",
                                   "cron", "timezone", "for", "reason", NULL};

static const yaml_node_t *find(struct yaml_doc *L, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        if (yaml_doc_is_scalar(k) && strcmp(yaml_doc_txt(k), key) == 0)
            return yaml_doc_node(L, p->value);
    }
    return NULL;
}

/* A scalar key's text, NULL when absent; -1 when present but not a string. */
static int text_of(struct yaml_doc *L, const yaml_node_t *m, const char *key, const char **out)
{
    const yaml_node_t *v = find(L, m, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!yaml_doc_is_scalar(v))
        return yaml_doc_fail(L, v, "'%s' must be a non-empty string", key);
    *out = yaml_doc_txt(v);
    return 0;
}

static int check_keys(struct yaml_doc *L, const yaml_node_t *m)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        int known = 0;
        for (int i = 0; yaml_doc_is_scalar(k) && KEYS[i]; i++)
            known |= strcmp(yaml_doc_txt(k), KEYS[i]) == 0;
        if (!known)
            return yaml_doc_fail(L, k,
                                 "maintenance window: unknown key '%s' (name, start, end, duration, every, cron, "
                                 "timezone, for, reason)",
                                 yaml_doc_is_scalar(k) ? yaml_doc_txt(k) : "");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
            if (strcmp(yaml_doc_txt(yaml_doc_node(L, q->key)), yaml_doc_txt(k)) == 0)
                return yaml_doc_fail(L, k, "maintenance window: key '%s' given twice", yaml_doc_txt(k));
    }
    return 0;
}

static int parse_window(struct yaml_doc *L, const yaml_node_t *m, int64_t now_us, struct maint_config *cfg)
{
    if (m->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, m, "a maintenance window must be a mapping with name, for and a schedule");
    if (check_keys(L, m) < 0)
        return -1;
    struct maint_spec sp = {.now_us = now_us};
    const char *targets[MAINT_MAX_TARGETS];
    if (text_of(L, m, "name", &sp.name) < 0 || text_of(L, m, "start", &sp.start) < 0 ||
        text_of(L, m, "end", &sp.end) < 0 || text_of(L, m, "duration", &sp.duration) < 0 ||
        text_of(L, m, "every", &sp.every) < 0 || text_of(L, m, "cron", &sp.cron) < 0 ||
        text_of(L, m, "timezone", &sp.timezone) < 0 || text_of(L, m, "reason", &sp.reason) < 0)
        return -1;
    const yaml_node_t *f = find(L, m, "for");
    if (!f || f->type != YAML_SEQUENCE_NODE || f->data.sequence.items.start == f->data.sequence.items.top)
        return yaml_doc_fail(L, f ? f : m,
                             "window '%s' needs 'for': a list of check names (globs), service:NAME or "
                             "label:KEY=VALUE",
                             sp.name ? sp.name : "");
    for (yaml_node_item_t *it = f->data.sequence.items.start; it < f->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_doc_node(L, *it);
        if (sp.n_targets == MAINT_MAX_TARGETS)
            return yaml_doc_fail(L, e, "'for' has more than %d items", MAINT_MAX_TARGETS);
        if (!yaml_doc_is_scalar(e))
            return yaml_doc_fail(L, e, "'for' items must be strings");
        targets[sp.n_targets++] = yaml_doc_txt(e);
    }
    sp.targets = targets;
    struct maint_window *w = &cfg->windows[cfg->n_windows];
    char why[512];
    if (maint_window_from_spec(&sp, w, why, sizeof why) < 0)
        return yaml_doc_fail(L, m, "%s", why);
    for (size_t i = 0; i < cfg->n_windows; i++)
        if (strcmp(cfg->windows[i].name, w->name) == 0)
            return yaml_doc_fail(L, m, "window '%s' is defined twice", w->name);
    cfg->n_windows++;
    return 0;
}

int maint_config_parse(const char *origin, const char *text, size_t len, int64_t now_us, struct maint_config *cfg,
                       char *err, size_t errlen)
{
    struct yaml_doc L;
    memset(cfg, 0, sizeof *cfg);
    pk_strlcpy(cfg->origin, origin, sizeof cfg->origin);
    if (yaml_doc_load(&L, origin, text, len, err, errlen) < 0)
        return -1;
    int rc = -1;
    static const struct yaml_doc_list_file spec = {"maintenance file", "windows", "maintenance windows",
                                                   MAINT_CONFIG_MAX_WINDOWS, 1};
    const yaml_node_t *list;
    size_t n;
    if (yaml_doc_root_list(&L, &spec, &list, &n) < 0)
        goto out;
    if (!(cfg->windows = calloc(n ? n : 1, sizeof *cfg->windows))) {
        snprintf(err, errlen, "%s: out of memory", origin);
        goto out;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++)
        if (parse_window(&L, yaml_doc_node(&L, *it), now_us, cfg) < 0)
            goto out;
    rc = 0;
out:
    yaml_doc_free(&L);
    if (rc < 0)
        maint_config_free(cfg);
    return rc;
}

int maint_config_load(const char *path, int64_t now_us, struct maint_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n = 0;
    char *buf = yaml_doc_read_file(path, &n, err, errlen);
    if (!buf)
        return -1;
    int rc = maint_config_parse(path, buf, n, now_us, cfg, err, errlen);
    free(buf);
    return rc;
}

void maint_config_free(struct maint_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->windows);
    cfg->windows = NULL;
    cfg->n_windows = 0;
}
