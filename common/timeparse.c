/* timeparse.c: the times operators type (--since/--until of picketctl's
 * analytics commands and of `picket-collector rollup-backfill`): RFC 3339 or a
 * duration before now. Pure: no clock of its own, no allocation. */
#include "timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int pk_parse_time(const char *s, int64_t now_us, int64_t *us)
{
    if (!s || !*s)
        return -1;
    if (strcmp(s, "now") == 0) {
        *us = now_us;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end && !end[1] && v >= 0) { /* a duration before now */
        double unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400
                      : *end == 'w' ? 604800 : -1;
        if (unit < 0 || v * unit > 3650.0 * 86400)
            return -1;
        *us = now_us - (int64_t)(v * unit * 1e6);
        return 0;
    }
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    const char *p = s + n;
    double frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset_s = (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        p += 6;
    } else
        return -1;
    if (*p)
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *us = secs * 1000000 + (int64_t)(frac * 1e6 + 0.5);
    return 0;
}
