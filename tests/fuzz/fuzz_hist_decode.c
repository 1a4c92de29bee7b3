/* fuzz_hist_decode.c: libFuzzer target for the rollup histogram decoder
 * (common/histogram.c), which reads bytes stored in PostgreSQL rollup rows.
 * A valid encoding must re-encode to the same bytes; nothing may crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pk_hist h, back;
    static uint8_t out[PK_HIST_ENCODED_MAX];
    if (pk_hist_decode(data, size, &h) < 0)
        return 0;
    size_t len = pk_hist_encode(&h, out, sizeof out);
    if (len == 0 || pk_hist_decode(out, len, &back) < 0 || back.count != h.count ||
        memcmp(back.b, h.b, sizeof h.b) != 0)
        abort();
    (void)pk_hist_quantile(&h, 0.5);
    (void)pk_hist_quantile(&h, 0.99);
    return 0;
}
