/* json_num.c: see json_num.h. */
#include "json_num.h"

#include <math.h>

struct json_object *pk_json_num(double v)
{
    return isfinite(v) ? json_object_new_double(v) : NULL;
}
