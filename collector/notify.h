/* notify.h: a small HTTP/1.1 POST client for alert receivers (docs/ALERTS.md).
 * Plain http:// only, one request per connection, bounded by a timeout. No
 * libcurl: only probe/checks/http.c includes it. */
#ifndef PK_NOTIFY_H
#define PK_NOTIFY_H

#include <stddef.h>

/* Parses http://host[:port][/path]. 0, or -1 with err naming the URL. */
int notify_parse_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen, char *path,
                     size_t pathlen, char *err, size_t errlen);

/* POSTs body (Content-Type: application/json) to url, with the header
 * "Idempotency-Key: key" when key is not NULL. Returns the HTTP status (200..599),
 * or -1 with err (connect failure, timeout, bad answer). The whole exchange takes
 * at most timeout_ms. */
int notify_post(const char *url, const char *key, const char *body, int timeout_ms, char *err, size_t errlen);

#endif
