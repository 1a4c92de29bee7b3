/* alerts.h: alert rules, their evaluation and the notification outbox
 * (docs/ALERTS.md). The rules are read from a YAML file (--alerts FILE); a
 * thread of its own, with its own database connection, evaluates them against
 * the stored results, probes and rollups, records alert state and enqueues
 * notifications in one transaction (migrations/007_alerts.sql), and delivers the
 * outbox to the receivers with retries and exponential backoff. */
#ifndef PK_ALERTS_H
#define PK_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#define ALERT_MAX_RECEIVERS 16
#define ALERT_MAX_RULES 64
#define ALERT_MAX_GROUP_BY 6
#define ALERT_NAME_MAX 128

struct slo_config;

/* The payloads of the types from PAGERDUTY on are built by notify_payloads.c. */
enum alert_receiver_type {
    ALERT_RCV_WEBHOOK = 0,
    ALERT_RCV_ALERTMANAGER = 1,
    ALERT_RCV_SLACK = 2,
    ALERT_RCV_PAGERDUTY = 3,
    ALERT_RCV_OPSGENIE = 4,
    ALERT_RCV_TEAMS = 5,
    ALERT_RCV_DISCORD = 6,
    ALERT_RCV_TELEGRAM = 7,
    ALERT_RCV_EMAIL = 8,
};

struct alert_receiver {
    char name[ALERT_NAME_MAX];
    int type;            /* enum alert_receiver_type */
    char url[1024];      /* http(s):// (smtp(s):// for email); alertmanager: its base URL (…/api/v2/alerts is appended) */
    int64_t timeout_ms;  /* per attempt, default 5 s */
    int64_t retry_initial_ms, retry_max_ms; /* backoff, default 1 s doubling up to 5 min */
    /* read from secret, secret_file or secret_env at load: the webhook's HMAC key, PagerDuty's
     * routing key, Opsgenie's API key, Telegram's bot token, the SMTP password */
    char secret[512];
    char ca_file[512];   /* "": the system trust store */
    char proxy[512];     /* "": libcurl's environment proxies */
    char chat_id[128];   /* telegram */
    char mail_from[256], mail_to[512], username[256]; /* email: mail_to is a comma-separated list */
    char public_url[512]; /* the dashboard's external URL (alerts file's public_url): links in messages */
    /* "": the default message line; else its template ({{ check }}, ...: NOTIFY_MESSAGE_NAMES), checked at load */
    char message[1024];
};

enum alert_rule_type {
    ALERT_INCIDENT = 0,
    ALERT_LATENCY_BUDGET = 1,
    ALERT_BASELINE = 2,
    ALERT_SLO_BURN = 3,
    ALERT_SPOOL_DROPS = 4,
    ALERT_SILENT_PROBE = 5,
};

struct alert_rule {
    char name[ALERT_NAME_MAX];
    int type;                   /* enum alert_rule_type */
    char severity[32];          /* default "page" */
    char checks[ALERT_NAME_MAX]; /* fnmatch(3) pattern on the check (or probe) name, default "*" */
    int n_receivers;            /* 0: every receiver */
    int receivers[ALERT_MAX_RECEIVERS];
    int n_group_by;
    char group_by[ALERT_MAX_GROUP_BY][16]; /* label names; default alertname + check */
    int64_t group_wait_ms;      /* first notification of an alert waits this long (default 0) */
    int64_t group_interval_ms;  /* a group is POSTed to a receiver at most this often (default 0) */
    int64_t repeat_interval_ms; /* firing re-notified this often (default 4 h; 0 = never) */
    int flap_flips;             /* more than this many flips ... (default 4) */
    int64_t flap_window_ms;     /* ... within this window: flapping (default 10 min) */
    /* incident */
    int open_after, close_after, quorum;
    /* latency_budget, slo_burn, spool_drops: the window judged; silent_probe: after;
     * baseline_regression: how often it is evaluated (default 1 min, 5 min with a metric) */
    int64_t window_ms;
    /* slo_burn: multiwindow (long, short, factor), default the SRE workbook's page pair */
    int64_t slo_long_ms, slo_short_ms;
    double slo_factor;
    /* slo_burn: fnmatch(3) pattern on group SLO names (--slos); "" = none. When
     * given without 'checks', the rule judges group SLOs only. */
    char slos[ALERT_NAME_MAX];
    int checks_given;
    /* baseline: threshold in robust z, consecutive hours; the metric judged ("":
     * the hourly p95 latency, upward; a name: the hourly median of that numeric
     * metric the checks extract, in baseline_direction) */
    double baseline_threshold;
    int baseline_k;
    char baseline_metric[64];
    /* baseline on a metric: the direction that regresses (PK_DIR_*; 'direction:
     * down|up|both', default down: a drop in answer quality) */
    int baseline_direction;
    /* baseline on latency: 'fast: false' turns off the 5-minute half of the rule */
    int baseline_no_fast;
};

struct alert_config {
    int64_t evaluation_interval_ms; /* default 5 s */
    int n_receivers;
    struct alert_receiver receivers[ALERT_MAX_RECEIVERS];
    int n_rules;
    struct alert_rule rules[ALERT_MAX_RULES];
    const struct slo_config *slos; /* the --slos file (borrowed, outlives the alerts); NULL: none */
};

/* Reads and validates the file; errors are "FILE:LINE:COL: message". 0 or -1. */
int alert_config_load(const char *path, struct alert_config *cfg, char *err, size_t errlen);
/* The same from a string (origin names it in messages). */
int alert_config_parse(const char *origin, const char *text, size_t len, struct alert_config *cfg, char *err,
                       size_t errlen);

struct alerts;
/* Starts the alerting thread on its own connection. NULL + err on failure. */
struct alerts *alerts_start(const char *conninfo, const struct alert_config *cfg, char *err, size_t errlen);
void alerts_stop(struct alerts *a);

#endif
