/* alert_config.c: the --alerts YAML file (docs/ALERTS.md "Configuration"). */
#include "alerts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "analytics.h"
#include "checks.h"
#include "notify_config.h"
#include "result.h"
#include "yaml_doc.h"

static int get_str(struct yaml_doc *L, const yaml_node_t *n, const char *what, char *out, size_t outlen)
{
    if (!yaml_doc_is_scalar(n))
        return yaml_doc_fail(L, n, "'%s' must be a non-empty string", what);
    if (n->data.scalar.length >= outlen)
        return yaml_doc_fail(L, n, "'%s' is longer than %zu characters", what, outlen - 1);
    pk_strlcpy(out, yaml_doc_txt(n), outlen);
    return 0;
}

static int get_dur(struct yaml_doc *L, const yaml_node_t *n, const char *what, int64_t min_ms, int64_t *ms)
{
    if (!yaml_doc_is_scalar(n) || pk_parse_duration_ms(yaml_doc_txt(n), ms) < 0)
        return yaml_doc_fail(L, n, "'%s' must be a duration like 30s, 5m or 250ms, got '%s'", what,
                    yaml_doc_is_scalar(n) ? yaml_doc_txt(n) : "");
    if (*ms < min_ms)
        return yaml_doc_fail(L, n, "'%s' must be at least %lld ms, got '%s'", what, (long long)min_ms, yaml_doc_txt(n));
    return 0;
}

static int get_int(struct yaml_doc *L, const yaml_node_t *n, const char *what, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = yaml_doc_is_scalar(n) ? strtol(yaml_doc_txt(n), &end, 10) : 0;
    if (!yaml_doc_is_scalar(n) || *end || errno || v < min || v > max)
        return yaml_doc_fail(L, n, "'%s' must be an integer from %ld to %ld", what, min, max);
    *out = (int)v;
    return 0;
}

static int get_num(struct yaml_doc *L, const yaml_node_t *n, const char *what, double min, double *out)
{
    char *end;
    double v = yaml_doc_is_scalar(n) ? strtod(yaml_doc_txt(n), &end) : 0;
    if (!yaml_doc_is_scalar(n) || *end || !(v >= min) || v > 1e9)
        return yaml_doc_fail(L, n, "'%s' must be a number of at least %g", what, min);
    *out = v;
    return 0;
}

static int key_allowed(const char *k, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(k, *allowed) == 0)
            return 1;
    return 0;
}

/* Checks every key of map is allowed and unique. */
static int check_keys(struct yaml_doc *L, const yaml_node_t *map, const char *where, const char *const *allowed)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(L, p->key);
        if (!yaml_doc_is_scalar(k))
            return yaml_doc_fail(L, k, "%s: keys must be strings", where);
        if (!key_allowed(yaml_doc_txt(k), allowed))
            return yaml_doc_fail(L, k, "%s: unknown key '%s'", where, yaml_doc_txt(k));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(yaml_doc_txt(yaml_doc_node(L, q->key)), yaml_doc_txt(k)) == 0)
                return yaml_doc_fail(L, k, "%s: key '%s' given twice", where, yaml_doc_txt(k));
    }
    return 0;
}

static const char *const ROOT_KEYS[] = {"evaluation_interval", "public_url", "receivers", "rules", NULL};
static const char *const RECEIVER_KEYS[] = {"name", "type", "url", "timeout", "retry_initial", "retry_max", "secret",
                                            "secret_file", "secret_env", "ca_file", "proxy", "chat_id", "from", "to",
                                            "username", "message", NULL};
static const char *const RULE_KEYS[] = {"name", "type", "severity", "checks", "probes", "receivers", "group_by",
                                        "group_wait", "group_interval", "repeat_interval", "flap_flips", "flap_window",
                                        "open_after", "close_after", "quorum", "window", "after", "long_window",
                                        "short_window", "burn_factor", "threshold", "consecutive", "slos", "metric", "fast",
                                        "direction", NULL};
static const char *const RULE_TYPES[] = {"incident", "latency_budget", "baseline_regression", "slo_burn",
                                         "spool_drops", "silent_probe", NULL};
static const char *const LABELS[] = {"alertname", "check", "service", "probe", "region", "severity", "slo", NULL};

static int parse_receiver(struct yaml_doc *L, const yaml_node_t *m, struct alert_config *cfg)
{
    if (m->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, m, "a receiver must be a mapping with name and type");
    if (cfg->n_receivers >= ALERT_MAX_RECEIVERS)
        return yaml_doc_fail(L, m, "more than %d receivers", ALERT_MAX_RECEIVERS);
    if (check_keys(L, m, "receiver", RECEIVER_KEYS) < 0)
        return -1;
    struct alert_receiver *r = &cfg->receivers[cfg->n_receivers];
    memset(r, 0, sizeof *r);
    r->type = -1;
    r->timeout_ms = 5000;
    r->retry_initial_ms = 1000;
    r->retry_max_ms = 300000;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = yaml_doc_txt(yaml_doc_node(L, p->key));
        yaml_node_t *v = yaml_doc_node(L, p->value);
        int rc = 0;
        if (!strcmp(k, "name")) {
            rc = get_str(L, v, "name", r->name, sizeof r->name);
        } else if (!strcmp(k, "type")) {
            r->type = yaml_doc_is_scalar(v) ? notify_receiver_type(yaml_doc_txt(v)) : -1;
            if (r->type < 0)
                return yaml_doc_fail(L, v, "receiver 'type' must be %s, got '%s'", NOTIFY_TYPE_LIST,
                                     yaml_doc_is_scalar(v) ? yaml_doc_txt(v) : "");
        } else if (!strcmp(k, "url")) {
            rc = get_str(L, v, "url", r->url, sizeof r->url);
        } else if (!strcmp(k, "timeout")) {
            rc = get_dur(L, v, "timeout", 10, &r->timeout_ms);
        } else if (!strcmp(k, "retry_initial")) {
            rc = get_dur(L, v, "retry_initial", 10, &r->retry_initial_ms);
        } else if (!strcmp(k, "retry_max")) {
            rc = get_dur(L, v, "retry_max", 10, &r->retry_max_ms);
        } else {
            rc = notify_receiver_key(L, k, v, r);
        }
        if (rc < 0)
            return -1;
    }
    if (!r->name[0] || r->type < 0)
        return yaml_doc_fail(L, m, "a receiver needs name and type");
    if (notify_receiver_finish(L, m, r) < 0)
        return -1;
    for (int i = 0; i < cfg->n_receivers; i++)
        if (!strcmp(cfg->receivers[i].name, r->name))
            return yaml_doc_fail(L, m, "receiver '%s' is defined twice", r->name);
    if (r->type == ALERT_RCV_ALERTMANAGER) {
        size_t len = strlen(r->url);
        while (len > 7 && r->url[len - 1] == '/')
            r->url[--len] = '\0';
        if (len + sizeof "/api/v2/alerts" > sizeof r->url)
            return yaml_doc_fail(L, m, "receiver '%s': url too long", r->name);
        strcat(r->url, "/api/v2/alerts");
    }
    cfg->n_receivers++;
    return 0;
}

/* The defaults of a rule before its keys are read. */
static void rule_defaults(struct alert_rule *r)
{
    memset(r, 0, sizeof *r);
    r->type = -1;
    pk_strlcpy(r->severity, "page", sizeof r->severity);
    pk_strlcpy(r->checks, "*", sizeof r->checks);
    r->repeat_interval_ms = 4 * 3600 * 1000LL;
    r->flap_flips = 4;
    r->flap_window_ms = 600000;
    r->open_after = 3;
    r->close_after = 3;
    r->quorum = 0; /* the collector's (--quorum) */
    r->slo_long_ms = 3600000;
    r->slo_short_ms = 300000;
    r->slo_factor = 14.4;
    r->baseline_threshold = 3;
    r->baseline_k = 3;
    r->baseline_direction = PK_REGRESSION_METRIC_DIR;
}

/* A rule's 'receivers' (names of receivers defined earlier) or 'group_by' (labels) list. */
static int parse_rule_list(struct yaml_doc *L, const char *k, const yaml_node_t *v, const struct alert_config *cfg,
                           struct alert_rule *r)
{
    int is_rcv = k[0] == 'r';
    if (v->type != YAML_SEQUENCE_NODE)
        return yaml_doc_fail(L, v, "'%s' must be a list", k);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_doc_node(L, *it);
        if (!yaml_doc_is_scalar(e))
            return yaml_doc_fail(L, e, "'%s' items must be names", k);
        if (is_rcv) {
            int found = -1;
            for (int i = 0; i < cfg->n_receivers; i++)
                if (!strcmp(cfg->receivers[i].name, yaml_doc_txt(e)))
                    found = i;
            if (found < 0)
                return yaml_doc_fail(L, e, "unknown receiver '%s' (receivers must be defined before rules)", yaml_doc_txt(e));
            r->receivers[r->n_receivers++] = found;
        } else {
            if (!key_allowed(yaml_doc_txt(e), LABELS))
                return yaml_doc_fail(L, e, "group_by: unknown label '%s' (alertname, check, service, probe, region, "
                                  "severity, slo)", yaml_doc_txt(e));
            if (r->n_group_by >= ALERT_MAX_GROUP_BY)
                return yaml_doc_fail(L, e, "group_by: more than %d labels", ALERT_MAX_GROUP_BY);
            pk_strlcpy(r->group_by[r->n_group_by++], yaml_doc_txt(e), sizeof r->group_by[0]);
        }
    }
    return 0;
}

/* The nodes of a rule that its final checks point errors at. */
struct rule_nodes {
    const yaml_node_t *type, *slos, *metric, *fast, *direction;
    int has_window;
};

/* A rule's numeric key (durations, counts, factors): 0, -1 on a bad value; 1 when k is none of them. */
static int parse_rule_number(struct yaml_doc *L, const char *k, const yaml_node_t *v, struct alert_rule *r,
                             struct rule_nodes *n)
{
    if (!strcmp(k, "group_wait"))
        return get_dur(L, v, k, 0, &r->group_wait_ms);
    if (!strcmp(k, "group_interval"))
        return get_dur(L, v, k, 0, &r->group_interval_ms);
    if (!strcmp(k, "repeat_interval"))
        return get_dur(L, v, k, 0, &r->repeat_interval_ms);
    if (!strcmp(k, "flap_flips"))
        return get_int(L, v, k, 1, 1000, &r->flap_flips);
    if (!strcmp(k, "flap_window"))
        return get_dur(L, v, k, 1, &r->flap_window_ms);
    if (!strcmp(k, "open_after"))
        return get_int(L, v, k, 1, 1000, &r->open_after);
    if (!strcmp(k, "close_after"))
        return get_int(L, v, k, 1, 1000, &r->close_after);
    if (!strcmp(k, "quorum"))
        return get_int(L, v, k, 0, 64, &r->quorum);
    if (!strcmp(k, "window") || !strcmp(k, "after")) {
        n->has_window = 1;
        return get_dur(L, v, k, 1000, &r->window_ms);
    }
    if (!strcmp(k, "long_window"))
        return get_dur(L, v, k, 60000, &r->slo_long_ms);
    if (!strcmp(k, "short_window"))
        return get_dur(L, v, k, 60000, &r->slo_short_ms);
    if (!strcmp(k, "burn_factor"))
        return get_num(L, v, k, 0.001, &r->slo_factor);
    if (!strcmp(k, "threshold"))
        return get_num(L, v, k, 0.001, &r->baseline_threshold);
    if (!strcmp(k, "consecutive"))
        return get_int(L, v, k, 1, 1000, &r->baseline_k);
    return 1;
}

/* One key of a rule: 0, or -1 with the error reported through L. */
static int parse_rule_key(struct yaml_doc *L, const char *k, const yaml_node_t *v, const struct alert_config *cfg,
                          struct alert_rule *r, struct rule_nodes *n)
{
    if (!strcmp(k, "name")) {
        int rc = get_str(L, v, "name", r->name, sizeof r->name);
        if (!rc && strchr(r->name, '|'))
            return yaml_doc_fail(L, v, "rule name '%s' must not contain '|'", r->name);
        return rc;
    }
    if (!strcmp(k, "type")) {
        n->type = v;
        for (int i = 0; RULE_TYPES[i]; i++)
            if (yaml_doc_is_scalar(v) && !strcmp(yaml_doc_txt(v), RULE_TYPES[i]))
                r->type = i;
        if (r->type < 0)
            return yaml_doc_fail(L, v,
                        "rule 'type' must be incident, latency_budget, baseline_regression, slo_burn, "
                        "spool_drops or silent_probe, got '%s'", yaml_doc_is_scalar(v) ? yaml_doc_txt(v) : "");
        return 0;
    }
    if (!strcmp(k, "severity"))
        return get_str(L, v, "severity", r->severity, sizeof r->severity);
    if (!strcmp(k, "checks") || !strcmp(k, "probes")) {
        r->checks_given = 1;
        return get_str(L, v, k, r->checks, sizeof r->checks);
    }
    if (!strcmp(k, "slos")) {
        n->slos = v;
        return get_str(L, v, k, r->slos, sizeof r->slos);
    }
    if (!strcmp(k, "fast")) {
        if (!yaml_doc_is_scalar(v) || (strcmp(yaml_doc_txt(v), "true") && strcmp(yaml_doc_txt(v), "false")))
            return yaml_doc_fail(L, v, "'fast' must be true or false");
        n->fast = v;
        r->baseline_no_fast = !strcmp(yaml_doc_txt(v), "false");
        return 0;
    }
    if (!strcmp(k, "direction")) {
        const char *t = yaml_doc_is_scalar(v) ? yaml_doc_txt(v) : "";
        n->direction = v;
        r->baseline_direction = !strcmp(t, "down") ? PK_DIR_DOWN : !strcmp(t, "up") ? PK_DIR_UP
                                : !strcmp(t, "both") ? PK_DIR_BOTH : 0;
        if (!r->baseline_direction)
            return yaml_doc_fail(L, v, "'direction' must be down, up or both, got '%s'", t);
        return 0;
    }
    if (!strcmp(k, "metric")) {
        n->metric = v;
        return get_str(L, v, k, r->baseline_metric, sizeof r->baseline_metric);
    }
    if (!strcmp(k, "receivers") || !strcmp(k, "group_by"))
        return parse_rule_list(L, k, v, cfg, r);
    return parse_rule_number(L, k, v, r, n) < 0 ? -1 : 0;
}

/* The checks across a rule's keys and the defaults that depend on its type. */
static int finish_rule(struct yaml_doc *L, const yaml_node_t *m, const struct alert_config *cfg, struct alert_rule *r,
                       const struct rule_nodes *n)
{
    if (!r->name[0] || r->type < 0)
        return yaml_doc_fail(L, n->type, "a rule needs name and type");
    for (int i = 0; i < cfg->n_rules; i++)
        if (!strcmp(cfg->rules[i].name, r->name))
            return yaml_doc_fail(L, m, "rule '%s' is defined twice", r->name);
    if (!n->has_window)
        r->window_ms = r->type == ALERT_BASELINE && r->baseline_metric[0] ? 300000 /* reads raw results */
                       : r->type == ALERT_SILENT_PROBE || r->type == ALERT_BASELINE ? 60000
                       : r->type == ALERT_SPOOL_DROPS ? 600000 : 300000;
    int probe_rule = r->type == ALERT_SILENT_PROBE || r->type == ALERT_SPOOL_DROPS;
    if (r->n_group_by == 0) {
        pk_strlcpy(r->group_by[0], "alertname", sizeof r->group_by[0]);
        pk_strlcpy(r->group_by[1], probe_rule ? "probe" : r->slos[0] && !r->checks_given ? "slo" : "check",
                   sizeof r->group_by[1]);
        r->n_group_by = 2;
    }
    if (n->slos && r->type != ALERT_SLO_BURN)
        return yaml_doc_fail(L, n->slos, "rule '%s': 'slos' is a key of slo_burn rules only", r->name);
    if (n->fast && r->type != ALERT_BASELINE)
        return yaml_doc_fail(L, n->fast, "rule '%s': 'fast' is a key of baseline_regression rules", r->name);
    if (n->metric && (r->type != ALERT_BASELINE || !r->baseline_metric[0]))
        return yaml_doc_fail(L, n->metric, "rule '%s': 'metric' (a metric name the checks extract) is a key of "
                             "baseline_regression rules only", r->name);
    if (n->direction && (r->type != ALERT_BASELINE || !r->baseline_metric[0]))
        return yaml_doc_fail(L, n->direction, "rule '%s': 'direction' is a key of baseline_regression rules with "
                             "a 'metric' (latency regresses upward)", r->name);
    if (r->slo_short_ms >= r->slo_long_ms)
        return yaml_doc_fail(L, m, "rule '%s': short_window must be shorter than long_window", r->name);
    return 0;
}

static int parse_rule(struct yaml_doc *L, const yaml_node_t *m, struct alert_config *cfg)
{
    if (m->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(L, m, "a rule must be a mapping with name and type");
    if (cfg->n_rules >= ALERT_MAX_RULES)
        return yaml_doc_fail(L, m, "more than %d rules", ALERT_MAX_RULES);
    if (check_keys(L, m, "rule", RULE_KEYS) < 0)
        return -1;
    struct alert_rule *r = &cfg->rules[cfg->n_rules];
    rule_defaults(r);
    struct rule_nodes n = { .type = m };
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = yaml_doc_txt(yaml_doc_node(L, p->key));
        if (parse_rule_key(L, k, yaml_doc_node(L, p->value), cfg, r, &n) < 0)
            return -1;
    }
    if (finish_rule(L, m, cfg, r, &n) < 0)
        return -1;
    cfg->n_rules++;
    return 0;
}

int alert_config_parse(const char *origin, const char *text, size_t len, struct alert_config *cfg, char *err,
                       size_t errlen)
{
    struct yaml_doc L;
    char public_url[512] = "";
    memset(cfg, 0, sizeof *cfg);
    cfg->evaluation_interval_ms = 5000;
    if (yaml_doc_load(&L, origin, text, len, err, errlen) < 0)
        return -1;
    int rc = -1;
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&L, root, "the alerts file must be a mapping with receivers and rules");
        goto out;
    }
    if (check_keys(&L, root, "alerts file", ROOT_KEYS) < 0)
        goto out;
    yaml_node_t *rcv = NULL, *rules = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *k = yaml_doc_txt(yaml_doc_node(&L, p->key));
        yaml_node_t *v = yaml_doc_node(&L, p->value);
        if (!strcmp(k, "evaluation_interval")) {
            if (get_dur(&L, v, k, 100, &cfg->evaluation_interval_ms) < 0)
                goto out;
        } else if (!strcmp(k, "public_url")) {
            if (get_str(&L, v, k, public_url, sizeof public_url) < 0)
                goto out;
        } else if (!strcmp(k, "receivers")) {
            rcv = v;
        } else {
            rules = v;
        }
    }
    if (!rcv || rcv->type != YAML_SEQUENCE_NODE || rcv->data.sequence.items.start == rcv->data.sequence.items.top) {
        yaml_doc_fail(&L, rcv ? rcv : root, "'receivers' must be a non-empty list");
        goto out;
    }
    for (yaml_node_item_t *it = rcv->data.sequence.items.start; it < rcv->data.sequence.items.top; it++)
        if (parse_receiver(&L, yaml_doc_node(&L, *it), cfg) < 0)
            goto out;
    for (int i = 0; i < cfg->n_receivers; i++)
        pk_strlcpy(cfg->receivers[i].public_url, public_url, sizeof cfg->receivers[i].public_url);
    if (!rules || rules->type != YAML_SEQUENCE_NODE ||
        rules->data.sequence.items.start == rules->data.sequence.items.top) {
        yaml_doc_fail(&L, rules ? rules : root, "'rules' must be a non-empty list");
        goto out;
    }
    for (yaml_node_item_t *it = rules->data.sequence.items.start; it < rules->data.sequence.items.top; it++)
        if (parse_rule(&L, yaml_doc_node(&L, *it), cfg) < 0)
            goto out;
    rc = 0;
out:
    yaml_doc_free(&L);
    return rc;
}

int alert_config_load(const char *path, struct alert_config *cfg, char *err, size_t errlen)
{
    size_t n = 0;
    char *buf = yaml_doc_read_file(path, &n, err, errlen);
    if (!buf)
        return -1;
    int rc = alert_config_parse(path, buf, n, cfg, err, errlen);
    free(buf);
    return rc;
}
