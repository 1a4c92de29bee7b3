/* store_maint.h: the maintenance windows added at run time
 * (migrations/019_maintenance.sql), a part of the store kept out of store.h.
 * Windows are common/maint.h's struct; the store neither parses nor expands them. */
#ifndef PK_STORE_MAINT_H
#define PK_STORE_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include "maint.h"

struct store;

/* Stores a validated window (w->id is set); who: the credential's name. 0, or -1 with err. */
int store_maint_add(struct store *s, struct maint_window *w, const char *who, char *err, size_t errlen);
/* Every stored window, ended ones too (history needs them), by id; *rows
 * malloc'd (caller frees; NULL when none). created_by and created_us optional (NULL). */
int store_maint_list(struct store *s, struct maint_window **rows, size_t *n, char *err, size_t errlen);
/* Ends window id (or, id 0, every window called name that has not ended) at
 * now_us: ended_us = now_us, or its end when that is earlier. *ended: rows changed. */
int store_maint_end(struct store *s, int64_t id, const char *name, int64_t now_us, long *ended, char *err,
                    size_t errlen);

#endif
