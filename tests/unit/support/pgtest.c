/* pgtest.c: see pgtest.h. psql runs as a child process so that the rows a test
 * checks are written and read by something other than the store under test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtest.h"
#include "store.h"

static const char *pg_url;

const char *pgt_url(void)
{
    return pg_url;
}

void pgt_sql(char *out, size_t size, const char *fmt, ...)
{
    char query[4096];
    va_list ap;
    va_start(ap, fmt);
    int qlen = vsnprintf(query, sizeof query, fmt, ap);
    va_end(ap);
    assert_true(qlen >= 0 && (size_t)qlen < sizeof query);
    assert_non_null(pg_url);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("psql", "psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", pg_url, "-c", query,
               (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while (len < size - 1 && (got = read(fds[0], out + len, size - 1 - len)) > 0)
        len += (size_t)got;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("psql failed on: %s", query);
    if (len >= size - 1)
        fail_msg("psql's answer does not fit in %zu bytes: %s", size, query);
    while (len > 0 && out[len - 1] == '\n')
        len--;
    out[len] = '\0';
}

int64_t pgt_sql_int(const char *fmt, ...)
{
    char query[4096], out[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(query, sizeof query, fmt, ap);
    va_end(ap);
    pgt_sql(out, sizeof out, "%s", query);
    return strtoll(out, NULL, 10);
}

int pgt_open_state(void **state)
{
    char err[512];
    pg_url = getenv("PICKET_TEST_PG_URL");
    *state = NULL;
    if (pg_url && *pg_url) {
        *state = store_open(pg_url, err, sizeof err);
        if (!*state)
            fprintf(stderr, "store_open: %s\n", err);
    }
    return 0;
}

int pgt_close_state(void **state)
{
    store_close(*state);
    return 0;
}

struct store *pgt_live(void **state, const char *test)
{
    if (!pg_url || !*pg_url)
        fail_msg("PICKET_TEST_PG_URL is not set: run this test through the harness: "
                 "/usr/bin/python3 tests/integration/pgharness.py run -- <build>/tests/%s",
                 test);
    if (!*state)
        fail_msg("cannot connect to PICKET_TEST_PG_URL (see store_open error above)");
    return *state;
}

struct store *pgt_open_store(void)
{
    char err[512];
    pg_url = getenv("PICKET_TEST_PG_URL");
    if (!pg_url || !*pg_url) {
        fprintf(stderr, "PICKET_TEST_PG_URL is not set: run through tests/integration/pgharness.py run --\n");
        return NULL;
    }
    struct store *s = store_open(pg_url, err, sizeof err);
    if (!s) {
        fprintf(stderr, "store_open: %s\n", err);
        return NULL;
    }
    int applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        store_close(s);
        return NULL;
    }
    return s;
}

int64_t pgt_register_probe(struct store *s, const char *name, const char *region)
{
    char err[512];
    int64_t id = 0;
    uint64_t committed = 0;
    struct store_probe_info info = {name, region, NULL, 0, "test"};
    if (store_upsert_probe(s, &info, &id, &committed, err, sizeof err) != 0)
        fail_msg("upsert %s: %s", name, err);
    return id;
}

void pgt_write_results(struct store *s, int64_t probe_id, struct pk_result *rs, size_t n)
{
    char err[512];
    for (size_t done = 0; done < n; done += 5000) {
        struct store_batch b = {.probe_id = probe_id, .results = rs + done, .n_results = n - done < 5000 ? n - done : 5000};
        if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
            fail_msg("write: %s", err);
    }
}

void pgt_http_result(struct pk_result *r, uint64_t seq, const char *check, int64_t started_at_us, int outcome,
                     int64_t total_us)
{
    memset(r, 0, sizeof *r);
    r->seq = seq;
    pk_strlcpy(r->check_name, check, sizeof r->check_name);
    pk_strlcpy(r->check_type, "http", sizeof r->check_type);
    r->started_at_us = started_at_us;
    r->outcome = outcome;
    r->total_us = total_us;
    r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
}
