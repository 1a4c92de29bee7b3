/* fuzz_maint_config.c: libFuzzer target for maintenance windows: the
 * collector's --maintenance file (collector/maint_config.c) and behind it
 * common/maint.c, which `picketctl maintenance add` and the admin RPC share:
 * local times in IANA zones, weekly specs, 5-field cron expressions, targets.
 * Every input must load or fail with "fuzz.yml:LINE:COL: reason"; a loaded file's
 * windows are then expanded into intervals over two weeks around "now" (the
 * work the dashboard and the incident tracker do with them) and described, and
 * the intervals must come out sorted, disjoint and inside the range asked for. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maint_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1796601600000000) /* 2026-12-07T00:00:00Z */
#define DAY INT64_C(86400000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct maint_config cfg;
    char err[1024] = "";
    if (maint_config_parse("fuzz.yml", (const char *)data, size, NOW, &cfg, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.yml", 8) != 0)
            abort(); /* an error that does not name its input */
        return 0;
    }
    for (size_t i = 0; i < cfg.n_windows; i++) {
        char text[512];
        maint_describe(&cfg.windows[i], text, sizeof text);
    }
    struct maint_interval *iv = NULL;
    size_t n = 0;
    int64_t from = NOW - 7 * DAY, to = NOW + 7 * DAY;
    if (maint_intervals(cfg.windows, cfg.n_windows, NULL, from, to, &iv, &n, err, sizeof err) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (iv[i].start_us < from || iv[i].end_us > to || iv[i].start_us >= iv[i].end_us)
                abort(); /* outside the range, or empty */
            if (i > 0 && iv[i].start_us <= iv[i - 1].end_us)
                abort(); /* not sorted, or not merged */
        }
        free(iv);
    } else if (!err[0]) {
        abort();
    }
    maint_config_free(&cfg);
    return 0;
}
