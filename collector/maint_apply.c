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

int maint_keep_buckets(const struct maint_window *w, size_t n, const struct store_check_meta *m, int64_t from,
                       int64_t to, const struct pk_an_bucket *b, size_t nb, struct pk_an_bucket **kept,
                       size_t *n_kept, int64_t *maint_us, char *err, size_t errlen)
{
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    *kept = NULL;
    *n_kept = 0;
    *maint_us = 0;
    if (maint_check_intervals(w, n, m, from, to, &iv, &niv, err, errlen) < 0)
        return -1;
    *kept = malloc((nb ? nb : 1) * sizeof **kept);
    if (!*kept) {
        free(iv);
        pk_fail(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nb; i++)
        if (!maint_covers(iv, niv, b[i].start_us))
            (*kept)[(*n_kept)++] = b[i];
    *maint_us = maint_overlap_us(iv, niv, from, to);
    free(iv);
    return 0;
}

/* Appends the rows of one whole-range read as buckets of width_us. */
static int append_read(struct store *s, const struct store_rollup_filter *f, int64_t width_us, struct pk_an_bucket **b,
                       size_t *nb, int64_t (*skip)(void *, int64_t), void *skip_arg, char *err, size_t errlen)
{
    struct store_rollup_row *rows = NULL;
    size_t nr = 0;
    if (store_rollup_query(s, f, &rows, &nr, err, errlen) < 0)
        return -1;
    struct pk_an_bucket *grown = realloc(*b, (*nb + nr + 1) * sizeof *grown);
    if (!grown) {
        free(rows);
        pk_fail(err, errlen, "out of memory");
        return -1;
    }
    *b = grown;
    for (size_t i = 0; i < nr; i++) {
        if (skip && skip(skip_arg, rows[i].bucket_start_us))
            continue;
        grown[(*nb)++] = (struct pk_an_bucket){.start_us = rows[i].bucket_start_us, .width_us = width_us,
                                               .n = {rows[i].ok, rows[i].degraded, rows[i].failed, rows[i].unknown}};
    }
    free(rows);
    return 0;
}

struct cover_arg {
    const struct maint_interval *iv;
    size_t n;
};

static int64_t covered(void *arg, int64_t t)
{
    const struct cover_arg *c = arg;
    return maint_covers(c->iv, c->n, t) != NULL;
}

int maint_slo_buckets(struct store *s, const struct maint_window *w, size_t n, const struct store_check_meta *m,
                      const char *region, int64_t from, int64_t to, struct pk_an_bucket **b, size_t *nb, char *err,
                      size_t errlen)
{
    struct maint_interval *iv = NULL;
    size_t niv = 0;
    int rc = -1;
    if (maint_check_intervals(w, n, m, from, to, &iv, &niv, err, errlen) < 0)
        return -1;
    struct store_rollup_filter f = {.check = m->name, .region = region, .group = STORE_ROLLUP_BY_CHECK};
    if (niv + 1 > MAINT_MAX_GAPS) {
        struct cover_arg ca = {iv, niv};
        f.since_us = from;
        f.until_us = to;
        f.bucket_us = ROLLUP_HOUR_US;
        rc = append_read(s, &f, ROLLUP_HOUR_US, b, nb, covered, &ca, err, errlen);
        goto out;
    }
    int64_t at = from;
    for (size_t i = 0; i <= niv; i++) {
        int64_t gap_end = i < niv ? rollup_floor(iv[i].start_us, ROLLUP_MINUTE_US) : to;
        if (gap_end > at) {
            f.since_us = at;
            f.until_us = gap_end;
            if (append_read(s, &f, gap_end - at, b, nb, NULL, NULL, err, errlen) < 0)
                goto out;
        }
        if (i < niv)
            at = rollup_floor(iv[i].end_us + ROLLUP_MINUTE_US - 1, ROLLUP_MINUTE_US);
    }
    rc = 0;
out:
    free(iv);
    return rc;
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
