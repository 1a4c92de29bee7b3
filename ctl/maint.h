/* maint.h: `picketctl maintenance add|list|end` (ctl/maint.c; docs/ANALYTICS.md,
 * "Maintenance"). */
#ifndef PK_CTL_MAINT_H
#define PK_CTL_MAINT_H

#include <stdio.h>

/* argv[0] is "maintenance". Returns the exit code. */
int ctl_maint_main(const char *collector, int timeout_ms, int argc, char **argv);
/* `picketctl maintenance --help`. */
void ctl_maint_usage(FILE *f);

#endif
