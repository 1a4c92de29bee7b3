/* spool.h: the probe's on-disk spool of results not yet acknowledged.
 *
 * A directory of append-only segment files, seg-<first lsn>.log, each a run of
 * records with consecutive log sequence numbers (lsn, 1, 2, ...). A record is
 *
 *     u32 magic 'PKR1' | u32 payload length | u64 lsn | u32 crc32(length|lsn|payload) | payload
 *
 * little-endian; the payload is one encoded picket.v1.Result without its
 * sequence. A result's wire sequence is base + lsn, where base is fixed the
 * first time the collector tells the probe its high-water mark and kept in
 * spool.meta beside the segments (with the running count of dropped results).
 *
 * Opening scans every segment, checks each record, cuts a torn or corrupt tail
 * off and counts it. Appends go to the newest segment; a segment is removed
 * when every record in it is acknowledged, or, oldest first, when the spool is
 * over its byte cap (those records are counted as dropped, never silently).
 * One directory belongs to one process at a time (flock on spool.lock).
 * All functions are thread-safe; fsync happens outside the lock. */
#ifndef PK_SPOOL_H
#define PK_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define PK_SPOOL_MAX_RECORD (1u << 20)
#define PK_SPOOL_HEADER 20

struct spool;

struct spool_config {
    const char *dir;        /* created when missing */
    uint64_t cap_bytes;     /* default 256 MiB */
    uint64_t segment_bytes; /* default 8 MiB, at most cap/4 */
    int fsync_ms;           /* 0: fsync every append; > 0: at most this long unsynced
                               (default 1000); < 0: never (the OS decides) */
};

struct spool_stats {
    uint64_t first_lsn;       /* oldest record on disk */
    uint64_t next_lsn;        /* the lsn the next append gets */
    uint64_t acked_lsn;       /* highest lsn acknowledged (0 before the first ack) */
    uint64_t bytes, segments;
    uint64_t dropped;         /* records lost since the spool was made: dropped for the cap,
                                 or cut off as corrupt at open */
    uint64_t corrupt_records; /* records found broken at open and cut off (this start) */
    uint64_t truncated_bytes; /* bytes cut off at open (this start) */
    int has_base;
    uint64_t base;
};

struct spool_rec {
    uint64_t lsn;
    const uint8_t *data;
    size_t len;
};

/* What spool_read returns: records pointing into buf. Reuse it across reads;
 * spool_batch_free releases it. */
struct spool_batch {
    uint8_t *buf;
    size_t cap;
    struct spool_rec *recs;
    size_t n, recs_cap;
    uint64_t skip_to; /* when > 0: records before it were unreadable; read on from here */
};

struct spool *spool_open(const struct spool_config *cfg, char *err, size_t errlen);
void spool_close(struct spool *sp);

/* Appends one payload; its lsn goes to *lsn. 0, or -1 with err (disk full, ...). */
int spool_append(struct spool *sp, const uint8_t *data, size_t len, uint64_t *lsn, char *err, size_t errlen);

/* Reads records with lsn >= from_lsn (skipping any dropped in between), at most
 * max_records and about max_bytes, from one segment. 0 (out->n may be 0; see
 * skip_to), -1 on an I/O error. */
int spool_read(struct spool *sp, uint64_t from_lsn, size_t max_records, size_t max_bytes, struct spool_batch *out,
               char *err, size_t errlen);
void spool_batch_free(struct spool_batch *b);

/* Everything up to and including lsn is stored; whole segments behind it go. */
void spool_ack(struct spool *sp, uint64_t lsn);

/* fsyncs the newest segment if the policy says it is due (cheap otherwise). */
void spool_sync_if_due(struct spool *sp);

/* Fixes the wire sequence base (persisted). */
int spool_set_base(struct spool *sp, uint64_t base, char *err, size_t errlen);

void spool_get_stats(struct spool *sp, struct spool_stats *out);

/* Exposed for tests and the fuzzer: checks one record at p (avail bytes).
 * Returns its total size, 0 if incomplete or invalid (*why says which). */
size_t spool_record_check(const uint8_t *p, size_t avail, uint64_t want_lsn, const char **why);

#endif
