/* dashboard.h: the collector's read-only web dashboard (docs/DASHBOARD.md): the
 * page and uPlot, compiled in from web/ (cmake/embed_web.cmake), JSON under
 * /api/ rendered from rpc_query's answers, and /status/<service> public status
 * pages. No libmicrohttpd here: http.c hands it the path and a query-argument
 * getter and sends what it returns. Owns one store connection, used by one
 * request at a time. */
#ifndef PK_DASHBOARD_H
#define PK_DASHBOARD_H

#include <stddef.h>

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

/* 1 when url is the dashboard's: "/", "/assets/...", "/api/...", "/status/...". */
int dashboard_owns(const char *url);

struct dashboard_reply {
    unsigned int code;
    const char *type;
    const void *body; /* static (an asset) when !owned, else malloc'd */
    size_t len;
    int owned;
};
/* arg(argctx, key): a query argument or NULL. Always fills *out. */
void dashboard_serve(struct dashboard *d, const char *url, const char *(*arg)(void *argctx, const char *key),
                     void *argctx, struct dashboard_reply *out);

#endif
