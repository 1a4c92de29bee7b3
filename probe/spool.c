/* spool.c: the probe's on-disk spool; the format and the rules are in spool.h
 * and docs/RELIABILITY.md. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "log.h"
#include "result.h"

#define MAGIC 0x31524b50u /* "PKR1" read little-endian */
#define META_NAME "spool.meta"
#define LOCK_NAME "spool.lock"

struct segment {
    uint64_t first, next; /* records [first, next) */
    uint64_t size;        /* bytes of whole records */
    int fd;
};

struct spool {
    char *dir;
    uint64_t cap, seg_bytes;
    int fsync_ms;
    int lock_fd;
    pthread_mutex_t mu;
    struct segment *segs; /* oldest first; the last one takes appends */
    size_t n, n_cap;
    uint64_t bytes, acked, dropped, corrupt, truncated;
    int has_base;
    uint64_t base;
    int dirty;
    int64_t dirty_since_us;
    /* the reader's place: the byte offset of lsn in the segment starting at seg_first */
    uint64_t rd_seg_first, rd_lsn, rd_off;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint32_t record_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, hdr + 4, 12); /* length and lsn */
    /* zlib takes uInt lengths; records are at most PK_SPOOL_MAX_RECORD */
    c = crc32(c, payload, (uInt)len);
    return (uint32_t)c;
}

size_t spool_record_check(const uint8_t *p, size_t avail, uint64_t want_lsn, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (avail < PK_SPOOL_HEADER) {
        *why = "incomplete header";
        return 0;
    }
    if (get32(p) != MAGIC) {
        *why = "bad magic";
        return 0;
    }
    uint32_t len = get32(p + 4);
    if (len > PK_SPOOL_MAX_RECORD) {
        *why = "length over the limit";
        return 0;
    }
    if (avail - PK_SPOOL_HEADER < len) {
        *why = "incomplete payload";
        return 0;
    }
    if (want_lsn && get64(p + 8) != want_lsn) {
        *why = "lsn out of order";
        return 0;
    }
    if (get32(p + 16) != record_crc(p, p + PK_SPOOL_HEADER, len)) {
        *why = "checksum mismatch";
        return 0;
    }
    return PK_SPOOL_HEADER + (size_t)len;
}

static void seg_path(const struct spool *sp, uint64_t first, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/seg-%020" PRIu64 ".log", sp->dir, first);
}

static int mkdir_p(const char *dir)
{
    char *tmp = strdup(dir);
    if (!tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
            free(tmp);
            return -1;
        }
        *p = '/';
    }
    int rc = (mkdir(tmp, 0700) < 0 && errno != EEXIST) ? -1 : 0;
    free(tmp);
    return rc;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* spool.meta: "base N\ndropped N\n", replaced atomically. Called with mu held. */
static int meta_write(struct spool *sp, char *err, size_t errlen)
{
    char path[4096], tmp[4200], text[128];
    snprintf(path, sizeof path, "%s/" META_NAME, sp->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text, "base %" PRIu64 "\nhas_base %d\ndropped %" PRIu64 "\n", sp->base,
                       sp->has_base, sp->dropped);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_full(fd, (const uint8_t *)text, (size_t)len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fsync_dir(sp->dir);
    return 0;
}

static void meta_read(struct spool *sp)
{
    char path[4096], key[32];
    snprintf(path, sizeof path, "%s/" META_NAME, sp->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    unsigned long long v;
    while (fscanf(f, "%31s %llu", key, &v) == 2) {
        if (strcmp(key, "base") == 0)
            sp->base = v;
        else if (strcmp(key, "has_base") == 0)
            sp->has_base = v != 0;
        else if (strcmp(key, "dropped") == 0)
            sp->dropped = v;
    }
    fclose(f);
}

static int push_segment(struct spool *sp, struct segment s)
{
    struct segment *ns = pk_grow(sp->segs, &sp->n_cap, sp->n + 1, sizeof *ns, 0);
    if (!ns)
        return -1;
    sp->segs = ns;
    sp->segs[sp->n++] = s;
    return 0;
}

static void remove_segment(struct spool *sp, size_t i)
{
    char path[4096];
    seg_path(sp, sp->segs[i].first, path, sizeof path);
    close(sp->segs[i].fd);
    unlink(path);
    sp->bytes -= sp->segs[i].size;
    memmove(&sp->segs[i], &sp->segs[i + 1], (sp->n - i - 1) * sizeof *sp->segs);
    sp->n--;
}

static int new_segment(struct spool *sp, uint64_t first, char *err, size_t errlen)
{
    char path[4096];
    seg_path(sp, first, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct segment s = {first, first, 0, fd};
    if (push_segment(sp, s) < 0) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fsync_dir(sp->dir);
    return 0;
}

/* Checks one segment's records; cuts off a broken tail. */
static int scan_segment(struct spool *sp, struct segment *s, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t *buf = size ? malloc(size) : NULL;
    if (size && !buf) {
        snprintf(err, errlen, "%s: out of memory (%" PRIu64 " bytes)", path, size);
        return -1;
    }
    if (size && pread_full(s->fd, buf, size, 0) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        free(buf);
        return -1;
    }
    uint64_t off = 0, lsn = s->first;
    const char *why = NULL;
    while (off < size) {
        size_t n = spool_record_check(buf + off, size - off, lsn, &why);
        if (!n)
            break;
        off += n;
        lsn++;
    }
    free(buf);
    if (off < size) {
        char q[200];
        PK_WARN("spool", "cutting off a torn or corrupt tail", "segment=%s offset=%" PRIu64 " bytes=%" PRIu64
                " reason=%s", pk_log_q(q, sizeof q, path), off, size - off, why ? why : "?");
        sp->corrupt++;
        sp->truncated += size - off;
        if (ftruncate(s->fd, (off_t)off) < 0 || fsync(s->fd) < 0) {
            snprintf(err, errlen, "%s: cannot cut off the broken tail: %s", path, strerror(errno));
            return -1;
        }
    }
    s->next = lsn;
    s->size = off;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int load_segments(struct spool *sp, char *err, size_t errlen)
{
    DIR *d = opendir(sp->dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", sp->dir, strerror(errno));
        return -1;
    }
    uint64_t *firsts = NULL;
    size_t nf = 0, cf = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long first;
        char tail[8];
        if (strlen(e->d_name) != 28 || sscanf(e->d_name, "seg-%20llu%4s", &first, tail) != 2 ||
            strcmp(tail, ".log") != 0 || first == 0)
            continue;
        uint64_t *nfs = pk_grow(firsts, &cf, nf + 1, sizeof *nfs, 0);
        if (!nfs) {
            free(firsts);
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        firsts = nfs;
        firsts[nf++] = first;
    }
    closedir(d);
    if (nf)
        qsort(firsts, nf, sizeof *firsts, cmp_u64);
    int rc = 0;
    for (size_t i = 0; i < nf && rc == 0; i++) {
        char path[4096];
        seg_path(sp, firsts[i], path, sizeof path);
        int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        struct segment s = {firsts[i], firsts[i], 0, fd};
        if (scan_segment(sp, &s, path, err, errlen) < 0) {
            close(fd);
            rc = -1;
            break;
        }
        if (sp->n && sp->segs[sp->n - 1].next > s.first) {
            /* Overlap cannot come from this code; keep the older records. */
            PK_WARN("spool", "segment overlaps the one before it; removing it", "first=%" PRIu64, s.first);
            close(fd);
            unlink(path);
            continue;
        }
        if (sp->n && sp->segs[sp->n - 1].next < s.first) {
            uint64_t lost = s.first - sp->segs[sp->n - 1].next;
            PK_WARN("spool", "records missing between segments (cut off as corrupt)", "from=%" PRIu64 " count=%" PRIu64,
                    sp->segs[sp->n - 1].next, lost);
        }
        if (push_segment(sp, s) < 0) {
            close(fd);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        sp->bytes += s.size;
    }
    free(firsts);
    /* Empty segments other than the newest carry nothing. */
    for (size_t i = 0; rc == 0 && sp->n > 1 && i < sp->n - 1;) {
        if (sp->segs[i].size == 0)
            remove_segment(sp, i);
        else
            i++;
    }
    return rc;
}

struct spool *spool_open(const struct spool_config *cfg, char *err, size_t errlen)
{
    if (!cfg->dir || !cfg->dir[0]) {
        snprintf(err, errlen, "no spool directory given");
        return NULL;
    }
    struct spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(cfg->dir))) {
        free(sp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->lock_fd = -1;
    sp->cap = cfg->cap_bytes ? cfg->cap_bytes : 256ull << 20;
    sp->seg_bytes = cfg->segment_bytes ? cfg->segment_bytes : 8ull << 20;
    if (sp->seg_bytes > sp->cap / 4)
        sp->seg_bytes = sp->cap / 4;
    if (sp->seg_bytes < 4096)
        sp->seg_bytes = 4096;
    sp->fsync_ms = cfg->fsync_ms;
    pthread_mutex_init(&sp->mu, NULL);
    if (mkdir_p(sp->dir) < 0) {
        snprintf(err, errlen, "cannot create spool directory %s: %s", sp->dir, strerror(errno));
        goto fail;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/" LOCK_NAME, sp->dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->lock_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char other[32] = "";
        ssize_t n = pread(sp->lock_fd, other, sizeof other - 1, 0);
        other[n > 0 ? n : 0] = 0;
        other[strcspn(other, "\n")] = 0;
        snprintf(err, errlen, "spool directory %s is in use by another process (pid %s); give each probe its own --spool-dir",
                 sp->dir, other[0] ? other : "?");
        goto fail;
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(sp->lock_fd, 0) == 0)
        (void)!pwrite(sp->lock_fd, pid, (size_t)pl, 0);
    meta_read(sp);
    if (load_segments(sp, err, errlen) < 0)
        goto fail;
    if (sp->n == 0 && new_segment(sp, 1, err, errlen) < 0)
        goto fail;
    if (sp->corrupt) {
        /* A cut-off record is a lost result: it counts with the drops, which the
         * collector is told about. */
        sp->dropped += sp->corrupt;
        if (meta_write(sp, err, errlen) < 0)
            goto fail;
        PK_WARN("spool", "opened with a broken tail cut off", "dir=%s corrupt=%" PRIu64 " truncated_bytes=%" PRIu64,
                sp->dir, sp->corrupt, sp->truncated);
    }
    return sp;
fail:
    spool_close(sp);
    return NULL;
}

void spool_close(struct spool *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->n; i++) {
        if (i == sp->n - 1 && sp->dirty && sp->fsync_ms >= 0)
            fdatasync(sp->segs[i].fd);
        close(sp->segs[i].fd);
    }
    if (sp->lock_fd >= 0)
        close(sp->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&sp->mu);
    free(sp->segs);
    free(sp->dir);
    free(sp);
}

/* Drops the oldest segment for the cap; counts what was not yet acknowledged. */
static void drop_oldest(struct spool *sp)
{
    struct segment *s = &sp->segs[0];
    uint64_t from = s->first > sp->acked + 1 ? s->first : sp->acked + 1;
    uint64_t lost = s->next > from ? s->next - from : 0;
    sp->dropped += lost;
    if (lost)
        PK_WARN("spool", "over the cap; dropping the oldest results", "dropped=%" PRIu64 " dropped_total=%" PRIu64
                " cap_bytes=%" PRIu64, lost, sp->dropped, sp->cap);
    remove_segment(sp, 0);
    char err[256];
    if (lost && meta_write(sp, err, sizeof err) < 0)
        PK_WARN("spool", "cannot record the drop count", "error=%s", err);
}

int spool_append(struct spool *sp, const uint8_t *data, size_t len, uint64_t *lsn, char *err, size_t errlen)
{
    if (len > PK_SPOOL_MAX_RECORD) {
        snprintf(err, errlen, "record of %zu bytes is over the %u-byte limit", len, PK_SPOOL_MAX_RECORD);
        return -1;
    }
    uint8_t stackbuf[2048];
    size_t total = PK_SPOOL_HEADER + len;
    uint8_t *rec = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!rec) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&sp->mu);
    struct segment *s = &sp->segs[sp->n - 1];
    if (s->size > 0 && s->size + total > sp->seg_bytes) {
        if (sp->dirty && sp->fsync_ms >= 0)
            fdatasync(s->fd);
        sp->dirty = 0;
        uint64_t first = s->next;
        int all_acked = s->next - 1 <= sp->acked;
        if (new_segment(sp, first, err, errlen) < 0) {
            rc = -1;
            goto out;
        }
        if (all_acked)
            remove_segment(sp, sp->n - 2);
        s = &sp->segs[sp->n - 1];
    }
    put32(rec, MAGIC);
    put32(rec + 4, (uint32_t)len);
    put64(rec + 8, s->next);
    memcpy(rec + PK_SPOOL_HEADER, data, len);
    put32(rec + 16, record_crc(rec, rec + PK_SPOOL_HEADER, len));
    if (write_full(s->fd, rec, total) < 0) {
        snprintf(err, errlen, "spool %s: cannot append: %s", sp->dir, strerror(errno));
        /* never leave half a record behind */
        if (ftruncate(s->fd, (off_t)s->size) < 0)
            PK_WARN("spool", "cannot cut a failed append", "dir=%s", sp->dir);
        rc = -1;
        goto out;
    }
    *lsn = s->next++;
    s->size += total;
    sp->bytes += total;
    if (!sp->dirty) {
        sp->dirty = 1;
        sp->dirty_since_us = pk_mono_us();
    }
    if (sp->fsync_ms == 0) {
        fdatasync(s->fd);
        sp->dirty = 0;
    }
    while (sp->bytes > sp->cap && sp->n > 1)
        drop_oldest(sp);
out:
    pthread_mutex_unlock(&sp->mu);
    if (rec != stackbuf)
        free(rec);
    return rc;
}

void spool_sync_if_due(struct spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (!sp->dirty || sp->fsync_ms < 0 ||
        (sp->fsync_ms > 0 && pk_mono_us() - sp->dirty_since_us < (int64_t)sp->fsync_ms * 1000)) {
        pthread_mutex_unlock(&sp->mu);
        return;
    }
    int fd = dup(sp->segs[sp->n - 1].fd);
    sp->dirty = 0;
    pthread_mutex_unlock(&sp->mu);
    if (fd >= 0) {
        fdatasync(fd);
        close(fd);
    }
}

void spool_ack(struct spool *sp, uint64_t lsn)
{
    pthread_mutex_lock(&sp->mu);
    if (lsn > sp->acked)
        sp->acked = lsn;
    while (sp->n > 1 && sp->segs[0].next - 1 <= sp->acked)
        remove_segment(sp, 0);
    pthread_mutex_unlock(&sp->mu);
}

int spool_set_base(struct spool *sp, uint64_t base, char *err, size_t errlen)
{
    pthread_mutex_lock(&sp->mu);
    sp->base = base;
    sp->has_base = 1;
    int rc = meta_write(sp, err, errlen);
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

void spool_get_stats(struct spool *sp, struct spool_stats *out)
{
    pthread_mutex_lock(&sp->mu);
    out->first_lsn = sp->segs[0].first;
    out->next_lsn = sp->segs[sp->n - 1].next;
    out->acked_lsn = sp->acked;
    out->bytes = sp->bytes;
    out->segments = sp->n;
    out->dropped = sp->dropped;
    out->corrupt_records = sp->corrupt;
    out->truncated_bytes = sp->truncated;
    out->has_base = sp->has_base;
    out->base = sp->base;
    pthread_mutex_unlock(&sp->mu);
}

static int batch_reserve(struct spool_batch *b, size_t bytes, size_t recs)
{
    if (bytes > b->cap) {
        uint8_t *nb = realloc(b->buf, bytes);
        if (!nb)
            return -1;
        b->buf = nb;
        b->cap = bytes;
    }
    if (recs > b->recs_cap) {
        struct spool_rec *nr = realloc(b->recs, recs * sizeof *nr);
        if (!nr)
            return -1;
        b->recs = nr;
        b->recs_cap = recs;
    }
    return 0;
}

void spool_batch_free(struct spool_batch *b)
{
    free(b->buf);
    free(b->recs);
    memset(b, 0, sizeof *b);
}

/* A record that was whole at open is broken now (the disk, or someone else):
 * the rest of its segment is given up, counted and logged. */
static void skip_segment(struct spool *sp, struct spool_batch *out, const struct segment *s, uint64_t lsn,
                         const char *why)
{
    pthread_mutex_lock(&sp->mu);
    sp->corrupt++;
    pthread_mutex_unlock(&sp->mu);
    PK_ERROR("spool", "unreadable record; skipping the rest of its segment",
             "dir=%s segment=%" PRIu64 " lsn=%" PRIu64 " skip_to=%" PRIu64 " reason=%s", sp->dir, s->first, lsn,
             s->next, why);
    out->skip_to = s->next;
}

int spool_read(struct spool *sp, uint64_t from_lsn, size_t max_records, size_t max_bytes, struct spool_batch *out,
               char *err, size_t errlen)
{
    out->n = 0;
    out->skip_to = 0;
    if (max_records == 0)
        return 0;
    pthread_mutex_lock(&sp->mu);
    size_t i = 0;
    while (i < sp->n && sp->segs[i].next <= from_lsn)
        i++;
    if (i == sp->n || sp->segs[i].next == sp->segs[i].first) {
        pthread_mutex_unlock(&sp->mu);
        return 0;
    }
    struct segment s = sp->segs[i];
    uint64_t lsn = from_lsn > s.first ? from_lsn : s.first;
    uint64_t off = 0;
    int known = sp->rd_seg_first == s.first && sp->rd_lsn == lsn;
    if (known)
        off = sp->rd_off;
    int fd = dup(s.fd);
    pthread_mutex_unlock(&sp->mu);
    if (fd < 0) {
        snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    uint8_t hdr[PK_SPOOL_HEADER];
    /* Find lsn by walking the headers from the segment's start. */
    for (uint64_t at = s.first; !known && at < lsn; at++) {
        if (pread_full(fd, hdr, sizeof hdr, off) < 0 || get32(hdr) != MAGIC || get64(hdr + 8) != at) {
            skip_segment(sp, out, &s, at, "unreadable header");
            goto out;
        }
        off += PK_SPOOL_HEADER + get32(hdr + 4);
    }
    uint64_t avail = s.size - off;
    uint64_t want = avail < max_bytes ? avail : max_bytes;
    if (want < PK_SPOOL_HEADER && avail >= PK_SPOOL_HEADER)
        want = PK_SPOOL_HEADER;
    if (pread_full(fd, hdr, PK_SPOOL_HEADER, off) == 0 && PK_SPOOL_HEADER + (uint64_t)get32(hdr + 4) > want &&
        get32(hdr + 4) <= PK_SPOOL_MAX_RECORD)
        want = PK_SPOOL_HEADER + (uint64_t)get32(hdr + 4); /* at least one whole record */
    if (want > avail)
        want = avail;
    if (batch_reserve(out, (size_t)want, max_records) < 0 || pread_full(fd, out->buf, (size_t)want, off) < 0) {
        snprintf(err, errlen, "spool %s: cannot read segment %" PRIu64 ": %s", sp->dir, s.first, strerror(errno));
        rc = -1;
        goto out;
    }
    size_t pos = 0;
    while (out->n < max_records && lsn < s.next) {
        const char *why = NULL;
        size_t n = spool_record_check(out->buf + pos, (size_t)want - pos, lsn, &why);
        if (!n) {
            if (out->n == 0 && pos + PK_SPOOL_HEADER <= want && why && strcmp(why, "incomplete payload") != 0) {
                skip_segment(sp, out, &s, lsn, why);
                goto out;
            }
            break;
        }
        out->recs[out->n].lsn = lsn;
        out->recs[out->n].data = out->buf + pos + PK_SPOOL_HEADER;
        out->recs[out->n].len = n - PK_SPOOL_HEADER;
        out->n++;
        pos += n;
        lsn++;
    }
    pthread_mutex_lock(&sp->mu);
    sp->rd_seg_first = s.first;
    sp->rd_lsn = lsn;
    sp->rd_off = off + pos;
    pthread_mutex_unlock(&sp->mu);
out:
    close(fd);
    return rc;
}
