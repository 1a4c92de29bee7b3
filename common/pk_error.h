/* pk_error.h: the one way a function reports an error to its caller: a human
 * sentence written into the caller's (err, errlen) and -1 returned. Format-checked,
 * so a wrong argument is a compile error, not a garbled message. */
#ifndef PK_ERROR_H
#define PK_ERROR_H

#include <stddef.h>

/* Writes the message when err is non-NULL and errlen > 0; always returns -1. */
int pk_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
