/* parse_tls.c: the tls check type's `tls:` block (host, port, SNI, expiry
 * thresholds in days, optional CA file for a chain check). */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_parse_tls(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"host", "port", "server_name", "degraded_days", "failed_days", "ca_file", NULL};
    const yaml_node_t *o = ck_options_block(L, map, c, keys), *v;
    long x;
    if (!o)
        return -1;
    c->u.tls.port = 443;
    c->u.tls.degraded_days = 30;
    c->u.tls.failed_days = 7;
    if (!(v = ck_find_value(L, o, "host")))
        return ck_fail_at(L, o, "'host' is required in 'tls' of check '%s'", c->name);
    if (ck_get_string(L, v, "host", &c->u.tls.host) < 0 || ck_get_port(L, o, 0, &c->u.tls.port) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "server_name")) && ck_get_string(L, v, "server_name", &c->u.tls.server_name) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "ca_file")) && ck_get_string(L, v, "ca_file", &c->u.tls.ca_file) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "degraded_days"))) {
        if (ck_get_int_in(L, v, "degraded_days", 0, 3650, &x) < 0)
            return -1;
        c->u.tls.degraded_days = x;
    }
    if ((v = ck_find_value(L, o, "failed_days"))) {
        if (ck_get_int_in(L, v, "failed_days", 0, 3650, &x) < 0)
            return -1;
        c->u.tls.failed_days = x;
    }
    if (c->u.tls.failed_days > c->u.tls.degraded_days)
        return ck_fail_at(L, o, "'failed_days' (%lld) must not exceed 'degraded_days' (%lld) in check '%s'",
                          (long long)c->u.tls.failed_days, (long long)c->u.tls.degraded_days, c->name);
    if (ck_host_port_target(L, o, c, c->u.tls.host, c->u.tls.port) < 0)
        return -1;
    return ck_check_asserts(L, map, c, AS_TIME);
}

void ck_free_tls(struct pk_check *c)
{
    free(c->u.tls.host);
    free(c->u.tls.server_name);
    free(c->u.tls.ca_file);
}
