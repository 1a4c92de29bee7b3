/* assign.c: validates the check files of an apply or diff with the same loader
 * the probes use (with ${ENV} and secrets left to the probes) and lays them out
 * as store rows: each check's normalised definition, its keys and its selector,
 * each file's vars/secrets blocks. Runs on the control thread; never touches
 * the network or the database itself. */
#include "assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int assign_load(const struct assign_input *in, size_t n, struct assign_set *out, char *err, size_t errlen)
{
    struct assign_set a = {0};
    struct pk_var_overrides defer = {.defer_environment = 1};
    size_t total = 0;
    if (n == 0) {
        snprintf(err, errlen, "no check files given");
        return -1;
    }
    if (!(a.sets = calloc(n, sizeof *a.sets)) || !(a.files = calloc(n, sizeof *a.files)))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (pk_checkset_load_string_with_vars(in[i].content, in[i].len, in[i].name, &defer, &a.sets[i], err,
                                              errlen) < 0)
            goto fail;
        a.n_sets = i + 1;
        a.files[i] = (struct store_assign_file){in[i].name, a.sets[i].vars_definition, a.sets[i].secrets_definition};
        total += a.sets[i].n_checks;
    }
    if (pk_checksets_check_depends(a.sets, a.n_sets, err, errlen) < 0)
        goto fail;
    if (!(a.checks = calloc(total ? total : 1, sizeof *a.checks)))
        goto oom;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < a.sets[i].n_checks; k++) {
            const struct pk_check *c = &a.sets[i].checks[k];
            /* Quadratic, but bounded by what one apply carries (8 MiB of YAML). */
            for (size_t j = 0; j < a.n_checks; j++)
                if (strcmp(a.checks[j].name, c->name) == 0) {
                    const struct pk_check *first = NULL;
                    for (size_t f = 0; f < n && !first; f++)
                        for (size_t m = 0; m < a.sets[f].n_checks && !first; m++)
                            if (a.sets[f].checks[m].name == a.checks[j].name)
                                first = &a.sets[f].checks[m];
                    snprintf(err, errlen, "%s:%d: check '%s' is already defined at %s:%d", c->file, c->line, c->name,
                             first ? first->file : "?", first ? first->line : 0);
                    goto fail;
                }
            a.checks[a.n_checks++] = (struct store_assign_check){
                .name = c->name,
                .file_index = i,
                .definition = c->definition,
                .keys = c->def_keys,
                .n_keys = c->n_def_keys,
                .regions = c->selector_regions,
                .n_regions = c->n_selector_regions,
                .labels = c->selector_labels,
                .n_labels = c->n_selector_labels,
                .type = c->type,
                .target = c->target,
                .interval_ms = c->interval_ms,
                .service = c->service,
                .meta = pk_check_meta_of(c),
            };
        }
    *out = a;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    assign_free(&a);
    return -1;
}

void assign_free(struct assign_set *a)
{
    for (size_t i = 0; i < a->n_sets; i++)
        pk_checkset_free(&a->sets[i]);
    free(a->sets);
    free(a->files);
    free(a->checks);
    memset(a, 0, sizeof *a);
}
