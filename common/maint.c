/* maint.c: maintenance windows (maint.h): parsing the schedule pieces and
 * expanding windows into [start, end) intervals of UTC time.
 *
 * Time zones come from the C library's tz database: local wall times are turned
 * into UTC with localtime_r under TZ set to the window's zone. TZ is process
 * state, so every use of it here happens under one mutex, and TZ is restored
 * (with tzset) before the mutex is released; no other Picket code calls
 * localtime/mktime (everything else is UTC via gmtime_r/timegm), so holding the
 * lock is enough to make the expansion thread-safe. A local time that does not
 * exist (in the hour skipped when clocks go forward) is moved forward by the
 * skip, as mktime does (02:30 becomes 03:30); one that exists twice (clocks
 * going back) starts at the first. Never allocates more than MAINT_MAX_INTERVALS intervals. */
#include "maint.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "result.h"
#include "timeparse.h"

#define SEC_US INT64_C(1000000)
#define MIN_US (60 * SEC_US)
#define DAY_S INT64_C(86400)

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const WDAY[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* ---------------------------------------------------------------- time zone */

int maint_check_tz(const char *tz, char *err, size_t errlen)
{
    if (!tz[0] || strcmp(tz, "UTC") == 0)
        return 0;
    const char *dir = getenv("TZDIR");
    char path[512];
    struct stat st;
    int bad = tz[0] == '/' || strstr(tz, "..") || strlen(tz) >= MAINT_TZ_MAX;
    for (const char *p = tz; !bad && *p; p++)
        bad = !(isalnum((unsigned char)*p) || strchr("/_+-", *p));
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
    if (bad || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "time zone '%.64s' is not known (an IANA name such as Europe/Berlin, or UTC)", tz);
        return -1;
    }
    return 0;
}

/* Holds the lock with TZ set to tz; tz_leave restores it. */
struct tz_state {
    char saved[256];
    int had;
};

static void tz_enter(struct tz_state *s, const char *tz)
{
    pthread_mutex_lock(&tz_lock);
    const char *old = getenv("TZ");
    s->had = old != NULL;
    pk_strlcpy(s->saved, old ? old : "", sizeof s->saved);
    char want[MAINT_TZ_MAX + 2];
    snprintf(want, sizeof want, ":%s", tz[0] ? tz : "UTC");
    setenv("TZ", want, 1);
    tzset();
}

static void tz_leave(struct tz_state *s)
{
    if (s->had)
        setenv("TZ", s->saved, 1);
    else
        unsetenv("TZ");
    tzset();
    pthread_mutex_unlock(&tz_lock);
}

/* The UTC offset (seconds east) in force at t; under tz_enter. */
static long offset_at(time_t t)
{
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    return tm.tm_gmtoff;
}

/* The UTC second of a local wall time (fields as struct tm: year-1900, mon 0-11);
 * under tz_enter. See the top of the file for skipped and repeated times. */
static time_t local_to_utc(int year, int mon, int mday, int hour, int min)
{
    struct tm want = {.tm_year = year, .tm_mon = mon, .tm_mday = mday, .tm_hour = hour, .tm_min = min};
    time_t wall = timegm(&want); /* the wall time read as if it were UTC */
    timegm(&want);               /* normalises want's fields for the comparison below */
    long before = offset_at(wall - DAY_S), after = offset_at(wall + DAY_S);
    long cand[2] = {before, after};
    time_t best = 0;
    int found = 0;
    for (int i = 0; i < 2; i++) {
        time_t t = wall - cand[i];
        struct tm got;
        if (!localtime_r(&t, &got))
            continue;
        if (got.tm_year == want.tm_year && got.tm_yday == want.tm_yday && got.tm_hour == want.tm_hour &&
            got.tm_min == want.tm_min && (!found || t < best)) {
            best = t;
            found = 1;
        }
    }
    return found ? best : wall - before; /* skipped: the offset before the jump */
}

int maint_parse_local_time(const char *text, const char *tz, int64_t *us, char *err, size_t errlen)
{
    size_t len = strlen(text);
    if (len > 16 && (text[len - 1] == 'Z' || text[len - 1] == 'z' || strchr(text + 16, '+') ||
                     strchr(text + 16, '-'))) {
        if (pk_parse_time(text, 0, us) == 0)
            return 0;
        goto bad;
    }
    int y, mo, d, h, mi, sec = 0, n = 0;
    int got = sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d%n:%2d%n", &y, &mo, &d, &h, &mi, &n, &sec, &n);
    if (got < 5 || (size_t)n != len || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 59)
        goto bad;
    if (maint_check_tz(tz, err, errlen) < 0)
        return -1;
    struct tz_state st;
    tz_enter(&st, tz);
    time_t t = local_to_utc(y - 1900, mo - 1, d, h, mi);
    tz_leave(&st);
    *us = ((int64_t)t + sec) * SEC_US;
    return 0;
bad:
    snprintf(err, errlen,
             "time '%.64s' is not a time like 2026-12-06T02:00 (local, in the window's time zone) or "
             "2026-12-06T02:00:00Z",
             text);
    return -1;
}

/* ------------------------------------------------------------- schedules */

static int wday_of(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, WDAY[i], 3) == 0)
            return i;
    return -1;
}

/* "mon,wed 02:00", "mon-fri 22:30", "daily 03:00" (every day), "sat-mon 23:00". */
int maint_parse_weekly(const char *text, struct maint_window *w, char *err, size_t errlen)
{
    const char *sp = strchr(text, ' ');
    uint8_t days = 0;
    int h, m, n = 0;
    if (!sp || sscanf(sp + 1, "%2d:%2d%n", &h, &m, &n) != 2 || sp[1 + n] || h > 23 || m > 59 || h < 0 || m < 0)
        goto bad;
    if ((size_t)(sp - text) == 5 && strncasecmp(text, "daily", 5) == 0) {
        days = 0x7f;
    } else {
        for (const char *p = text; p < sp;) {
            const char *comma = memchr(p, ',', (size_t)(sp - p));
            const char *end = comma ? comma : sp;
            const char *dash = memchr(p, '-', (size_t)(end - p));
            int a = wday_of(p, (size_t)((dash ? dash : end) - p)), b = dash ? wday_of(dash + 1, (size_t)(end - dash - 1)) : a;
            if (a < 0 || b < 0)
                goto bad;
            for (int d = a;; d = (d + 1) % 7) { /* sat-mon wraps over the week's end */
                days |= (uint8_t)(1u << d);
                if (d == b)
                    break;
            }
            p = comma ? comma + 1 : sp;
        }
    }
    w->weekdays = days;
    w->minute_of_day = h * 60 + m;
    return 0;
bad:
    snprintf(err, errlen,
             "weekly schedule '%.64s' is not like 'mon,wed 02:00', 'mon-fri 22:30' or 'daily 03:00' "
             "(weekdays sun..sat, a 24-hour local time)",
             text);
    return -1;
}

/* One value of a cron item at *q (before end): a name (3 letters of names, which
 * count from lo) or a number. Moves *q past it. 0, or -1 when there is none. */
static int cron_value(const char **q, const char *end, const char *const *names, int lo, int *out)
{
    for (int i = 0; names && names[i]; i++)
        if (end - *q >= 3 && strncasecmp(*q, names[i], 3) == 0) {
            *out = i + (lo == 1 ? 1 : 0);
            *q += 3;
            return 0;
        }
    char *e;
    *out = (int)strtol(*q, &e, 10);
    if (e == *q)
        return -1;
    *q = e;
    return 0;
}

/* One cron field: "*", "*\/n", "a", "a-b", "a-b/n", lists of those. Names for
 * weekdays (sun..sat) and months (jan..dec) are accepted. */
static int cron_field(const char *f, size_t len, int lo, int hi, const char *const *names, uint64_t *bits, int *any)
{
    *bits = 0;
    *any = len == 1 && f[0] == '*';
    const char *end = f + len;
    for (const char *p = f; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        int a = lo, b = hi, step = 1;
        const char *q = p;
        if (*q == '*') {
            q++;
        } else {
            if (cron_value(&q, item_end, names, lo, &a) < 0)
                return -1;
            b = a;
            if (q < item_end && *q == '-') {
                q++;
                if (cron_value(&q, item_end, names, lo, &b) < 0)
                    return -1;
            }
        }
        if (q < item_end && *q == '/') {
            char *e;
            step = (int)strtol(q + 1, &e, 10);
            if (e == q + 1 || step < 1)
                return -1;
            q = e;
        }
        if (q != item_end || a < lo || b > hi || a > b)
            return -1;
        for (int v = a; v <= b; v += step)
            *bits |= UINT64_C(1) << v;
        p = comma ? comma + 1 : end;
    }
    return *bits ? 0 : -1;
}

int maint_parse_cron(const char *text, struct maint_cron *c, char *err, size_t errlen)
{
    static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                         "aug", "sep", "oct", "nov", "dec", NULL};
    static const char *const wdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
    static const struct { int lo, hi; const char *what; } spec[5] = {
        {0, 59, "minute (0-59)"}, {0, 23, "hour (0-23)"}, {1, 31, "day of month (1-31)"},
        {1, 12, "month (1-12 or jan-dec)"}, {0, 7, "day of week (0-7 or sun-sat)"}};
    uint64_t bits[5];
    int any[5], k = 0;
    memset(c, 0, sizeof *c);
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t");
        if (k == 5 || cron_field(p, len, spec[k].lo, spec[k].hi, k == 3 ? months : k == 4 ? wdays : NULL, &bits[k],
                                 &any[k]) < 0) {
            if (k == 5)
                snprintf(err, errlen, "cron '%.64s' has more than 5 fields (minute hour day-of-month month day-of-week)",
                         text);
            else
                snprintf(err, errlen, "cron '%.64s': field %d '%.*s' is not a valid %s", text, k + 1, (int)len, p,
                         spec[k].what);
            return -1;
        }
        k++;
        p += len;
    }
    if (k != 5) {
        snprintf(err, errlen, "cron '%.64s' must have 5 fields (minute hour day-of-month month day-of-week), has %d",
                 text, k);
        return -1;
    }
    c->minutes = bits[0];
    c->hours = (uint32_t)bits[1];
    c->mdays = (uint32_t)bits[2];
    c->months = (uint16_t)bits[3];
    c->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
    c->mday_any = any[2];
    c->wday_any = any[4];
    return 0;
}

int maint_check_target(const char *t, char *err, size_t errlen)
{
    const char *eq;
    if (!t[0] || strlen(t) >= MAINT_TARGET_MAX)
        goto bad;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            goto bad;
    if (strncmp(t, "service:", 8) == 0 && t[8])
        return 0;
    if (strncmp(t, "label:", 6) == 0 && (eq = strchr(t + 6, '=')) && eq > t + 6 && eq[1])
        return 0;
    if (!strchr(t, ':'))
        return 0;
bad:
    snprintf(err, errlen,
             "target '%.64s' is not a check name (a glob such as api-*), service:NAME or label:KEY=VALUE", t);
    return -1;
}

int maint_window_validate(const struct maint_window *w, char *err, size_t errlen)
{
    if (maint_check_tz(w->tz, err, errlen) < 0)
        return -1;
    if (w->n_targets < 1) {
        snprintf(err, errlen, "window '%.64s' applies to nothing: give at least one check, service: or label: target",
                 w->name);
        return -1;
    }
    for (int i = 0; i < w->n_targets; i++)
        if (maint_check_target(w->targets[i], err, errlen) < 0)
            return -1;
    if (w->kind == MAINT_ONCE) {
        if (w->end_us <= w->start_us || w->end_us - w->start_us > MAINT_MAX_ONCE_US) {
            snprintf(err, errlen, "window '%.64s' must end after it starts and last at most 366 days", w->name);
            return -1;
        }
        return 0;
    }
    if (w->duration_us < MIN_US || w->duration_us > MAINT_MAX_RECURRING_US) {
        snprintf(err, errlen, "window '%.64s': a recurring window needs a duration from 1m to 7d", w->name);
        return -1;
    }
    if (w->end_us && w->end_us <= w->start_us) {
        snprintf(err, errlen, "window '%.64s': 'until' must be after 'from'", w->name);
        return -1;
    }
    return 0;
}

static int given(const char *s)
{
    return s && s[0];
}

static int spec_time(const char *text, const struct maint_spec *sp, const char *what, int64_t *us, char *err,
                     size_t errlen)
{
    if (strcmp(text, "now") == 0) {
        *us = sp->now_us;
        return 0;
    }
    if (maint_parse_local_time(text, sp->timezone ? sp->timezone : "", us, err, errlen) == 0)
        return 0;
    char why[300];
    pk_strlcpy(why, err, sizeof why);
    snprintf(err, errlen, "window '%.64s': '%s': %s", sp->name, what, why);
    return -1;
}

int maint_window_from_spec(const struct maint_spec *sp, struct maint_window *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof w[0]);
    if (!given(sp->name) || strlen(sp->name) >= sizeof w->name) {
        snprintf(err, errlen, "a maintenance window needs a name of 1..%zu characters", sizeof w->name - 1);
        return -1;
    }
    pk_strlcpy(w->name, sp->name, sizeof w->name);
    if (given(sp->timezone) && strlen(sp->timezone) >= sizeof w->tz) {
        snprintf(err, errlen, "window '%.64s': time zone name too long", w->name);
        return -1;
    }
    pk_strlcpy(w->tz, given(sp->timezone) ? sp->timezone : "", sizeof w->tz);
    if (given(sp->reason))
        pk_strlcpy(w->reason, sp->reason, sizeof w->reason);
    if (sp->n_targets > MAINT_MAX_TARGETS) {
        snprintf(err, errlen, "window '%.64s' has more than %d targets", w->name, MAINT_MAX_TARGETS);
        return -1;
    }
    for (size_t i = 0; i < sp->n_targets; i++) {
        if (maint_check_target(sp->targets[i], err, errlen) < 0)
            return -1;
        pk_strlcpy(w->targets[w->n_targets++], sp->targets[i], MAINT_TARGET_MAX);
    }
    if (maint_check_tz(w->tz, err, errlen) < 0)
        return -1;
    int64_t dur_ms = 0;
    if (given(sp->duration) && (pk_parse_duration_ms(sp->duration, &dur_ms) < 0 || dur_ms <= 0)) {
        snprintf(err, errlen, "window '%.64s': duration '%.32s' is not a duration like 30m, 2h or 1h30m", w->name,
                 sp->duration);
        return -1;
    }
    w->duration_us = dur_ms * 1000;
    if (given(sp->start) && spec_time(sp->start, sp, "start", &w->start_us, err, errlen) < 0)
        return -1;
    if (given(sp->end) && spec_time(sp->end, sp, "end", &w->end_us, err, errlen) < 0)
        return -1;
    if (given(sp->every) && given(sp->cron)) {
        snprintf(err, errlen, "window '%.64s': give 'every' or 'cron', not both", w->name);
        return -1;
    }
    if (given(sp->every) || given(sp->cron)) {
        w->kind = given(sp->every) ? MAINT_WEEKLY : MAINT_CRON;
        pk_strlcpy(w->schedule, given(sp->every) ? sp->every : sp->cron, sizeof w->schedule);
        if (w->kind == MAINT_WEEKLY ? maint_parse_weekly(w->schedule, w, err, errlen)
                                    : maint_parse_cron(w->schedule, &w->cron, err, errlen))
            return -1;
        if (!w->duration_us) {
            snprintf(err, errlen, "window '%.64s': a recurring window needs a 'duration' (how long each one lasts)",
                     w->name);
            return -1;
        }
    } else {
        w->kind = MAINT_ONCE;
        if (!given(sp->start) || given(sp->end) == (w->duration_us > 0)) {
            snprintf(err, errlen,
                     "window '%.64s': a one-off window needs 'start' and one of 'end' or 'duration' (or 'every'/'cron' "
                     "with 'duration' for a recurring one)",
                     w->name);
            return -1;
        }
        if (w->duration_us)
            w->end_us = w->start_us + w->duration_us;
        w->duration_us = 0;
    }
    return maint_window_validate(w, err, errlen);
}

/* ------------------------------------------------------------- selection */

int maint_window_selects(const struct maint_window *w, const struct maint_subject *s)
{
    for (int i = 0; i < w->n_targets; i++) {
        const char *t = w->targets[i];
        if (strncmp(t, "service:", 8) == 0) {
            if (s->service && strcmp(s->service, t + 8) == 0)
                return 1;
        } else if (strncmp(t, "label:", 6) == 0) {
            const char *eq = strchr(t + 6, '=');
            size_t kl = eq ? (size_t)(eq - t - 6) : 0;
            for (size_t k = 0; eq && k < s->n_labels; k++)
                if (strlen(s->labels[k].key) == kl && strncmp(s->labels[k].key, t + 6, kl) == 0 &&
                    strcmp(s->labels[k].value, eq + 1) == 0)
                    return 1;
        } else if (s->check && fnmatch(t, s->check, 0) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- expansion */

struct acc {
    struct maint_interval *v;
    size_t n, cap;
};

static int push(struct acc *a, int64_t s, int64_t e, const struct maint_window *w, int64_t from, int64_t to)
{
    if (w->ended_us && e > w->ended_us)
        e = w->ended_us;
    if (s < from)
        s = from;
    if (e > to)
        e = to;
    if (e <= s)
        return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        if (cap > MAINT_MAX_INTERVALS)
            return -1;
        struct maint_interval *g = realloc(a->v, cap * sizeof *g);
        if (!g)
            return -1;
        a->v = g;
        a->cap = cap;
    }
    a->v[a->n++] = (struct maint_interval){s, e, w->id, w->name};
    return 0;
}

static int day_matches(const struct maint_window *w, const struct tm *day)
{
    if (w->kind == MAINT_WEEKLY)
        return (w->weekdays >> day->tm_wday) & 1;
    const struct maint_cron *c = &w->cron;
    if (!((c->months >> (day->tm_mon + 1)) & 1))
        return 0;
    int md = (c->mdays >> day->tm_mday) & 1, wd = (c->wdays >> day->tm_wday) & 1;
    if (c->mday_any || c->wday_any) /* cron: when both are restricted, either may match */
        return md && wd;
    return md || wd;
}

/* A recurring window's occurrences that overlap [from, to); under tz_enter. */
static int expand_recurring(const struct maint_window *w, int64_t from, int64_t to, struct acc *a)
{
    int64_t lo = from - w->duration_us, hi = to;
    if (w->start_us && lo < w->start_us - w->duration_us)
        lo = w->start_us - w->duration_us;
    if (w->end_us && hi > w->end_us)
        hi = w->end_us;
    /* Local days from the day before lo (offsets up to a day either way) to the day after hi. */
    time_t first = (time_t)(lo / SEC_US) - DAY_S, last = (time_t)(hi / SEC_US) + DAY_S;
    struct tm d;
    if (!localtime_r(&first, &d))
        return -1;
    struct tm day = {.tm_year = d.tm_year, .tm_mon = d.tm_mon, .tm_mday = d.tm_mday, .tm_hour = 12};
    for (int guard = 0; guard < 400 * 2; guard++) {
        timegm(&day); /* normalises the date and sets tm_wday */
        time_t noon = local_to_utc(day.tm_year, day.tm_mon, day.tm_mday, 12, 0);
        if (noon - DAY_S > last)
            break;
        if (day_matches(w, &day)) {
            uint32_t hours = w->kind == MAINT_WEEKLY ? UINT32_C(1) << (w->minute_of_day / 60) : w->cron.hours;
            uint64_t minutes = w->kind == MAINT_WEEKLY ? UINT64_C(1) << (w->minute_of_day % 60) : w->cron.minutes;
            for (int h = 0; h < 24; h++) {
                for (int m = 0; m < 60 && ((hours >> h) & 1); m++) {
                    if (!((minutes >> m) & 1))
                        continue;
                    int64_t s = (int64_t)local_to_utc(day.tm_year, day.tm_mon, day.tm_mday, h, m) * SEC_US;
                    if (s < lo || s >= hi || (w->start_us && s < w->start_us))
                        continue;
                    if (push(a, s, s + w->duration_us, w, from, to) < 0)
                        return -1;
                }
            }
        }
        day.tm_mday++;
    }
    return 0;
}

static int by_start(const void *x, const void *y)
{
    const struct maint_interval *a = x, *b = y;
    return a->start_us < b->start_us ? -1 : a->start_us > b->start_us;
}

int maint_intervals(const struct maint_window *w, size_t n, const struct maint_subject *subject, int64_t from,
                    int64_t to, struct maint_interval **out, size_t *n_out, char *err, size_t errlen)
{
    struct acc a = {0};
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n && from < to; i++) {
        if (subject && !maint_window_selects(&w[i], subject))
            continue;
        int rc;
        if (w[i].kind == MAINT_ONCE) {
            rc = push(&a, w[i].start_us, w[i].end_us, &w[i], from, to);
        } else {
            struct tz_state st;
            tz_enter(&st, w[i].tz);
            rc = expand_recurring(&w[i], from, to, &a);
            tz_leave(&st);
        }
        if (rc < 0) {
            free(a.v);
            snprintf(err, errlen, "maintenance window '%.64s': more than %d intervals in the range, or out of memory",
                     w[i].name, MAINT_MAX_INTERVALS);
            return -1;
        }
    }
    if (a.n > 1)
        qsort(a.v, a.n, sizeof *a.v, by_start);
    size_t k = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (k && a.v[i].start_us <= a.v[k - 1].end_us) {
            if (a.v[i].end_us > a.v[k - 1].end_us)
                a.v[k - 1].end_us = a.v[i].end_us;
            continue;
        }
        a.v[k++] = a.v[i];
    }
    *out = a.v;
    *n_out = k;
    return 0;
}

int maint_occurrence(const struct maint_window *w, int64_t now, int64_t ahead_us, struct maint_interval *out)
{
    const int64_t week = INT64_C(7) * 86400 * 1000000, margin = MAINT_MAX_RECURRING_US;
    int64_t first = w->kind == MAINT_ONCE ? w->start_us : now - margin;
    int64_t last = w->kind == MAINT_ONCE ? w->end_us : now + ahead_us; /* occurrences start before this */
    int found = 0;
    char err[256];
    for (int64_t from = first; from < last && !found; from += week) {
        int64_t to = w->kind == MAINT_ONCE ? last : (from + week < last ? from + week : last) + margin;
        struct maint_interval *iv = NULL;
        size_t n = 0;
        if (maint_intervals(w, 1, NULL, from, to, &iv, &n, err, sizeof err) < 0)
            return 0;
        for (size_t i = 0; i < n && !found; i++)
            if (iv[i].end_us > now && iv[i].start_us < now + ahead_us && (iv[i].start_us > from || from == first)) {
                *out = iv[i];
                found = 1;
            }
        free(iv);
    }
    return found;
}

const struct maint_interval *maint_covers(const struct maint_interval *iv, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first interval ending after t */
        size_t mid = lo + (hi - lo) / 2;
        if (iv[mid].end_us <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && iv[lo].start_us <= t ? &iv[lo] : NULL;
}

int64_t maint_overlap_us(const struct maint_interval *iv, size_t n, int64_t from, int64_t to)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t s = iv[i].start_us > from ? iv[i].start_us : from;
        int64_t e = iv[i].end_us < to ? iv[i].end_us : to;
        if (e > s)
            sum += e - s;
    }
    return sum;
}

static void fmt_duration(char *out, size_t n, int64_t us)
{
    int64_t m = us / MIN_US;
    if (m % (24 * 60) == 0)
        snprintf(out, n, "%" PRId64 "d", m / (24 * 60));
    else if (m % 60 == 0)
        snprintf(out, n, "%" PRId64 "h", m / 60);
    else
        snprintf(out, n, "%" PRId64 "m", m);
}

void maint_describe(const struct maint_window *w, char *out, size_t outlen)
{
    char dur[32], a[32], b[32];
    if (w->kind == MAINT_ONCE) {
        time_t s = (time_t)(w->start_us / SEC_US), e = (time_t)(w->end_us / SEC_US);
        struct tm ts, te;
        gmtime_r(&s, &ts);
        gmtime_r(&e, &te);
        strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", &ts);
        strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &te);
        snprintf(out, outlen, "%s .. %s", a, b);
        return;
    }
    fmt_duration(dur, sizeof dur, w->duration_us);
    snprintf(out, outlen, "%s %s for %s (%s)", w->kind == MAINT_CRON ? "cron" : "every", w->schedule, dur,
             w->tz[0] ? w->tz : "UTC");
}
