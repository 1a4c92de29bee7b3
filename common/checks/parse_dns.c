/* parse_dns.c: the dns check type's `dns:` block (name, server, record type,
 * expected answers). */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ck_parse_dns(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"name", "server", "record", "type", "expect", NULL};
    static const char *const records[] = {"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "PTR", NULL};
    const yaml_node_t *o = ck_options_block(L, map, c, keys), *v;
    if (!o)
        return -1;
    if (!(v = ck_find_value(L, o, "name")))
        return ck_fail_at(L, o, "'name' is required in 'dns' of check '%s'", c->name);
    if (ck_get_template(L, v, "name", &c->u.dns.name) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "server")) && ck_get_string(L, v, "server", &c->u.dns.server) < 0)
        return -1;
    const yaml_node_t *rec = ck_find_value(L, o, "record"), *typ = ck_find_value(L, o, "type");
    if (rec && typ)
        return ck_fail_at(L, typ, "give 'record' or 'type', not both, in check '%s'", c->name);
    if ((v = rec ? rec : typ)) {
        if (ck_get_string(L, v, "record", &c->u.dns.record_type) < 0)
            return -1;
        size_t i = 0;
        while (records[i] && strcasecmp(records[i], c->u.dns.record_type) != 0)
            i++;
        if (!records[i])
            return ck_fail_at(L, v,
                              "unknown record type '%s' in check '%s' (known: A AAAA CNAME MX TXT NS SOA SRV PTR)",
                              c->u.dns.record_type, c->name);
        snprintf(c->u.dns.record_type, strlen(c->u.dns.record_type) + 1, "%s", records[i]);
    } else if (!(c->u.dns.record_type = strdup("A"))) {
        return ck_fail_at(L, o, "out of memory");
    }
    if ((v = ck_find_value(L, o, "expect"))) {
        const yaml_node_t *list = v;
        size_t count = list->type == YAML_SEQUENCE_NODE ? ck_count_items(list) : 1;
        if (list->type == YAML_MAPPING_NODE || count > MAX_LIST)
            return ck_fail_at(L, list, "'expect' must be a list of answers in check '%s'", c->name);
        if (!(c->u.dns.expect = calloc(count + 1, sizeof *c->u.dns.expect)))
            return ck_fail_at(L, list, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *one = list;
            if (list->type == YAML_SEQUENCE_NODE && !(one = ck_child(L, list->data.sequence.items.start[i])))
                return -1;
            c->u.dns.n_expect = i + 1;
            if (ck_get_string(L, one, "expect", &c->u.dns.expect[i]) < 0)
                return -1;
        }
    }
    if (!(c->target = strdup(c->u.dns.name)))
        return ck_fail_at(L, o, "out of memory");
    return ck_check_asserts(L, map, c, AS_TIME);
}

void ck_free_dns(struct pk_check *c)
{
    free(c->u.dns.name);
    free(c->u.dns.server);
    free(c->u.dns.record_type);
    ck_free_strv(c->u.dns.expect, c->u.dns.n_expect);
}
