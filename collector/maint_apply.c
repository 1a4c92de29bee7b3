/* maint_apply.c: maintenance windows applied to the readers' data
 * (maint_apply.h). Holds the --maintenance file's windows (read-only after
 * start) and reads the store's on every call, so a window added with picketctl
 * counts from the next query or alert tick. Runs on the caller's thread; the
 * store handle is the caller's. */
#include "maint_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"
#include "rollup.h"
#include "store_maint.h"

static const struct maint_config *file_windows;

void maint_apply_set_file(const struct maint_config *cfg)
{
    file_windows = cfg;
}

int maint_apply_windows(struct store *s, struct maint_window **w, size_t *n, char *err, size_t errlen)
{
    struct maint_window *stored = NULL;
    size_t ns = 0, nf = file_windows ? file_windows->n_windows : 0;
    *w = NULL;
    *n = 0;
    if (store_maint_list(s, &stored, &ns, err, errlen) < 0)
        return -1;
    struct maint_window *all = malloc((nf + ns ? nf + ns : 1) * sizeof *all);
    if (!all) {
        free(stored);
        pk_fail(err, errlen, "out of memory");
        return -1;
    }
    if (nf)
        memcpy(all, file_windows->windows, nf * sizeof *all);
    if (ns)
        memcpy(all + nf, stored, ns * sizeof *all);
    free(stored);
    *w = all;
    *n = nf + ns;
    return 0;
}

#define SUBJECT_LABELS 32

/* The check's stored labels ("k=v" lines, store_check_meta) as key/value pairs
 * for label:KEY=VALUE targets: copied into buf, at most SUBJECT_LABELS. */
static size_t labels_of(const struct store_check_meta *m, char *buf, size_t buflen, struct pk_kv *kv)
{
    snprintf(buf, buflen, "%s", m->meta.labels);
    size_t n = 0;
    for (char *p = buf, *next; p && *p && n < SUBJECT_LABELS; p = next) {
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        kv[n++] = (struct pk_kv){p, eq + 1};
    }
    return n;
}

int maint_check_intervals(const struct maint_window *w, size_t n, const struct store_check_meta *m, int64_t from,
                          int64_t to, struct maint_interval **iv, size_t *niv, char *err, size_t errlen)
{
    char buf[PK_LABELS_MAX];
    struct pk_kv kv[SUBJECT_LABELS];
    size_t nkv = labels_of(m, buf, sizeof buf, kv);
    struct maint_subject subj = {m->name, m->service, nkv ? kv : NULL, nkv};
    return maint_intervals(w, n, &subj, from, to, iv, niv, err, errlen);
}

int maint_selects_check(const struct maint_window *w, const struct store_check_meta *m)
{
    char buf[PK_LABELS_MAX];
    struct pk_kv kv[SUBJECT_LABELS];
    size_t nkv = labels_of(m, buf, sizeof buf, kv);
    struct maint_subject subj = {m->name, m->service, nkv ? kv : NULL, nkv};
    return maint_window_selects(w, &subj);
}

int maint_incident_in_window(const struct maint_window *w, size_t n, const struct store_check_meta *m,
                             int64_t start_us, const char **name_out)
{
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    char err[256];
    *name_out = NULL;
    if (maint_check_intervals(w, n, m, start_us, start_us + 1, &iv, &niv, err, sizeof err) < 0)
        return 0;
    const struct maint_interval *hit = maint_covers(iv, niv, start_us);
    if (hit)
        *name_out = hit->name;
    free(iv);
    return hit != NULL;
}
