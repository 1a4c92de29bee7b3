/* main.c: picketctl, the operators' command line. Talks to a collector over
 * gRPC (QueryService) and prints tables for people or JSON for scripts.
 * Exit codes: 0 ok, 1 the collector could not answer, 2 usage error; apply and
 * diff: 3 a check file is invalid (nothing sent or stored); diff: 0 no change,
 * 1 changes, 4 the collector could not answer. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "query.h"
#include "checks.h"
#include "options.h"
#include "result.h"
#include "rpc_ctl.h"
#include "rpc_security.h"

/* The options before the command. */
struct global_opts {
    const char *collector;
    int timeout_ms;
    struct pk_tls_opts tls;
};

static const struct pk_option global_options[] = {
    {.name = "collector", .kind = PK_OPT_STRING, .env = "PICKET_COLLECTOR",
     .offset = offsetof(struct global_opts, collector), .metavar = "ADDR",
     .help = "collector host:port, default 127.0.0.1:7700"},
    {.name = "timeout", .kind = PK_OPT_INT, .offset = offsetof(struct global_opts, timeout_ms), .min = 1,
     .max = 600000, .range_text = "1..600000 ms", .metavar = "MS", .help = "per call, default 5000"},
    PK_OPTS_TLS_CLIENT(struct global_opts, tls),
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = PK_OPT_VERSION},
};

static void usage(FILE *f)
{
    fputs("usage: picketctl [options] COMMAND [command options]\n"
          "\n"
          "commands:\n"
          "  status [--check NAME] [--json]   last result, age, success ratio over the last hour\n"
          "                                   per region, and how many probes run each check\n"
          "  probe add NAME [--region R]      issue a token for probe NAME (needs a write credential);\n"
          "                                   the token is printed once, on stdout\n"
          "  probe revoke NAME [--id N]       revoke every token of probe NAME, or only credential N\n"
          "  apply [--json] FILE...           validate check files, then store them on the\n"
          "                                   collector as the new checks version (pushed to\n"
          "                                   every probe they select); nothing changes when\n"
          "                                   nothing differs. Exit 0 ok, 1 collector error,\n"
          "                                   3 a file is invalid (nothing is sent or stored)\n"
          "  diff [--json] FILE...            what apply would change: added, removed and\n"
          "                                   changed checks (with the changed keys). Exit 0\n"
          "                                   no change, 1 changes, 3 a file is invalid,\n"
          "                                   4 collector error\n"
          "  report                           the live quality dashboard: per service and check, e2e\n"
          "                                   pass/fail, p50/p95/p99 against budget, uptime per\n"
          "                                   region, trend arrows, open incidents, SLO budget left\n"
          "  availability | latency | trend | incidents | slo\n"
          "                                   one figure of docs/ANALYTICS.md per check (and region);\n"
          "                                   all analytics commands take --since T --until T\n"
          "                                   (RFC 3339 or 24h, 7d), --check NAME, --service S,\n"
          "                                   --region R, --json or --csv; COMMAND --help for more\n"
          "  version                          print the version\n"
          "\n"
          "options:\n",
          f);
    pk_opts_print(f, global_options, sizeof global_options / sizeof global_options[0], 23, 0);
    fputs("\n"
          "status and the analytics commands need a read (or write) credential; probe add/revoke a write credential:\n"
          "a client certificate with CN read:WHO or write:WHO, or a token from\n"
          "`picket-collector token add --role read|write WHO` (docs/SECURITY.md).\n",
          f);
}

/* A command's own options. Commands stop at their first operand, as the global
 * options do (probe excepted: its NAME may come first). 0 to go on, or -1 with
 * *exit_code (0 after --help). */
static int command_options(const char *prog, const struct pk_option *table, size_t n, unsigned flags, void *target,
                           int argc, char **argv, int *next, int *exit_code)
{
    const struct pk_opts spec = {.prog = prog, .table = table, .n = n, .flags = flags | PK_OPTS_NO_ENV};
    switch (pk_opts_parse(&spec, target, argc, argv, next)) {
    case PK_OPTS_OK:
        return 0;
    case PK_OPTS_HELP:
        usage(stdout);
        *exit_code = 0;
        return -1;
    default:
        *exit_code = 2;
        return -1;
    }
}

static void format_age(char *buf, size_t size, int64_t age_us)
{
    int64_t s = age_us / 1000000;
    if (age_us < 0)
        snprintf(buf, size, "-");
    else if (s < 120)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(buf, size, "%lldm", (long long)(s / 60));
    else if (s < 172800)
        snprintf(buf, size, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, size, "%lldd", (long long)(s / 86400));
}

static void format_latency(char *buf, size_t size, int64_t us)
{
    if (us < 0)
        snprintf(buf, size, "-");
    else if (us < 1000)
        snprintf(buf, size, "%lldus", (long long)us);
    else if (us < 1000000)
        snprintf(buf, size, "%.1fms", (double)us / 1000.0);
    else
        snprintf(buf, size, "%.2fs", (double)us / 1e6);
}

/* Probes and their spools: what is waiting, and what was lost (never silent). */
static void print_probes_table(const Picket__V1__StatusResponse *resp)
{
    if (resp->n_probes == 0)
        return;
    printf("\n%-24s %-12s %9s %9s %9s %10s\n", "PROBE", "REGION", "LAST SEEN", "PENDING", "DROPPED", "SPOOL");
    for (size_t i = 0; i < resp->n_probes; i++) {
        const Picket__V1__ProbeStatus *p = resp->probes[i];
        char age[32], spool[32];
        format_age(age, sizeof age, resp->now_us - p->last_seen_us);
        if (p->spool_bytes >= 1024 * 1024)
            snprintf(spool, sizeof spool, "%.1fMB", (double)p->spool_bytes / (1024.0 * 1024.0));
        else
            snprintf(spool, sizeof spool, "%.1fkB", (double)p->spool_bytes / 1024.0);
        printf("%-24s %-12s %9s %9llu %9llu %10s\n", p->name, p->region, age, (unsigned long long)p->pending_results,
               (unsigned long long)p->dropped_results, spool);
    }
    unsigned long long dropped = 0;
    for (size_t i = 0; i < resp->n_probes; i++)
        dropped += resp->probes[i]->dropped_results;
    if (dropped)
        printf("warning: probes report %llu results lost (spool cap reached, or a torn record cut off); "
               "see docs/RELIABILITY.md\n", dropped);
}

static void print_status_table(const Picket__V1__StatusResponse *resp)
{
    if (resp->n_checks == 0) {
        printf("no checks known yet: is a probe connected to this collector?\n");
        return;
    }
    printf("%-24s %-5s %-14s %5s %9s %-24s %6s  %s\n", "CHECK", "TYPE", "LAST", "AGE", "LATENCY",
           "FROM (REGION)", "PROBES", "LAST HOUR OK (PER REGION)");
    for (size_t i = 0; i < resp->n_checks; i++) {
        const Picket__V1__CheckStatus *c = resp->checks[i];
        char last[64], age[32], lat[32], from[160];
        if (c->last_started_at_us == 0) {
            snprintf(last, sizeof last, "no data");
            snprintf(age, sizeof age, "-");
            snprintf(lat, sizeof lat, "-");
            snprintf(from, sizeof from, "-");
        } else {
            if (c->last_status_code)
                snprintf(last, sizeof last, "%s %d", pk_outcome_name(c->last_outcome), c->last_status_code);
            else
                snprintf(last, sizeof last, "%s", pk_outcome_name(c->last_outcome));
            format_age(age, sizeof age, resp->now_us - c->last_started_at_us);
            format_latency(lat, sizeof lat, c->last_total_us);
            snprintf(from, sizeof from, "%s (%s)", c->last_probe, c->last_region);
        }
        printf("%-24s %-5s %-14s %5s %9s %-24s %6d  ", c->check_name, c->check_type, last, age, lat, from,
               c->probes);
        if (c->n_last_hour == 0)
            printf("no data");
        for (size_t j = 0; j < c->n_last_hour; j++) {
            const Picket__V1__RegionRatio *r = c->last_hour[j];
            printf("%s%s %.1f%% (%lld/%lld)", j ? "  " : "", r->region,
                   r->total ? 100.0 * (double)r->ok / (double)r->total : 0.0, (long long)r->ok,
                   (long long)r->total);
        }
        printf("\n");
        if (c->last_started_at_us && c->last_outcome != PICKET__V1__OUTCOME__OUTCOME_OK && c->last_message[0])
            printf("%-24s   reason: %s\n", "", c->last_message);
    }
    print_probes_table(resp);
}

static void print_status_json(const Picket__V1__StatusResponse *resp)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "now_us", json_object_new_int64(resp->now_us));
    json_object *checks = json_object_new_array();
    for (size_t i = 0; i < resp->n_checks; i++) {
        const Picket__V1__CheckStatus *c = resp->checks[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "check", json_object_new_string(c->check_name));
        json_object_object_add(o, "type", json_object_new_string(c->check_type));
        json_object_object_add(o, "probes", json_object_new_int(c->probes));
        if (c->last_started_at_us) {
            json_object *last = json_object_new_object();
            json_object_object_add(last, "started_at_us", json_object_new_int64(c->last_started_at_us));
            json_object_object_add(last, "age_s",
                                   json_object_new_double((double)(resp->now_us - c->last_started_at_us) / 1e6));
            json_object_object_add(last, "outcome", json_object_new_string(pk_outcome_name(c->last_outcome)));
            json_object_object_add(last, "status_code", json_object_new_int(c->last_status_code));
            json_object_object_add(last, "total_us", json_object_new_int64(c->last_total_us));
            json_object_object_add(last, "message", json_object_new_string(c->last_message));
            json_object_object_add(last, "probe", json_object_new_string(c->last_probe));
            json_object_object_add(last, "region", json_object_new_string(c->last_region));
            json_object_object_add(o, "last", last);
        } else {
            json_object_object_add(o, "last", NULL);
        }
        json_object *regions = json_object_new_array();
        for (size_t j = 0; j < c->n_last_hour; j++) {
            const Picket__V1__RegionRatio *r = c->last_hour[j];
            json_object *ro = json_object_new_object();
            json_object_object_add(ro, "region", json_object_new_string(r->region));
            json_object_object_add(ro, "total", json_object_new_int64(r->total));
            json_object_object_add(ro, "ok", json_object_new_int64(r->ok));
            json_object_object_add(ro, "success_ratio",
                                   r->total ? json_object_new_double((double)r->ok / (double)r->total) : NULL);
            json_object_array_add(regions, ro);
        }
        json_object_object_add(o, "last_hour", regions);
        json_object_array_add(checks, o);
    }
    json_object_object_add(root, "checks", checks);
    json_object *probes = json_object_new_array();
    for (size_t i = 0; i < resp->n_probes; i++) {
        const Picket__V1__ProbeStatus *p = resp->probes[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "probe", json_object_new_string(p->name));
        json_object_object_add(o, "region", json_object_new_string(p->region));
        json_object_object_add(o, "last_seen_us", json_object_new_int64(p->last_seen_us));
        json_object_object_add(o, "pending_results", json_object_new_uint64(p->pending_results));
        json_object_object_add(o, "dropped_results", json_object_new_uint64(p->dropped_results));
        json_object_object_add(o, "spool_bytes", json_object_new_uint64(p->spool_bytes));
        json_object_object_add(o, "committed_sequence", json_object_new_uint64(p->committed_sequence));
        json_object_array_add(probes, o);
    }
    json_object_object_add(root, "probes", probes);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static int cmd_status(const char *collector, int timeout_ms, int argc, char **argv)
{
    struct status_opts {
        int json;
        const char *check;
    } o = {0};
    static const struct pk_option options[] = {
        {.name = "json", .kind = PK_OPT_FLAG, .offset = offsetof(struct status_opts, json)},
        {.name = "check", .kind = PK_OPT_STRING, .offset = offsetof(struct status_opts, check), .metavar = "NAME"},
        {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP},
    };
    int next, rc;
    if (command_options("picketctl status", options, sizeof options / sizeof options[0], PK_OPTS_IN_ORDER, &o, argc,
                        argv, &next, &rc) < 0)
        return rc;
    if (next < argc) {
        fprintf(stderr, "picketctl status: unexpected argument '%s'\n", argv[next]);
        return 2;
    }
    char err[1024];
    Picket__V1__StatusResponse *resp = NULL;
    if (ctl_status(collector, o.check, timeout_ms, &resp, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl: %s\n", err);
        return 1;
    }
    if (o.json)
        print_status_json(resp);
    else
        print_status_table(resp);
    picket__v1__status_response__free_unpacked(resp, NULL);
    return 0;
}

static int cmd_probe(const char *collector, int timeout_ms, int argc, char **argv)
{
    struct probe_opts {
        const char *region;
        long long id;
    } o = {0};
    static const struct pk_option options[] = {
        {.name = "region", .kind = PK_OPT_STRING, .offset = offsetof(struct probe_opts, region), .metavar = "R"},
        {.name = "id", .kind = PK_OPT_LLONG, .offset = offsetof(struct probe_opts, id), .min = 1, .max = 9.3e18,
         .range_text = "a positive integer", .metavar = "N"},
        {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP},
    };
    int next, rc;
    /* argv[0] is "probe", argv[1] the action. */
    if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "revoke") != 0)) {
        fprintf(stderr, "picketctl probe: give an action: add NAME [--region R] or revoke NAME [--id N]\n");
        return 2;
    }
    int add = strcmp(argv[1], "add") == 0;
    const char *action = argv[1];
    argc--;
    argv++;
    if (command_options("picketctl probe revoke", options, sizeof options / sizeof options[0], 0, &o, argc, argv,
                        &next, &rc) < 0)
        return rc;
    if (next + 1 != argc) {
        fprintf(stderr, "picketctl probe %s: give exactly one probe NAME\n", action);
        return 2;
    }
    const char *name = argv[next];
    const char *region = o.region;
    long long id = o.id;
    char err[1024];
    if (add) {
        if (id) {
            fprintf(stderr, "picketctl probe add: --id is for revoke\n");
            return 2;
        }
        Picket__V1__AddProbeResponse *resp = NULL;
        if (ctl_add_probe(collector, name, region, timeout_ms, &resp, err, sizeof err) < 0) {
            fprintf(stderr, "picketctl: %s\n", err);
            return 1;
        }
        printf("%s\n", resp->token);
        fflush(stdout);
        fprintf(stderr,
                "picketctl: token for probe '%s' issued (credential id %lld). It is shown only once and the\n"
                "collector keeps only its hash. Save it in a file readable only by the probe's user, then run\n"
                "  picket-probe --name %s --tls-ca CA.crt --token-file FILE ...   (or set PICKET_TOKEN)\n",
                name, (long long)resp->credential_id, name);
        size_t n = strlen(resp->token);
        memset(resp->token, 0, n);
        picket__v1__add_probe_response__free_unpacked(resp, NULL);
        return 0;
    }
    if (region) {
        fprintf(stderr, "picketctl probe revoke: --region is for add\n");
        return 2;
    }
    long long revoked = 0;
    if (ctl_revoke(collector, name, id, timeout_ms, &revoked, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl: %s\n", err);
        return 1;
    }
    printf("revoked %lld credential%s of probe %s\n", revoked, revoked == 1 ? "" : "s", name);
    return 0;
}

/* How much of a check file picketctl reads; anything past it is left unread. */
#define CHECK_FILE_MAX ((size_t)8 << 20)

/* Reads and validates every file (as the collector will, with ${ENV} and
 * secrets left to the probes); names must be unique across files. 0, or -1
 * with the first error printed. files[] get malloc'd name/content. */
static int read_check_files(char **paths, size_t n, Picket__V1__CheckFile *files)
{
    struct pk_var_overrides defer = {.defer_environment = 1};
    struct pk_checkset *sets = calloc(n ? n : 1, sizeof *sets);
    int rc = -1;
    char err[1024];
    size_t loaded = 0;
    if (!sets)
        return -1;
    for (size_t i = 0; i < n; i++) {
        picket__v1__check_file__init(&files[i]);
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open: %m\n", paths[i]);
            goto out;
        }
        struct pk_buf buf;
        pk_buf_init(&buf, CHECK_FILE_MAX + 1);
        char chunk[1 << 16];
        size_t got;
        while (buf.len < CHECK_FILE_MAX && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            if (pk_buf_add(&buf, chunk, got < CHECK_FILE_MAX - buf.len ? got : CHECK_FILE_MAX - buf.len) < 0)
                break;
        fclose(f);
        size_t len = buf.len;
        char *text = pk_buf_take(&buf);
        if (!text) {
            fprintf(stderr, "picketctl: out of memory\n");
            goto out;
        }
        files[i].name = paths[i];
        files[i].content = text;
        if (strlen(text) != len) {
            fprintf(stderr, "%s: contains a NUL byte\n", paths[i]);
            goto out;
        }
        if (pk_checkset_load_string_with_vars(text, len, paths[i], &defer, &sets[i], err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            goto out;
        }
        loaded = i + 1;
        for (size_t a = 0; a < sets[i].n_checks; a++)
            for (size_t f2 = 0; f2 < i; f2++)
                for (size_t b = 0; b < sets[f2].n_checks; b++)
                    if (strcmp(sets[i].checks[a].name, sets[f2].checks[b].name) == 0) {
                        fprintf(stderr, "%s:%d: check '%s' is already defined at %s:%d\n", sets[i].checks[a].file,
                                sets[i].checks[a].line, sets[i].checks[a].name, sets[f2].checks[b].file,
                                sets[f2].checks[b].line);
                        goto out;
                    }
    }
    rc = 0;
out:
    for (size_t i = 0; i < loaded; i++)
        pk_checkset_free(&sets[i]);
    free(sets);
    return rc;
}

static json_object *changes_json(Picket__V1__CheckChange **changes, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "check", json_object_new_string(changes[i]->name));
        json_object_object_add(o, "change", json_object_new_string(changes[i]->change));
        json_object *keys = json_object_new_array();
        for (size_t k = 0; k < changes[i]->n_keys; k++)
            json_object_array_add(keys, json_object_new_string(changes[i]->keys[k]));
        json_object_object_add(o, "keys", keys);
        json_object_array_add(arr, o);
    }
    return arr;
}

static void print_changes(Picket__V1__CheckChange **changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Picket__V1__CheckChange *c = changes[i];
        char sign = strcmp(c->change, "added") == 0 ? '+' : strcmp(c->change, "removed") == 0 ? '-' : '~';
        printf("%c %-32s %s", sign, c->name, c->change);
        for (size_t k = 0; k < c->n_keys; k++)
            printf("%s%s", k ? ", " : " (", c->keys[k]);
        printf("%s\n", c->n_keys ? ")" : "");
    }
}

static void print_json(json_object *root)
{
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

/* apply's answer; exit code 0. */
static int print_applied(const Picket__V1__ApplyChecksResponse *resp, int json)
{
    if (json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "version", json_object_new_int64(resp->version));
        json_object_object_add(root, "created", json_object_new_boolean(resp->created));
        json_object_object_add(root, "changes", changes_json(resp->changes, resp->n_changes));
        print_json(root);
    } else {
        print_changes(resp->changes, resp->n_changes);
        if (resp->created)
            printf("applied: checks version %lld is current\n", (long long)resp->version);
        else
            printf("no change: checks version %lld stays current\n", (long long)resp->version);
    }
    return 0;
}

/* diff's answer; exit code 1 when something would change, else 0. */
static int print_diff(const Picket__V1__DiffChecksResponse *resp, int json)
{
    if (json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "current_version", json_object_new_int64(resp->current_version));
        json_object_object_add(root, "changes", changes_json(resp->changes, resp->n_changes));
        print_json(root);
    } else if (resp->n_changes == 0) {
        printf("no changes against checks version %lld\n", (long long)resp->current_version);
    } else {
        print_changes(resp->changes, resp->n_changes);
    }
    return resp->n_changes ? 1 : 0;
}

/* apply and diff share everything but the call and the answer. */
static int cmd_apply_or_diff(const char *collector, int timeout_ms, int apply, int argc, char **argv)
{
    static const struct pk_option options[] = {
        {.name = "json", .kind = PK_OPT_FLAG},
        {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP},
    };
    const char *name = apply ? "apply" : "diff";
    char prog[32];
    snprintf(prog, sizeof prog, "picketctl %s", name);
    int json = 0, next, rc;
    if (command_options(prog, options, sizeof options / sizeof options[0], PK_OPTS_IN_ORDER, &json, argc, argv, &next,
                        &rc) < 0)
        return rc;
    size_t n = (size_t)(argc - next);
    if (n == 0) {
        fprintf(stderr, "picketctl %s: give at least one check file\n", name);
        return 2;
    }
    Picket__V1__CheckFile *files = calloc(n, sizeof *files);
    Picket__V1__CheckFile **fp = calloc(n, sizeof *fp);
    if (!files || !fp) {
        free(files);
        free(fp);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        fp[i] = &files[i];
    if (read_check_files(argv + next, n, files) < 0) {
        rc = 3;
        goto out;
    }
    char err[1400];
    int invalid = 0;
    ProtobufCMessage *answer = NULL;
    Picket__V1__ApplyChecksRequest apply_req = PICKET__V1__APPLY_CHECKS_REQUEST__INIT;
    Picket__V1__DiffChecksRequest diff_req = PICKET__V1__DIFF_CHECKS_REQUEST__INIT;
    apply_req.n_files = diff_req.n_files = n;
    apply_req.files = diff_req.files = fp;
    if (ctl_admin_call(collector, apply ? "/picket.v1.AdminService/ApplyChecks" : "/picket.v1.AdminService/DiffChecks",
                       apply ? &apply_req.base : &diff_req.base,
                       apply ? &picket__v1__apply_checks_response__descriptor
                             : &picket__v1__diff_checks_response__descriptor,
                       timeout_ms, &answer, &invalid, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl: %s\n", err);
        rc = invalid ? 3 : apply ? 1 : 4;
        goto out;
    }
    rc = apply ? print_applied((const Picket__V1__ApplyChecksResponse *)answer, json)
               : print_diff((const Picket__V1__DiffChecksResponse *)answer, json);
    protobuf_c_message_free_unpacked(answer, NULL);
out:
    for (size_t i = 0; i < n; i++)
        free(files[i].content);
    free(files);
    free(fp);
    return rc;
}

/* The commands that call the collector: help needs no credentials, the rest do. */
static int remote_command(const struct global_opts *g, const char *command, int argc, char **argv)
{
    char err[1024];
    int wants_help = 0;
    for (int i = 1; i < argc; i++)
        wants_help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (wants_help) {
        if (ctl_query_is_command(command))
            ctl_query_usage(stdout, command);
        else
            usage(stdout);
        return 0;
    }
    if (rpc_client_security_from_opts(&g->tls, "picketctl", err, sizeof err) < 0) {
        fprintf(stderr, "picketctl: %s\n", err);
        return 2;
    }
    int rc;
    if (strcmp(command, "status") == 0)
        rc = cmd_status(g->collector, g->timeout_ms, argc, argv);
    else if (ctl_query_is_command(command))
        rc = ctl_query_main(g->collector, g->timeout_ms, argc, argv);
    else if (strcmp(command, "probe") == 0)
        rc = cmd_probe(g->collector, g->timeout_ms, argc, argv);
    else
        rc = cmd_apply_or_diff(g->collector, g->timeout_ms, strcmp(command, "apply") == 0, argc, argv);
    rpc_client_clear_security();
    return rc;
}

int main(int argc, char **argv)
{
    struct global_opts g = {.collector = "127.0.0.1:7700", .timeout_ms = 5000};
    pk_tls_opts_from_env(&g.tls);
    const struct pk_opts spec = {.prog = "picketctl",
                                 .table = global_options,
                                 .n = sizeof global_options / sizeof global_options[0],
                                 .flags = PK_OPTS_IN_ORDER};
    int next;
    switch (pk_opts_parse(&spec, &g, argc, argv, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        usage(stdout);
        return 0;
    case PK_OPTS_VERSION:
        printf("picketctl %s\n", PICKET_VERSION);
        return 0;
    case PK_OPTS_UNKNOWN:
        usage(stderr);
        return 2;
    default:
        return 2;
    }
    if (next >= argc) {
        usage(stderr);
        return 2;
    }
    const char *command = argv[next];
    if (strcmp(command, "status") == 0 || strcmp(command, "probe") == 0 || strcmp(command, "apply") == 0 ||
        strcmp(command, "diff") == 0 || ctl_query_is_command(command))
        return remote_command(&g, command, argc - next, argv + next);
    if (strcmp(command, "version") == 0) {
        printf("picketctl %s\n", PICKET_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "picketctl: unknown command '%s'\n", command);
    usage(stderr);
    return 2;
}
