/* fuzz_checks_jq.c: libFuzzer target for the jq programs a check file holds
 * (`json:`, `extract:`), the input being the program's text. It goes into a
 * `json:` assertion as a YAML double-quoted string and through the same loader as
 * fuzz_checks_load, so it reaches the guard in common/checks/jq_guard.c and jq
 * 1.6's parser directly instead of through random YAML: every program must
 * compile or fail with "origin:line:col: reason", and nothing may leak (jq 1.6's
 * parser leaks on syntax errors inside strings; the guard must stop those). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char head[] = "checks:\n  - name: a\n    type: http\n    url: http://127.0.0.1:1/\n    assert:\n      - json: \"";
static const char tail[] = "\"\n";

/* Appends DATA as the inside of a YAML double-quoted string; returns the new end. */
static char *quote(char *o, const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c != 0) { /* \xNN: the character U+00NN (jq programs are text) */
            o += sprintf(o, "\\x%02x", c);
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* jq compiles a program in ~25 ms: keep the fuzzer on syntax */
    char *yaml = malloc(sizeof head + sizeof tail + 4 * size);
    if (!yaml)
        return 0;
    char *o = yaml;
    memcpy(o, head, sizeof head - 1);
    o = quote(o + sizeof head - 1, data, size);
    memcpy(o, tail, sizeof tail - 1);
    o += sizeof tail - 1;

    char err[1024] = "";
    struct pk_checkset set = {0};
    if (pk_checkset_load_string(yaml, (size_t)(o - yaml), "fuzz.yaml", &set, err, sizeof err) == 0)
        pk_checkset_free(&set);
    else if (strncmp(err, "fuzz.yaml", 9) != 0)
        abort(); /* an error that does not name its input */
    free(yaml);
    return 0;
}
