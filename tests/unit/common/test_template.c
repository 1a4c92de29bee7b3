/* test_template.c: {{ ... }} templates. Rendering of variables, captures and
 * every function against known answers (RFC 4231 for HMAC-SHA256, RFC 4648 for
 * base64), validation errors with their offsets, and that secrets are flagged and
 * never named by value in errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checks.h"
#include "template.h"

static int lookup(void *user, const char *name, const char **value)
{
    (void)user;
    static const struct {
        const char *name, *value;
        int kind;
    } table[] = {
        {"base_url", "http://127.0.0.1:8000", PK_TNAME_VAR},
        {"jefe", "Jefe", PK_TNAME_SECRET},
        {"draft_id", "draft_42", PK_TNAME_CAPTURE},
        {"quote", "say \"hi\"\n", PK_TNAME_VAR},
        {"body", "what do ya want for nothing?", PK_TNAME_BODY},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(table[i].name, name) == 0) {
            *value = table[i].value;
            return table[i].kind;
        }
    return PK_TNAME_UNKNOWN;
}

static char *render(const char *src, int flags, int *secret)
{
    char *out = NULL, err[256] = "";
    int s = -1;
    if (pk_template_render(src, lookup, NULL, flags, &out, &s, err, sizeof err) != 0)
        fail_msg("render '%s' failed: %s", src, err);
    if (secret)
        *secret = s;
    return out;
}

static void expect(const char *src, const char *want)
{
    char *out = render(src, PK_TEMPLATE_RAW, NULL);
    assert_string_equal(out, want);
    free(out);
}

static void test_variables_and_captures(void **state)
{
    (void)state;
    int secret = -1;
    expect("plain text", "plain text");
    expect("", "");
    expect("{{base_url}}/drafts/{{ draft_id }}/approve", "http://127.0.0.1:8000/drafts/draft_42/approve");
    expect("{{'{{'}}x}}", "{{x}}");
    expect("a { b } c", "a { b } c");
    char *out = render("{{base_url}}", PK_TEMPLATE_RAW, &secret);
    assert_int_equal(secret, 0);
    free(out);
    out = render("{{jefe}}", PK_TEMPLATE_RAW, &secret);
    assert_string_equal(out, "Jefe");
    assert_int_equal(secret, 1);
    free(out);
    /* JSON mode escapes inserted values, not the surrounding text. */
    out = render("\"q\":\"{{quote}}\"", PK_TEMPLATE_JSON_STRING, NULL);
    assert_string_equal(out, "\"q\":\"say \\\"hi\\\"\\u000a\"");
    free(out);
}

static void test_hmac_and_base64(void **state)
{
    (void)state;
    int secret = 0;
    /* RFC 4231 test case 2 */
    char *out = render("{{hmac_sha256_hex(jefe, body)}}", PK_TEMPLATE_RAW, &secret);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(secret, 1);
    free(out);
    out = render("{{ hmac_sha256_hex(jefe, 'what do ya want for nothing?') }}", PK_TEMPLATE_RAW, NULL);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    free(out);
    /* the same 32 bytes, base64 */
    out = render("{{hmac_sha256_base64(jefe, body)}}", PK_TEMPLATE_RAW, NULL);
    assert_string_equal(out, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    free(out);
    /* RFC 4648 section 10 */
    expect("{{base64('')}}", "");
    expect("{{base64('f')}}", "Zg==");
    expect("{{base64('fo')}}", "Zm8=");
    expect("{{base64(\"foobar\")}}", "Zm9vYmFy");
    expect("{{base64(draft_id)}}", "ZHJhZnRfNDI=");

    char hex[65], b64[45];
    assert_int_equal(pk_template_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(pk_template_hmac_sha256_base64("Jefe", 4, "what do ya want for nothing?", 28, b64), 0);
    assert_string_equal(b64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

/* A tiny matcher for fixed shapes: 'h' lowercase hex, 'd' digit, 'v' one of 89ab,
 * anything else itself. (Not <regex.h>: libpcre2-posix may shadow regcomp.) */
static int shaped(const char *s, const char *shape)
{
    for (; *shape; shape++, s++) {
        if (!*s)
            return 0;
        if (*shape == 'h' ? !strchr("0123456789abcdef", *s)
            : *shape == 'd' ? !(*s >= '0' && *s <= '9')
            : *shape == 'v' ? !strchr("89ab", *s)
                            : *s != *shape)
            return 0;
    }
    return *s == '\0';
}

static void test_uuid_and_time(void **state)
{
    (void)state;
    char *a = render("{{uuid()}}", PK_TEMPLATE_RAW, NULL), *b = render("{{ uuid( ) }}", PK_TEMPLATE_RAW, NULL);
    const char *uuid_shape = "hhhhhhhh-hhhh-4hhh-vhhh-hhhhhhhhhhhh";
    if (!shaped(a, uuid_shape))
        fail_msg("uuid '%s'", a);
    assert_true(shaped(b, uuid_shape));
    assert_string_not_equal(a, b);
    free(a);
    free(b);

    /* clock_gettime, as the templates read it: time() reads a coarser clock that
     * can still say the previous second when now() already says the next one. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t before = ts.tv_sec;
    char *now = render("{{now()}}", PK_TEMPLATE_RAW, NULL), *unix_s = render("{{now_unix()}}", PK_TEMPLATE_RAW, NULL),
         *ms = render("{{now_ms()}}", PK_TEMPLATE_RAW, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t after = ts.tv_sec;
    assert_true(shaped(now, "dddd-dd-ddTdd:dd:ddZ"));
    struct tm tm = {0};
    assert_non_null(strptime(now, "%Y-%m-%dT%H:%M:%SZ", &tm));
    time_t parsed = timegm(&tm);
    assert_true(parsed >= before && parsed <= after);
    long long s = atoll(unix_s), m = atoll(ms);
    assert_true(s >= before && s <= after);
    assert_true(m / 1000 >= before && m / 1000 <= after);
    assert_true(shaped(ms, "ddddddddddddd"));
    free(now);
    free(unix_s);
    free(ms);
}

struct bad {
    const char *src;
    size_t offset;
    const char *want;
};

static void test_errors(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        {"x{{nope}}", 3, "unknown variable 'nope'"},
        {"{{ foo() }}", 3, "unknown function 'foo'"},
        {"{{uuid(body)}}", 2, "function 'uuid' takes 0 arguments, got 1"},
        {"{{hmac_sha256_hex(jefe)}}", 2, "function 'hmac_sha256_hex' takes 2 arguments, got 1"},
        {"{{hmac_sha256_hex('k', body)}}", 18, "the key of 'hmac_sha256_hex' must name a secret or variable, not a string"},
        {"{{hmac_sha256_hex(draft_id, body)}}", 18, "the key of 'hmac_sha256_hex' must name a secret or variable"},
        {"abc {{base_url", 4, "unterminated '{{' in template"},
        {"{{base_url x}}", 11, "expected '}}' in template"},
        {"{{}}", 0, "empty template '{{}}'"},
        {"{{'abc}}", 2, "unterminated string in template"},
        {"{{ 1 }}", 3, "expected a name or a quoted string in template"},
        {"{{base64(a b)}}", 11, "expected ',' or ')' in call to 'base64'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "", *out = (char *)"untouched";
        size_t off = 999;
        if (pk_template_validate(bad[i].src, (pk_template_kind_fn)NULL, NULL, &off, err, sizeof err) != -1 &&
            strstr(bad[i].src, "nope"))
            fail_msg("case %zu validated", i);
        /* rendering gives the same sentence */
        assert_int_equal(pk_template_render(bad[i].src, lookup, NULL, 0, &out, NULL, err, sizeof err), -1);
        assert_string_equal(err, bad[i].want);
        assert_string_equal(out, "untouched");
    }
}

static int kind_of(void *user, const char *name)
{
    const char *v;
    return lookup(user, name, &v);
}

static void test_validate(void **state)
{
    (void)state;
    char err[256];
    size_t off = 0;
    assert_int_equal(pk_template_validate("no templates", kind_of, NULL, &off, err, sizeof err), 0);
    assert_int_equal(pk_template_validate("{{base_url}}/{{uuid()}}", kind_of, NULL, &off, err, sizeof err), 2);
    assert_int_equal(pk_template_validate("{{base_url}}/{{nope}}", kind_of, NULL, &off, err, sizeof err), -1);
    assert_int_equal(off, 15); /* the name, after '{{' */
    assert_string_equal(err, "unknown variable 'nope'");
    assert_true(pk_template_has_any("a{{b}}"));
    assert_false(pk_template_has_any("a{b}"));
}

/* pk_check_render resolves body, then captures (latest wins), then the check's vars. */
static void test_check_render(void **state)
{
    (void)state;
    struct pk_var_source vars[] = {{(char *)"base", (char *)"http://h", 0}, {(char *)"key", (char *)"Jefe", 1}};
    struct pk_check c = {0};
    c.vars = vars;
    c.n_vars = 2;
    struct pk_kv caps[] = {{(char *)"id", (char *)"1"}, {(char *)"id", (char *)"2"}};
    char *out = NULL, err[128];
    int secret = -1;
    assert_int_equal(pk_check_render(&c, "{{base}}/d/{{id}}", caps, 2, NULL, 0, &out, &secret, err, sizeof err), 0);
    assert_string_equal(out, "http://h/d/2");
    assert_int_equal(secret, 0);
    free(out);
    assert_int_equal(pk_check_render(&c, "{{hmac_sha256_hex(key, body)}}", NULL, 0, "what do ya want for nothing?", 0,
                                     &out, &secret, err, sizeof err),
                     0);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(secret, 1);
    free(out);
    /* body is only known when given */
    assert_int_equal(pk_check_render(&c, "{{body}}", NULL, 0, NULL, 0, &out, &secret, err, sizeof err), -1);
    assert_string_equal(err, "unknown variable 'body'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables_and_captures),
        cmocka_unit_test(test_hmac_and_base64),
        cmocka_unit_test(test_uuid_and_time),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_check_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
