/* test_auth.c: the certificate CN scheme, permissions, token format, hashing,
 * bearer parsing and token files (common/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

static void test_cn_roles(void **state)
{
    (void)state;
    struct pk_identity id;
    char err[256];
    assert_int_equal(pk_identity_from_cn("probe:eu-west-1", &id, err, sizeof err), 0);
    assert_int_equal(id.role, PK_ROLE_PROBE);
    assert_string_equal(id.name, "eu-west-1");
    assert_true(pk_identity_is_probe(&id, "eu-west-1"));
    assert_false(pk_identity_is_probe(&id, "eu-west-2"));
    assert_false(pk_identity_can_read(&id));
    assert_int_equal(pk_identity_from_cn("read:ops", &id, err, sizeof err), 0);
    assert_true(pk_identity_can_read(&id));
    assert_false(pk_identity_can_write(&id));
    assert_false(pk_identity_is_probe(&id, "ops"));
    assert_int_equal(pk_identity_from_cn("write:admin@example", &id, err, sizeof err), 0);
    assert_true(pk_identity_can_read(&id));
    assert_true(pk_identity_can_write(&id));
    /* A name may itself contain ':' (only the first one separates the role). */
    assert_int_equal(pk_identity_from_cn("probe:a:b", &id, err, sizeof err), 0);
    assert_string_equal(id.name, "a:b");
}

static void test_cn_rejects(void **state)
{
    (void)state;
    struct pk_identity id;
    char err[256];
    assert_int_equal(pk_identity_from_cn("picket-collector", &id, err, sizeof err), -1);
    assert_non_null(strstr(err, "ROLE:NAME"));
    assert_int_equal(pk_identity_from_cn("admin:root", &id, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown role"));
    assert_int_equal(pk_identity_from_cn("probe:", &id, err, sizeof err), -1);
    assert_int_equal(pk_identity_from_cn("probe:a b", &id, err, sizeof err), -1);
    assert_int_equal(pk_identity_from_cn("probe:a\nb", &id, err, sizeof err), -1);
    assert_int_equal(pk_identity_from_cn("verylongrolename:x", &id, err, sizeof err), -1);
    char longname[300] = "probe:";
    memset(longname + 6, 'a', 200);
    longname[206] = '\0';
    assert_int_equal(pk_identity_from_cn(longname, &id, err, sizeof err), -1);
    assert_int_equal(id.role, PK_ROLE_NONE);
}

static void test_any_role(void **state)
{
    (void)state;
    struct pk_identity id = {.role = PK_ROLE_ANY};
    assert_true(pk_identity_can_write(&id));
    assert_true(pk_identity_is_probe(&id, "whoever"));
    struct pk_identity none = {.role = PK_ROLE_NONE};
    assert_false(pk_identity_can_read(&none));
    assert_false(pk_identity_is_probe(&none, ""));
}

static void test_token_generate_and_format(void **state)
{
    (void)state;
    char a[PK_TOKEN_LEN + 1], b[PK_TOKEN_LEN + 1], err[128];
    assert_int_equal(pk_token_generate(a, err, sizeof err), 0);
    assert_int_equal(pk_token_generate(b, err, sizeof err), 0);
    assert_int_equal(strlen(a), PK_TOKEN_LEN);
    assert_memory_equal(a, "pkt_", 4);
    assert_int_equal(pk_token_check_format(a), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(pk_token_check_format("pkt_"), -1);
    assert_int_equal(pk_token_check_format(NULL), -1);
    char bad[PK_TOKEN_LEN + 1];
    memcpy(bad, a, sizeof bad);
    bad[10] = 'G';
    assert_int_equal(pk_token_check_format(bad), -1);
    memcpy(bad, a, sizeof bad);
    bad[0] = 'x';
    assert_int_equal(pk_token_check_format(bad), -1);
}

static void test_token_hash(void **state)
{
    (void)state;
    char hex[PK_TOKEN_HASH_HEX + 1];
    /* SHA-256("abc"), FIPS 180-2 test vector. */
    pk_token_hash_hex("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(pk_ct_equal("abcd", "abcd", 4));
    assert_false(pk_ct_equal("abcd", "abce", 4));
}

static void test_bearer(void **state)
{
    (void)state;
    char out[100];
    const char *v = "Bearer pkt_abc";
    assert_int_equal(pk_bearer_token(v, strlen(v), out, sizeof out), 0);
    assert_string_equal(out, "pkt_abc");
    v = "bearer   tok  ";
    assert_int_equal(pk_bearer_token(v, strlen(v), out, sizeof out), 0);
    assert_string_equal(out, "tok");
    v = "Basic dXNlcjpwYXNz";
    assert_int_equal(pk_bearer_token(v, strlen(v), out, sizeof out), -1);
    v = "Bearer ";
    assert_int_equal(pk_bearer_token(v, strlen(v), out, sizeof out), -1);
    v = "Bearer 0123456789";
    assert_int_equal(pk_bearer_token(v, strlen(v), out, 5), -1);
}

static void test_token_file(void **state)
{
    (void)state;
    char path[] = "/tmp/picket-test-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char tok[PK_TOKEN_LEN + 1], err[256], out[PK_TOKEN_LEN + 1];
    assert_int_equal(pk_token_generate(tok, err, sizeof err), 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "  %s  \nsecond line\n", tok);
    fclose(f);
    assert_int_equal(pk_read_token_file(path, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, tok);
    f = fopen(path, "w");
    fprintf(f, "not-a-token\n");
    fclose(f);
    assert_int_equal(pk_read_token_file(path, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_null(strstr(err, "not-a-token")); /* never echo what might be a secret */
    unlink(path);
    assert_int_equal(pk_read_token_file(path, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
}

static void test_client_load_errors(void **state)
{
    (void)state;
    struct pk_tls_opts o;
    memset(&o, 0, sizeof o);
    struct pk_tls_client c;
    char err[512];
    assert_int_equal(pk_tls_client_load(&o, "test", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--tls-ca"));
    assert_non_null(strstr(err, "--insecure-plaintext"));
    o.ca_file = "/nonexistent/ca.crt";
    assert_int_equal(pk_tls_client_load(&o, "test", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--tls-cert"));
    o.cert_file = "/nonexistent/c.crt";
    assert_int_equal(pk_tls_client_load(&o, "test", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "--tls-key"));
    o.key_file = "/nonexistent/c.key";
    assert_int_equal(pk_tls_client_load(&o, "test", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/ca.crt"));
    o.insecure_plaintext = 1;
    assert_int_equal(pk_tls_client_load(&o, "test", &c, err, sizeof err), 0);
    assert_true(c.plaintext);
    pk_tls_client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cn_roles),           cmocka_unit_test(test_cn_rejects),
        cmocka_unit_test(test_any_role),           cmocka_unit_test(test_token_generate_and_format),
        cmocka_unit_test(test_token_hash),         cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_token_file),         cmocka_unit_test(test_client_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
