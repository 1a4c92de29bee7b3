/* json_fields.h: picketctl's JSON output of an answer's messages, driven by a
 * table of fields (JSON key, kind, offset) instead of one json_object_object_add
 * line per field, so `status --json` and the back-tests write their rows one
 * way and a key cannot drift from its field. */
#ifndef PK_CTL_JSON_FIELDS_H
#define PK_CTL_JSON_FIELDS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

enum ctl_json_kind {
    CTL_JSON_STR,      /* char *, "" included */
    CTL_JSON_STR_NULL, /* char *, null when empty */
    CTL_JSON_INT,      /* int32_t */
    CTL_JSON_I64,      /* int64_t */
    CTL_JSON_U64,      /* uint64_t */
    CTL_JSON_DOUBLE,   /* double */
    CTL_JSON_TIME,     /* int64_t µs, null when 0 (not happened) */
    CTL_JSON_NUM,      /* double, null when NaN or infinite */
};

struct ctl_json_field {
    const char *key;
    enum ctl_json_kind kind;
    size_t offset; /* offsetof(message, field) */
};

#define CTL_JSON(msg_type, key, field, kind) {key, CTL_JSON_##kind, offsetof(msg_type, field)}
#define CTL_JSON_NFIELDS(fields) (sizeof(fields) / sizeof((fields)[0]))

/* Adds one key to o per field of msg, in the table's order. */
void ctl_json_add_fields(json_object *o, const void *msg, const struct ctl_json_field *fields, size_t n);
/* A new object of msg's fields; the caller owns it (json_object_put). */
json_object *ctl_json_object(const void *msg, const struct ctl_json_field *fields, size_t n);

/* A time in µs, null when 0 (numbers: pk_json_num, common/json_num.h). */
json_object *ctl_json_time(int64_t us);

#endif
