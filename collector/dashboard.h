/* dashboard.h: the collector's read-only web dashboard (docs/DASHBOARD.md): the
 * page and uPlot, compiled in from web/ (cmake/embed_web.cmake), JSON under
 * /api/ rendered from rpc_query's answers, and /status/<service> public status
 * pages. No libmicrohttpd here: common/http_server.c hands it the path and a
 * query-argument getter and sends what it returns. Owns one store connection,
 * used by one request at a time. */
#ifndef PK_DASHBOARD_H
#define PK_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

/* One file of web/, embedded. */
struct pk_web_asset {
    const char *name; /* "dashboard.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};
#define PK_WEB_TYPE_html "text/html; charset=utf-8"
#define PK_WEB_TYPE_js "text/javascript; charset=utf-8"
#define PK_WEB_TYPE_css "text/css; charset=utf-8"
extern const struct pk_web_asset pk_web_assets[];
extern const size_t pk_web_assets_count;

struct dashboard;

/* conninfo: the collector's database; connects on first use. NULL when out of memory. */
struct dashboard *dashboard_open(const char *conninfo);
void dashboard_close(struct dashboard *d);

/* With no reader of the default view's snapshot for us, the background refresh
 * stops until one comes back (default 60 s; --dashboard-idle-after-s). */
void dashboard_set_idle_after(struct dashboard *d, int64_t us);

/* Requires a login (collector/dashboard_auth.c) for everything but the public
 * status pages and their assets. 0, or -1 with err naming the file and line.
 * Call before serving. */
int dashboard_set_auth(struct dashboard *d, const char *path, char *err, size_t errlen);
/* 1 when the login file has "cert CN" lines: the HTTP listener must then serve
 * HTTPS and verify client certificates (--http-client-ca). */
int dashboard_wants_client_certs(const struct dashboard *d);

/* Status pages for groups of services from a YAML file (collector/status_pages.c).
 * 0, or -1 with err naming FILE:LINE:COL. Call before serving. */
int dashboard_set_status_pages(struct dashboard *d, const char *path, char *err, size_t errlen);

/* 1 when url is the dashboard's: "/", "/assets/...", "/api/...", "/status/...". */
int dashboard_owns(const char *url);

/* Always fills *out (a 404 for a path that is not the dashboard's). */
void dashboard_serve(struct dashboard *d, const char *url, pk_http_arg_fn arg, void *argctx,
                     struct pk_http_reply *out);
/* The dashboard as a pk_http_route_fn (route_user is the struct dashboard):
 * 0 for a path dashboard_owns does not claim. */
int dashboard_route(void *d, const char *url, pk_http_arg_fn arg, void *argctx, struct pk_http_reply *out);

#endif
