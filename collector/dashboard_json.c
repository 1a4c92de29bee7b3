/* dashboard_json.c: the API's JSON from the query service's protobuf answers,
 * field by field from the message descriptors, so the dashboard answers what
 * picketctl --json prints without a hand-written copy per message. */
#include "dashboard_int.h"
#include "json_num.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "picket/v1/picket.pb-c.h"
#include "result.h"

static struct json_object *msg_json(const ProtobufCMessage *m);

static struct json_object *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_object_new_int(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_object_new_int64(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_object_new_int64(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_object_new_int64((int64_t)*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return pk_json_num(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return pk_json_num(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_object_new_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        if (f->descriptor == &picket__v1__outcome__descriptor)
            return json_object_new_string(pk_outcome_name(*(const int *)p));
        if (f->descriptor == &picket__v1__error_class__descriptor)
            return json_object_new_string(pk_error_class_name(*(const int *)p));
        return json_object_new_int(*(const int *)p);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_object_new_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return NULL; /* no answer of the analytics calls carries bytes */
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub ? msg_json(sub) : NULL;
    }
    }
    return NULL;
}

/* Field names as in the .proto (snake_case); NaN and absent messages: null. */
/* The API's JSON is picketctl's: a check is "check" (the proto says
 * check_name), outcomes and error classes are the CLI's lowercase words. */
static const char *json_key(const char *field) { return strcmp(field, "check_name") == 0 ? "check" : field; }

static struct json_object *msg_json(const ProtobufCMessage *m)
{
    struct json_object *o = json_object_new_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const char *arr = *(char *const *)base;
            size_t size = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING ? sizeof(void *)
                          : f->type == PROTOBUF_C_TYPE_DOUBLE || f->type == PROTOBUF_C_TYPE_INT64 ||
                                  f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_SINT64 ||
                                  f->type == PROTOBUF_C_TYPE_SFIXED64 || f->type == PROTOBUF_C_TYPE_FIXED64
                              ? 8
                          : f->type == PROTOBUF_C_TYPE_BOOL ? sizeof(protobuf_c_boolean)
                                                            : 4;
            struct json_object *a = json_object_new_array_ext((int)n);
            for (size_t k = 0; k < n; k++)
                json_object_array_add(a, value_json(f, arr + k * size));
            json_object_object_add(o, json_key(f->name), a);
        } else {
            json_object_object_add(o, json_key(f->name), value_json(f, base));
        }
    }
    return o;
}

struct json_object *dash_msg_json(const ProtobufCMessage *m) { return msg_json(m); }
