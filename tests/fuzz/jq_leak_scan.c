/* jq_leak_scan.c: the harness tests/fuzz/jq_leak_scan runs once per jq program
 * (built with clang -fsanitize=address against the system's libjq). It reads a
 * program from the file argv[1] and compiles it with jq, after the loader's
 * guard (common/checks/jq_guard.c) unless argv[2] is "raw"; LeakSanitizer then
 * reports, at exit, anything jq lost. Prints "guarded: REASON", "compiled" or
 * "error" on stderr. */
#include <jq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ck_jq_guard(const char *src, char *why, size_t whylen);

static void quiet(void *data, jv msg)
{
    (void)data;
    jv_free(msg);
}

int main(int argc, char **argv)
{
    static char src[1 << 16];
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
    if (!f) {
        fprintf(stderr, "usage: jq_leak_scan FILE [raw]\n");
        return 2;
    }
    size_t n = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    src[n] = '\0';
    char why[400];
    if (!(argc > 2 && strcmp(argv[2], "raw") == 0) && ck_jq_guard(src, why, sizeof why) < 0) {
        fprintf(stderr, "guarded: %s\n", why);
        return 0;
    }
    jq_state *jq = jq_init();
    if (!jq)
        return 1;
    jq_set_error_cb(jq, quiet, NULL);
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
    int ok = jq_compile(jq, src);
    jq_teardown(&jq);
    fprintf(stderr, "%s\n", ok ? "compiled" : "error");
    return 0;
}
