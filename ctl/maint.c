/* maint.c: `picketctl maintenance add|list|end`, maintenance windows on the
 * collector (AdminService AddMaintenance, ListMaintenance, EndMaintenance). The
 * schedule is sent as typed: the collector parses it (its clock, its tz
 * database) with the same code as its --maintenance file, so both accept the
 * same windows and the error comes back naming the input. */
#include "maint.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"
#include "rpc_ctl.h"

#define MAX_FOR 32

struct maint_opts {
    const char *targets[MAX_FOR];
    int n_targets;
    const char *start, *end, *duration, *every, *cron, *timezone, *reason;
    long long id;
    int all, json;
};

static int add_for(void *target, const struct pk_option *opt, const char *value, const char *source, char *err,
                   size_t errlen)
{
    (void)opt;
    struct maint_opts *o = target;
    if (o->n_targets == MAX_FOR) {
        snprintf(err, errlen, "%s: at most %d targets", source, MAX_FOR);
        return -1;
    }
    o->targets[o->n_targets++] = value;
    return 0;
}

#define OFF(f) offsetof(struct maint_opts, f)
static const struct pk_option maint_options[] = {
    {.name = "for", .kind = PK_OPT_CALL, .set = add_for, .metavar = "T",
     .help = "add: a check name (glob) or service:NAME the window applies to;\nrepeatable"},
    {.name = "start", .kind = PK_OPT_STRING, .offset = OFF(start), .metavar = "TIME",
     .help = "add: when it starts: now, 2026-12-06T02:00 (in --timezone) or RFC 3339;\n"
             "recurring: when it comes into force"},
    {.name = "end", .kind = PK_OPT_STRING, .offset = OFF(end), .metavar = "TIME",
     .help = "add: when it ends (recurring: until when it is in force)"},
    {.name = "duration", .kind = PK_OPT_STRING, .offset = OFF(duration), .metavar = "D",
     .help = "add: how long it (each occurrence) lasts: 30m, 2h, 1h30m"},
    {.name = "every", .kind = PK_OPT_STRING, .offset = OFF(every), .metavar = "SCHEDULE",
     .help = "add: recurring on weekdays at a local time: 'mon-fri 02:00', 'sat,sun 23:30',\n'daily 03:00'"},
    {.name = "cron", .kind = PK_OPT_STRING, .offset = OFF(cron), .metavar = "EXPR",
     .help = "add: recurring by a 5-field cron expression: '0 3 * * sun'"},
    {.name = "timezone", .kind = PK_OPT_STRING, .offset = OFF(timezone), .metavar = "ZONE",
     .help = "add: IANA time zone of the local times (default UTC)"},
    {.name = "reason", .kind = PK_OPT_STRING, .offset = OFF(reason), .metavar = "TEXT", .help = "add: why (shown by list)"},
    {.name = "all", .kind = PK_OPT_FLAG, .offset = OFF(all), .help = "list: also windows that are over or ended"},
    {.name = "id", .kind = PK_OPT_LLONG, .offset = OFF(id), .min = 1, .max = 9.3e18, .range_text = "a positive integer",
     .metavar = "N", .help = "end: the window with this id (instead of a NAME)"},
    {.name = "json", .kind = PK_OPT_FLAG, .offset = OFF(json), .help = "print JSON"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
};
#undef OFF

void ctl_maint_usage(FILE *f)
{
    fputs("usage: picketctl [options] maintenance add NAME --for T [--for T...] SCHEDULE [--timezone Z] [--reason R]\n"
          "       picketctl [options] maintenance list [--all] [--json]\n"
          "       picketctl [options] maintenance end NAME | --id N\n"
          "SCHEDULE is --start TIME and --end TIME or --duration D (one-off; --start now), or --every 'mon-fri\n"
          "02:00' or --cron '0 3 * * sun' with --duration D (recurring). Rounds inside a window are left out of\n"
          "availability and SLOs; incidents that start inside are marked and do not page. add and end need a\n"
          "write credential, list a read one.\n"
          "Exit 0 ok, 1 the collector could not answer, 2 bad usage, an invalid window or nothing to end.\n"
          "\noptions:\n",
          f);
    pk_opts_print(f, maint_options, sizeof maint_options / sizeof maint_options[0], 22, 0);
    fputs("(global options such as --collector go before the command: picketctl --help)\n", f);
}

static void fmt_time(char *buf, size_t n, int64_t us)
{
    if (us <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_of(const Picket__V1__MaintenanceWindow *w)
{
    return w->ended_us ? "ended" : w->active ? "active" : w->next_end_us ? "scheduled" : "over";
}

static json_object *window_json(const Picket__V1__MaintenanceWindow *w)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(w->id));
    json_object_object_add(o, "name", json_object_new_string(w->name));
    json_object_object_add(o, "state", json_object_new_string(state_of(w)));
    json_object_object_add(o, "kind", json_object_new_string(w->kind));
    json_object_object_add(o, "description", json_object_new_string(w->description));
    json_object *t = json_object_new_array();
    for (size_t i = 0; i < w->n_targets; i++)
        json_object_array_add(t, json_object_new_string(w->targets[i]));
    json_object_object_add(o, "for", t);
    json_object_object_add(o, "timezone", json_object_new_string(w->timezone[0] ? w->timezone : "UTC"));
    json_object_object_add(o, "start_us", json_object_new_int64(w->start_us));
    json_object_object_add(o, "end_us", json_object_new_int64(w->end_us));
    json_object_object_add(o, "duration_us", json_object_new_int64(w->duration_us));
    json_object_object_add(o, "ended_us", json_object_new_int64(w->ended_us));
    json_object_object_add(o, "next_start_us", json_object_new_int64(w->next_start_us));
    json_object_object_add(o, "next_end_us", json_object_new_int64(w->next_end_us));
    json_object_object_add(o, "active", json_object_new_boolean(w->active));
    json_object_object_add(o, "reason", json_object_new_string(w->reason));
    json_object_object_add(o, "source", json_object_new_string(w->id ? "picketctl" : "file"));
    return o;
}

static void print_json(json_object *root)
{
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static void print_table(Picket__V1__MaintenanceWindow **w, size_t n)
{
    printf("%-6s %-24s %-9s %-44s %-22s %s\n", "ID", "NAME", "STATE", "SCHEDULE", "NEXT/NOW", "FOR");
    for (size_t i = 0; i < n; i++) {
        char next[32], id[24], targets[512] = "";
        fmt_time(next, sizeof next, w[i]->next_start_us);
        snprintf(id, sizeof id, "%lld", (long long)w[i]->id);
        for (size_t k = 0; k < w[i]->n_targets; k++) {
            size_t len = strlen(targets);
            snprintf(targets + len, sizeof targets - len, "%s%s", k ? "," : "", w[i]->targets[k]);
        }
        printf("%-6s %-24s %-9s %-44s %-22s %s\n", w[i]->id ? id : "file", w[i]->name, state_of(w[i]),
               w[i]->description, next, targets);
    }
    if (n == 0)
        printf("(no maintenance windows%s)\n", "");
}

static int do_add(const char *collector, int timeout_ms, const char *name, const struct maint_opts *o)
{
    Picket__V1__MaintenanceWindow w = PICKET__V1__MAINTENANCE_WINDOW__INIT;
    w.name = (char *)name;
    w.targets = (char **)o->targets;
    w.n_targets = (size_t)o->n_targets;
    w.start = (char *)(o->start ? o->start : "");
    w.end = (char *)(o->end ? o->end : "");
    w.duration = (char *)(o->duration ? o->duration : "");
    w.every = (char *)(o->every ? o->every : "");
    w.cron = (char *)(o->cron ? o->cron : "");
    w.timezone = (char *)(o->timezone ? o->timezone : "");
    w.reason = (char *)(o->reason ? o->reason : "");
    Picket__V1__AddMaintenanceRequest req = PICKET__V1__ADD_MAINTENANCE_REQUEST__INIT;
    req.window = &w;
    ProtobufCMessage *answer = NULL;
    int invalid = 0;
    char err[1024];
    if (ctl_admin_call(collector, "/picket.v1.AdminService/AddMaintenance", &req.base,
                       &picket__v1__add_maintenance_response__descriptor, timeout_ms, &answer, &invalid, err,
                       sizeof err) < 0) {
        fprintf(stderr, "picketctl maintenance add: %s\n", err);
        return invalid ? 2 : 1;
    }
    const Picket__V1__MaintenanceWindow *got = ((Picket__V1__AddMaintenanceResponse *)answer)->window;
    if (o->json) {
        print_json(window_json(got));
    } else {
        char next[32];
        fmt_time(next, sizeof next, got->next_start_us);
        printf("maintenance window %lld '%s' added: %s; %s %s\n", (long long)got->id, got->name, got->description,
               got->active ? "active since" : got->next_start_us ? "next" : "no occurrence to come; starts", next);
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}

static int do_list(const char *collector, int timeout_ms, const struct maint_opts *o)
{
    Picket__V1__ListMaintenanceRequest req = PICKET__V1__LIST_MAINTENANCE_REQUEST__INIT;
    req.all = o->all;
    ProtobufCMessage *answer = NULL;
    int invalid = 0;
    char err[1024];
    if (ctl_admin_call(collector, "/picket.v1.AdminService/ListMaintenance", &req.base,
                       &picket__v1__list_maintenance_response__descriptor, timeout_ms, &answer, &invalid, err,
                       sizeof err) < 0) {
        fprintf(stderr, "picketctl maintenance list: %s\n", err);
        return invalid ? 2 : 1;
    }
    const Picket__V1__ListMaintenanceResponse *resp = (const Picket__V1__ListMaintenanceResponse *)answer;
    if (o->json) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        json_object_object_add(root, "now_us", json_object_new_int64(resp->now_us));
        for (size_t i = 0; i < resp->n_windows; i++)
            json_object_array_add(arr, window_json(resp->windows[i]));
        json_object_object_add(root, "windows", arr);
        print_json(root);
    } else {
        print_table(resp->windows, resp->n_windows);
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}

static int do_end(const char *collector, int timeout_ms, const char *name, const struct maint_opts *o)
{
    Picket__V1__EndMaintenanceRequest req = PICKET__V1__END_MAINTENANCE_REQUEST__INIT;
    req.id = o->id;
    req.name = (char *)(name ? name : "");
    ProtobufCMessage *answer = NULL;
    int invalid = 0;
    char err[1024];
    if (ctl_admin_call(collector, "/picket.v1.AdminService/EndMaintenance", &req.base,
                       &picket__v1__end_maintenance_response__descriptor, timeout_ms, &answer, &invalid, err,
                       sizeof err) < 0) {
        fprintf(stderr, "picketctl maintenance end: %s\n", err);
        return invalid ? 2 : 1;
    }
    long long ended = ((Picket__V1__EndMaintenanceResponse *)answer)->ended;
    printf("ended %lld maintenance window%s\n", ended, ended == 1 ? "" : "s");
    protobuf_c_message_free_unpacked(answer, NULL);
    return 0;
}

int ctl_maint_main(const char *collector, int timeout_ms, int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "list") && strcmp(argv[1], "end"))) {
        fprintf(stderr, "picketctl maintenance: give an action: add, list or end (picketctl maintenance --help)\n");
        return 2;
    }
    const char *action = argv[1];
    struct maint_opts o = {0};
    const struct pk_opts spec = {.prog = "picketctl maintenance", .table = maint_options,
                                 .n = sizeof maint_options / sizeof maint_options[0], .flags = PK_OPTS_NO_ENV};
    int next = 0;
    switch (pk_opts_parse(&spec, &o, argc - 1, argv + 1, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        ctl_maint_usage(stdout);
        return 0;
    default:
        return 2;
    }
    int operands = argc - 1 - next;
    const char *name = operands > 0 ? argv[1 + next] : NULL;
    int adding = strcmp(action, "add") == 0, listing = strcmp(action, "list") == 0;
    if ((adding && operands != 1) || (listing && operands != 0) ||
        (!adding && !listing && (operands > 1 || (operands == 1) == (o.id > 0)))) {
        fprintf(stderr, "picketctl maintenance %s: %s\n", action,
                adding ? "give exactly one window NAME" : listing ? "takes no operands" : "give a window NAME or --id N");
        return 2;
    }
    int add_opts = o.n_targets || o.start || o.end || o.duration || o.every || o.cron || o.timezone || o.reason;
    if ((!adding && add_opts) || (!listing && o.all) || (strcmp(action, "end") != 0 && o.id)) {
        fprintf(stderr, "picketctl maintenance %s: an option given is for another action (--help)\n", action);
        return 2;
    }
    if (adding && o.n_targets == 0) {
        fprintf(stderr, "picketctl maintenance add: give at least one --for (a check name or service:NAME)\n");
        return 2;
    }
    if (adding)
        return do_add(collector, timeout_ms, name, &o);
    if (listing)
        return do_list(collector, timeout_ms, &o);
    return do_end(collector, timeout_ms, name, &o);
}
