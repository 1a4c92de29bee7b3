/* dashboard_int.h: private to the dashboard's files (dashboard.c, the routes
 * and snapshot; dashboard_api.c, the overview extras and the check page's
 * results; dashboard_auth.c, the optional login). */
#ifndef PK_DASHBOARD_INT_H
#define PK_DASHBOARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dashboard.h"
#include "store.h"

struct json_object;

/* Replies, as dashboard.c makes them (j is consumed). */
void dash_reply_json(struct pk_http_reply *out, unsigned int code, struct json_object *j);
void dash_reply_error(struct pk_http_reply *out, unsigned int code, const char *msg);
/* 503; the detail goes to the log only. */
void dash_reply_store_error(struct pk_http_reply *out, const char *detail);

/* The 7-day and 30-day uptimes, kept between passes of the background thread. */
struct dash_long;
void dash_long_free(struct dash_long *c);
/* The overview extras as JSON (malloc'd), or NULL when the store failed (logged). */
char *dash_overview_json(struct store *st, int64_t now_us, struct dash_long **cache, size_t *len);

/* 1 when name (after /api/) is one of dashboard_api.c's, with *out filled. */
int dash_api_route(struct store *st, const char *name, pk_http_arg_fn arg, void *ctx, int64_t until_us,
                   struct pk_http_reply *out);

/* dashboard_auth.c: the optional login (--dashboard-auth FILE). */
struct dash_auth;
/* NULL with err naming the file and line when it cannot be read or is malformed. */
struct dash_auth *dash_auth_load(const char *path, char *err, size_t errlen);
void dash_auth_free(struct dash_auth *a);
/* 1 when the Authorization header's value names a token or user of a. */
int dash_auth_allows(struct dash_auth *a, const char *authorization);

#endif
