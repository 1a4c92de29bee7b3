/* badges.c: SVG badges of one check, as Gatus and Uptime Kuma offer, at stable
 * URLs: /badge/CHECK/uptime-24h.svg, uptime-7d.svg, uptime-30d.svg, status.svg
 * and p95.svg. Read from the default view's snapshot (the 24-hour report and
 * the 7/30-day uptimes of the dashboard's background thread), so a badge never
 * starts a query. A check with no data gets a grey "no data" badge; an unknown
 * check or kind, 404. */
#include "dashboard_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GREEN "#2da44e"
#define YELLOW "#bf8700"
#define RED "#cf222e"
#define GREY "#6e7781"

/* Roughly Verdana 11px: a badge's text width in pixels. */
static int text_px(const char *s) { return (int)(strlen(s) * 6.5) + 10; }

static void svg(const char *label, const char *value, const char *color, struct pk_http_reply *out)
{
    int lw = text_px(label), vw = text_px(value), w = lw + vw;
    size_t cap = 2048;
    char *b = malloc(cap);
    if (!b) {
        *out = (struct pk_http_reply){500, "text/plain", "out of memory\n", 14, 0, NULL};
        return;
    }
    int n = snprintf(b, cap,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" role=\"img\" "
                     "aria-label=\"%s: %s\"><title>%s: %s</title>"
                     "<rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#555\"/>"
                     "<rect x=\"%d\" width=\"%d\" height=\"20\" rx=\"3\" fill=\"%s\"/>"
                     "<rect x=\"%d\" width=\"4\" height=\"20\" fill=\"%s\"/>"
                     "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" "
                     "font-size=\"11\"><text x=\"%d\" y=\"14\">%s</text><text x=\"%d\" y=\"14\">%s</text></g></svg>",
                     w, label, value, label, value, w, lw, vw, color, lw, color, lw / 2, label, lw + vw / 2, value);
    *out = (struct pk_http_reply){200, "image/svg+xml", b, (size_t)(n < (int)cap ? n : (int)cap - 1), 1, NULL};
}

static void uptime_badge(const char *label, double u, struct pk_http_reply *out)
{
    char v[32];
    if (isnan(u)) {
        svg(label, "no data", GREY, out);
        return;
    }
    snprintf(v, sizeof v, "%.2f%%", u * 100);
    svg(label, v, u >= 0.999 ? GREEN : u >= 0.99 ? YELLOW : RED, out);
}

void dash_badge(const struct dash_check_fig *figs, size_t n, const char *path, struct pk_http_reply *out)
{
    static const char nf[] = "{\"error\":\"no such badge: /badge/CHECK/{uptime-24h,uptime-7d,uptime-30d,status,"
                             "p95}.svg\"}";
    const char *slash = strrchr(path, '/');
    size_t cl = slash ? (size_t)(slash - path) : 0;
    const struct dash_check_fig *f = NULL;
    for (size_t i = 0; cl && i < n && !f; i++)
        if (strlen(figs[i].check) == cl && strncmp(figs[i].check, path, cl) == 0)
            f = &figs[i];
    const char *kind = slash ? slash + 1 : "";
    if (!f) {
        *out = (struct pk_http_reply){404, "application/json", nf, sizeof nf - 1, 0, NULL};
        return;
    }
    if (strcmp(kind, "uptime-24h.svg") == 0)
        uptime_badge("uptime 24h", f->u24, out);
    else if (strcmp(kind, "uptime-7d.svg") == 0)
        uptime_badge("uptime 7d", f->u7, out);
    else if (strcmp(kind, "uptime-30d.svg") == 0)
        uptime_badge("uptime 30d", f->u30, out);
    else if (strcmp(kind, "status.svg") == 0)
        svg("status", f->state < 0 ? "no data" : f->state ? "up" : "down",
            f->state < 0 ? GREY : f->state ? GREEN : RED, out);
    else if (strcmp(kind, "p95.svg") == 0) {
        char v[32];
        if (isnan(f->p95_us))
            snprintf(v, sizeof v, "no data");
        else
            snprintf(v, sizeof v, "%.0f ms", f->p95_us / 1000.0);
        int over = !isnan(f->budget_p95_us) && f->budget_p95_us > 0 && f->p95_us > f->budget_p95_us;
        svg("p95", v, isnan(f->p95_us) ? GREY : over ? RED : GREEN, out);
    } else
        *out = (struct pk_http_reply){404, "application/json", nf, sizeof nf - 1, 0, NULL};
}
