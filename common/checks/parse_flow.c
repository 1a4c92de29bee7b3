/* parse_flow.c: the flow check type: a list of HTTP steps whose captures feed
 * later steps as {{name}}; a name used before the step that captures it is
 * reported as such. */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the capture names of every step first, so a step can be told that a
 * name it uses is captured only later. */
static int prescan_captures(struct pk_check_loader *L, const yaml_node_t *steps, struct flow_capture_name **out,
                            size_t *n_out)
{
    size_t cap = 0, n = 0;
    struct flow_capture_name *caps = NULL;
    for (size_t i = 0; i < ck_count_items(steps); i++) {
        const yaml_node_t *st = yaml_document_get_node(&L->doc, steps->data.sequence.items.start[i]);
        if (!st || st->type != YAML_MAPPING_NODE)
            continue;
        const yaml_node_t *cm = ck_find_value(L, st, "capture"), *nm = ck_find_value(L, st, "name");
        if (!cm || cm->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = cm->data.mapping.pairs.start; p < cm->data.mapping.pairs.top; p++) {
            const yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
            if (!k || !ck_is_string(k))
                continue;
            struct flow_capture_name *grown = pk_grow(caps, &cap, n + 1, sizeof *caps, 0);
            if (!grown) {
                free(caps);
                return ck_fail_at(L, cm, "out of memory");
            }
            caps = grown;
            caps[n].name = ck_text_of(k);
            caps[n].step = i;
            caps[n].step_name = nm && ck_is_string(nm) ? ck_text_of(nm) : "?";
            n++;
        }
    }
    *out = caps;
    *n_out = n;
    return 0;
}

int ck_parse_flow(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    const yaml_node_t *steps = ck_find_value(L, map, "steps");
    struct flow_capture_name *caps = NULL;
    size_t n_caps = 0;
    int rc = -1;
    if (!steps)
        return ck_fail_at(L, map, "check '%s' of type flow has no 'steps'", c->name);
    if (steps->type != YAML_SEQUENCE_NODE || ck_count_items(steps) == 0 || ck_count_items(steps) > MAX_STEPS)
        return ck_fail_at(L, steps, "'steps' must be a list of 1..%d steps in check '%s'", MAX_STEPS, c->name);
    if (prescan_captures(L, steps, &caps, &n_caps) < 0)
        return -1;
    size_t count = ck_count_items(steps);
    if (!(c->u.flow.steps = calloc(count, sizeof *c->u.flow.steps))) {
        ck_fail_at(L, steps, "out of memory");
        goto out;
    }
    L->caps = caps;
    L->n_caps = n_caps;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *st = ck_child(L, steps->data.sequence.items.start[i]);
        c->u.flow.n_steps = i + 1;
        if (!st || ck_parse_step(L, st, i, c->u.flow.steps) < 0)
            goto out;
    }
    rc = ck_step_target(L, map, &c->u.flow.steps[0], c);
out:
    L->caps = NULL;
    L->n_caps = 0;
    L->step = 0;
    free(caps);
    return rc;
}

void ck_free_flow(struct pk_check *c)
{
    for (size_t i = 0; i < c->u.flow.n_steps; i++)
        ck_step_free(&c->u.flow.steps[i]);
    free(c->u.flow.steps);
}

/* The target for reports: the first request's URL with plain variables filled in. */
int ck_step_target(struct pk_check_loader *L, const yaml_node_t *map, const struct pk_step *first, struct pk_check *c)
{
    if (!(c->target = ck_display_target(L, first->request.url)))
        return ck_fail_at(L, map, "out of memory");
    return 0;
}
