/* types.c: the table of check types, one row each (name, the check keys the
 * type adds, parser, free), indexed by enum pk_check_kind. The probe's
 * registry (probe/checks/registry.c) keys its executors by the same enum.
 * Adding a type: one row here, one parse_<type>.c, one executor. */
#include "checks_int.h"

#include <string.h>

const struct pk_check_type pk_check_types[PK_CHECK_KINDS] = {
    [PK_CHECK_HTTP] = {PK_CHECK_HTTP, "http",
                       (const char *const[]){"request", "assert", "extract", "burst", "samples", "url", "method",
                                             "headers", "body", "expect_status", NULL},
                       ck_parse_http, ck_free_http},
    [PK_CHECK_FLOW] = {PK_CHECK_FLOW, "flow", (const char *const[]){"steps", NULL}, ck_parse_flow, ck_free_flow},
    [PK_CHECK_TCP] = {PK_CHECK_TCP, "tcp", (const char *const[]){"tcp", "assert", NULL}, ck_parse_tcp, ck_free_tcp},
    [PK_CHECK_DNS] = {PK_CHECK_DNS, "dns", (const char *const[]){"dns", "assert", NULL}, ck_parse_dns, ck_free_dns},
    [PK_CHECK_TLS] = {PK_CHECK_TLS, "tls", (const char *const[]){"tls", "assert", NULL}, ck_parse_tls, ck_free_tls},
    [PK_CHECK_GRPC] = {PK_CHECK_GRPC, "grpc", (const char *const[]){"grpc", "assert", NULL}, ck_parse_grpc,
                       ck_free_grpc},
    [PK_CHECK_EXEC] = {PK_CHECK_EXEC, "exec", (const char *const[]){"exec", "assert", NULL}, ck_parse_exec,
                       ck_free_exec},
};

const struct pk_check_type *pk_check_type_find(const char *name)
{
    for (size_t i = 0; name && i < PK_CHECK_KINDS; i++)
        if (strcmp(pk_check_types[i].name, name) == 0)
            return &pk_check_types[i];
    return NULL;
}
