/* maint.c: maintenance windows added at run time (store_maint.h,
 * migrations/019_maintenance.sql). Targets are stored one per line (maint.c
 * refuses control characters in them). Never parses a schedule: the rows come
 * back as they were validated on the way in. */
#include "store_int.h"
#include "store_maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

int store_maint_add(struct store *s, struct maint_window *w, const char *who, char *err, size_t errlen)
{
    char kind[8], start[24], end[24], dur[24];
    struct pk_buf targets;
    pk_buf_init(&targets, 0);
    for (int i = 0; i < w->n_targets; i++)
        if (pk_buf_addf(&targets, "%s%s", i ? "\n" : "", w->targets[i]) < 0) {
            pk_buf_free(&targets);
            pk_fail(err, errlen, "out of memory");
            return -1;
        }
    snprintf(kind, sizeof kind, "%d", (int)w->kind);
    snprintf(start, sizeof start, "%" PRId64, w->start_us);
    snprintf(end, sizeof end, "%" PRId64, w->end_us);
    snprintf(dur, sizeof dur, "%" PRId64, w->duration_us);
    const char *params[] = {w->name, kind, start, end, w->schedule, dur, w->tz, targets.data ? targets.data : "",
                            w->reason, who ? who : ""};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "INSERT INTO maintenance_windows (name, kind, start_us, end_us, schedule, duration_us, tz, "
                         "targets, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                         10, params, PGRES_TUPLES_OK, "adding a maintenance window", err, errlen);
    pk_buf_free(&targets);
    if (!r)
        return -1;
    w->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

struct maint_row {
    int64_t id, start_us, end_us, duration_us, ended_us;
    int kind;
    char name[MAINT_NAME_MAX], schedule[128], tz[MAINT_TZ_MAX], reason[256];
    char *targets;
};

static const struct store_col MAINT_COLS[] = {
    STORE_COL(struct maint_row, id, "id", STORE_COL_I64),
    STORE_COL(struct maint_row, name, "name", STORE_COL_TEXT),
    STORE_COL(struct maint_row, kind, "kind", STORE_COL_INT),
    STORE_COL(struct maint_row, start_us, "start_us", STORE_COL_I64),
    STORE_COL(struct maint_row, end_us, "end_us", STORE_COL_I64),
    STORE_COL(struct maint_row, schedule, "schedule", STORE_COL_TEXT),
    STORE_COL(struct maint_row, duration_us, "duration_us", STORE_COL_I64),
    STORE_COL(struct maint_row, tz, "tz", STORE_COL_TEXT),
    STORE_COL(struct maint_row, targets, "targets", STORE_COL_STRDUP),
    STORE_COL(struct maint_row, reason, "reason", STORE_COL_TEXT),
    STORE_COL(struct maint_row, ended_us, "ended_us", STORE_COL_I64),
};

/* The schedule again into its parsed fields (it was valid when stored). */
static void reparse(struct maint_window *w)
{
    char err[256];
    if (w->kind == MAINT_WEEKLY)
        (void)maint_parse_weekly(w->schedule, w, err, sizeof err);
    else if (w->kind == MAINT_CRON)
        (void)maint_parse_cron(w->schedule, &w->cron, err, sizeof err);
}

int store_maint_list(struct store *s, struct maint_window **out, size_t *n, char *err, size_t errlen)
{
    struct maint_row *rows = NULL;
    size_t nr = 0;
    *out = NULL;
    *n = 0;
    struct store_query q = {.sql = "SELECT id, name, kind, start_us, end_us, schedule, duration_us, tz, targets, "
                                   "reason, ended_us FROM maintenance_windows ORDER BY id",
                            .what_run = "listing maintenance windows",
                            .what_read = "reading maintenance windows",
                            .cols = MAINT_COLS,
                            .ncols = STORE_NCOLS(MAINT_COLS),
                            .row_size = sizeof(struct maint_row)};
    if (store_query_rows(s, &q, (void **)&rows, &nr, err, errlen) < 0)
        return -1;
    struct maint_window *w = calloc(nr ? nr : 1, sizeof *w);
    if (!w) {
        store_free_rows(rows, nr, MAINT_COLS, STORE_NCOLS(MAINT_COLS), sizeof *rows);
        pk_fail(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nr; i++) {
        w[i].id = rows[i].id;
        w[i].kind = (enum maint_kind)rows[i].kind;
        w[i].start_us = rows[i].start_us;
        w[i].end_us = rows[i].end_us;
        w[i].duration_us = rows[i].duration_us;
        w[i].ended_us = rows[i].ended_us;
        pk_strlcpy(w[i].name, rows[i].name, sizeof w[i].name);
        pk_strlcpy(w[i].schedule, rows[i].schedule, sizeof w[i].schedule);
        pk_strlcpy(w[i].tz, rows[i].tz, sizeof w[i].tz);
        pk_strlcpy(w[i].reason, rows[i].reason, sizeof w[i].reason);
        for (char *save = NULL, *t = rows[i].targets ? strtok_r(rows[i].targets, "\n", &save) : NULL;
             t && w[i].n_targets < MAINT_MAX_TARGETS; t = strtok_r(NULL, "\n", &save))
            pk_strlcpy(w[i].targets[w[i].n_targets++], t, MAINT_TARGET_MAX);
        reparse(&w[i]);
    }
    store_free_rows(rows, nr, MAINT_COLS, STORE_NCOLS(MAINT_COLS), sizeof *rows);
    *out = w;
    *n = nr;
    return 0;
}

int store_maint_end(struct store *s, int64_t id, const char *name, int64_t now_us, long *ended, char *err,
                    size_t errlen)
{
    char ids[24], now[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(now, sizeof now, "%" PRId64, now_us);
    const char *params[] = {ids, name ? name : "", now};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "UPDATE maintenance_windows SET ended_us = CASE WHEN kind = 0 AND end_us < $3::bigint "
                         "THEN end_us ELSE $3::bigint END WHERE ended_us = 0 AND "
                         "(($1::bigint > 0 AND id = $1::bigint) OR ($1::bigint = 0 AND name = $2))",
                         3, params, PGRES_COMMAND_OK, "ending a maintenance window", err, errlen);
    if (!r)
        return -1;
    *ended = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}
