/* Unit tests for collector/notify_payloads.c (what each receiver type is sent,
 * checked field by field against the services' documented shapes), the
 * webhook's HMAC-SHA256 and collector/notify_config.c's receiver keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "alerts.h"
#include "notify_payloads.h"

static char err[512];
static struct alert_config cfg;

#define START_US 1764806400000000LL /* 2025-12-04T00:00:00Z */

static struct alert_receiver receiver(int type)
{
    struct alert_receiver r;
    memset(&r, 0, sizeof r);
    strcpy(r.name, "rcv");
    r.type = type;
    strcpy(r.url, "https://127.0.0.1:1/x");
    strcpy(r.secret, "s3cret");
    strcpy(r.chat_id, "-100123");
    strcpy(r.mail_from, "picket@example.org");
    strcpy(r.mail_to, "ops@example.org, oncall@example.org");
    strcpy(r.public_url, "https://picket.example.org/");
    return r;
}

static const struct notify_event FIRING = {"down|api a|firing|1", "firing", 0, "down", "api a", "svc", "p1", "eu,us",
                                           "page", "check api a is down in eu,us: 3 failed rounds in a row",
                                           START_US, 0};
static const struct notify_event RESOLVED = {"down|api a|resolved|1", "resolved", 0, "down", "api a", "svc", "p1",
                                             "eu,us", "page", "check api a is up again", START_US,
                                             START_US + 60000000};

/* The body r is sent for one event, parsed; the caller puts it. */
static struct json_object *body_for(const struct alert_receiver *r, const struct notify_event *e, char **raw)
{
    char *p = notify_payload_event(r, e);
    assert_non_null(p);
    const char *ps[1] = {p};
    char *b = notify_payload_envelope(r, ps, e->key, 1, err, sizeof err);
    assert_non_null(b);
    free(p);
    struct json_object *o = r->type == ALERT_RCV_EMAIL ? NULL : json_tokener_parse(b);
    if (r->type != ALERT_RCV_EMAIL)
        assert_non_null(o);
    if (raw)
        *raw = b;
    else
        free(b);
    return o;
}

static const char *s(struct json_object *o, const char *path)
{
    char buf[256];
    strcpy(buf, path);
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) {
        struct json_object *v;
        if (json_object_is_type(o, json_type_array))
            v = json_object_array_get_idx(o, (size_t)atoi(tok));
        else if (!json_object_object_get_ex(o, tok, &v))
            return NULL;
        o = v;
    }
    return o ? json_object_get_string(o) : NULL;
}

static void test_hmac(void **state)
{
    (void)state;
    char hex[65];
    /* RFC 4231 test case 2 */
    assert_int_equal(notify_hmac_sha256_hex("Jefe", "what do ya want for nothing?", 28, hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_message_line(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_TEAMS);
    char line[1000];
    notify_message_line(&r, &FIRING, line, sizeof line);
    assert_string_equal(line, "[FIRING] check api a (rule down) in eu,us since 2025-12-04T00:00:00Z: check api a is "
                              "down in eu,us: 3 failed rounds in a row https://picket.example.org/check/api%20a");
    r.public_url[0] = '\0';
    notify_message_line(&r, &RESOLVED, line, sizeof line);
    assert_string_equal(line, "[RESOLVED] check api a (rule down) in eu,us since 2025-12-04T00:00:00Z: check api a is "
                              "up again");
    /* the receiver's own template: every name, and the default line inside it */
    strcpy(r.public_url, "https://picket.example.org/");
    strcpy(r.message, ":rotating_light: {{ status }} {{subject}} ({{ service }}, {{severity}}) {{regions}} "
                      "from {{start}} to {{end}} flapping={{flapping}}: {{summary}} <{{link}}> | {{ line }}");
    notify_message_line(&r, &RESOLVED, line, sizeof line);
    assert_string_equal(line, ":rotating_light: RESOLVED api a (svc, page) eu,us from 2025-12-04T00:00:00Z to "
                              "2025-12-04T00:01:00Z flapping=false: check api a is up again "
                              "<https://picket.example.org/check/api%20a> | [RESOLVED] check api a (rule down) in eu,us "
                              "since 2025-12-04T00:00:00Z: check api a is up again "
                              "https://picket.example.org/check/api%20a");
    notify_message_line(&r, &FIRING, line, sizeof line);
    assert_non_null(strstr(line, "FIRING api a (svc, page) eu,us from 2025-12-04T00:00:00Z to  flapping=false"));
    /* every receiver's text is that line: a Slack body */
    r.type = ALERT_RCV_TEAMS;
    char *raw = NULL;
    struct json_object *o = body_for(&r, &FIRING, &raw);
    assert_non_null(strstr(raw, ":rotating_light: FIRING api a"));
    json_object_put(o);
    free(raw);
    size_t at = 0;
    char e[300];
    assert_int_equal(notify_message_check("{{ check }} {{ nope }}", &at, e, sizeof e), -1);
    assert_int_equal(at, 15);
    assert_non_null(strstr(e, "nope"));
    assert_int_equal(notify_message_check("{{ check", &at, e, sizeof e), -1);
    assert_int_equal(notify_message_check("plain text", &at, e, sizeof e), 0);
}

static void test_pagerduty(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_PAGERDUTY);
    struct json_object *o = body_for(&r, &FIRING, NULL);
    assert_string_equal(s(o, "routing_key"), "s3cret");
    assert_string_equal(s(o, "event_action"), "trigger");
    assert_string_equal(s(o, "dedup_key"), "down|api a");
    assert_non_null(strstr(s(o, "payload.summary"), "[FIRING] check api a"));
    assert_string_equal(s(o, "payload.source"), "api a");
    assert_string_equal(s(o, "payload.severity"), "critical");
    assert_string_equal(s(o, "payload.timestamp"), "2025-12-04T00:00:00Z");
    assert_string_equal(s(o, "links.0.href"), "https://picket.example.org/check/api%20a");
    json_object_put(o);
    o = body_for(&r, &RESOLVED, NULL);
    assert_string_equal(s(o, "event_action"), "resolve");
    assert_string_equal(s(o, "dedup_key"), "down|api a");
    json_object_put(o);
    /* the routing key is added when sending, never stored in the outbox payload */
    char *p = notify_payload_event(&r, &FIRING);
    assert_null(strstr(p, "s3cret"));
    free(p);
}

static void test_opsgenie(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_OPSGENIE);
    struct json_object *o = body_for(&r, &FIRING, NULL);
    assert_string_equal(s(o, "alias"), "down|api a");
    assert_string_equal(s(o, "message"), "check api a is down in eu,us: 3 failed rounds in a row");
    assert_string_equal(s(o, "priority"), "P1");
    assert_string_equal(s(o, "details.region"), "eu,us");
    assert_non_null(s(o, "description"));
    json_object_put(o);
    o = body_for(&r, &RESOLVED, NULL);
    assert_null(s(o, "message"));
    assert_string_equal(s(o, "source"), "picket");
    assert_non_null(strstr(s(o, "note"), "[RESOLVED]"));
    json_object_put(o);
}

static void test_teams_discord_telegram(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_TEAMS);
    struct json_object *o = body_for(&r, &FIRING, NULL);
    assert_string_equal(s(o, "@type"), "MessageCard");
    assert_string_equal(s(o, "@context"), "https://schema.org/extensions");
    assert_string_equal(s(o, "themeColor"), "D70000");
    assert_non_null(strstr(s(o, "sections.0.text"), "since 2025-12-04T00:00:00Z"));
    assert_string_equal(s(o, "potentialAction.0.targets.0.uri"), "https://picket.example.org/check/api%20a");
    json_object_put(o);
    r = receiver(ALERT_RCV_DISCORD);
    o = body_for(&r, &FIRING, NULL);
    assert_string_equal(s(o, "content"), "Picket: 1 alert firing");
    assert_string_equal(s(o, "embeds.0.title"), "[FIRING] down: api a");
    assert_string_equal(s(o, "embeds.0.url"), "https://picket.example.org/check/api%20a");
    assert_string_equal(s(o, "embeds.0.color"), "14090240");
    json_object_put(o);
    r = receiver(ALERT_RCV_TELEGRAM);
    o = body_for(&r, &RESOLVED, NULL);
    assert_string_equal(s(o, "chat_id"), "-100123");
    assert_non_null(strstr(s(o, "text"), "[RESOLVED] check api a"));
    json_object_put(o);
}

static void test_email(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_EMAIL);
    char *raw = NULL;
    body_for(&r, &FIRING, &raw);
    assert_non_null(strstr(raw, "From: picket@example.org\r\n"));
    assert_non_null(strstr(raw, "To: ops@example.org, oncall@example.org\r\n"));
    assert_non_null(strstr(raw, "Subject: [Picket] FIRING: down api a\r\n"));
    assert_non_null(strstr(raw, "\r\n\r\n[FIRING] check api a"));
    free(raw);
}

static void test_batches(void **state)
{
    (void)state;
    struct alert_receiver r = receiver(ALERT_RCV_PAGERDUTY);
    assert_int_equal(notify_batch_max(&r), 1);
    r.type = ALERT_RCV_DISCORD;
    assert_int_equal(notify_batch_max(&r), 10);
    char *p1 = notify_payload_event(&r, &FIRING), *p2 = notify_payload_event(&r, &RESOLVED);
    const char *ps[2] = {p1, p2};
    char *b = notify_payload_envelope(&r, ps, FIRING.key, 2, err, sizeof err);
    struct json_object *o = json_tokener_parse(b);
    assert_string_equal(s(o, "content"), "Picket: 2 alerts firing");
    assert_string_equal(s(o, "embeds.1.title"), "[RESOLVED] down: api a");
    json_object_put(o);
    free(b);
    const char *bad[1] = {"not json"};
    assert_null(notify_payload_envelope(&r, bad, FIRING.key, 1, err, sizeof err));
    assert_non_null(strstr(err, "not JSON"));
    free(p1);
    free(p2);
}

static int parse(const char *text) { return alert_config_parse("a.yml", text, strlen(text), &cfg, err, sizeof err); }

#define RULES "rules:\n  - name: x\n    type: incident\n"

static void test_config(void **state)
{
    (void)state;
    setenv("PICKET_TEST_PD_KEY", "pd-key-1", 1);
    assert_int_equal(parse("public_url: https://p.example/\nreceivers:\n"
                           "  - name: pd\n    type: pagerduty\n    secret_env: PICKET_TEST_PD_KEY\n"
                           "  - name: tg\n    type: telegram\n    secret: t0k\n    chat_id: '42'\n"
                           "  - name: mail\n    type: email\n    url: smtp://127.0.0.1:2525\n    from: a@b.c\n"
                           "    to: d@e.f\n    username: u\n    secret: pw\n    ca_file: /dev/null\n" RULES), 0);
    assert_string_equal(cfg.receivers[0].url, "https://events.pagerduty.com/v2/enqueue");
    assert_string_equal(cfg.receivers[0].secret, "pd-key-1");
    assert_string_equal(cfg.receivers[0].public_url, "https://p.example/");
    assert_string_equal(cfg.receivers[1].url, "https://api.telegram.org");
    assert_string_equal(cfg.receivers[2].ca_file, "/dev/null");
    assert_int_equal(parse("receivers:\n  - name: s\n    type: slack\n    url: https://x/\n"
                           "    message: '{{ check }} is {{ status }}'\n" RULES), 0);
    assert_string_equal(cfg.receivers[0].message, "{{ check }} is {{ status }}");
    assert_int_equal(parse("receivers:\n  - name: s\n    type: slack\n    url: https://x/\n"
                           "    message: '{{ check }} is {{ state }}'\n" RULES), -1);
    assert_non_null(strstr(err, "a.yml:5:14: receiver 'message':"));
    assert_non_null(strstr(err, "state"));
    assert_non_null(strstr(err, "names: status (FIRING or RESOLVED), check"));
    assert_int_equal(parse("receivers:\n  - name: pd\n    type: pagerduty\n" RULES), -1);
    assert_non_null(strstr(err, "a.yml:2:5: receiver 'pd' (pagerduty) needs its key in secret"));
    assert_int_equal(parse("receivers:\n  - name: pd\n    type: pagerduty\n    secret: a\n    secret_env: B\n" RULES), -1);
    assert_non_null(strstr(err, "give only one of secret"));
    assert_int_equal(parse("receivers:\n  - name: m\n    type: email\n    url: https://x/\n    from: a\n    to: b\n"
                           RULES), -1);
    assert_non_null(strstr(err, "type email needs an smtp://"));
    assert_int_equal(parse("receivers:\n  - name: w\n    type: webhook\n    url: smtp://x/\n" RULES), -1);
    assert_non_null(strstr(err, "smtp:// URLs are for type email"));
    assert_int_equal(parse("receivers:\n  - name: w\n    type: pigeon\n    url: http://x/\n" RULES), -1);
    assert_non_null(strstr(err, "a.yml:3:11: receiver 'type' must be webhook, alertmanager, slack, pagerduty"));
    assert_int_equal(parse("receivers:\n  - name: w\n    type: webhook\n    url: http://x/\n"
                           "    secret_file: /nonexistent/secret\n" RULES), -1);
    assert_non_null(strstr(err, "secret_file '/nonexistent/secret' cannot be read"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac),     cmocka_unit_test(test_message_line),
        cmocka_unit_test(test_pagerduty), cmocka_unit_test(test_opsgenie),
        cmocka_unit_test(test_teams_discord_telegram), cmocka_unit_test(test_email),
        cmocka_unit_test(test_batches),  cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
