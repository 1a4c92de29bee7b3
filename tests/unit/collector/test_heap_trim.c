/* test_heap_trim.c: collector/heap_trim.c (free heap pages given back on a
 * timer, the heap's /metrics series) and collector/tls_buffers.c (the size of
 * gRPC's TLS ring buffers, and gRPC's fixed-size TCP reads turned off). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "heap_trim.h"
#include "tls_buffers.h"

/* Under AddressSanitizer malloc is ASan's, not glibc's: mallinfo2 sees an empty
 * glibc heap, so the series read 0 and there is never anything to trim. The
 * tests then check exactly that instead of the glibc behaviour. */
#if defined(__SANITIZE_ADDRESS__)
#define FOREIGN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FOREIGN_MALLOC 1
#endif
#endif
#ifndef FOREIGN_MALLOC
#define FOREIGN_MALLOC 0
#endif

/* The value of one series in the metrics text, or -1. */
static double series(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    while (p && p > text && p[-1] != '\n')
        p = strstr(p + 1, name);
    if (!p)
        return -1;
    return strtod(p + strlen(name), NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_metrics_series(void **state)
{
    (void)state;
    char buf[2048];
    size_t n = heap_trim_metrics(buf, sizeof buf);
    assert_true(n > 0 && n < sizeof buf);
    if (FOREIGN_MALLOC)
        assert_true(series(buf, "picket_collector_heap_bytes{state=\"in_use\"} ") >= 0);
    else
        assert_true(series(buf, "picket_collector_heap_bytes{state=\"in_use\"} ") > 0);
    assert_true(series(buf, "picket_collector_heap_bytes{state=\"free\"} ") >= 0);
    assert_true(series(buf, "picket_collector_heap_trims_total ") >= 0);
    /* A short buffer is cut, never overrun. */
    char small[16];
    assert_int_equal(heap_trim_metrics(small, sizeof small), sizeof small - 1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* Frees many small blocks (from the middle of the heap, not its top) and
 * waits for the thread to trim: the count goes up and the free bytes drop. */
static void test_trims_free_pages(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(heap_trim_start(0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "period"));
    enum { N = 20000 };
    static char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(1000);
        assert_non_null(blocks[i]);
        memset(blocks[i], 1, 1000);
    }
    char *keep = blocks[N - 1]; /* the last, above the others: the top is not free */
    for (int i = 0; i < N - 1; i++)
        free(blocks[i]);
    char buf[2048];
    heap_trim_metrics(buf, sizeof buf);
    double before = series(buf, "picket_collector_heap_trims_total ");
    assert_int_equal(heap_trim_start(20, 4u << 20, err, sizeof err), 0);
    double trims = before;
    for (int i = 0; i < 100 && trims <= before; i++) {
        sleep_ms(20);
        heap_trim_metrics(buf, sizeof buf);
        trims = series(buf, "picket_collector_heap_trims_total ");
    }
    if (FOREIGN_MALLOC) { /* nothing free in glibc's heap: the thread ran and never trimmed */
        heap_trim_stop();
        free(keep);
        assert_true(trims == before);
        return;
    }
    assert_true(trims > before);
    assert_true(series(buf, "picket_collector_heap_released_bytes_total ") > 0);
    assert_true(series(buf, "picket_collector_heap_trim_seconds_total ") > 0);
    /* Nothing new resident and unused: ten more looks, no second trim (the
     * threshold, 4 MB, is well above what else moves RSS in this process). */
    sleep_ms(50);
    heap_trim_metrics(buf, sizeof buf);
    double first = series(buf, "picket_collector_heap_trims_total ");
    sleep_ms(200);
    heap_trim_metrics(buf, sizeof buf);
    assert_true(series(buf, "picket_collector_heap_trims_total ") == first);
    /* The same pages touched again and freed: 20 MB resident and unused, a trim. */
    for (int i = 0; i < N - 1; i++) {
        blocks[i] = malloc(1000);
        assert_non_null(blocks[i]);
        memset(blocks[i], 2, 1000);
    }
    for (int i = 0; i < N - 1; i++)
        free(blocks[i]);
    trims = first;
    for (int i = 0; i < 100 && trims <= first; i++) {
        sleep_ms(20);
        heap_trim_metrics(buf, sizeof buf);
        trims = series(buf, "picket_collector_heap_trims_total ");
    }
    heap_trim_stop();
    heap_trim_stop(); /* twice is harmless */
    free(keep);
    assert_true(trims > first);
}

static size_t ring(BIO *b) { return (size_t)BIO_get_write_buf_size(b, 0); }

static void test_bio_rings(void **state)
{
    (void)state;
    BIO *a, *b;
    /* Before configuring: what the caller asked for. */
    assert_int_equal(BIO_new_bio_pair(&a, 16384, &b, 0), 1);
    assert_int_equal(ring(a), 16384);
    BIO_free(a);
    BIO_free(b);
    /* Configured: socket to OpenSSL holds one read, OpenSSL to socket two
     * records; OpenSSL's default (0) and larger asks are cut. */
    tls_buffers_configure();
    assert_int_equal(TLS_BUFFERS_RECV_BIO, TLS_BUFFERS_READ_MAX);
    assert_int_equal(TLS_BUFFERS_SEND_BIO, 2 * TLS_BUFFERS_FRAME);
    assert_int_equal(BIO_new_bio_pair(&a, 0, &b, 16384), 1);
    assert_int_equal(ring(a), TLS_BUFFERS_RECV_BIO);
    assert_int_equal(ring(b), TLS_BUFFERS_SEND_BIO);
    BIO_free(a);
    BIO_free(b);
    /* A ring smaller than the cut stays as asked. */
    assert_int_equal(BIO_new_bio_pair(&a, 1024, &b, 512), 1);
    assert_int_equal(ring(a), 1024);
    assert_int_equal(ring(b), 512);
    BIO_free(a);
    BIO_free(b);
    assert_int_equal(BIO_new_bio_pair(&a, 0, &b, 0), 1);
    /* Data still flows through a pair in parts larger than the ring. */
    char in[20000], out[20000];
    memset(in, 'z', sizeof in);
    size_t sent = 0, got = 0;
    for (int i = 0; i < 100 && got < sizeof in; i++) {
        int w = BIO_write(a, in + sent, (int)(sizeof in - sent));
        if (w > 0)
            sent += (size_t)w;
        int r = BIO_read(b, out + got, (int)(sizeof out - got));
        if (r > 0)
            got += (size_t)r;
    }
    assert_int_equal(got, sizeof in);
    assert_memory_equal(in, out, sizeof in);
    BIO_free(a);
    BIO_free(b);
}

/* Every context the process makes (gRPC's server context among them) releases
 * idle record buffers and sends no session tickets. */
static void test_ctx_no_tickets(void **state)
{
    (void)state;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
    assert_int_equal(SSL_CTX_get_num_tickets(ctx), 0);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
    SSL_CTX_free(ctx);
}

/* GRPC_EXPERIMENTS gets "-tcp_read_chunks" last, after what was there. */
static void test_reads_sized(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(unsetenv("GRPC_EXPERIMENTS"), 0);
    assert_int_equal(tls_buffers_reads_sized(err, sizeof err), 0);
    assert_string_equal(getenv("GRPC_EXPERIMENTS"), "-tcp_read_chunks");
    assert_int_equal(setenv("GRPC_EXPERIMENTS", "tcp_read_chunks,tcp_rcv_lowat", 1), 0);
    assert_int_equal(tls_buffers_reads_sized(err, sizeof err), 0);
    assert_string_equal(getenv("GRPC_EXPERIMENTS"), "tcp_read_chunks,tcp_rcv_lowat,-tcp_read_chunks");
    assert_int_equal(unsetenv("GRPC_EXPERIMENTS"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_series),
        cmocka_unit_test(test_trims_free_pages),
        cmocka_unit_test(test_bio_rings),
        cmocka_unit_test(test_ctx_no_tickets),
        cmocka_unit_test(test_reads_sized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
