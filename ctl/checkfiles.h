/* checkfiles.h: the check files picketctl apply and diff send, read and
 * validated locally first (ctl/checkfiles.c). No gRPC here: the fuzz target
 * tests/fuzz/fuzz_ctl_files.c drives it alone. */
#ifndef PK_CTL_CHECKFILES_H
#define PK_CTL_CHECKFILES_H

#include <stddef.h>

/* One file as read: name points into the caller's argv, content is malloc'd
 * (NUL-terminated, len bytes) and freed by ctl_check_files_free. */
struct ctl_check_file {
    const char *name;
    char *content;
    size_t len;
};

/* What went wrong, for the exit code: a path that is not a readable file
 * (missing, a directory, unreadable) is a usage error; a file that reads but
 * does not validate is invalid. */
enum ctl_files_error { CTL_FILES_OK = 0, CTL_FILES_UNREADABLE = 1, CTL_FILES_INVALID = 2 };

/* Reads paths[0..n) into files[0..n) (zeroed by the caller) and validates them
 * as the collector will (${ENV} and secrets left to the probes); check names
 * must be unique across the files. Files over pk_checkset_max_file_bytes()
 * are refused unread. CTL_FILES_OK, or the error kind with a sentence naming
 * the file (file:line:col for YAML errors) in err. files[] are freed by
 * ctl_check_files_free in every case. */
enum ctl_files_error ctl_read_check_files(char *const *paths, size_t n, struct ctl_check_file *files, char *err,
                                          size_t errlen);
void ctl_check_files_free(struct ctl_check_file *files, size_t n);
/* PICKET_MAX_CHECK_FILE_BYTES, when set, replaces the size limit: 0, or -1
 * with a sentence when it is not a positive byte count. */
int ctl_check_files_limit_from_env(char *err, size_t errlen);

#endif
