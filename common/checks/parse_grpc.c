/* parse_grpc.c: the grpc check type's `grpc:` block (target, health service
 * name, TLS, CA file). */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_parse_grpc(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"target", "service", "tls", "ca_file", NULL};
    const yaml_node_t *o = ck_options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = ck_find_value(L, o, "target")))
        return ck_fail_at(L, o, "'target' is required in 'grpc' of check '%s'", c->name);
    if (ck_get_string(L, v, "target", &c->u.grpc.target) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "service")) && !ck_is_null(v)) {
        if (ck_get_string(L, v, "service", &c->u.grpc.service) < 0)
            return -1;
    } else if (!(c->u.grpc.service = strdup(""))) {
        return ck_fail_at(L, o, "out of memory");
    }
    if ((v = ck_find_value(L, o, "tls")) && ck_get_bool(L, v, "tls", &c->u.grpc.tls) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "ca_file")) && ck_get_string(L, v, "ca_file", &c->u.grpc.ca_file) < 0)
        return -1;
    if (!(c->target = strdup(c->u.grpc.target)))
        return ck_fail_at(L, o, "out of memory");
    return ck_check_asserts(L, map, c, AS_TIME);
}

void ck_free_grpc(struct pk_check *c)
{
    free(c->u.grpc.target);
    free(c->u.grpc.service);
    free(c->u.grpc.ca_file);
}
