/* depends.c: depends_on across a whole set of check files (checks.h,
 * pk_checks_check_depends): every name a check depends on is a check of the
 * set, every service:NAME the service of some check, and the dependencies form
 * no cycle (a service stands for each of its checks). Run where all files are
 * given: `picket-probe validate`, `picketctl apply|diff` and the collector's
 * ApplyChecks. Errors name the check's file and line. Never allocates more than
 * n bytes of colours and n indexes of path. */
#include "checks_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graph {
    const struct pk_check *const *c;
    size_t n;
    unsigned char *colour; /* 0 unseen, 1 on the path, 2 done */
    size_t *path;
    size_t depth;
    char *err;
    size_t errlen;
};

static int find_check(const struct graph *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->c[i]->name, name) == 0)
            return (int)i;
    return -1;
}

static void cycle_message(struct graph *g, size_t back_to)
{
    size_t first = 0;
    while (first < g->depth && g->path[first] != back_to)
        first++;
    size_t len = (size_t)snprintf(g->err, g->errlen, "%s:%d: depends_on makes a cycle: ", g->c[back_to]->file,
                                  g->c[back_to]->line);
    for (size_t i = first; i < g->depth && len < g->errlen; i++)
        len += (size_t)snprintf(g->err + len, g->errlen - len, "%s -> ", g->c[g->path[i]]->name);
    if (len < g->errlen)
        snprintf(g->err + len, g->errlen - len, "%s", g->c[back_to]->name);
}

static int visit(struct graph *g, size_t v);

static int edge(struct graph *g, size_t to)
{
    if (g->colour[to] == 1) {
        cycle_message(g, to);
        return -1;
    }
    return g->colour[to] == 0 ? visit(g, to) : 0;
}

static int visit(struct graph *g, size_t v)
{
    const struct pk_check *c = g->c[v];
    g->colour[v] = 1;
    g->path[g->depth++] = v;
    for (size_t d = 0; d < c->n_depends_on; d++) {
        const char *dep = c->depends_on[d];
        if (strncmp(dep, "service:", 8) == 0) {
            for (size_t k = 0; k < g->n; k++)
                if (g->c[k]->service && strcmp(g->c[k]->service, dep + 8) == 0 && edge(g, k) < 0)
                    return -1;
        } else if (edge(g, (size_t)find_check(g, dep)) < 0) {
            return -1;
        }
    }
    g->depth--;
    g->colour[v] = 2;
    return 0;
}

int pk_checks_check_depends(const struct pk_check *const *checks, size_t n, char *err, size_t errlen)
{
    struct graph g = {checks, n, NULL, NULL, 0, err, errlen};
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < checks[i]->n_depends_on; d++) {
            const char *dep = checks[i]->depends_on[d];
            int known = 0;
            if (strncmp(dep, "service:", 8) == 0) {
                for (size_t k = 0; k < n && !known; k++)
                    known = checks[k]->service && strcmp(checks[k]->service, dep + 8) == 0;
                if (checks[i]->service && strcmp(checks[i]->service, dep + 8) == 0) {
                    snprintf(err, errlen, "%s:%d: check '%s' depends on its own service '%s'", checks[i]->file,
                             checks[i]->line, checks[i]->name, dep + 8);
                    return -1;
                }
            } else {
                known = find_check(&g, dep) >= 0;
            }
            if (!known) {
                snprintf(err, errlen, "%s:%d: check '%s' depends on %s '%s', which no check in the given files %s",
                         checks[i]->file, checks[i]->line, checks[i]->name,
                         strncmp(dep, "service:", 8) == 0 ? "service" : "check",
                         strncmp(dep, "service:", 8) == 0 ? dep + 8 : dep,
                         strncmp(dep, "service:", 8) == 0 ? "belongs to" : "is called");
                return -1;
            }
        }
    g.colour = calloc(n ? n : 1, 1);
    g.path = calloc(n ? n : 1, sizeof *g.path);
    int rc = 0;
    if (!g.colour || !g.path) {
        snprintf(err, errlen, "depends_on: out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (g.colour[i] == 0)
            rc = visit(&g, i);
    free(g.colour);
    free(g.path);
    return rc;
}

int pk_checksets_check_depends(const struct pk_checkset *sets, size_t n_sets, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < n_sets; i++)
        n += sets[i].n_checks;
    const struct pk_check **all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        snprintf(err, errlen, "depends_on: out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_sets; i++)
        for (size_t j = 0; j < sets[i].n_checks; j++)
            all[k++] = &sets[i].checks[j];
    int rc = pk_checks_check_depends(all, n, err, errlen);
    free(all);
    return rc;
}
