/* test_spool.c: the on-disk spool: round trip across reopen, torn and corrupt
 * tails cut off and counted, the cap dropping the oldest with a count that
 * survives restarts, acks removing whole segments, one process per directory. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "spool.h"

static char *make_dir(void)
{
    char tmpl[] = "/tmp/picket-spool-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static struct spool *open_spool(const char *dir, uint64_t cap, uint64_t seg)
{
    char err[512] = "";
    struct spool_config c = {.dir = dir, .cap_bytes = cap, .segment_bytes = seg, .fsync_ms = -1};
    struct spool *sp = spool_open(&c, err, sizeof err);
    if (!sp)
        fail_msg("spool_open: %s", err);
    return sp;
}

/* Payload i: "result-<i>" padded with i % 50 bytes of 'x', so sizes vary. */
static size_t payload(uint64_t i, uint8_t *buf)
{
    int n = snprintf((char *)buf, 128, "result-%llu-", (unsigned long long)i);
    memset(buf + n, 'x', (size_t)(i % 50));
    return (size_t)n + (size_t)(i % 50);
}

static void append_n(struct spool *sp, uint64_t first_payload, uint64_t n)
{
    uint8_t buf[256];
    char err[256];
    for (uint64_t i = 0; i < n; i++) {
        uint64_t lsn;
        size_t len = payload(first_payload + i, buf);
        assert_int_equal(spool_append(sp, buf, len, &lsn, err, sizeof err), 0);
    }
}

/* Reads everything from lsn `from` on; checks each record's payload (payload
 * number = lsn + offset). Returns how many were read and the first lsn seen. */
static uint64_t read_all(struct spool *sp, uint64_t from, int64_t offset, uint64_t *first_seen)
{
    struct spool_batch b = {0};
    char err[256];
    uint64_t count = 0, next = from;
    *first_seen = 0;
    for (int guard = 0; guard < 100000; guard++) {
        assert_int_equal(spool_read(sp, next, 37, 4096, &b, err, sizeof err), 0);
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++) {
            if (!*first_seen)
                *first_seen = b.recs[i].lsn;
            if (count)
                assert_int_equal(b.recs[i].lsn, next);
            uint8_t want[256];
            size_t wl = payload((uint64_t)((int64_t)b.recs[i].lsn + offset), want);
            assert_int_equal(b.recs[i].len, wl);
            assert_memory_equal(b.recs[i].data, want, wl);
            next = b.recs[i].lsn + 1;
            count++;
        }
    }
    spool_batch_free(&b);
    return count;
}

static void newest_segment(const char *dir, char *out, size_t outlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[300] = "";
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "seg-", 4) == 0 && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    assert_true(best[0]);
    snprintf(out, outlen, "%s/%s", dir, best);
}

static void round_trip_across_reopen(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 16 << 10); /* many segments */
    append_n(sp, 1, 1000);
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_int_equal(st.first_lsn, 1);
    assert_int_equal(st.next_lsn, 1001);
    assert_true(st.segments > 3);
    uint64_t first;
    assert_int_equal(read_all(sp, 1, 0, &first), 1000);
    assert_int_equal(first, 1);
    /* read from the middle, where the reader has no cached place */
    assert_int_equal(read_all(sp, 500, 0, &first), 501);
    assert_int_equal(first, 500);
    spool_close(sp);

    sp = open_spool(dir, 1 << 20, 16 << 10);
    spool_get_stats(sp, &st);
    assert_int_equal(st.next_lsn, 1001);
    assert_int_equal(st.corrupt_records, 0);
    assert_int_equal(read_all(sp, 1, 0, &first), 1000);
    append_n(sp, 1001, 5);
    assert_int_equal(read_all(sp, 990, 0, &first), 16);
    spool_close(sp);
    remove_dir(dir);
}

static void torn_tail_is_cut_and_counted(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 1 << 20);
    append_n(sp, 1, 10);
    spool_close(sp);
    char seg[512];
    newest_segment(dir, seg, sizeof seg);
    struct stat stt;
    assert_int_equal(stat(seg, &stt), 0);
    /* a crash in the middle of the last write: its last 3 bytes never made it */
    assert_int_equal(truncate(seg, stt.st_size - 3), 0);

    sp = open_spool(dir, 1 << 20, 1 << 20);
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_int_equal(st.next_lsn, 10); /* record 10 is gone */
    assert_int_equal(st.corrupt_records, 1);
    assert_int_equal(st.dropped, 1); /* a lost result is counted with the drops */
    assert_true(st.truncated_bytes > 0);
    uint64_t first;
    assert_int_equal(read_all(sp, 1, 0, &first), 9);
    /* the next append reuses lsn 10 and the file is whole again */
    append_n(sp, 10, 1);
    assert_int_equal(read_all(sp, 1, 0, &first), 10);
    spool_close(sp);

    sp = open_spool(dir, 1 << 20, 1 << 20);
    spool_get_stats(sp, &st);
    assert_int_equal(st.corrupt_records, 0);
    assert_int_equal(st.next_lsn, 11);
    spool_close(sp);
    remove_dir(dir);
}

static void flipped_byte_is_caught_by_the_checksum(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 1 << 20);
    append_n(sp, 1, 20);
    spool_close(sp);
    char seg[512];
    newest_segment(dir, seg, sizeof seg);
    struct stat stt;
    assert_int_equal(stat(seg, &stt), 0);
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    /* flip a byte in the payload of the last record */
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, stt.st_size - 1), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, stt.st_size - 1), 1);
    close(fd);

    sp = open_spool(dir, 1 << 20, 1 << 20);
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_int_equal(st.next_lsn, 20);
    assert_int_equal(st.corrupt_records, 1);
    spool_close(sp);
    remove_dir(dir);
}

static void cap_drops_oldest_and_counts(void **state)
{
    (void)state;
    char *dir = make_dir();
    uint64_t cap = 64 << 10;
    struct spool *sp = open_spool(dir, cap, 16 << 10);
    append_n(sp, 1, 5000); /* about 400 KB of records into a 64 KiB cap */
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_true(st.bytes <= cap);
    assert_true(st.dropped > 0);
    assert_int_equal(st.next_lsn, 5001);
    /* every record is on disk or counted as dropped: nothing vanishes silently */
    assert_int_equal(st.dropped + (st.next_lsn - st.first_lsn), 5000);
    uint64_t first;
    uint64_t n = read_all(sp, 1, 0, &first); /* reading from 1 skips to the oldest kept */
    assert_int_equal(first, st.first_lsn);
    assert_int_equal(n, st.next_lsn - st.first_lsn);
    uint64_t dropped = st.dropped;
    spool_close(sp);

    sp = open_spool(dir, cap, 16 << 10);
    spool_get_stats(sp, &st);
    assert_int_equal(st.dropped, dropped); /* the count survives a restart */
    spool_close(sp);
    remove_dir(dir);
}

static void acked_records_do_not_count_as_dropped(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 64 << 10, 16 << 10);
    for (uint64_t i = 0; i < 50; i++) {
        append_n(sp, i * 100 + 1, 100);
        spool_ack(sp, i * 100 + 100); /* the collector keeps up */
    }
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.segments, 1); /* acked segments are gone */
    spool_close(sp);
    remove_dir(dir);
}

static void ack_removes_whole_segments_and_restart_keeps_the_rest(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 8 << 10);
    append_n(sp, 1, 1000);
    struct spool_stats before, after;
    spool_get_stats(sp, &before);
    spool_ack(sp, 600);
    spool_get_stats(sp, &after);
    assert_true(after.segments < before.segments);
    assert_true(after.first_lsn <= 601); /* nothing unacknowledged went */
    assert_true(after.first_lsn > 1);
    spool_close(sp);

    sp = open_spool(dir, 1 << 20, 8 << 10);
    uint64_t first;
    uint64_t n = read_all(sp, 601, 0, &first);
    assert_int_equal(first, 601);
    assert_int_equal(n, 400);
    spool_close(sp);
    remove_dir(dir);
}

static void base_is_persisted(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 1 << 20);
    struct spool_stats st;
    spool_get_stats(sp, &st);
    assert_int_equal(st.has_base, 0);
    char err[256];
    assert_int_equal(spool_set_base(sp, 41, err, sizeof err), 0);
    spool_close(sp);
    sp = open_spool(dir, 1 << 20, 1 << 20);
    spool_get_stats(sp, &st);
    assert_int_equal(st.has_base, 1);
    assert_int_equal(st.base, 41);
    spool_close(sp);
    remove_dir(dir);
}

static void one_process_per_directory(void **state)
{
    (void)state;
    char *dir = make_dir();
    struct spool *sp = open_spool(dir, 1 << 20, 1 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        /* flock is per open file: another process must be refused */
        char err[512] = "";
        struct spool_config c = {.dir = dir, .fsync_ms = -1};
        struct spool *other = spool_open(&c, err, sizeof err);
        _exit(other == NULL && strstr(err, "in use by another process") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    spool_close(sp);
    remove_dir(dir);
}

static void record_check_rejects_garbage(void **state)
{
    (void)state;
    uint8_t junk[64];
    memset(junk, 0xab, sizeof junk);
    const char *why = NULL;
    assert_int_equal(spool_record_check(junk, sizeof junk, 0, &why), 0);
    assert_string_equal(why, "bad magic");
    assert_int_equal(spool_record_check(junk, 3, 0, &why), 0);
    assert_string_equal(why, "incomplete header");
}

int main(void)
{
    pk_log_set_level(PK_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_across_reopen),
        cmocka_unit_test(torn_tail_is_cut_and_counted),
        cmocka_unit_test(flipped_byte_is_caught_by_the_checksum),
        cmocka_unit_test(cap_drops_oldest_and_counts),
        cmocka_unit_test(acked_records_do_not_count_as_dropped),
        cmocka_unit_test(ack_removes_whole_segments_and_restart_keeps_the_rest),
        cmocka_unit_test(base_is_persisted),
        cmocka_unit_test(one_process_per_directory),
        cmocka_unit_test(record_check_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
