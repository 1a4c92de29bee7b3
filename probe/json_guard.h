/* json_guard.h: one question asked of a response body before jq 1.6 parses it
 * (probe/assertions.c): would jq's JSON parser lose memory on it? */
#ifndef PK_JSON_GUARD_H
#define PK_JSON_GUARD_H

#include <stddef.h>

/* 1 when jq 1.6's jv_parse_sized could leak on BODY (a string right after a value
 * inside an array or object, with no ',' or ':' between: `["a" "b"]`), or BODY
 * holds more than whitespace after its first JSON value; either way it is not
 * one JSON text, so the caller treats it as not JSON without asking jq. 0
 * otherwise: valid JSON, or invalid JSON jq turns away without leaking. */
int json_jq_would_leak(const char *body, size_t len);

#endif
