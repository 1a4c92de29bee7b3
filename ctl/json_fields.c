/* json_fields.c: a message's fields into a JSON object from a table (json_fields.h).
 * Reads the message, owns nothing of it; the objects it makes belong to the
 * caller. */
#include "json_fields.h"
#include "json_num.h"

#include <math.h>

json_object *ctl_json_time(int64_t us) { return us ? json_object_new_int64(us) : NULL; }

static json_object *field_value(const void *msg, const struct ctl_json_field *f)
{
    const char *p = (const char *)msg + f->offset;
    switch (f->kind) {
    case CTL_JSON_STR:
        return json_object_new_string(*(char *const *)p);
    case CTL_JSON_STR_NULL: {
        const char *s = *(char *const *)p;
        return s && s[0] ? json_object_new_string(s) : NULL;
    }
    case CTL_JSON_INT:
        return json_object_new_int(*(const int32_t *)p);
    case CTL_JSON_I64:
        return json_object_new_int64(*(const int64_t *)p);
    case CTL_JSON_U64:
        return json_object_new_uint64(*(const uint64_t *)p);
    case CTL_JSON_DOUBLE:
        return json_object_new_double(*(const double *)p);
    case CTL_JSON_TIME:
        return ctl_json_time(*(const int64_t *)p);
    case CTL_JSON_NUM:
        return pk_json_num(*(const double *)p);
    }
    return NULL;
}

void ctl_json_add_fields(json_object *o, const void *msg, const struct ctl_json_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_object_add(o, fields[i].key, field_value(msg, &fields[i]));
}

json_object *ctl_json_object(const void *msg, const struct ctl_json_field *fields, size_t n)
{
    json_object *o = json_object_new_object();
    ctl_json_add_fields(o, msg, fields, n);
    return o;
}
