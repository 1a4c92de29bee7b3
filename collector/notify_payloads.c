/* notify_payloads.c: the bodies PagerDuty Events v2, Opsgenie, Microsoft Teams,
 * Discord, Telegram and SMTP mail receive, the webhook's HMAC-SHA256 signature,
 * and each receiver's URL and headers (docs/ALERTS.md "Receivers"). Owns no
 * state; never puts a secret into a stored payload, a log line or an error. */
#define _POSIX_C_SOURCE 200809L
#include "notify_payloads.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "buf.h"
#include "notify.h"
#include "template.h"

/* Appends a string literal. */
#define ADD(b, lit) pk_buf_add((b), (lit), sizeof(lit) - 1)

static void rfc3339(char *buf, size_t n, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int firing(const char *status) { return status && !strcmp(status, "firing"); }

/* Percent-encodes s (RFC 3986 unreserved kept) into b. */
static void add_escaped(struct pk_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            pk_buf_add(b, p, 1);
        else
            pk_buf_addf(b, "%%%02X", *p);
    }
}

void notify_check_link(const struct alert_receiver *r, const char *check, char *out, size_t n)
{
    out[0] = '\0';
    if (!r->public_url[0] || !check || !check[0])
        return;
    struct pk_buf b;
    pk_buf_init(&b, n);
    size_t len = strlen(r->public_url);
    while (len && r->public_url[len - 1] == '/')
        len--;
    pk_buf_add(&b, r->public_url, len);
    ADD(&b, "/check/");
    add_escaped(&b, check);
    if (!b.failed && b.data)
        snprintf(out, n, "%s", b.data);
    pk_buf_free(&b);
}

static int set(const char *v) { return v && v[0]; }

static void default_line(const struct notify_event *e, const char *since, const char *link, char *out, size_t n)
{
    const char *subject = set(e->check) ? e->check : set(e->probe) ? e->probe : "";
    snprintf(out, n, "[%s%s] %s%s (rule %s)%s%s since %s: %s%s%s", firing(e->status) ? "FIRING" : "RESOLVED",
             e->flapping ? ", FLAPPING" : "", set(e->check) ? "check " : set(e->probe) ? "probe " : "", subject,
             e->rule ? e->rule : "", set(e->region) ? " in " : "", set(e->region) ? e->region : "", since,
             e->summary ? e->summary : "", link[0] ? " " : "", link);
}

/* The names a message template reads (NOTIFY_MESSAGE_NAMES), in the order of
 * the values notify_message_line gives them. */
static const char *const MESSAGE_NAMES[] = {"status", "check", "service", "probe", "subject", "regions", "rule",
                                            "severity", "summary", "start", "end", "flapping", "link", "line", NULL};
#define N_MESSAGE_NAMES (sizeof MESSAGE_NAMES / sizeof MESSAGE_NAMES[0] - 1)

static int message_name_index(const char *name)
{
    for (size_t i = 0; i < N_MESSAGE_NAMES; i++)
        if (!strcmp(name, MESSAGE_NAMES[i]))
            return (int)i;
    return -1;
}

static int message_name_kind(void *user, const char *name)
{
    (void)user;
    return message_name_index(name) < 0 ? PK_TNAME_UNKNOWN : PK_TNAME_VAR;
}

static int message_lookup(void *user, const char *name, const char **value)
{
    const char *const *values = user; /* MESSAGE_NAMES' values */
    int i = message_name_index(name);
    if (i < 0)
        return PK_TNAME_UNKNOWN;
    *value = values[i] ? values[i] : "";
    return PK_TNAME_VAR;
}

int notify_message_check(const char *tmpl, size_t *at, char *err, size_t errlen)
{
    *at = 0;
    return pk_template_validate(tmpl, message_name_kind, NULL, at, err, errlen) < 0 ? -1 : 0;
}

void notify_message_line(const struct alert_receiver *r, const struct notify_event *e, char *out, size_t n)
{
    char since[40], until[40] = "", link[700], line[1200];
    rfc3339(since, sizeof since, e->starts_us);
    if (e->ends_us)
        rfc3339(until, sizeof until, e->ends_us);
    notify_check_link(r, e->check, link, sizeof link);
    default_line(e, since, link, line, sizeof line);
    char *text = NULL, terr[200];
    const char *values[] = {firing(e->status) ? "FIRING" : "RESOLVED", e->check, e->service, e->probe,
                            set(e->check) ? e->check : e->probe, e->region, e->rule, e->severity, e->summary, since,
                            until, e->flapping ? "true" : "false", link, line};
    _Static_assert(sizeof values / sizeof values[0] == N_MESSAGE_NAMES, "one value per MESSAGE_NAMES entry");
    /* checked at load, so only memory can fail here: then the default line */
    if (r->message[0] && pk_template_render(r->message, message_lookup, (void *)values, PK_TEMPLATE_RAW, &text, NULL,
                                            terr, sizeof terr) == 0) {
        snprintf(out, n, "%s", text);
        free(text);
        return;
    }
    snprintf(out, n, "%s", line);
}

static void add_str_field(struct pk_buf *b, const char *name, const char *v, int *first)
{
    if (!set(v))
        return;
    pk_buf_addf(b, "%s\"%s\":", *first ? "" : ",", name);
    pk_buf_add_json_string(b, v, strlen(v));
    *first = 0;
}

char *notify_payload_event(const struct alert_receiver *r, const struct notify_event *e)
{
    struct pk_buf b;
    char starts[40], ends[40], link[700], line[2000];
    pk_buf_init(&b, 0);
    rfc3339(starts, sizeof starts, e->starts_us);
    notify_check_link(r, e->check, link, sizeof link);
    notify_message_line(r, e, line, sizeof line);
    int first = 1;
    ADD(&b, "{");
    add_str_field(&b, "key", e->key, &first);
    add_str_field(&b, "status", e->status, &first);
    pk_buf_addf(&b, ",\"flapping\":%s", e->flapping ? "true" : "false");
    add_str_field(&b, "rule", e->rule, &first);
    add_str_field(&b, "check", e->check, &first);
    add_str_field(&b, "service", e->service, &first);
    add_str_field(&b, "probe", e->probe, &first);
    add_str_field(&b, "region", e->region, &first);
    add_str_field(&b, "severity", e->severity, &first);
    add_str_field(&b, "summary", e->summary, &first);
    add_str_field(&b, "starts_at", starts, &first);
    if (e->ends_us) {
        rfc3339(ends, sizeof ends, e->ends_us);
        add_str_field(&b, "ends_at", ends, &first);
    }
    add_str_field(&b, "link", link, &first);
    add_str_field(&b, "text", line, &first);
    ADD(&b, "}");
    return pk_buf_take(&b);
}

/* ------------------------------------------------------- reading payloads */

static const char *jstr(struct json_object *o, const char *name)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

static int jbool(struct json_object *o, const char *name)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, name, &v) && json_object_get_boolean(v);
}

/* The part of an event key naming the alert across its events: RULE|SUBJECT. */
static void alert_alias(const char *event_key, char *out, size_t n)
{
    const char *bar = strchr(event_key, '|');
    const char *bar2 = bar ? strchr(bar + 1, '|') : NULL;
    size_t len = bar2 ? (size_t)(bar2 - event_key) : strlen(event_key);
    if (len >= n)
        len = n - 1;
    memcpy(out, event_key, len);
    out[len] = '\0';
}

static const char *pagerduty_severity(const char *s)
{
    static const char *const known[] = {"critical", "error", "warning", "info"};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(s, known[i]))
            return known[i];
    return !strcmp(s, "page") || !s[0] ? "critical" : !strcmp(s, "warn") || !strcmp(s, "ticket") ? "warning" : "error";
}

static void labels_object(struct pk_buf *b, struct json_object *ev)
{
    static const char *const names[] = {"rule", "check", "service", "probe", "region", "severity"};
    int first = 1;
    ADD(b, "{");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        add_str_field(b, names[i], jstr(ev, names[i]), &first);
    ADD(b, "}");
}

/* https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ */
static void pagerduty(struct pk_buf *b, const struct alert_receiver *r, struct json_object *ev, const char *alias)
{
    const char *text = jstr(ev, "text");
    ADD(b, "{\"routing_key\":");
    pk_buf_add_json_string(b, r->secret, strlen(r->secret));
    pk_buf_addf(b, ",\"event_action\":\"%s\",\"dedup_key\":", firing(jstr(ev, "status")) ? "trigger" : "resolve");
    pk_buf_add_json_string(b, alias, strlen(alias));
    ADD(b, ",\"payload\":{\"summary\":");
    pk_buf_add_json_string(b, text, strlen(text) > 1024 ? 1024 : strlen(text));
    pk_buf_addf(b, ",\"source\":");
    const char *src = jstr(ev, "check")[0] ? jstr(ev, "check") : jstr(ev, "probe")[0] ? jstr(ev, "probe") : "picket";
    pk_buf_add_json_string(b, src, strlen(src));
    pk_buf_addf(b, ",\"severity\":\"%s\",\"timestamp\":", pagerduty_severity(jstr(ev, "severity")));
    pk_buf_add_json_string(b, jstr(ev, "starts_at"), strlen(jstr(ev, "starts_at")));
    ADD(b, ",\"component\":");
    pk_buf_add_json_string(b, jstr(ev, "service"), strlen(jstr(ev, "service")));
    ADD(b, ",\"group\":");
    pk_buf_add_json_string(b, jstr(ev, "region"), strlen(jstr(ev, "region")));
    ADD(b, ",\"class\":");
    pk_buf_add_json_string(b, jstr(ev, "rule"), strlen(jstr(ev, "rule")));
    ADD(b, ",\"custom_details\":");
    labels_object(b, ev);
    ADD(b, "}");
    if (jstr(ev, "link")[0]) {
        ADD(b, ",\"links\":[{\"href\":");
        pk_buf_add_json_string(b, jstr(ev, "link"), strlen(jstr(ev, "link")));
        ADD(b, ",\"text\":\"Check page\"}]");
    }
    ADD(b, ",\"client\":\"Picket\"}");
}

/* https://docs.opsgenie.com/docs/alert-api: create (firing) or close (resolved). */
static void opsgenie(struct pk_buf *b, struct json_object *ev, const char *alias)
{
    const char *text = jstr(ev, "text");
    if (!firing(jstr(ev, "status"))) {
        ADD(b, "{\"source\":\"picket\",\"user\":\"picket\",\"note\":");
        pk_buf_add_json_string(b, text, strlen(text) > 25000 ? 25000 : strlen(text));
        ADD(b, "}");
        return;
    }
    const char *summary = jstr(ev, "summary");
    ADD(b, "{\"message\":");
    pk_buf_add_json_string(b, summary[0] ? summary : text, strlen(summary[0] ? summary : text) > 130 ? 130
                                                           : strlen(summary[0] ? summary : text));
    ADD(b, ",\"alias\":");
    pk_buf_add_json_string(b, alias, strlen(alias));
    ADD(b, ",\"description\":");
    pk_buf_add_json_string(b, text, strlen(text) > 15000 ? 15000 : strlen(text));
    ADD(b, ",\"source\":\"picket\",\"tags\":[\"picket\"");
    if (jbool(ev, "flapping"))
        ADD(b, ",\"flapping\"");
    const char *sev = jstr(ev, "severity");
    pk_buf_addf(b, "],\"priority\":\"%s\",\"details\":", !strcmp(sev, "page") || !strcmp(sev, "critical") ? "P1" : "P3");
    labels_object(b, ev);
    ADD(b, "}");
}

static int any_firing(struct json_object **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (firing(jstr(evs[i], "status")))
            return 1;
    return 0;
}

/* https://learn.microsoft.com/en-us/outlook/actionable-messages/message-card-reference */
static void teams(struct pk_buf *b, struct json_object **evs, size_t n)
{
    int fire = any_firing(evs, n);
    char title[300];
    snprintf(title, sizeof title, "Picket: %s%s", fire ? "FIRING " : "RESOLVED ", jstr(evs[0], "rule"));
    ADD(b, "{\"@type\":\"MessageCard\",\"@context\":\"https://schema.org/extensions\",\"summary\":");
    pk_buf_add_json_string(b, title, strlen(title));
    pk_buf_addf(b, ",\"themeColor\":\"%s\",\"title\":", fire ? "D70000" : "2EB886");
    pk_buf_add_json_string(b, title, strlen(title));
    ADD(b, ",\"sections\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ADD(b, ",");
        ADD(b, "{\"text\":");
        pk_buf_add_json_string(b, jstr(evs[i], "text"), strlen(jstr(evs[i], "text")));
        ADD(b, "}");
    }
    ADD(b, "]");
    if (jstr(evs[0], "link")[0]) {
        ADD(b, ",\"potentialAction\":[{\"@type\":\"OpenUri\",\"name\":\"Open the check\",\"targets\":[{\"os\":"
               "\"default\",\"uri\":");
        pk_buf_add_json_string(b, jstr(evs[0], "link"), strlen(jstr(evs[0], "link")));
        ADD(b, "}]}]");
    }
    ADD(b, "}");
}

/* https://discord.com/developers/docs/resources/webhook#execute-webhook */
static void discord(struct pk_buf *b, struct json_object **evs, size_t n)
{
    char content[300];
    snprintf(content, sizeof content, "Picket: %zu alert%s %s", n, n == 1 ? "" : "s",
             any_firing(evs, n) ? "firing" : "resolved");
    ADD(b, "{\"username\":\"Picket\",\"content\":");
    pk_buf_add_json_string(b, content, strlen(content));
    ADD(b, ",\"embeds\":[");
    for (size_t i = 0; i < n; i++) {
        char title[256];
        const char *subject = jstr(evs[i], "check")[0] ? jstr(evs[i], "check") : jstr(evs[i], "probe");
        snprintf(title, sizeof title, "[%s] %s: %s", firing(jstr(evs[i], "status")) ? "FIRING" : "RESOLVED",
                 jstr(evs[i], "rule"), subject);
        if (i)
            ADD(b, ",");
        ADD(b, "{\"title\":");
        pk_buf_add_json_string(b, title, strlen(title));
        ADD(b, ",\"description\":");
        const char *text = jstr(evs[i], "text");
        pk_buf_add_json_string(b, text, strlen(text) > 4000 ? 4000 : strlen(text));
        pk_buf_addf(b, ",\"color\":%d,\"timestamp\":", firing(jstr(evs[i], "status")) ? 0xD70000 : 0x2EB886);
        pk_buf_add_json_string(b, jstr(evs[i], "starts_at"), strlen(jstr(evs[i], "starts_at")));
        if (jstr(evs[i], "link")[0]) {
            ADD(b, ",\"url\":");
            pk_buf_add_json_string(b, jstr(evs[i], "link"), strlen(jstr(evs[i], "link")));
        }
        ADD(b, "}");
    }
    ADD(b, "]}");
}

/* The texts of evs joined by sep, at most max bytes. */
static void joined_text(struct pk_buf *t, struct json_object **evs, size_t n, const char *sep, size_t max)
{
    for (size_t i = 0; i < n; i++) {
        const char *text = jstr(evs[i], "text");
        if (t->len + strlen(text) + strlen(sep) >= max)
            break;
        if (i)
            pk_buf_add(t, sep, strlen(sep));
        pk_buf_add(t, text, strlen(text));
    }
}

/* https://core.telegram.org/bots/api#sendmessage */
static void telegram(struct pk_buf *b, const struct alert_receiver *r, struct json_object **evs, size_t n)
{
    struct pk_buf t;
    pk_buf_init(&t, 0);
    joined_text(&t, evs, n, "\n\n", 4000);
    ADD(b, "{\"chat_id\":");
    pk_buf_add_json_string(b, r->chat_id, strlen(r->chat_id));
    ADD(b, ",\"text\":");
    pk_buf_add_json_string(b, t.data ? t.data : "", t.len);
    ADD(b, ",\"disable_web_page_preview\":true}");
    pk_buf_free(&t);
}

/* An RFC 5322 message, CRLF line ends, lines of the body dot-stuffed by libcurl. */
static void email(struct pk_buf *b, const struct alert_receiver *r, struct json_object **evs, size_t n,
                  const char *first_key)
{
    char date[64], subject[400];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *subj = jstr(evs[0], "check")[0] ? jstr(evs[0], "check") : jstr(evs[0], "probe");
    snprintf(subject, sizeof subject, "[Picket] %s: %s %s%s", any_firing(evs, n) ? "FIRING" : "RESOLVED",
             jstr(evs[0], "rule"), subj, n > 1 ? " and more" : "");
    for (char *p = subject; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    unsigned long h = 5381;
    for (const char *p = first_key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    pk_buf_addf(b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <picket.%lx.%ld@picket>\r\n"
                   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n",
                r->mail_from, r->mail_to, subject, date, h, (long)now);
    for (size_t i = 0; i < n; i++) {
        for (const char *p = jstr(evs[i], "text"); *p; p++)
            if (*p != '\r')
                pk_buf_add(b, *p == '\n' ? "\r\n" : p, *p == '\n' ? 2 : 1);
        ADD(b, "\r\n\r\n");
    }
}

char *notify_payload_envelope(const struct alert_receiver *r, const char *const *payloads, const char *first_event_key,
                              size_t n, char *err, size_t errlen)
{
    struct json_object *evs[64] = {0};
    struct pk_buf b;
    char alias[512];
    char *out = NULL;
    if (n == 0 || n > 64) {
        snprintf(err, errlen, "receiver '%s': %zu alerts in one request", r->name, n);
        return NULL;
    }
    pk_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        if (!(evs[i] = json_tokener_parse(payloads[i]))) {
            snprintf(err, errlen, "receiver '%s': stored payload %zu is not JSON", r->name, i);
            goto out;
        }
    alert_alias(first_event_key, alias, sizeof alias);
    switch (r->type) {
    case ALERT_RCV_PAGERDUTY: pagerduty(&b, r, evs[0], alias); break;
    case ALERT_RCV_OPSGENIE: opsgenie(&b, evs[0], alias); break;
    case ALERT_RCV_TEAMS: teams(&b, evs, n); break;
    case ALERT_RCV_DISCORD: discord(&b, evs, n); break;
    case ALERT_RCV_TELEGRAM: telegram(&b, r, evs, n); break;
    case ALERT_RCV_EMAIL: email(&b, r, evs, n, first_event_key); break;
    default: snprintf(err, errlen, "receiver '%s': no payload builder for its type", r->name); goto out;
    }
    if (b.failed || !b.data) {
        snprintf(err, errlen, "receiver '%s': out of memory", r->name);
        goto out;
    }
    out = pk_buf_take(&b);
out:
    pk_buf_free(&b);
    for (size_t i = 0; i < n; i++)
        if (evs[i])
            json_object_put(evs[i]);
    return out;
}

size_t notify_batch_max(const struct alert_receiver *r)
{
    switch (r->type) {
    case ALERT_RCV_PAGERDUTY:
    case ALERT_RCV_OPSGENIE: return 1;
    case ALERT_RCV_DISCORD: return 10; /* Discord takes at most 10 embeds */
    case ALERT_RCV_TELEGRAM:
    case ALERT_RCV_TEAMS: return 10;
    default: return 50;
    }
}

int notify_hmac_sha256_hex(const char *key, const char *body, size_t body_len, char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, body_len, mac, &len) || len != 32)
        return -1;
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* The comma-separated addresses of list into q->rcpt, each as "<addr>". */
static void split_rcpt(const char *list, char store[NOTIFY_MAX_RCPT][260], struct notify_request *q)
{
    const char *p = list;
    while (*p && q->n_rcpt < NOTIFY_MAX_RCPT) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ')
            len--;
        if (len && len < 250) {
            snprintf(store[q->n_rcpt], 260, "<%.*s>", (int)len, p);
            q->rcpt[q->n_rcpt] = store[q->n_rcpt];
            q->n_rcpt++;
        }
        p += strcspn(p, ",");
    }
}

int notify_receiver_send(const struct alert_receiver *r, const char *first_event_key, const char *idem_key,
                         const char *body, char *err, size_t errlen)
{
    struct notify_request q = {.url = r->url, .body = body, .timeout_ms = (int)r->timeout_ms,
                               .ca_file = r->ca_file, .proxy = r->proxy};
    char idem[700], sig[120], auth[600], url[2048], alias[512], from[270];
    char rcpt[NOTIFY_MAX_RCPT][260];
    struct pk_buf u;
    snprintf(idem, sizeof idem, "Idempotency-Key: %.600s", idem_key);
    q.headers[q.n_headers++] = idem;
    if (r->type == ALERT_RCV_WEBHOOK && r->secret[0]) {
        char hex[65];
        if (notify_hmac_sha256_hex(r->secret, body, strlen(body), hex) < 0) {
            snprintf(err, errlen, "receiver '%s': cannot sign the body", r->name);
            return -1;
        }
        snprintf(sig, sizeof sig, "X-Picket-Signature: sha256=%s", hex);
        q.headers[q.n_headers++] = sig;
    }
    pk_buf_init(&u, sizeof url);
    size_t base = strlen(r->url);
    while (base && r->url[base - 1] == '/')
        base--;
    if (r->type == ALERT_RCV_OPSGENIE) {
        snprintf(auth, sizeof auth, "Authorization: GenieKey %s", r->secret);
        q.headers[q.n_headers++] = auth;
        alert_alias(first_event_key, alias, sizeof alias);
        pk_buf_add(&u, r->url, base);
        ADD(&u, "/v2/alerts");
        if (strstr(first_event_key, "|resolved|")) {
            ADD(&u, "/");
            add_escaped(&u, alias);
            ADD(&u, "/close?identifierType=alias");
        }
    } else if (r->type == ALERT_RCV_TELEGRAM) {
        pk_buf_add(&u, r->url, base);
        pk_buf_addf(&u, "/bot%s/sendMessage", r->secret);
    } else if (r->type == ALERT_RCV_EMAIL) {
        snprintf(from, sizeof from, "<%.256s>", r->mail_from);
        q.mail_from = from;
        split_rcpt(r->mail_to, rcpt, &q);
        q.username = r->username;
        q.password = r->secret;
    }
    if (u.failed) {
        pk_buf_free(&u);
        snprintf(err, errlen, "receiver '%s': URL too long", r->name);
        return -1;
    }
    if (u.data) {
        snprintf(url, sizeof url, "%s", u.data);
        q.url = url;
    }
    pk_buf_free(&u);
    int status = notify_send(&q, err, errlen);
    if (status < 0 && r->type == ALERT_RCV_TELEGRAM && r->secret[0]) {
        /* the bot token is in the URL: never let it reach the log */
        char *t = strstr(err, r->secret);
        if (t)
            snprintf(err, errlen, "receiver '%s': %s", r->name, "Telegram request failed (URL withheld: it holds the token)");
    }
    return status;
}
