/* notify_config.c: the receiver keys of the --alerts file that reach past plain
 * webhooks (docs/ALERTS.md "Receivers"): the type table, TLS and proxy options,
 * secrets read from the file itself, a file or the environment, and what each
 * type requires. alert_config.c parses the common keys and calls in here. */
#define _POSIX_C_SOURCE 200809L
#include "notify_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "notify.h"
#include "notify_payloads.h"
#include "result.h"

static const struct {
    const char *name;
    const char *default_url; /* NULL: url is required */
} TYPES[] = {
    [ALERT_RCV_WEBHOOK] = {"webhook", NULL},
    [ALERT_RCV_ALERTMANAGER] = {"alertmanager", NULL},
    [ALERT_RCV_SLACK] = {"slack", NULL},
    [ALERT_RCV_PAGERDUTY] = {"pagerduty", "https://events.pagerduty.com/v2/enqueue"},
    [ALERT_RCV_OPSGENIE] = {"opsgenie", "https://api.opsgenie.com"},
    [ALERT_RCV_TEAMS] = {"teams", NULL},
    [ALERT_RCV_DISCORD] = {"discord", NULL},
    [ALERT_RCV_TELEGRAM] = {"telegram", "https://api.telegram.org"},
    [ALERT_RCV_EMAIL] = {"email", NULL},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

const char *const NOTIFY_TYPE_LIST = "webhook, alertmanager, slack, pagerduty, opsgenie, teams, discord, telegram or email";

int notify_receiver_type(const char *name)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (!strcmp(name, TYPES[i].name))
            return (int)i;
    return -1;
}

static int copy(struct yaml_doc *L, const yaml_node_t *v, const char *k, char *out, size_t n)
{
    if (!yaml_doc_is_scalar(v))
        return yaml_doc_fail(L, v, "receiver '%s' must be a non-empty string", k);
    if (strlen(yaml_doc_txt(v)) >= n)
        return yaml_doc_fail(L, v, "receiver '%s' is longer than %zu characters", k, n - 1);
    pk_strlcpy(out, yaml_doc_txt(v), n);
    return 0;
}

/* The secret from secret_file: the file's first line. */
static int read_secret_file(struct yaml_doc *L, const yaml_node_t *v, struct alert_receiver *r)
{
    FILE *f = fopen(yaml_doc_txt(v), "r");
    if (!f)
        return yaml_doc_fail(L, v, "secret_file '%s' cannot be read", yaml_doc_txt(v));
    char line[sizeof r->secret + 2];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[ok ? strcspn(line, "\r\n") : 0] = '\0';
    if (!line[0])
        return yaml_doc_fail(L, v, "secret_file '%s' is empty", yaml_doc_txt(v));
    if (strlen(line) >= sizeof r->secret)
        return yaml_doc_fail(L, v, "secret_file '%s': the secret is longer than %zu characters", yaml_doc_txt(v),
                             sizeof r->secret - 1);
    pk_strlcpy(r->secret, line, sizeof r->secret);
    return 0;
}

static int take_secret(struct yaml_doc *L, const char *k, const yaml_node_t *v, struct alert_receiver *r)
{
    if (r->secret[0])
        return yaml_doc_fail(L, v, "receiver '%s': give only one of secret, secret_file and secret_env", r->name);
    if (!yaml_doc_is_scalar(v))
        return yaml_doc_fail(L, v, "receiver '%s' must be a non-empty string", k);
    if (!strcmp(k, "secret_file"))
        return read_secret_file(L, v, r);
    if (!strcmp(k, "secret_env")) {
        const char *val = getenv(yaml_doc_txt(v));
        if (!val || !val[0])
            return yaml_doc_fail(L, v, "secret_env: environment variable %s is not set", yaml_doc_txt(v));
        if (strlen(val) >= sizeof r->secret)
            return yaml_doc_fail(L, v, "secret_env: %s is longer than %zu characters", yaml_doc_txt(v),
                                 sizeof r->secret - 1);
        pk_strlcpy(r->secret, val, sizeof r->secret);
        return 0;
    }
    return copy(L, v, k, r->secret, sizeof r->secret);
}

int notify_receiver_key(struct yaml_doc *L, const char *k, const yaml_node_t *v, struct alert_receiver *r)
{
    if (!strcmp(k, "secret") || !strcmp(k, "secret_file") || !strcmp(k, "secret_env"))
        return take_secret(L, k, v, r) < 0 ? -1 : 1;
    struct {
        const char *key;
        char *dst;
        size_t n;
    } plain[] = {
        {"ca_file", r->ca_file, sizeof r->ca_file},       {"proxy", r->proxy, sizeof r->proxy},
        {"chat_id", r->chat_id, sizeof r->chat_id},       {"from", r->mail_from, sizeof r->mail_from},
        {"to", r->mail_to, sizeof r->mail_to},            {"username", r->username, sizeof r->username},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (!strcmp(k, plain[i].key))
            return copy(L, v, k, plain[i].dst, plain[i].n) < 0 ? -1 : 1;
    if (!strcmp(k, "message")) {
        char e[300];
        size_t at = 0;
        if (copy(L, v, k, r->message, sizeof r->message) < 0)
            return -1;
        if (notify_message_check(r->message, &at, e, sizeof e) < 0)
            return yaml_doc_fail(L, v, "receiver 'message': %s (at character %zu; names: %s)", e, at + 1,
                                 NOTIFY_MESSAGE_NAMES);
        return 1;
    }
    return 0;
}

int notify_receiver_finish(struct yaml_doc *L, const yaml_node_t *m, struct alert_receiver *r)
{
    char e[1200];
    if (r->type < 0 || (size_t)r->type >= N_TYPES)
        return yaml_doc_fail(L, m, "receiver '%s': type must be %s", r->name, NOTIFY_TYPE_LIST);
    if (!r->url[0] && TYPES[r->type].default_url)
        pk_strlcpy(r->url, TYPES[r->type].default_url, sizeof r->url);
    if (!r->url[0])
        return yaml_doc_fail(L, m, "receiver '%s' (%s) needs a url", r->name, TYPES[r->type].name);
    if (notify_check_url(r->url, e, sizeof e) < 0)
        return yaml_doc_fail(L, m, "receiver '%s': %s", r->name, e);
    int smtp = !strncmp(r->url, "smtp", 4);
    if (smtp != (r->type == ALERT_RCV_EMAIL))
        return yaml_doc_fail(L, m, "receiver '%s': %s", r->name,
                             smtp ? "smtp:// URLs are for type email" : "type email needs an smtp:// or smtps:// url");
    int needs_secret = r->type == ALERT_RCV_PAGERDUTY || r->type == ALERT_RCV_OPSGENIE || r->type == ALERT_RCV_TELEGRAM;
    if (needs_secret && !r->secret[0])
        return yaml_doc_fail(L, m, "receiver '%s' (%s) needs its key in secret, secret_file or secret_env", r->name,
                             TYPES[r->type].name);
    if (r->type == ALERT_RCV_TELEGRAM && !r->chat_id[0])
        return yaml_doc_fail(L, m, "receiver '%s' (telegram) needs chat_id", r->name);
    if (r->type == ALERT_RCV_EMAIL && (!r->mail_from[0] || !r->mail_to[0]))
        return yaml_doc_fail(L, m, "receiver '%s' (email) needs from and to", r->name);
    if (r->type == ALERT_RCV_EMAIL && strpbrk(r->mail_from, "\r\n<>"))
        return yaml_doc_fail(L, m, "receiver '%s': from must be a plain address", r->name);
    if (r->type == ALERT_RCV_EMAIL && strpbrk(r->mail_to, "\r\n<>"))
        return yaml_doc_fail(L, m, "receiver '%s': to must be plain addresses separated by commas", r->name);
    if (r->ca_file[0]) {
        FILE *f = fopen(r->ca_file, "r");
        if (!f)
            return yaml_doc_fail(L, m, "receiver '%s': ca_file '%s' cannot be read", r->name, r->ca_file);
        fclose(f);
    }
    return 0;
}
