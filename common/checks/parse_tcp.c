/* parse_tcp.c: the tcp check type's `tcp:` block (host, port, send, expect). */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_parse_tcp(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"host", "port", "send", "expect", NULL};
    const yaml_node_t *o = ck_options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = ck_find_value(L, o, "host")))
        return ck_fail_at(L, o, "'host' is required in check '%s'", c->name);
    if (ck_get_template(L, v, "host", &c->u.tcp.host) < 0 || ck_get_port(L, o, 1, &c->u.tcp.port) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "send")) && ck_get_template(L, v, "send", &c->u.tcp.send) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "expect")) && (ck_get_string(L, v, "expect", &c->u.tcp.expect) < 0 ||
                                                ck_compile_regex(L, v, c->u.tcp.expect, &c->u.tcp.expect_regex) < 0))
        return -1;
    if (ck_host_port_target(L, o, c, c->u.tcp.host, c->u.tcp.port) < 0)
        return -1;
    return ck_check_asserts(L, map, c, AS_OUTPUT);
}

void ck_free_tcp(struct pk_check *c)
{
    free(c->u.tcp.host);
    free(c->u.tcp.send);
    free(c->u.tcp.expect);
    ck_free_regex(c->u.tcp.expect_regex);
}
