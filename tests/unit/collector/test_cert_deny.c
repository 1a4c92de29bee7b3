/* test_cert_deny.c: collector/cert_deny.c, the certificate deny list: its file
 * format, reloading on change, and the fingerprint of a PEM certificate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert_deny.h"

/* A self-signed certificate (CN probe:unit) and what
 * `openssl x509 -noout -fingerprint -sha256` says of it. */
static const char PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfjCCASWgAwIBAgIUYF/tqHmq5duMxtuOmwmUOAAcoNIwCgYIKoZIzj0EAwIw\n"
    "FTETMBEGA1UEAwwKcHJvYmU6dW5pdDAeFw0yNjEyMDQyMjEwMzFaFw0zNjEyMDEy\n"
    "MjEwMzFaMBUxEzARBgNVBAMMCnByb2JlOnVuaXQwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAT9cU233b5FTCJlbhcFkowvsi/lsNgfr2Gpc1psl4jdERI6GR8mglof\n"
    "NJh5ANFM+qtYGWvTapQvvSJClCyusBbto1MwUTAdBgNVHQ4EFgQUz/4xH3Nd2S2x\n"
    "RtfTEmgLzvBt4K4wHwYDVR0jBBgwFoAUz/4xH3Nd2S2xRtfTEmgLzvBt4K4wDwYD\n"
    "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBWuuUy6npLIArLOS7NrTrG\n"
    "JwOJL+0XbSWaSjrv44h0IgIgDCwFeURyhQJks0QXWg5EeFLt/Emp4I0ZTmETRyhM\n"
    "VnI=\n"
    "-----END CERTIFICATE-----\n";
static const char FP[] = "eb538395f21021a68c19f18802987bb20a41fb5fa6762665d8892d140950b7cf";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void fingerprint_of_a_pem(void **state)
{
    (void)state;
    char fp[65];
    assert_int_equal(cert_fingerprint_pem(PEM, strlen(PEM), fp), 0);
    assert_string_equal(fp, FP);
    assert_int_equal(cert_fingerprint_pem("not a certificate", 17, fp), -1);
}

static void loads_openssl_output_and_reloads(void **state)
{
    (void)state;
    char path[] = "/tmp/picket-deny-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# lost laptop\n\nsha256 Fingerprint=EB:53:83:95:F2:10:21:A6:8C:19:F1:88:02:98:7B:B2:0A:41:FB:"
                     "5F:A6:76:26:65:D8:89:2D:14:09:50:B7:CF\n");
    char err[600] = "";
    struct cert_deny *d = cert_deny_open(path, err, sizeof err);
    assert_non_null(d);
    assert_int_equal(cert_deny_has(d, FP), 1);
    assert_int_equal(cert_deny_has(d, "00" "00000000000000000000000000000000000000000000000000000000000000"), 0);
    /* unchanged: nothing to do */
    assert_int_equal(cert_deny_refresh(d), 0);
    /* emptied (another size): reloaded */
    write_file(path, "# nobody\n");
    assert_int_equal(cert_deny_refresh(d), 1);
    assert_int_equal(cert_deny_has(d, FP), 0);
    /* broken: logged, the previous list stays */
    write_file(path, "sha256 Fingerprint=EB:53\n" "eb538395f21021a68c19f18802987bb20a41fb5fa6762665d8892d140950b7cf\n");
    assert_int_equal(cert_deny_refresh(d), 0);
    assert_int_equal(cert_deny_has(d, FP), 0);
    cert_deny_close(d);
    unlink(path);
}

static void a_bad_line_is_named(void **state)
{
    (void)state;
    char path[] = "/tmp/picket-deny-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# ok\neb538395f21021a68c19f18802987bb20a41fb5fa6762665d8892d140950b7cf\nxyz\n");
    char err[600] = "";
    assert_null(cert_deny_open(path, err, sizeof err));
    char want[700];
    snprintf(want, sizeof want, "%s:3: not a SHA-256 fingerprint", path);
    assert_non_null(strstr(err, want));
    unlink(path);
    assert_null(cert_deny_open("/nonexistent/deny", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/deny"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fingerprint_of_a_pem),
        cmocka_unit_test(loads_openssl_output_and_reloads),
        cmocka_unit_test(a_bad_line_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
