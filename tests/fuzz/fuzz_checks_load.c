/* fuzz_checks_load.c: libFuzzer target for the check-file loader and validator
 * (common/checks/) reading YAML from memory, as `picket-probe validate` does
 * from a file. Every input must load or fail with "origin:line:col: reason". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    struct pk_checkset set = {0};
    if (pk_checkset_load_string((const char *)data, size, "fuzz.yaml", &set, err, sizeof err) == 0)
        pk_checkset_free(&set);
    else if (strncmp(err, "fuzz.yaml", 9) != 0)
        abort(); /* an error that does not name its input */
    return 0;
}
