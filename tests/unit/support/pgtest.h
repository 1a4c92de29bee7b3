/* pgtest.h: the helpers every unit test against a real PostgreSQL shares. The
 * test runs through tests/integration/pgharness.py (`run -- <test>`), which starts a
 * private cluster and sets PICKET_TEST_PG_URL; without it these helpers fail the
 * test (or the setup), never skip it.
 *
 * Include after <setjmp.h> and <cmocka.h>. */
#ifndef PICKET_TEST_PGTEST_H
#define PICKET_TEST_PGTEST_H

#include <stdint.h>
#include <stddef.h>

struct store;
struct pk_result;

/* PICKET_TEST_PG_URL, or NULL before pgt_open_state / pgt_open_store ran. */
const char *pgt_url(void);

/* Runs sql through psql -At against PICKET_TEST_PG_URL; the output (rows separated
 * by '\n', fields by '\t', trailing newlines removed) goes to out. Fails the test on
 * any error and when the output does not fit. */
void pgt_sql(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* pgt_sql of a query answering one integer. */
int64_t pgt_sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cmocka group setup/teardown: *state = a store on PICKET_TEST_PG_URL, or NULL (the
 * error printed) for pgt_live to fail on. Does not migrate. */
int pgt_open_state(void **state);
int pgt_close_state(void **state);
/* The store of pgt_open_state; fails the test, naming how to run `test`, when the
 * URL is missing or the connection failed. */
struct store *pgt_live(void **state, const char *test);

/* A store on PICKET_TEST_PG_URL with every migration applied, or NULL (printed). */
struct store *pgt_open_store(void);

/* store_upsert_probe for a test probe; its id (fails the test on error). */
int64_t pgt_register_probe(struct store *s, const char *name, const char *region);

/* *r: an http check's result (the timing phases unknown). */
void pgt_http_result(struct pk_result *r, uint64_t seq, const char *check, int64_t started_at_us, int outcome,
                     int64_t total_us);

/* store_write_batches of rs[0..n) from probe_id, 5,000 results a batch (fails
 * the test on error). */
void pgt_write_results(struct store *s, int64_t probe_id, struct pk_result *rs, size_t n);

#endif
