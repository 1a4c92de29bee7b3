/* fuzz_ctl_files.c: libFuzzer target for picketctl's check-file reading
 * (ctl/checkfiles.c), the path apply and diff take before anything is sent.
 * The input's first byte picks the shape of the call: one file, the same
 * file twice (duplicate names), a file then a directory, a missing path,
 * or a limit smaller than the file; the rest is the file's bytes. Every call
 * must succeed or fail with a sentence naming a path, and free what it read. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkfiles.h"
#include "checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char file_path[64], dir_path[64];

static void cleanup(void)
{
    unlink(file_path);
    rmdir(dir_path);
}

static void setup(void)
{
    if (file_path[0])
        return;
    snprintf(dir_path, sizeof dir_path, "/tmp/picket-fuzz-ctl-%d", (int)getpid());
    snprintf(file_path, sizeof file_path, "%s.yaml", dir_path);
    if (mkdir(dir_path, 0700) < 0)
        abort();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    setup();
    FILE *f = fopen(file_path, "wb");
    if (!f)
        abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    char missing[80];
    snprintf(missing, sizeof missing, "%s/missing.yaml", dir_path);
    char *paths[2] = {file_path, file_path};
    size_t n = 1;
    switch (data[0] % 5) {
    case 1: n = 2; break;
    case 2: n = 2; paths[1] = dir_path; break;
    case 3: paths[0] = missing; break;
    case 4: pk_checkset_set_max_file_bytes(size > 2 ? size / 2 : 1); break;
    default: break;
    }
    struct ctl_check_file files[2] = {{0}};
    char err[1400] = "";
    enum ctl_files_error rc = ctl_read_check_files(paths, n, files, err, sizeof err);
    pk_checkset_set_max_file_bytes(0);
    if (rc != CTL_FILES_OK && strstr(err, "/tmp/picket-fuzz-ctl-") == NULL)
        abort(); /* an error that names no file */
    if (data[0] % 5 == 2 && rc != CTL_FILES_INVALID && (rc != CTL_FILES_UNREADABLE || !strstr(err, "is a directory")))
        abort(); /* a directory must be refused as one (unless the file before it failed) */
    if (data[0] % 5 == 3 && rc != CTL_FILES_UNREADABLE)
        abort();
    if (rc == CTL_FILES_OK)
        for (size_t i = 0; i < n; i++)
            if (!files[i].content || files[i].len != size - 1 || memcmp(files[i].content, data + 1, size - 1) != 0)
                abort(); /* what is sent must be the file's bytes */
    ctl_check_files_free(files, n);
    return 0;
}
