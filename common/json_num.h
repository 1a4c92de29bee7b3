/* json_num.h: a number for a JSON answer, or JSON null (NULL) when it is NaN
 * or infinite: every JSON writer's "no data" (picketctl, the dashboard's API). */
#ifndef PK_JSON_NUM_H
#define PK_JSON_NUM_H

#include <json-c/json.h>

struct json_object *pk_json_num(double v);

#endif
