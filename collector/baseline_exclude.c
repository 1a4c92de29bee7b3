/* baseline_exclude.c: the stored incidents and maintenance windows that
 * baseline learning leaves out (baseline_exclude.h). Reads incidents
 * (store_incidents_read), the maintenance windows in force (maint_apply_windows)
 * and, only when there is a window, the check's service (store_check_meta); owns
 * only scratch memory freed before return. Runs on the caller's thread with the
 * caller's store handle. */
#include "baseline_exclude.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "maint_apply.h"
#include "pk_error.h"

size_t baseline_exclude_mark(const int64_t *t, size_t n, int64_t width, const struct baseline_gap *g, size_t ng,
                             unsigned char *excluded)
{
    size_t marked = 0;
    for (size_t k = 0; k < ng; k++) {
        /* the first window ending after the gap's start (t ascending) */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t[mid] + width <= g[k].start_us)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < n && t[i] < g[k].end_us; i++) {
            marked += !excluded[i];
            excluded[i] = 1;
        }
    }
    return marked;
}

struct gaps {
    struct baseline_gap *v;
    size_t n, cap;
};

static int gap_add(struct gaps *l, int64_t a, int64_t b)
{
    struct baseline_gap *v = pk_grow(l->v, &l->cap, l->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    l->v = v;
    v[l->n++] = (struct baseline_gap){a, b};
    return 0;
}

static int incident_gaps(struct store *s, const char *check, const char *scope, int64_t from, int64_t to,
                         struct gaps *g, char *err, size_t errlen)
{
    struct store_incident *inc = NULL;
    size_t n = 0;
    if (store_incidents_read(s, check, scope, from, to, &inc, &n, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (gap_add(g, inc[i].start_us, inc[i].end_us < 0 ? INT64_MAX : inc[i].end_us) < 0)
            rc = pk_fail(err, errlen, "baseline of %.128s: out of memory", check);
    free(inc);
    return rc;
}

/* The windows held by baseline_exclude_hold on this thread (held: 1). */
static _Thread_local struct {
    int held;
    struct maint_window *w;
    size_t n;
} hold;

int baseline_exclude_hold(struct store *s, char *err, size_t errlen)
{
    baseline_exclude_release();
    if (maint_apply_windows(s, &hold.w, &hold.n, err, errlen) < 0)
        return -1;
    hold.held = 1;
    return 0;
}

void baseline_exclude_release(void)
{
    free(hold.w);
    memset(&hold, 0, sizeof hold);
}

static int maint_gaps(struct store *s, const char *check, int64_t from, int64_t to, struct gaps *g, char *err,
                      size_t errlen)
{
    struct maint_window *w = NULL;
    size_t nw = 0;
    if (hold.held && hold.n == 0)
        return 0; /* no window in force: nothing to read */
    if (maint_apply_windows(s, &w, &nw, err, errlen) < 0)
        return -1;
    int rc = 0;
    struct store_check_meta *meta = NULL;
    size_t nm = 0;
    if (nw > 0 && (rc = store_check_meta(s, &meta, &nm, err, errlen)) == 0) {
        for (size_t i = 0; i < nm && rc == 0; i++) {
            if (strcmp(meta[i].name, check) != 0)
                continue;
            struct maint_interval *iv = NULL;
            size_t niv = 0;
            rc = maint_check_intervals(w, nw, &meta[i], from, to, &iv, &niv, err, errlen);
            for (size_t k = 0; k < niv && rc == 0; k++)
                if (gap_add(g, iv[k].start_us, iv[k].end_us) < 0)
                    rc = pk_fail(err, errlen, "baseline of %.128s: out of memory", check);
            free(iv);
            break;
        }
    }
    free(meta);
    free(w);
    return rc;
}

int baseline_exclude_known(struct store *s, const char *check, const char *region, int64_t from, int64_t to,
                           const int64_t *t, size_t n, int64_t width, unsigned char *excluded, size_t *marked,
                           char *err, size_t errlen)
{
    struct gaps g = {0};
    int rc = -1;
    if (marked)
        *marked = 0;
    if (incident_gaps(s, check, region && region[0] ? region : NULL, from, to, &g, err, errlen) < 0 ||
        (region && region[0] && incident_gaps(s, check, "*", from, to, &g, err, errlen) < 0) ||
        maint_gaps(s, check, from, to, &g, err, errlen) < 0)
        goto out;
    size_t m = baseline_exclude_mark(t, n, width, g.v, g.n, excluded);
    if (marked)
        *marked = m;
    rc = 0;
out:
    free(g.v);
    return rc;
}
