/* timeparse.h: parsing the times operators type on the command line. */
#ifndef PK_TIMEPARSE_H
#define PK_TIMEPARSE_H

#include <stdint.h>

/* RFC 3339 (2026-11-26T10:00:00Z, with an optional fraction and a Z or +hh:mm
 * offset), "now", or a duration before now_us such as 90s, 30m, 24h, 7d, 2w
 * (at most ten years). 0 with *us (Unix epoch microseconds), or -1. */
int pk_parse_time(const char *s, int64_t now_us, int64_t *us);

#endif
