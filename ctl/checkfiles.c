/* checkfiles.c: reads the check files given to picketctl apply/diff and
 * validates them before anything is sent. Owns the file contents it reads
 * (freed by ctl_check_files_free); never talks to the collector and never
 * reads more than the check-file size limit from any path. */
#include "checkfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "checks.h"

/* Reads one path: a regular file (or a pipe) of at most the size limit. */
static enum ctl_files_error read_one(const char *path, struct ctl_check_file *f, char *err, size_t errlen)
{
    size_t max = pk_checkset_max_file_bytes();
    enum ctl_files_error rc = CTL_FILES_UNREADABLE;
    struct pk_buf buf;
    struct stat st;
    pk_buf_init(&buf, max + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a check file (give its files, e.g. %s/*.yaml)", path, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > (unsigned long long)max) {
        snprintf(err, errlen, "%s: %lld bytes is over the %zu-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)",
                 path, (long long)st.st_size, max);
        rc = CTL_FILES_INVALID;
        goto out;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    char chunk[1 << 16];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        if (buf.len + (size_t)got > max) {
            snprintf(err, errlen, "%s: over the %zu-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)", path,
                     max);
            rc = CTL_FILES_INVALID;
            goto out;
        }
        if (pk_buf_add(&buf, chunk, (size_t)got) < 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
    }
    f->len = buf.len;
    f->content = pk_buf_take(&buf);
    if (!f->content) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    rc = CTL_FILES_OK;
out:
    pk_buf_free(&buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* 0 when no check of sets[i] is already defined in an earlier file, or -1 + err. */
static int unique_names(const struct pk_checkset *sets, size_t i, char *err, size_t errlen)
{
    for (size_t a = 0; a < sets[i].n_checks; a++)
        for (size_t f = 0; f < i; f++)
            for (size_t b = 0; b < sets[f].n_checks; b++)
                if (strcmp(sets[i].checks[a].name, sets[f].checks[b].name) == 0) {
                    snprintf(err, errlen, "%s:%d: check '%s' is already defined at %s:%d", sets[i].checks[a].file,
                             sets[i].checks[a].line, sets[i].checks[a].name, sets[f].checks[b].file,
                             sets[f].checks[b].line);
                    return -1;
                }
    return 0;
}

enum ctl_files_error ctl_read_check_files(char *const *paths, size_t n, struct ctl_check_file *files, char *err,
                                          size_t errlen)
{
    struct pk_var_overrides defer = {.defer_environment = 1};
    struct pk_checkset *sets = calloc(n ? n : 1, sizeof *sets);
    enum ctl_files_error rc = CTL_FILES_UNREADABLE;
    size_t loaded = 0;
    if (!sets) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        files[i].name = paths[i];
        rc = read_one(paths[i], &files[i], err, errlen);
        if (rc != CTL_FILES_OK)
            goto out;
        rc = CTL_FILES_INVALID;
        if (strlen(files[i].content) != files[i].len) {
            snprintf(err, errlen, "%s: contains a NUL byte (a check file is YAML text)", paths[i]);
            goto out;
        }
        if (pk_checkset_load_string_with_vars(files[i].content, files[i].len, paths[i], &defer, &sets[i], err,
                                              errlen) < 0)
            goto out;
        loaded = i + 1;
        if (unique_names(sets, i, err, errlen) < 0)
            goto out;
    }
    if (pk_checksets_check_depends(sets, loaded, err, errlen) < 0)
        goto out;
    rc = CTL_FILES_OK;
out:
    for (size_t i = 0; i < loaded; i++)
        pk_checkset_free(&sets[i]);
    free(sets);
    return rc;
}

void ctl_check_files_free(struct ctl_check_file *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].content);
        files[i].content = NULL;
    }
}

int ctl_check_files_limit_from_env(char *err, size_t errlen)
{
    const char *v = getenv("PICKET_MAX_CHECK_FILE_BYTES");
    if (!v || !v[0])
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0 || v[0] == '-' || n > (unsigned long long)SIZE_MAX / 2) {
        snprintf(err, errlen, "PICKET_MAX_CHECK_FILE_BYTES must be a positive byte count, got '%s'", v);
        return -1;
    }
    pk_checkset_set_max_file_bytes((size_t)n);
    return 0;
}
