/* incident_deps.c: the root cause of an incident by depends_on
 * (incident_deps.h). Dependencies are followed at most MAX_DEPTH steps, so a
 * cycle that reached the collector from files validated separately cannot loop. */
#include "incident_deps.h"

#include <string.h>

#define MAX_DEPTH 16

/* 1 when the ','-joined list holds item. */
static int listed(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0)
            return 1;
        p += len + (comma ? 1 : 0);
    }
    return 0;
}

int incident_deps_direct(const struct store_check_meta *a, const struct store_check_meta *b)
{
    if (!a->meta.depends_on[0] || a == b)
        return 0;
    if (listed(a->meta.depends_on, b->name))
        return 1;
    char svc[sizeof b->service + 8];
    if (!b->service[0])
        return 0;
    memcpy(svc, "service:", 8);
    memcpy(svc + 8, b->service, strlen(b->service) + 1);
    return listed(a->meta.depends_on, svc);
}

size_t incident_deps_closure(const struct store_check_meta *meta, size_t n_meta, const struct store_check_meta **all,
                             size_t n, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; all[i]->meta.depends_on[0] && j < n_meta && n < cap; j++) {
            size_t k = 0;
            while (k < n && strcmp(all[k]->name, meta[j].name) != 0)
                k++;
            if (k == n && incident_deps_direct(all[i], &meta[j]))
                all[n++] = &meta[j];
        }
    return n;
}

/* The incident of check j open at t (started at or before it), or NULL. */
static const struct pk_incident *open_at(struct pk_incident *const *raw, const size_t *n_raw, size_t j, int64_t t)
{
    for (size_t k = 0; k < n_raw[j]; k++)
        if (raw[j][k].start_us <= t && (raw[j][k].end_us < 0 || raw[j][k].end_us > t))
            return &raw[j][k];
    return NULL;
}

static const char *root_of(const struct store_check_meta *const *checks, size_t n, struct pk_incident *const *raw,
                           const size_t *n_raw, size_t i, int64_t start_us, int depth)
{
    if (depth >= MAX_DEPTH || !checks[i]->meta.depends_on[0])
        return NULL;
    for (size_t j = 0; j < n; j++) {
        if (!incident_deps_direct(checks[i], checks[j]))
            continue;
        const struct pk_incident *dep = open_at(raw, n_raw, j, start_us);
        if (!dep)
            continue;
        const char *above = root_of(checks, n, raw, n_raw, j, dep->start_us, depth + 1);
        return above ? above : checks[j]->name;
    }
    return NULL;
}

const char *incident_deps_root(const struct store_check_meta *const *checks, size_t n,
                               struct pk_incident *const *raw, const size_t *n_raw, size_t i, int64_t start_us)
{
    return root_of(checks, n, raw, n_raw, i, start_us, 0);
}
