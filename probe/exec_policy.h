/* exec_policy.h: which exec checks a probe runs when they come from central
 * assignment (a CheckSet pushed by the collector) rather than its own files.
 * By default none: whoever holds a write credential must not be able to run
 * commands on every probe. The probe's owner allows plugin directories or
 * commands (--allow-pushed-exec), and shell command lines separately
 * (--allow-pushed-shell). See docs/SECURITY.md. */
#ifndef PK_EXEC_POLICY_H
#define PK_EXEC_POLICY_H

#include <stddef.h>

#include "checks.h"

#define EXEC_POLICY_MAX 64

struct exec_policy {
    char *allow[EXEC_POLICY_MAX]; /* absolute directories (ending in '/') or commands; owned */
    size_t n_allow;
    int allow_shell;              /* `shell: true` from central assignment */
};

/* Adds the comma-separated entries of spec: an absolute directory (its programs,
 * at any depth, are allowed) or a command (an absolute path, or a bare name
 * looked up in PATH, allowed exactly as written). -1 + err naming the entry. */
int exec_policy_add(struct exec_policy *p, const char *spec, char *err, size_t errlen);
void exec_policy_free(struct exec_policy *p);

/* 0 when every exec check of set may run under p; otherwise -1 with err saying
 * which check, why, and which option allows it. A templated command is judged
 * as it renders with the check's variables (the probe's --var overrides win). */
int exec_policy_check(const struct exec_policy *p, const struct pk_checkset *set, char *err, size_t errlen);

#endif
