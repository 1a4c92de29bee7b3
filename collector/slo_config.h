/* slo_config.h: SLOs over groups of checks, declared in the collector's --slos
 * YAML file (docs/ANALYTICS.md "SLOs over groups of checks"). A group SLO names
 * its member checks by selectors (service and/or check name patterns, all
 * given must match); its SLI is event-based over the members' results, the same
 * good/bad definition as the per-check SLO. This module only reads, validates
 * and matches; rpc_query.c and alerts.c compute the figures. */
#ifndef PK_SLO_CONFIG_H
#define PK_SLO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SLO_CONFIG_MAX_GROUPS 256
#define SLO_GROUP_MAX_PATTERNS 64
#define SLO_NAME_MAX 128

struct slo_group {
    char name[SLO_NAME_MAX];       /* unique in the file; no '|' (alert keys use it) */
    char description[512];         /* "" when not given */
    double target_percent;         /* 0 < target < 100 */
    int64_t window_ms;             /* default 30 days */
    char service[SLO_NAME_MAX];    /* selector: the member's service; "" = any service */
    int n_patterns;                /* selector: fnmatch(3) patterns on the check name; 0 = any */
    char patterns[SLO_GROUP_MAX_PATTERNS][SLO_NAME_MAX];
    int line;                      /* where it starts in its file, for messages */
};

/* Every group SLO of one file. Read-only once loaded: the collector's threads
 * share one. */
struct slo_config {
    char origin[256]; /* the file it came from */
    size_t n_groups;
    struct slo_group *groups; /* owned; slo_config_free */
};

/* Reads and validates the file; errors are "FILE:LINE:COL: message". 0, or -1
 * with err (cfg then holds nothing to free). */
int slo_config_load(const char *path, struct slo_config *cfg, char *err, size_t errlen);
/* The same from a string (origin names it in messages). */
int slo_config_parse(const char *origin, const char *text, size_t len, struct slo_config *cfg, char *err,
                     size_t errlen);
void slo_config_free(struct slo_config *cfg);

/* 1 when the check (name, service: "" when none) is a member of the group:
 * every selector the group gives matches. */
int slo_group_selects(const struct slo_group *g, const char *check, const char *service);
/* The group called name, or NULL. */
const struct slo_group *slo_config_find(const struct slo_config *cfg, const char *name);

#endif
