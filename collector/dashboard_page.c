/* dashboard_page.c: /api/check-page?check=NAME&since=&until=, every part a
 * check's page draws, in one answer: {"report", "incidents", "results", "slo",
 * "series", "marks", "regions" (each region's series when the check has more
 * than one region, at most PAGE_MAX_REGIONS, from one read grouped by region)}.
 * The series and marks are read on a second connection of the dashboard's pool
 * (a thread of their own) when one is free, the rest on the request's. Each
 * part is the body the separate endpoint gives for the same window
 * (dash_store_call, dash_region_series: nothing computed twice or differently);
 * the page asks this one URL as soon as its HTML is parsed instead of six URLs
 * after its scripts ran (web/check.html).
 * The separate endpoints stay for the API. An unknown check or a bad argument
 * is the first failing part's answer (404, 400); marks that fail leave the
 * page drawable ("marks": null), as the page did before. */
#include "dashboard_int.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "picket/v1/picket.pb-c.h"

#define PAGE_MAX_REGIONS 6
#define PAGE_MAX_BYTES (64u << 20)

/* The request's arguments as each part sees them: results default to 50, and
 * the page's check is never widened to a service. */
struct page_args {
    pk_http_arg_fn arg;
    void *ctx;
};

static const char *page_arg(void *p, const char *key)
{
    const struct page_args *a = p;
    if (strcmp(key, "service") == 0 || strcmp(key, "region") == 0)
        return NULL;
    const char *v = a->arg(a->ctx, key);
    if (!v && strcmp(key, "limit") == 0)
        return "50";
    return v;
}

static void reply_free(struct pk_http_reply *r)
{
    if (r->owned)
        free((void *)r->body);
    *r = (struct pk_http_reply){0};
}

/* The regions of the report's one check (at most max), into names; their count. */
static size_t report_regions(const struct pk_http_reply *rep, char names[][PK_NAME_MAX], size_t max)
{
    size_t n = 0;
    struct json_object *j = json_tokener_parse(rep->body), *checks, *avail, *regions;
    if (j && json_object_object_get_ex(j, "checks", &checks) && json_object_array_length(checks) > 0 &&
        json_object_object_get_ex(json_object_array_get_idx(checks, 0), "availability", &avail) &&
        json_object_object_get_ex(avail, "regions", &regions)) {
        for (size_t i = 0; i < json_object_array_length(regions) && n < max; i++) {
            struct json_object *r;
            if (json_object_object_get_ex(json_object_array_get_idx(regions, i), "region", &r))
                snprintf(names[n++], PK_NAME_MAX, "%s", json_object_get_string(r));
        }
    }
    json_object_put(j);
    return n;
}

/* One part, "name": body, into b; 0, or -1 with *fail holding the failing answer. */
static int add_part(struct pk_buf *b, const char *key, struct pk_http_reply *r, struct pk_http_reply *fail)
{
    if (r->code != 200) {
        *fail = *r;
        *r = (struct pk_http_reply){0};
        return -1;
    }
    pk_buf_addf(b, "%s\"%s\":", b->len > 1 ? "," : "", key);
    pk_buf_add(b, r->body, r->len);
    reply_free(r);
    return 0;
}

/* The series and the marks: read on a second connection beside the rest. */
struct side_parts {
    struct store *st;
    const Picket__V1__QueryWindow *w;
    int64_t now_us;
    struct page_args *pa;
    struct pk_http_reply series, marks;
};

static void *side_main(void *p)
{
    struct side_parts *s = p;
    dash_store_call(s->st, "latency-series", s->w, s->now_us, page_arg, s->pa, &s->series);
    dash_store_call(s->st, "check-marks", s->w, s->now_us, page_arg, s->pa, &s->marks);
    return NULL;
}

void dash_check_page(struct store *st, struct store *st2, const Picket__V1__QueryWindow *w, int64_t now_us,
                     pk_http_arg_fn arg, void *ctx, struct pk_http_reply *out)
{
    if (!w->check_name || !w->check_name[0]) {
        dash_reply_error(out, 400, "check-page needs check=NAME");
        return;
    }
    if (w->region && w->region[0]) {
        dash_reply_error(out, 400, "check-page takes no region= (every region's series is in its \"regions\")");
        return;
    }
    struct page_args pa = {arg, ctx};
    /* The series and marks read only the window (never arg), so another thread may. */
    struct side_parts side = {st2 ? st2 : st, w, now_us, &pa, {0}, {0}};
    pthread_t tid;
    int threaded = st2 && pthread_create(&tid, NULL, side_main, &side) == 0;
    static const char *const mine[][2] = {
        {"report", "report"}, {"incidents", "incidents"}, {"results", "check-results"}, {"slo", "slo"}};
    struct pk_http_reply r[4] = {{0}}, fail = {0};
    for (size_t i = 0; i < 4 && (i == 0 || r[i - 1].code == 200); i++)
        dash_store_call(st, mine[i][1], w, now_us, page_arg, &pa, &r[i]);
    char regions[PAGE_MAX_REGIONS][PK_NAME_MAX];
    size_t n_regions = r[0].code == 200 ? report_regions(&r[0], regions, PAGE_MAX_REGIONS) : 0;
    if (threaded)
        pthread_join(tid, NULL);
    else
        side_main(&side);
    struct pk_buf b;
    pk_buf_init(&b, PAGE_MAX_BYTES);
    pk_buf_addc(&b, '{');
    for (size_t i = 0; i < 4; i++)
        if (add_part(&b, mine[i][0], &r[i], &fail) < 0)
            goto failed;
    if (add_part(&b, "series", &side.series, &fail) < 0)
        goto failed;
    if (side.marks.code == 200) {
        add_part(&b, "marks", &side.marks, &fail);
    } else { /* the page is drawable without them */
        reply_free(&side.marks);
        pk_buf_adds(&b, ",\"marks\":null");
    }
    pk_buf_adds(&b, ",\"regions\":{");
    if (n_regions > 1 && dash_region_series(st, w, now_us, (const char(*)[PK_NAME_MAX])regions, n_regions, &b,
                                            &fail) < 0)
        goto failed;
    pk_buf_adds(&b, "}}");
    if (pk_buf_ok(&b) < 0) {
        pk_buf_free(&b);
        *out = (struct pk_http_reply){500, "text/plain", "out of memory\n", 14, 0};
        return;
    }
    size_t len = b.len;
    *out = (struct pk_http_reply){200, "application/json", pk_buf_take(&b), len, 1};
    return;
failed:
    pk_buf_free(&b);
    for (size_t i = 0; i < 4; i++)
        reply_free(&r[i]);
    reply_free(&side.series);
    reply_free(&side.marks);
    *out = fail;
}
