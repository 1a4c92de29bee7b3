/* dashboard_marks.c: /api/check-marks?check=NAME&since=&until=, what the check
 * page draws behind its latency chart besides incidents: the check's
 * maintenance intervals over the range (maint_apply_windows and
 * maint_check_intervals, the windows every reader leaves out of availability
 * and SLOs) and the learned baseline band of its hourly p95 (the baseline the
 * regression rule learns: regression_series_read and pk_regression_learn with
 * the rule's default options, learned as the rule would judge the range's last
 * hour, i.e. from the 28 days that end 24 hours before it). The band of an hour
 * is its slot's median +- threshold x the robust scale the rule divides by, so
 * a p95 above the band's top is one the rule counts as deviant. Nothing here is
 * re-derived: the scale is read back through pk_baseline_score. */
#include "dashboard_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "maint_apply.h"
#include "regression_rule.h"

#define MARKS_MAX_US (INT64_C(400) * 24 * 3600 * 1000000) /* the longest range marked */
#define MARKS_AFTER_US (INT64_C(31) * 24 * 3600 * 1000000) /* a window's end is shown up to this past until */
#define BAND_MAX_HOURS (31 * 24) /* a 30-day range; longer ranges show their last 31 days' band */

/* The check's maintenance intervals that start before until and end after
 * since into a (array of {start_us, end_us, name}; ends not clipped to until). 1 found, 0 the check is not known, -1 with err. */
static int add_maintenance(struct store *st, const char *check, int64_t since, int64_t until, struct json_object *a,
                           char *err, size_t errlen)
{
    struct store_check_meta *meta = NULL;
    struct maint_window *w = NULL;
    struct maint_interval *iv = NULL;
    size_t nm = 0, nw = 0, niv = 0;
    int rc = -1;
    if (store_check_meta(st, &meta, &nm, err, errlen) < 0)
        return -1;
    const struct store_check_meta *m = NULL;
    for (size_t i = 0; i < nm && !m; i++)
        if (strcmp(meta[i].name, check) == 0)
            m = &meta[i];
    if (!m) {
        rc = 0;
        goto done;
    }
    if (maint_apply_windows(st, &w, &nw, err, errlen) < 0 ||
        maint_check_intervals(w, nw, m, since, until + MARKS_AFTER_US, &iv, &niv, err, errlen) < 0)
        goto done;
    for (size_t i = 0; i < niv; i++) {
        if (iv[i].start_us >= until) /* read past until only to show where a window in force ends */
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "start_us", json_object_new_int64(iv[i].start_us));
        json_object_object_add(o, "end_us", json_object_new_int64(iv[i].end_us));
        json_object_object_add(o, "name", json_object_new_string(iv[i].name ? iv[i].name : ""));
        json_object_array_add(a, o);
    }
    rc = 1;
done:
    free(iv);
    free(w);
    free(meta);
    return rc;
}

/* The baseline band over the hours of [since, until) into j: "band" (array of
 * {t_us, expected_us, low_us, high_us}, hours whose slot has a verdict),
 * "band_threshold" and "band_history_points". 0, or -1 with err. */
static int add_band(struct store *st, const char *check, int64_t since, int64_t until, struct json_object *j,
                    char *err, size_t errlen)
{
    const int64_t hour = REGRESSION_HOUR_US;
    int64_t end = (until + hour - 1) / hour * hour, split = end - REGRESSION_RECENT_US;
    int64_t from = split - REGRESSION_HISTORY_US, first = since / hour * hour;
    if (end - first > BAND_MAX_HOURS * hour)
        first = end - BAND_MAX_HOURS * hour;
    struct pk_regression_opts o;
    regression_rule_opts(0, 0, 0, &o);
    json_object_object_add(j, "band_threshold", json_object_new_double(o.det.threshold));
    struct json_object *a = json_object_new_array();
    json_object_object_add(j, "band", a);
    struct regression_series s = {0};
    if (regression_series_read(st, check, NULL, NULL, from, split, &s, err, errlen) < 0)
        return -1;
    struct pk_regression_model m;
    int rc = pk_regression_learn(&o, s.t, s.y, s.excluded, s.n, &m, err, errlen);
    regression_series_free(&s);
    if (rc < 0) /* no usable history: no band, not an error */
        return 0;
    json_object_object_add(j, "band_history_points", json_object_new_int64((int64_t)m.b.n));
    if (!m.has_history)
        return 0;
    for (int64_t t = first; t < end; t += hour) {
        const struct pk_baseline_slot *sl = &m.b.slot[pk_baseline_slot_of(t, m.b.opts.tz_offset_s)];
        if (sl->source == PK_BASE_NONE || sl->source == PK_BASE_LEARNING || !isfinite(sl->median))
            continue;
        /* the rule's robust scale at t: 1 / score of a value one unit above the median */
        double z1 = pk_baseline_score(&m.b, t, sl->median + 1.0);
        double half = isfinite(z1) && z1 > 0 ? o.det.threshold / z1 : 0;
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "t_us", json_object_new_int64(t));
        json_object_object_add(p, "expected_us", json_object_new_double(sl->median));
        json_object_object_add(p, "low_us", json_object_new_double(sl->median - half > 0 ? sl->median - half : 0));
        json_object_object_add(p, "high_us", json_object_new_double(sl->median + half));
        json_object_array_add(a, p);
    }
    return 0;
}

void dash_check_marks(struct store *st, const char *check, int64_t since_us, int64_t until_us,
                      struct pk_http_reply *out)
{
    char err[512];
    if (!check || !check[0]) {
        dash_reply_error(out, 400, "check-marks needs check=NAME");
        return;
    }
    if (since_us <= 0 || since_us >= until_us) /* no since: the last 24 hours, as the page's default */
        since_us = until_us - 24 * REGRESSION_HOUR_US;
    if (until_us - since_us > MARKS_MAX_US)
        since_us = until_us - MARKS_MAX_US;
    struct json_object *j = json_object_new_object(), *mw = json_object_new_array();
    json_object_object_add(j, "check", json_object_new_string(check));
    json_object_object_add(j, "since_us", json_object_new_int64(since_us));
    json_object_object_add(j, "until_us", json_object_new_int64(until_us));
    json_object_object_add(j, "maintenance", mw);
    int found = add_maintenance(st, check, since_us, until_us, mw, err, sizeof err);
    if (found == 0) {
        json_object_put(j);
        char msg[PK_NAME_MAX + 240];
        snprintf(msg, sizeof msg, "no check '%.200s'", check);
        dash_reply_error(out, 404, msg);
        return;
    }
    if (found < 0 || add_band(st, check, since_us, until_us, j, err, sizeof err) < 0) {
        json_object_put(j);
        dash_reply_store_error(out, err);
        return;
    }
    dash_reply_json(out, 200, j);
}
