/* notify_payloads.h: what each receiver type is sent (docs/ALERTS.md
 * "Receivers"), built from Picket's events, and the request that carries it:
 * URL, headers (the webhook's HMAC-SHA256 signature, Opsgenie's GenieKey), or
 * the SMTP envelope of a mail. alerts.c renders and groups; this file shapes. */
#ifndef PK_NOTIFY_PAYLOADS_H
#define PK_NOTIFY_PAYLOADS_H

#include <stddef.h>
#include <stdint.h>

struct alert_receiver;

/* One event, every string borrowed; empty or NULL labels are left out. */
struct notify_event {
    const char *key;      /* the outbox event key */
    const char *status;   /* "firing" / "resolved" */
    int flapping;
    const char *rule, *check, *service, *probe, *region, *severity, *summary;
    int64_t starts_us, ends_us; /* ends_us 0 while firing */
};

/* The outbox payload of one event for a receiver of type ALERT_RCV_PAGERDUTY or
 * later: a JSON object with the event's fields and the link to its check's page.
 * Returns a malloc'd string (caller frees) or NULL when out of memory. */
char *notify_payload_event(const struct alert_receiver *r, const struct notify_event *e);

/* The body sent for rows payloads[0..n) of one receiver and group (types from
 * ALERT_RCV_PAGERDUTY on); event_keys[0] is the first row's key. Returns a
 * malloc'd string (caller frees), or NULL with err. */
char *notify_payload_envelope(const struct alert_receiver *r, const char *const *payloads, const char *first_event_key,
                              size_t n, char *err, size_t errlen);

/* How many outbox rows of one group may ride in one request to r: 1 where the
 * service takes one alert per call (PagerDuty, Opsgenie). */
size_t notify_batch_max(const struct alert_receiver *r);

/* One line of text for an event: "[FIRING] check api (rule down) in eu,us since
 * 2026-...Z: SUMMARY — LINK", or r->message rendered (the receiver's own
 * template, the check language's {{ ... }} syntax over the names below).
 * Written into out (always NUL-terminated). */
void notify_message_line(const struct alert_receiver *r, const struct notify_event *e, char *out, size_t n);

/* The names a receiver's message template may use. */
#define NOTIFY_MESSAGE_NAMES                                                                                          \
    "status (FIRING or RESOLVED), check, service, probe, subject (the check or probe), regions, rule, severity, "    \
    "summary, start, end (RFC 3339; end empty while firing), flapping (true or false), link, line (the default line)"

/* Checks a message template at load: 0, or -1 with a sentence in err and the
 * byte offset of the offending part in *at. */
int notify_message_check(const char *tmpl, size_t *at, char *err, size_t errlen);

/* The check page's URL under r->public_url (PUBLIC_URL/check/NAME, the name
 * percent-encoded) into out; "" without public_url or check. */
void notify_check_link(const struct alert_receiver *r, const char *check, char *out, size_t n);

/* Lowercase hex HMAC-SHA256 of body under key into hex (65 bytes). 0 or -1. */
int notify_hmac_sha256_hex(const char *key, const char *body, size_t body_len, char hex[65]);

/* Sends body (from notify_payload_envelope, or alerts.c's envelope for the first
 * three types) to r: "Idempotency-Key: idem_key", the webhook's signature header,
 * the service's URL and auth. Returns the HTTP status (250 for an accepted mail)
 * or -1 with err, as notify_send. */
int notify_receiver_send(const struct alert_receiver *r, const char *first_event_key, const char *idem_key,
                         const char *body, char *err, size_t errlen);

#endif
