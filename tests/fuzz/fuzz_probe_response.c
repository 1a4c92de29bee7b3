/* fuzz_probe_response.c: libFuzzer target for what a probe does with a response
 * from the service it monitors (probe/assertions.c): the body and headers come
 * from outside, often from a service nobody in the team wrote. One fixed flow
 * step holds every assertion kind (status, headers, body text and PCRE2 regex,
 * jq on the body parsed as JSON, Prometheus text series, time), every capture
 * source and jq extractions; the input is the response:
 *   2 bytes status (big-endian), then "Name: value" header lines up to an empty
 *   line, then the body (any bytes, NULs included).
 * Nothing may crash, leak or run away; a verdict that is not OK says why, and a
 * capture either yields a value or a reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assertions.h"
#include "checks.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char check_yaml[] =
    "checks:\n"
    "  - name: r\n"
    "    type: flow\n"
    "    steps:\n"
    "      - request: {url: 'http://127.0.0.1:1/'}\n"
    "        assert:\n"
    "          - status: [200, '3xx']\n"
    "          - header: {name: Content-Type, matches: 'json|text/plain'}\n"
    "          - {header: {name: X-Tag, equals: 'v1'}, severity: degraded}\n"
    "          - body_contains: 'ok'\n"
    "          - body_not_contains: 'Traceback'\n"
    "          - body_matches: '(\\d+)\\s*items?'\n"
    "          - json: '.a | length > 0'\n"
    "          - json: '[.. | numbers] | add > 3'\n"
    "          - json: '.items[0].name | test(\"^x\"; \"i\")'\n"
    "          - time_under: 1s\n"
    "          - metric: {series: 'process_open_fds', op: '<', value: 1000}\n"
    "          - metric: {series: 'http_requests_total{code=\"200\",method=\"get\"}', op: '>=', value: 1}\n"
    "          - {metric: {series: 'up', op: '==', value: 1}, severity: degraded}\n"
    "        capture:\n"
    "          c1: {status: true}\n"
    "          c2: {header: Location}\n"
    "          c3: {header: Location, regex: 'draft_(\\d+)'}\n"
    "          c4: {body_regex: 'id=(\\w+)'}\n"
    "          c5: {json: '.id'}\n"
    "        extract: {n: '.count', m: '.items | length', t: '.ok', s: '.[\"a b\"]'}\n";

static struct pk_checkset set;
static const struct pk_step *step;

/* jq keeps its stack by a pointer to the block's end, which LeakSanitizer does not
 * count as a reference: free the programs before it looks at exit. */
static void teardown(void) { pk_checkset_free(&set); }

static void setup(void)
{
    char err[1024];
    if (pk_checkset_load_string(check_yaml, sizeof check_yaml - 1, "fuzz.yaml", &set, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_probe_response: %s\n", err);
        abort();
    }
    step = &set.checks[0].u.flow.steps[0];
    atexit(teardown);
    /* Extractions log what they skip: still formatted (hostile text goes through
     * the quoting), but not printed for every input. */
    FILE *null = fopen("/dev/null", "w");
    if (null)
        pk_log_set_stream(null);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!step)
        setup();
    if (size < 2)
        return 0;
    struct assert_response resp = {.status = (data[0] << 8 | data[1]) % 1000, .total_us = 1000};
    const char *p = (const char *)data + 2, *end = (const char *)data + size;

    /* Header lines up to an empty one; each copied so it is NUL-terminated. */
    struct pk_kv headers[16];
    char hbuf[16][2][256];
    size_t nh = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le == p) {
            p = nl ? nl + 1 : end;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && nh < 16) {
            size_t kl = (size_t)(colon - p), vl = (size_t)(le - colon - 1);
            kl = kl < 255 ? kl : 255;
            vl = vl < 255 ? vl : 255;
            memcpy(hbuf[nh][0], p, kl);
            hbuf[nh][0][kl] = '\0';
            memcpy(hbuf[nh][1], colon + 1, vl);
            hbuf[nh][1][vl] = '\0';
            headers[nh].key = hbuf[nh][0];
            headers[nh].value = hbuf[nh][1];
            nh++;
        }
        p = nl ? nl + 1 : end;
    }
    resp.headers = headers;
    resp.n_headers = nh;
    /* The body in its own allocation of its exact size, so ASan sees a read past it. */
    size_t bl = (size_t)(end - p);
    char *body = malloc(bl ? bl : 1);
    if (!body)
        return 0;
    memcpy(body, p, bl);
    resp.body = body;
    resp.body_len = bl;

    struct assert_verdict v;
    assert_evaluate(&resp, step->asserts, step->n_asserts, &v);
    if (v.outcome != PK_OUTCOME_OK && !v.message[0])
        abort(); /* a failure that does not say why */
    for (size_t i = 0; i < step->n_captures; i++) {
        char *value = NULL, err[256] = "";
        if (assert_capture(&resp, &step->captures[i], &value, err, sizeof err) == 0)
            free(value);
        else if (!err[0])
            abort(); /* a capture that found nothing and does not say why */
    }
    struct pk_result r;
    memset(&r, 0, sizeof r);
    assert_extract(&resp, step->extracts, step->n_extracts, "r", &r);
    assert_response_release(&resp);
    free(body);
    return 0;
}
