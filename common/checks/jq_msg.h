/* jq's error messages as one line, for the two places that compile jq programs
 * (the assertion loader and the interpolation guard). Only files that already
 * include <jq.h> include this one. */
#ifndef PICKET_COMMON_CHECKS_JQ_MSG_H
#define PICKET_COMMON_CHECKS_JQ_MSG_H

#include <jq.h>

/* The first message jq reports, as one line: without the "jq: error: " prefix
 * and without the ':' that introduces the program text on the next line. */
struct ck_jq_error {
    char msg[400];
    int have; /* 1 once a message came */
};

/* jq_set_error_cb's callback; DATA is a struct ck_jq_error. Consumes MSG. */
void ck_jq_error_cb(void *data, jv msg);

#endif
