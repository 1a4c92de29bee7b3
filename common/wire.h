/* wire.h: glue between Picket's structs and the protobuf-c messages of
 * proto/picket/v1/picket.proto. No gRPC here: rpc_* files move the bytes,
 * this module builds and checks them. */
#ifndef PK_WIRE_H
#define PK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "picket/v1/picket.pb-c.h"
#include "result.h"

/* Largest message either side accepts; set as the gRPC receive limit too. */
#define PK_WIRE_MAX_MESSAGE (8 * 1024 * 1024)
/* Most results in one batch; a larger batch is a protocol error. */
#define PK_WIRE_MAX_BATCH 5000

/* Encodes ProbeMessage{batch: results[0..n)} into a malloc'd buffer (*buf, caller
 * frees). 0, or -1 when n is 0 or over PK_WIRE_MAX_BATCH or allocation failed. */
int wire_encode_batch(const struct pk_result *results, size_t n, uint8_t **buf, size_t *len);

/* Encodes one result as a picket.v1.Result message WITHOUT its sequence field, so
 * that a buffered result can be numbered later (the probe learns where its
 * sequence continues only when it registers). malloc'd (*buf, caller frees). */
int wire_encode_result_unsequenced(const struct pk_result *r, uint8_t **buf, size_t *len);

/* One result encoded by wire_encode_result_unsequenced, and its sequence. */
struct wire_encoded {
    uint64_t seq;
    const uint8_t *data;
    size_t len;
};

/* Builds ProbeMessage{batch} from encoded results by concatenation (protobuf
 * fields may come in any order, so the sequence is written in front of each).
 * malloc'd (*buf). -1 when n is 0 or over PK_WIRE_MAX_BATCH. */
int wire_build_batch(const struct wire_encoded *items, size_t n, uint8_t **buf, size_t *len);

/* Copies one decoded result into *r. Strings that are too long are cut; a
 * result with an empty check name, an outcome out of range, or negative sizes is
 * rejected with a sentence in err. */
int wire_result_from_pb(const Picket__V1__Result *pb, struct pk_result *r, char *err, size_t errlen);

/* Decodes and validates a whole batch into an array of pk_results_alloc(*n)
 * (*out; the caller gives it back with pk_results_free(*out, *n)).
 * Rejects batches whose sequences do not strictly increase. */
int wire_decode_batch(const Picket__V1__ResultBatch *batch, struct pk_result **out, size_t *n, char *err,
                      size_t errlen);

/* Limits on what a probe may say about itself at Register. Bigger values are a
 * protocol error (INVALID_ARGUMENT naming the field), never silently cut. */
#define PK_WIRE_MAX_PROBE_NAME 127
#define PK_WIRE_MAX_REGION 63
#define PK_WIRE_MAX_VERSION 64
#define PK_WIRE_MAX_LABELS 64
#define PK_WIRE_MAX_LABEL_BYTES 256 /* key and value each */
#define PK_WIRE_MAX_CHECKS 100000
#define PK_WIRE_MAX_CHECK_NAME 127
#define PK_WIRE_MAX_CHECK_TYPE 15
#define PK_WIRE_MAX_TARGET 2048
/* A result's metric name: refused past this; cut to PK_METRIC_NAME_MAX - 1 bytes when stored. */
#define PK_WIRE_MAX_METRIC_NAME 1024

/* 0 when s is valid UTF-8 without control characters (U+0000..U+001F, U+007F)
 * and at most max bytes long (and not empty when required); otherwise -1 and
 * "FIELD: reason" in err, where FIELD is `field` (e.g. "labels[2].value"). */
int wire_check_text(const char *field, const char *s, size_t max, int required, char *err, size_t errlen);

/* Validates a decoded RegisterRequest: every name, label and check field with
 * wire_check_text and the limits above, duplicate label keys. 0, or -1 + err. */
int wire_validate_register(const Picket__V1__RegisterRequest *req, char *err, size_t errlen);

/* protobuf-c ends a string at its first NUL byte, silently; so before unpacking,
 * this walks the encoded message (type desc) and returns -1 with
 * "labels.key: control character 0x00 (NUL)" when any string field holds one. */
int wire_find_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *err, size_t errlen);

/* Packs any protobuf-c message into a malloc'd buffer (caller frees). */
int wire_pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len);

#endif
