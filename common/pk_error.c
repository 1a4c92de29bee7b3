/* pk_error.c: pk_fail, the error-sentence writer of pk_error.h. Owns nothing. */
#include "pk_error.h"

#include <stdarg.h>
#include <stdio.h>

int pk_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
