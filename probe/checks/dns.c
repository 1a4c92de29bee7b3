/* dns.c: the dns check type on c-ares. Asks one question (name, record type)
 * of the configured server ("ip:port") or the system's resolvers, and checks
 * that every expected answer is among those returned. Each execution has its
 * own channel driven with ares_getsock/poll/ares_process_fd on a worker
 * thread (check_job), bounded by the check's timeout; never touches the
 * runner's loop. Answers are compared case-insensitively, trailing dot
 * ignored; MX answers read "PRIORITY HOST" and also match on HOST alone. */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

#define SLICE_MS 50
#define MAX_ANSWERS 32
#define ANSWER_MAX 256

struct dns_check {
    struct check_worker w; /* first: check_worker_new, start and destroy */
    int qtype;
};

static struct check_job_queue queue = {PTHREAD_MUTEX_INITIALIZER, NULL};
static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;

static void init_ares(void) { ares_init_status = ares_library_init(ARES_LIB_INIT_ALL); }

static const struct {
    const char *name;
    int type;
} record_types[] = {
    {"A", ns_t_a},     {"AAAA", ns_t_aaaa}, {"CNAME", ns_t_cname}, {"MX", ns_t_mx}, {"TXT", ns_t_txt},
    {"NS", ns_t_ns},   {"SOA", ns_t_soa},   {"SRV", ns_t_srv},     {"PTR", ns_t_ptr},
};

/* What one query gathered; filled by on_answer on the worker thread. */
struct query {
    int done;
    int status;
    int qtype;
    char answers[MAX_ANSWERS][ANSWER_MAX];
    int n_answers;
};

static void add_answer(struct query *q, const char *text)
{
    if (q->n_answers < MAX_ANSWERS)
        pk_strlcpy(q->answers[q->n_answers++], text, ANSWER_MAX);
}

static int be16(const unsigned char *p) { return (p[0] << 8) | p[1]; }

/* CNAME answers: c-ares 1.18 has no parser for them, so walk the answer section. */
static int parse_cname(const unsigned char *abuf, int alen, struct query *q)
{
    if (alen < HFIXEDSZ)
        return ARES_EBADRESP;
    int qdcount = be16(abuf + 4), ancount = be16(abuf + 6);
    const unsigned char *p = abuf + HFIXEDSZ, *end = abuf + alen;
    char *name;
    long len;
    for (int i = 0; i < qdcount; i++) {
        if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
            return ARES_EBADRESP;
        ares_free_string(name);
        p += len + QFIXEDSZ;
        if (p > end)
            return ARES_EBADRESP;
    }
    for (int i = 0; i < ancount; i++) {
        if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
            return ARES_EBADRESP;
        ares_free_string(name);
        p += len;
        if (p + RRFIXEDSZ > end)
            return ARES_EBADRESP;
        int type = be16(p), rdlen = be16(p + 8);
        p += RRFIXEDSZ;
        if (p + rdlen > end)
            return ARES_EBADRESP;
        if (type == ns_t_cname) {
            if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
                return ARES_EBADRESP;
            add_answer(q, name);
            ares_free_string(name);
        }
        p += rdlen;
    }
    return q->n_answers ? ARES_SUCCESS : ARES_ENODATA;
}

static int parse_answers(const unsigned char *abuf, int alen, struct query *q)
{
    char text[ANSWER_MAX];
    int rc;
    switch (q->qtype) {
    case ns_t_a:
    case ns_t_aaaa: {
        struct hostent *host = NULL;
        rc = q->qtype == ns_t_a ? ares_parse_a_reply(abuf, alen, &host, NULL, NULL)
                                : ares_parse_aaaa_reply(abuf, alen, &host, NULL, NULL);
        if (rc != ARES_SUCCESS)
            return rc;
        for (char **a = host->h_addr_list; a && *a; a++)
            if (inet_ntop(host->h_addrtype, *a, text, sizeof text))
                add_answer(q, text);
        ares_free_hostent(host);
        return ARES_SUCCESS;
    }
    case ns_t_cname:
        return parse_cname(abuf, alen, q);
    case ns_t_mx: {
        struct ares_mx_reply *mx = NULL;
        if ((rc = ares_parse_mx_reply(abuf, alen, &mx)) != ARES_SUCCESS)
            return rc;
        for (struct ares_mx_reply *m = mx; m; m = m->next) {
            snprintf(text, sizeof text, "%u %s", m->priority, m->host);
            add_answer(q, text);
        }
        ares_free_data(mx);
        return ARES_SUCCESS;
    }
    case ns_t_txt: {
        struct ares_txt_ext *txt = NULL;
        if ((rc = ares_parse_txt_reply_ext(abuf, alen, &txt)) != ARES_SUCCESS)
            return rc;
        /* A record may come in several strings; they are joined. */
        for (struct ares_txt_ext *t = txt; t; t = t->next) {
            if (t->record_start || q->n_answers == 0) {
                if (q->n_answers < MAX_ANSWERS)
                    q->answers[q->n_answers++][0] = '\0';
            }
            char *cur = q->answers[q->n_answers - 1];
            size_t used = strlen(cur);
            snprintf(cur + used, ANSWER_MAX - used, "%.*s", (int)t->length, (const char *)t->txt);
        }
        ares_free_data(txt);
        return ARES_SUCCESS;
    }
    case ns_t_ns: {
        struct hostent *host = NULL;
        if ((rc = ares_parse_ns_reply(abuf, alen, &host)) != ARES_SUCCESS)
            return rc;
        for (char **a = host->h_aliases; a && *a; a++)
            add_answer(q, *a);
        ares_free_hostent(host);
        return ARES_SUCCESS;
    }
    case ns_t_soa: {
        struct ares_soa_reply *soa = NULL;
        if ((rc = ares_parse_soa_reply(abuf, alen, &soa)) != ARES_SUCCESS)
            return rc;
        add_answer(q, soa->nsname);
        ares_free_data(soa);
        return ARES_SUCCESS;
    }
    case ns_t_srv: {
        struct ares_srv_reply *srv = NULL;
        if ((rc = ares_parse_srv_reply(abuf, alen, &srv)) != ARES_SUCCESS)
            return rc;
        for (struct ares_srv_reply *s = srv; s; s = s->next) {
            snprintf(text, sizeof text, "%u %u %u %s", s->priority, s->weight, s->port, s->host);
            add_answer(q, text);
        }
        ares_free_data(srv);
        return ARES_SUCCESS;
    }
    case ns_t_ptr: {
        struct hostent *host = NULL;
        if ((rc = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &host)) != ARES_SUCCESS)
            return rc;
        add_answer(q, host->h_name);
        for (char **a = host->h_aliases; a && *a; a++)
            add_answer(q, *a);
        ares_free_hostent(host);
        return ARES_SUCCESS;
    }
    default:
        return ARES_ENOTIMP;
    }
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct query *q = arg;
    (void)timeouts;
    q->done = 1;
    q->status = status == ARES_SUCCESS ? parse_answers(abuf, alen, q) : status;
}

/* "name" equals "name." equals "NAME"; MX "10 host" also matches "host". */
static int same_answer(const char *want, const char *got)
{
    size_t wl = strlen(want), gl = strlen(got);
    if (wl && want[wl - 1] == '.')
        wl--;
    if (gl && got[gl - 1] == '.')
        gl--;
    if (wl == gl && strncasecmp(want, got, wl) == 0)
        return 1;
    const char *space = strrchr(got, ' ');
    return space && space[1] && same_answer(want, space + 1) && !strchr(want, ' ');
}

static void list_answers(char *out, size_t size, const struct query *q)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < q->n_answers && used + 1 < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", q->answers[i]);
    if (!q->n_answers)
        snprintf(out, size, "no answers");
}

/* A resolver for one query: two tries of half the budget each, the check's
 * server when given. 0, or -1 with the result set (and no channel left). */
static int open_channel(ares_channel *channel, const struct pk_dns_options *o, int64_t timeout_ms,
                        struct pk_result *r)
{
    struct ares_options opts;
    memset(&opts, 0, sizeof opts);
    /* Two tries, each half the budget, so one lost UDP packet is survived. */
    opts.timeout = (int)(timeout_ms / 2 > 50 ? timeout_ms / 2 : 50);
    opts.tries = 2;
    /* Report SERVFAIL/REFUSED as answered instead of failing over silently. */
    opts.flags = ARES_FLAG_NOCHECKRESP;
    int rc = ares_init_options(channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
    if (rc != ARES_SUCCESS) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "cannot create a resolver: %s", ares_strerror(rc));
        return -1;
    }
    if (o->server && o->server[0] && (rc = ares_set_servers_ports_csv(*channel, o->server)) != ARES_SUCCESS) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "bad server '%s': %s", o->server, ares_strerror(rc));
        ares_destroy(*channel);
        return -1;
    }
    return 0;
}

/* Drives the channel until the query is answered, the deadline passes
 * (q->status ARES_ETIMEOUT) or the job is cancelled. */
static void wait_for_answer(ares_channel channel, struct query *q, const struct check_job *job, int64_t deadline)
{
    while (!q->done) {
        if (check_job_cancelled(job) || pk_mono_us() >= deadline) {
            ares_cancel(channel); /* calls on_answer with ARES_ECANCELLED */
            if (!check_job_cancelled(job))
                q->status = ARES_ETIMEOUT;
            break;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd fds[ARES_GETSOCK_MAXNUM];
        int n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit for i = 15. */
            unsigned ubits = (unsigned)bits;
            short events = (short)((ubits & (1u << i) ? POLLIN : 0) | (ubits & (1u << (i + 16)) ? POLLOUT : 0));
            if (events) {
                fds[n].fd = socks[i];
                fds[n].events = events;
                fds[n++].revents = 0;
            }
        }
        int wait = check_ms_left(deadline);
        struct timeval tv, *tvp = ares_timeout(channel, NULL, &tv);
        if (tvp && tvp->tv_sec * 1000 + tvp->tv_usec / 1000 < wait)
            wait = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
        if (wait > SLICE_MS)
            wait = SLICE_MS;
        int ready = poll(fds, (nfds_t)n, wait);
        if (ready <= 0) {
            ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts, retries */
            continue;
        }
        for (int i = 0; i < n; i++)
            if (fds[i].revents)
                ares_process_fd(channel, fds[i].revents & (POLLIN | POLLERR | POLLHUP) ? fds[i].fd : ARES_SOCKET_BAD,
                                fds[i].revents & POLLOUT ? fds[i].fd : ARES_SOCKET_BAD);
    }
}

/* The outcome from the query's status and answers, then the check's assertions. */
static void judge_answer(const struct pk_check *c, const struct query *q, const char *shown_name, int64_t timeout_ms,
                         struct pk_result *r)
{
    const struct pk_dns_options *o = &c->u.dns;
    char got[PK_MESSAGE_MAX];
    list_answers(got, sizeof got, q);
    r->outcome = PK_OUTCOME_FAILED;
    r->error_class = PK_ERR_DNS;
    switch (q->status) {
    case ARES_SUCCESS:
        break;
    case ARES_ENOTFOUND:
        snprintf(r->message, sizeof r->message, "NXDOMAIN: %s does not exist", shown_name);
        return;
    case ARES_ESERVFAIL:
        snprintf(r->message, sizeof r->message, "SERVFAIL for %s %s", o->record_type ? o->record_type : "A",
                 shown_name);
        return;
    case ARES_ENODATA:
        snprintf(r->message, sizeof r->message, "no %s records for %s", o->record_type ? o->record_type : "A",
                 shown_name);
        return;
    case ARES_ETIMEOUT:
        r->error_class = PK_ERR_TIMEOUT;
        snprintf(r->message, sizeof r->message, "no answer for %s %s within %lld ms",
                 o->record_type ? o->record_type : "A", shown_name, (long long)timeout_ms);
        return;
    default:
        snprintf(r->message, sizeof r->message, "%s %s: %s", o->record_type ? o->record_type : "A", shown_name,
                 ares_strerror(q->status));
        return;
    }
    for (size_t i = 0; i < o->n_expect; i++) {
        int found = 0;
        for (int j = 0; j < q->n_answers && !found; j++)
            found = same_answer(o->expect[i], q->answers[j]);
        if (!found) {
            r->error_class = PK_ERR_ASSERTION;
            snprintf(r->message, sizeof r->message, "expected %.60s among the answers, got: ", o->expect[i]);
            size_t used = strlen(r->message);
            pk_strlcpy(r->message + used, got, sizeof r->message - used);
            pk_utf8_sanitize(r->message);
            return;
        }
    }
    r->outcome = PK_OUTCOME_OK;
    r->error_class = PK_ERR_NONE;
    check_apply_asserts(c, NULL, 0, r);
}

static void dns_work(struct check_job *job)
{
    const struct pk_check *c = job->check;
    const struct pk_dns_options *o = &c->u.dns;
    struct pk_result *r = &job->result;
    const struct dns_check *d = (const struct dns_check *)((const char *)job - offsetof(struct dns_check, w.job));
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    int64_t t0 = pk_mono_us(), deadline = t0 + timeout_ms * 1000;
    ares_channel channel = NULL;
    struct query *q = calloc(1, sizeof *q);
    int channel_ok = 0;
    char *qname = NULL;
    const char *shown_name = o->name;
    if (check_render(c, o->name, &qname, &shown_name, r->message, sizeof r->message) < 0) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        goto out;
    }
    if (!q || ares_init_status != ARES_SUCCESS) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "%s", q ? "cannot initialise c-ares" : "out of memory");
        goto out;
    }
    q->qtype = d->qtype;
    if (open_channel(&channel, o, timeout_ms, r) < 0)
        goto out;
    channel_ok = 1;
    ares_query(channel, qname, ns_c_in, d->qtype, on_answer, q);
    wait_for_answer(channel, q, job, deadline);
    r->total_us = r->dns_us = pk_mono_us() - t0;
    if (r->n_metrics < PK_MAX_METRICS) {
        pk_strlcpy(r->metrics[r->n_metrics].name, "answers", PK_METRIC_NAME_MAX);
        r->metrics[r->n_metrics++].value = q->n_answers;
    }
    judge_answer(c, q, shown_name, timeout_ms, r);
out:
    pk_utf8_sanitize(r->message);
    if (r->total_us < 0)
        r->total_us = pk_mono_us() - t0;
    if (channel_ok)
        ares_destroy(channel);
    free(qname);
    free(q);
}

static int dns_create(const struct check_env *env, const struct pk_check *check, void **state, char *err,
                      size_t errlen)
{
    const char *file = check->file ? check->file : "";
    int qtype = -1;
    const char *type = check->u.dns.record_type && check->u.dns.record_type[0] ? check->u.dns.record_type : "A";
    for (size_t i = 0; i < sizeof record_types / sizeof *record_types; i++)
        if (strcasecmp(type, record_types[i].name) == 0)
            qtype = record_types[i].type;
    if (!check->u.dns.name || !check->u.dns.name[0]) {
        snprintf(err, errlen, "%s:%d: check '%s' needs a name to look up", file, check->line, check->name);
        return -1;
    }
    if (qtype < 0) {
        snprintf(err, errlen, "%s:%d: check '%s': record type '%s' is not one of A AAAA CNAME MX TXT NS SOA SRV PTR",
                 file, check->line, check->name, type);
        return -1;
    }
    pthread_once(&ares_once, init_ares);
    struct dns_check *d = check_worker_new(sizeof *d, env, check, &queue, dns_work, err, errlen);
    if (!d)
        return -1;
    d->qtype = qtype;
    *state = d;
    return 0;
}

static void dns_poll(void) { check_job_queue_drain(&queue); }

const struct check_type check_type_dns = {
    .create = dns_create,
    .start = check_worker_start,
    .destroy = check_worker_destroy,
    .poll_completions = dns_poll,
};
