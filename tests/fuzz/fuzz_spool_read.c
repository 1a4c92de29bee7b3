/* fuzz_spool_read.c: libFuzzer target for the spool reader (probe/spool.c).
 * The input becomes the first segment of a spool directory; opening must cut
 * off whatever is not a run of whole, checksummed records, reading back must
 * return only whole records in lsn order, and an append after it must work. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/picket-fuzz-spool-%ld", (long)getpid());
        mkdir(dir, 0700);
        pk_log_set_level(PK_LOG_ERROR + 1);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/seg-00000000000000000001.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    snprintf(path, sizeof path, "%s/spool.meta", dir);
    unlink(path);

    char err[512];
    struct spool_config c = {.dir = dir, .cap_bytes = 1 << 20, .segment_bytes = 1 << 20, .fsync_ms = -1};
    struct spool *sp = spool_open(&c, err, sizeof err);
    if (!sp)
        abort(); /* a broken segment is cut, never a reason to refuse */
    struct spool_stats st;
    spool_get_stats(sp, &st);
    if (st.bytes > size || st.first_lsn != 1)
        abort();
    struct spool_batch b = {0};
    uint64_t next = 1, seen = 0;
    for (int guard = 0; guard < 100000; guard++) {
        if (spool_read(sp, next, 64, 4096, &b, err, sizeof err) < 0 || b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++) {
            if (b.recs[i].lsn != next || b.recs[i].len > PK_SPOOL_MAX_RECORD)
                abort();
            next++;
            seen++;
        }
    }
    if (seen != st.next_lsn - st.first_lsn)
        abort();
    uint64_t lsn;
    if (spool_append(sp, (const uint8_t *)"x", 1, &lsn, err, sizeof err) < 0 || lsn != st.next_lsn)
        abort();
    spool_batch_free(&b);
    spool_close(sp);
    return 0;
}
