/* maint_config.h: the collector's --maintenance YAML file (docs/ANALYTICS.md,
 * "Maintenance"): a list of windows, validated at start with FILE:LINE:COL, read
 * only afterwards (shared by every thread). Windows added at run time live in
 * the store (store_maint.h); maint_apply.h joins the two. */
#ifndef PK_MAINT_CONFIG_H
#define PK_MAINT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "maint.h"

#define MAINT_CONFIG_MAX_WINDOWS 1024

struct maint_config {
    char origin[256];
    struct maint_window *windows; /* owned; maint_config_free */
    size_t n_windows;
};

/* Reads and validates the file; errors are "FILE:LINE:COL: message". now_us
 * resolves "now". 0, or -1 with err (cfg then holds nothing to free). */
int maint_config_load(const char *path, int64_t now_us, struct maint_config *cfg, char *err, size_t errlen);
int maint_config_parse(const char *origin, const char *text, size_t len, int64_t now_us, struct maint_config *cfg,
                       char *err, size_t errlen);
void maint_config_free(struct maint_config *cfg);

#endif
