/* parse_exec.c: the exec check type's `exec:` block (command as a list or a
 * shell line, environment, working directory, output cap). Never runs anything. */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_parse_exec(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    static const char *const keys[] = {"command", "shell", "env", "workdir", "max_output", NULL};
    const yaml_node_t *o = ck_options_block(L, map, c, keys), *v, *cmd;
    if (!o)
        return -1;
    c->u.exec.max_output_bytes = DEFAULT_MAX_OUTPUT;
    if ((v = ck_find_value(L, o, "shell")) && ck_get_bool(L, v, "shell", &c->u.exec.shell) < 0)
        return -1;
    if (!(cmd = ck_find_value(L, o, "command")))
        return ck_fail_at(L, o, "'command' is required in 'exec' of check '%s'", c->name);
    if (c->u.exec.shell) {
        if (cmd->type != YAML_SCALAR_NODE)
            return ck_fail_at(L, cmd, "with 'shell: true', 'command' must be a string in check '%s'", c->name);
        if (!(c->u.exec.argv = calloc(2, sizeof *c->u.exec.argv)))
            return ck_fail_at(L, cmd, "out of memory");
        c->u.exec.argc = 1;
        if (ck_get_template(L, cmd, "command", &c->u.exec.argv[0]) < 0)
            return -1;
    } else {
        if (cmd->type != YAML_SEQUENCE_NODE)
            return ck_fail_at(
                L, cmd, "'command' must be a list like [npm, audit] (or a string with 'shell: true') in check '%s'",
                c->name);
        size_t count = ck_count_items(cmd);
        if (count == 0 || count > MAX_LIST)
            return ck_fail_at(L, cmd, "'command' must list 1..%d arguments in check '%s'", MAX_LIST, c->name);
        if (!(c->u.exec.argv = calloc(count + 1, sizeof *c->u.exec.argv)))
            return ck_fail_at(L, cmd, "out of memory");
        for (size_t i = 0; i < count; i++) {
            const yaml_node_t *a = ck_child(L, cmd->data.sequence.items.start[i]);
            c->u.exec.argc = i + 1;
            if (!a || ck_get_template(L, a, "command", &c->u.exec.argv[i]) < 0)
                return -1;
        }
    }
    if ((v = ck_find_value(L, o, "env")) && ck_get_kv_map(L, v, "env", KV_ENV, 1, &c->u.exec.env, &c->u.exec.n_env) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "workdir")) && ck_get_string(L, v, "workdir", &c->u.exec.workdir) < 0)
        return -1;
    if ((v = ck_find_value(L, o, "max_output")) && ck_get_size(L, v, "max_output", &c->u.exec.max_output_bytes) < 0)
        return -1;
    if (!(c->target = strdup(c->u.exec.argv[0])))
        return ck_fail_at(L, o, "out of memory");
    return ck_check_asserts(L, map, c, AS_OUTPUT);
}

void ck_free_exec(struct pk_check *c)
{
    ck_free_strv(c->u.exec.argv, c->u.exec.argc);
    ck_free_kvs(c->u.exec.env, c->u.exec.n_env);
    free(c->u.exec.workdir);
}
