/* exec_policy.c: refuses exec checks from central assignment that the probe's
 * owner did not allow (exec_policy.h). Checked before the runner sees a pushed
 * set, so a refused set never runs anything; the refusal goes back to the
 * collector in the CheckSetAck and shows in picketctl status. Pure: no I/O but
 * one stat() per entry when it is added. */
#include "exec_policy.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pk_error.h"
#include "template.h"

/* Environment names that make an allowed program load or run other code. */
static const char *const risky_env[] = {"BASH_ENV", "ENV", "IFS", "PATH", "PYTHONPATH", "PYTHONSTARTUP",
                                        "PYTHONHOME", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB",
                                        "NODE_OPTIONS", "NODE_PATH", "GCONV_PATH", "HOSTALIASES", "SHELLOPTS"};

static int add_one(struct exec_policy *p, const char *entry, size_t len, char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    if (p->n_allow == EXEC_POLICY_MAX)
        return pk_fail(err, errlen, "--allow-pushed-exec: more than %d entries", EXEC_POLICY_MAX);
    char *e = malloc(len + 2);
    if (!e)
        return pk_fail(err, errlen, "--allow-pushed-exec: out of memory");
    memcpy(e, entry, len);
    e[len] = '\0';
    if (strstr(e, "/../") || strstr(e, "/./") || (len >= 3 && strcmp(e + len - 3, "/..") == 0) ||
        (strchr(e, '/') && e[0] != '/')) {
        free(e);
        return pk_fail(err, errlen,
                       "--allow-pushed-exec: '%.*s' must be an absolute directory or command without . or .. "
                       "components, or a bare command name",
                       (int)len, entry);
    }
    struct stat st;
    if (e[0] == '/' && e[len - 1] != '/' && stat(e, &st) == 0 && S_ISDIR(st.st_mode)) {
        e[len] = '/';
        e[len + 1] = '\0';
    }
    p->allow[p->n_allow++] = e;
    return 0;
}

int exec_policy_add(struct exec_policy *p, const char *spec, char *err, size_t errlen)
{
    for (const char *s = spec;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (add_one(p, s, len, err, errlen) < 0)
            return -1;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

void exec_policy_free(struct exec_policy *p)
{
    for (size_t i = 0; i < p->n_allow; i++)
        free(p->allow[i]);
    p->n_allow = 0;
}

/* 1 when program (argv[0] as written) is allowed by an entry. */
static int program_allowed(const struct exec_policy *p, const char *program)
{
    int lexically_clean = !strstr(program, "/../") && !strstr(program, "/./") && !strstr(program, "//");
    for (size_t i = 0; i < p->n_allow; i++) {
        const char *a = p->allow[i];
        size_t n = strlen(a);
        if (a[n - 1] == '/') {
            if (lexically_clean && program[0] == '/' && strncmp(program, a, n) == 0 && program[n])
                return 1;
        } else if (strcmp(program, a) == 0) {
            return 1;
        }
    }
    return 0;
}

/* argv[0] as it will run: rendered with the check's variables (the probe's own
 * --var overrides win over the pushed file's). NULL + err when it does not render
 * to one fixed string. Caller frees. */
static char *rendered_program(const struct pk_check *c, char *err, size_t errlen)
{
    const char *src = c->u.exec.argv && c->u.exec.argv[0] ? c->u.exec.argv[0] : "";
    char *a = NULL, *b = NULL, why[300];
    if (pk_check_render(c, src, NULL, 0, NULL, 0, &a, NULL, why, sizeof why) < 0 ||
        pk_check_render(c, src, NULL, 0, NULL, 0, &b, NULL, why, sizeof why) < 0) {
        free(a);
        pk_fail(err, errlen, "check %s: exec command '%s' from central assignment does not render: %s", c->name, src,
                why);
        return NULL;
    }
    if (strcmp(a, b) != 0) {
        free(a);
        free(b);
        pk_fail(err, errlen, "check %s: exec command '%s' from central assignment is not one fixed program", c->name,
                src);
        return NULL;
    }
    free(b);
    return a;
}

static int check_one(const struct exec_policy *p, const struct pk_check *c, char *err, size_t errlen)
{
    const struct pk_exec_options *o = &c->u.exec;
    if (o->shell) {
        if (!p->allow_shell)
            return pk_fail(err, errlen,
                           "check %s: exec with shell: true from central assignment not allowed on this probe "
                           "(start it with --allow-pushed-shell)",
                           c->name);
    } else {
        char *program = rendered_program(c, err, errlen);
        if (!program)
            return -1;
        int ok = program_allowed(p, program);
        if (!ok)
            pk_fail(err, errlen,
                    p->n_allow ? "check %s: exec of '%s' from central assignment not allowed on this probe "
                                 "(not under any --allow-pushed-exec)"
                               : "check %s: exec of '%s' from central assignment not allowed on this probe "
                                 "(start it with --allow-pushed-exec)",
                    c->name, program);
        free(program);
        if (!ok)
            return -1;
    }
    for (size_t k = 0; k < o->n_env; k++) {
        const char *name = o->env[k].key;
        int risky = strncmp(name, "LD_", 3) == 0 || strncmp(name, "DYLD_", 5) == 0;
        for (size_t r = 0; !risky && r < sizeof risky_env / sizeof *risky_env; r++)
            risky = strcmp(name, risky_env[r]) == 0;
        if (risky && !p->allow_shell)
            return pk_fail(err, errlen,
                           "check %s: exec environment variable %s from central assignment not allowed on this "
                           "probe (it can make the program run other code; --allow-pushed-shell allows it)",
                           c->name, name);
    }
    return 0;
}

int exec_policy_check(const struct exec_policy *p, const struct pk_checkset *set, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n_checks; i++)
        if (set->checks[i].kind == PK_CHECK_EXEC && check_one(p, &set->checks[i], err, errlen) < 0)
            return -1;
    return 0;
}
