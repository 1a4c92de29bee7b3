/* test_dns.c: the dns check through the real runner against a tiny UDP DNS
 * responder thread on 127.0.0.1 (wire format written by hand): A answers for
 * picket.test, TXT and MX and CNAME for their names, SERVFAIL for
 * servfail.test, silence for silent.test, NXDOMAIN for everything else. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checks.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"
#include "probe_test.h"

static struct {
    struct lb_server *server;
    int port;
} srv;

static size_t put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return 2;
}

/* One answer record naming the question (pointer to offset 12). */
static size_t put_rr(unsigned char *p, unsigned type, const unsigned char *rdata, size_t rdlen)
{
    size_t n = put16(p, 0xc00c);
    n += put16(p + n, type);
    n += put16(p + n, 1);
    n += put16(p + n, 0);
    n += put16(p + n, 60);
    n += put16(p + n, (unsigned)rdlen);
    memcpy(p + n, rdata, rdlen);
    return n + rdlen;
}

/* "a.b" -> 1a1b0 */
static size_t put_name(unsigned char *p, const char *name)
{
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (unsigned char)len;
        memcpy(p + n, name, len);
        n += len;
        name += len + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

static size_t answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
    if (qlen < 17)
        return 0;
    char name[256];
    size_t i = 12, o = 0;
    while (i < qlen && q[i] && o < sizeof name - 64) {
        size_t len = q[i++];
        if (o)
            name[o++] = '.';
        memcpy(name + o, q + i, len);
        o += len;
        i += len;
    }
    name[o] = '\0';
    size_t qend = i + 5; /* the zero label, qtype, qclass */
    if (qend > qlen)
        return 0;
    unsigned qtype = (unsigned)(q[i + 1] << 8 | q[i + 2]);
    if (strcasecmp(name, "silent.test") == 0)
        return 0;
    memcpy(out, q, qend);
    out[2] = 0x81; /* QR, RD */
    out[3] = 0x80; /* RA, rcode 0 */
    out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
    size_t n = qend;
    unsigned ancount = 0;
    unsigned char rdata[128];
    if (strcasecmp(name, "picket.test") == 0 && qtype == 1) {
        unsigned char a1[4] = {10, 0, 0, 1}, a2[4] = {10, 0, 0, 2};
        n += put_rr(out + n, 1, a1, 4);
        n += put_rr(out + n, 1, a2, 4);
        ancount = 2;
    } else if (strcasecmp(name, "picket.test") == 0 && qtype == 16) {
        const char *s1 = "v=spf1 -all", *s2 = "part one ", *s3 = "part two";
        size_t l = 0;
        rdata[l++] = (unsigned char)strlen(s1);
        memcpy(rdata + l, s1, strlen(s1));
        l += strlen(s1);
        n += put_rr(out + n, 16, rdata, l);
        l = 0;
        rdata[l++] = (unsigned char)strlen(s2);
        memcpy(rdata + l, s2, strlen(s2));
        l += strlen(s2);
        rdata[l++] = (unsigned char)strlen(s3);
        memcpy(rdata + l, s3, strlen(s3));
        l += strlen(s3);
        n += put_rr(out + n, 16, rdata, l);
        ancount = 2;
    } else if (strcasecmp(name, "picket.test") == 0 && qtype == 15) {
        size_t l = put16(rdata, 10);
        l += put_name(rdata + l, "mail.picket.test");
        n += put_rr(out + n, 15, rdata, l);
        ancount = 1;
    } else if (strcasecmp(name, "www.picket.test") == 0 && qtype == 5) {
        size_t l = put_name(rdata, "picket.test");
        n += put_rr(out + n, 5, rdata, l);
        ancount = 1;
    } else if (strcasecmp(name, "servfail.test") == 0) {
        out[3] = 0x82;
    } else if (strcasecmp(name, "picket.test") != 0) {
        out[3] = 0x83; /* NXDOMAIN */
    } /* else: NODATA */
    put16(out + 6, ancount);
    return n;
}

/* One query in, one answer out (none for a query it cannot parse). */
static void serve_query(int fd, void *user)
{
    (void)user;
    unsigned char q[512], out[1024];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (n <= 0)
        return;
    size_t len = answer(q, (size_t)n, out);
    if (len)
        sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
}

static int setup(void **state)
{
    (void)state;
    return lb_start_at(&srv.server, &srv.port, LB_DATAGRAM, serve_query, NULL);
}

static int teardown(void **state)
{
    (void)state;
    lb_stop(srv.server);
    return 0;
}

static struct pk_result last;

static void on_result(const struct pk_result *r, void *user)
{
    (void)user;
    last = *r;
}

static void run_dns(const char *name, const char *type, char **expect, size_t n_expect, int64_t timeout_ms)
{
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", srv.port);
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "dns-check";
    c.type = "dns";
    c.file = "test.yaml";
    c.interval_ms = 60000;
    c.timeout_ms = timeout_ms;
    c.u.dns.name = (char *)name;
    c.u.dns.server = server;
    c.u.dns.record_type = (char *)type;
    c.u.dns.expect = expect;
    c.u.dns.n_expect = n_expect;
    run_check_once(&c, &last);
}

static void a_records(void **state)
{
    (void)state;
    char *expect[] = {"10.0.0.2", "10.0.0.1"};
    run_dns("picket.test", "A", expect, 2, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_string_equal(last.check_type, "dns");
    assert_int_equal(last.n_metrics, 1);
    assert_string_equal(last.metrics[0].name, "answers");
    assert_true(last.metrics[0].value == 2);
    assert_true(last.dns_us > 0 && last.dns_us == last.total_us);
}

static void a_missing_answer(void **state)
{
    (void)state;
    char *expect[] = {"10.0.0.1", "10.0.0.9"};
    run_dns("picket.test", NULL, expect, 2, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "expected 10.0.0.9 among the answers, got: 10.0.0.1, 10.0.0.2");
}

static void nxdomain(void **state)
{
    (void)state;
    run_dns("nothere.test", "A", NULL, 0, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_DNS);
    assert_string_equal(last.message, "NXDOMAIN: nothere.test does not exist");
}

static void servfail(void **state)
{
    (void)state;
    run_dns("servfail.test", "A", NULL, 0, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_DNS);
    assert_string_equal(last.message, "SERVFAIL for A servfail.test");
}

static void nodata(void **state)
{
    (void)state;
    run_dns("picket.test", "AAAA", NULL, 0, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_DNS);
    assert_string_equal(last.message, "no AAAA records for picket.test");
}

static void silent_times_out(void **state)
{
    (void)state;
    int64_t t0 = pk_mono_us();
    run_dns("silent.test", "A", NULL, 0, 300);
    int64_t took = pk_mono_us() - t0;
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TIMEOUT);
    assert_string_equal(last.message, "no answer for A silent.test within 300 ms");
    assert_true(took >= 250000 && took < 1500000);
}

static void txt_mx_cname(void **state)
{
    (void)state;
    char *txt[] = {"v=spf1 -all", "part one part two"};
    run_dns("picket.test", "TXT", txt, 2, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    char *mx[] = {"mail.picket.test."};
    run_dns("picket.test", "MX", mx, 1, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    char *mx_full[] = {"10 mail.picket.test"};
    run_dns("picket.test", "mx", mx_full, 1, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    char *cname[] = {"PICKET.test"};
    run_dns("www.picket.test", "CNAME", cname, 1, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    char *wrong[] = {"other.test"};
    run_dns("www.picket.test", "CNAME", wrong, 1, 2000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(last.message, "expected other.test among the answers, got: picket.test");
}

static void bad_record_type(void **state)
{
    (void)state;
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "dns-bad";
    c.type = "dns";
    c.file = "t.yaml";
    c.line = 9;
    c.interval_ms = 1000;
    c.u.dns.name = "picket.test";
    c.u.dns.record_type = "HINFO";
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_string_equal(err, "t.yaml:9: check 'dns-bad': record type 'HINFO' is not one of A AAAA CNAME MX TXT NS SOA "
                             "SRV PTR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_records),        cmocka_unit_test(a_missing_answer), cmocka_unit_test(nxdomain),
        cmocka_unit_test(servfail),         cmocka_unit_test(nodata),           cmocka_unit_test(silent_times_out),
        cmocka_unit_test(txt_mx_cname),     cmocka_unit_test(bad_record_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
