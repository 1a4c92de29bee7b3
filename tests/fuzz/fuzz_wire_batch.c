/* fuzz_wire_batch.c: libFuzzer target for what the collector does with bytes a
 * probe sends: unpack a ProbeMessage, decode and validate its batch into rows
 * (wire_decode_batch), and encode each row as the COPY line ingest stores; the
 * same bytes also go through the NUL scan, RegisterRequest unpacking and validation. Anything
 * a hostile client can send must come out as a clean error or valid rows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "result_pool.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    Picket__V1__ProbeMessage *msg = picket__v1__probe_message__unpack(NULL, size, data);
    if (msg) {
        if (msg->kind_case == PICKET__V1__PROBE_MESSAGE__KIND_BATCH) {
            struct pk_result *rows = NULL;
            size_t n = 0;
            if (wire_decode_batch(msg->batch, &rows, &n, err, sizeof err) == 0) {
                char line[8192];
                for (size_t i = 0; i < n; i++) {
                    long len = store_encode_result_row(line, sizeof line, 1, 1, &rows[i]);
                    /* A row is one line: exactly one '\n', at its end. */
                    if (len > 0 && (line[len - 1] != '\n' || memchr(line, '\n', (size_t)len - 1)))
                        abort();
                }
                pk_results_free(rows, n);
            } else if (!err[0]) {
                abort(); /* every refusal says why */
            }
        }
        protobuf_c_message_free_unpacked(&msg->base, NULL);
    }
    err[0] = '\0';
    if (wire_find_nul(&picket__v1__register_request__descriptor, data, size, err, sizeof err) < 0 && !err[0])
        abort();
    Picket__V1__RegisterRequest *reg = picket__v1__register_request__unpack(NULL, size, data);
    if (reg) {
        err[0] = '\0';
        if (wire_validate_register(reg, err, sizeof err) < 0 && !err[0])
            abort();
        protobuf_c_message_free_unpacked(&reg->base, NULL);
    }
    return 0;
}
