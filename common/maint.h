/* maint.h: maintenance windows (docs/ANALYTICS.md, "Maintenance"). A window is
 * one-off ([start, end)) or recurring (weekdays + a local time, or a 5-field cron
 * expression, each with a duration) in an IANA time zone, and applies to checks
 * by name, to services (service:NAME) or to check labels (label:KEY=VALUE).
 * This module parses and validates the pieces, expands a window into concrete
 * [start, end) intervals of UTC time over a range, and answers "is this check in
 * maintenance at t". Pure: no database, no threads of its own; the only shared
 * state it touches is the C library's TZ, under a lock (see maint.c). */
#ifndef PK_MAINT_H
#define PK_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include "checks.h"

#define MAINT_NAME_MAX 128
#define MAINT_TZ_MAX 64
#define MAINT_TARGET_MAX 160
#define MAINT_MAX_TARGETS 32
#define MAINT_MAX_RECURRING_US (INT64_C(7) * 86400 * 1000000)   /* a recurring window's longest duration */
#define MAINT_MAX_ONCE_US (INT64_C(366) * 86400 * 1000000)      /* a one-off window's longest span */
#define MAINT_MAX_INTERVALS 100000 /* per expansion; more is refused */

enum maint_kind { MAINT_ONCE = 0, MAINT_WEEKLY = 1, MAINT_CRON = 2 };

/* A parsed 5-field cron expression: one bit per allowed value. */
struct maint_cron {
    uint64_t minutes;  /* bits 0..59 */
    uint32_t hours;    /* bits 0..23 */
    uint32_t mdays;    /* bits 1..31 */
    uint16_t months;   /* bits 1..12 */
    uint8_t wdays;     /* bits 0..6, 0 = Sunday (7 is accepted as Sunday) */
    int mday_any, wday_any; /* the field was "*": cron's day rule (either matches when both are restricted) */
};

struct maint_window {
    int64_t id;                      /* the store's id; 0 for a window from the --maintenance file */
    char name[MAINT_NAME_MAX];
    enum maint_kind kind;
    int64_t start_us, end_us;        /* ONCE: the window; recurring: when it is in force (0: no bound) */
    char schedule[128];              /* recurring: as given ("mon-fri 02:00" or "0 3 * * 0") */
    uint8_t weekdays;                /* WEEKLY: bit 0 = Sunday */
    int minute_of_day;               /* WEEKLY: the local start time, minutes after midnight */
    struct maint_cron cron;          /* CRON */
    int64_t duration_us;             /* recurring: each occurrence's length */
    char tz[MAINT_TZ_MAX];           /* IANA name; "" = UTC */
    char targets[MAINT_MAX_TARGETS][MAINT_TARGET_MAX]; /* "NAME" (fnmatch pattern), "service:NAME", "label:K=V" */
    int n_targets;
    char reason[256];
    int64_t ended_us;                /* ended early by an operator (0: not); no interval reaches past it */
};

struct maint_interval {
    int64_t start_us, end_us; /* [start, end) */
    int64_t window_id;        /* of the window it comes from (the first, after merging) */
    const char *name;         /* borrowed from that window */
};

/* A check as the selectors see it. labels may be NULL (then label: targets do not match). */
struct maint_subject {
    const char *check;
    const char *service; /* "" or NULL: none */
    const struct pk_kv *labels;
    size_t n_labels;
};

/* Parsers of the pieces; each 0, or -1 with a sentence naming the text in err. */
int maint_parse_weekly(const char *text, struct maint_window *w, char *err, size_t errlen);
int maint_parse_cron(const char *text, struct maint_cron *c, char *err, size_t errlen);
int maint_check_tz(const char *tz, char *err, size_t errlen);
int maint_check_target(const char *target, char *err, size_t errlen);
/* A local wall time "2026-12-06T02:00" or "2026-12-06 02:00[:ss]" in tz, or RFC 3339
 * with Z/offset (then tz is not used), to Unix microseconds. */
int maint_parse_local_time(const char *text, const char *tz, int64_t *us, char *err, size_t errlen);
/* The whole window: kind-specific fields set, targets valid, sizes in range. */
int maint_window_validate(const struct maint_window *w, char *err, size_t errlen);

/* A window as people write it (the --maintenance file, `picketctl maintenance
 * add`): every field text, NULL or "" when not given. One-off: start and end or
 * duration ("now" starts it now). Recurring: every or cron, with duration;
 * start/end then bound when it is in force. Times without an offset are local
 * to timezone. */
struct maint_spec {
    const char *name, *start, *end, *duration, *every, *cron, *timezone, *reason;
    const char *const *targets;
    size_t n_targets;
    int64_t now_us;
};
/* Fills and validates w from the spec. 0, or -1 with a sentence in err. */
int maint_window_from_spec(const struct maint_spec *sp, struct maint_window *w, char *err, size_t errlen);

/* 1 when the window applies to the subject. */
int maint_window_selects(const struct maint_window *w, const struct maint_subject *s);

/* The intervals of the windows that select the subject (subject NULL: every
 * window) over [from, to), clipped to it, sorted and merged where they overlap
 * or touch. *out is malloc'd (caller frees; NULL when none). 0, or -1 with err. */
int maint_intervals(const struct maint_window *w, size_t n, const struct maint_subject *subject, int64_t from,
                    int64_t to, struct maint_interval **out, size_t *n_out, char *err, size_t errlen);
/* w's occurrence that holds now, or the first that starts before now +
 * ahead_us, whole (never cut by the span it was looked for in: each week of
 * the search is expanded with a margin of MAINT_MAX_RECURRING_US, the longest
 * occurrence; occurrences that touch are merged, as everywhere, and may then
 * start earlier than now - that margin). 1 with *out set, 0 when none. Shared by
 * `picketctl maintenance list` and the status pages. */
int maint_occurrence(const struct maint_window *w, int64_t now, int64_t ahead_us, struct maint_interval *out);
/* The interval of iv (sorted, merged) that holds t, or NULL. */
const struct maint_interval *maint_covers(const struct maint_interval *iv, size_t n, int64_t t);
/* Microseconds of [from, to) that the intervals cover. */
int64_t maint_overlap_us(const struct maint_interval *iv, size_t n, int64_t from, int64_t to);

/* "mon,wed 02:00 for 1h (Europe/Berlin)" and the like, for lists. */
void maint_describe(const struct maint_window *w, char *out, size_t outlen);

#endif
