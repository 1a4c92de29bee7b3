/* notify.h: the transport of alert notifications (docs/ALERTS.md "Receivers"):
 * one HTTP(S) POST or one SMTP mail per call, through libcurl, bounded by a
 * timeout, with the system trust store or a given CA and an optional proxy.
 * Only notify*.c include libcurl; callers talk in these structs. */
#ifndef PK_NOTIFY_H
#define PK_NOTIFY_H

#include <stddef.h>

#define NOTIFY_MAX_HEADERS 8
#define NOTIFY_MAX_RCPT 8

/* One request. Every pointer is borrowed for the call. */
struct notify_request {
    const char *url;          /* http://, https://, smtp:// or smtps:// */
    const char *body;         /* POST body or, for smtp, the whole RFC 5322 message */
    const char *headers[NOTIFY_MAX_HEADERS]; /* "Name: value", HTTP only */
    int n_headers;
    const char *ca_file;      /* NULL: the system trust store */
    const char *proxy;        /* NULL: libcurl's environment (https_proxy, no_proxy, ...) */
    int timeout_ms;           /* the whole exchange */
    /* smtp only */
    const char *mail_from;
    const char *rcpt[NOTIFY_MAX_RCPT];
    int n_rcpt;
    const char *username, *password; /* NULL: no AUTH */
};

/* Checks that url is one notify_send can reach (scheme http, https, smtp or
 * smtps, and a host). 0, or -1 with err naming the URL. */
int notify_check_url(const char *url, char *err, size_t errlen);

/* Sends q. Returns the HTTP status (100..599) or, for smtp, 250 when the server
 * accepted the mail; -1 with err (resolve, connect, TLS, timeout, refused mail). */
int notify_send(const struct notify_request *q, char *err, size_t errlen);

/* POSTs a JSON body to url with "Idempotency-Key: key" (NULL: none): the plain
 * webhook call, kept for tests and simple callers. Same returns as notify_send. */
int notify_post(const char *url, const char *key, const char *body, int timeout_ms, char *err, size_t errlen);

#endif
