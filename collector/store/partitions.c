/* partitions.c: daily partitions of `results` (made ahead, made for days that
 * reached results_default, dropped past retention with their minute rollups),
 * and the rollups switch of store_write_batches. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

void store_set_rollups(struct store *s, int on) { s->rollups_off = !on; }

int store_make_partitions(struct store *s, int64_t from_us, int64_t to_us, int *created, char *err, size_t errlen)
{
    char from[64], to[64];
    *created = 0;
    if (st_format_timestamp(from, sizeof from, rollup_floor(from_us, ROLLUP_DAY_US)) < 0 ||
        st_format_timestamp(to, sizeof to, to_us) < 0) {
        pk_fail(err, errlen, "making partitions: time out of range");
        return -1;
    }
    const char *params[] = {from, to};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT count(*) FILTER (WHERE picket_make_partition(d::date)) FROM generate_series("
                         "($1::timestamptz AT TIME ZONE 'UTC')::date, ($2::timestamptz AT TIME ZONE 'UTC')::date, "
                         "interval '1 day') d WHERE d < $2::timestamptz AT TIME ZONE 'UTC'",
                         2, params, PGRES_TUPLES_OK, "making partitions of results", err, errlen);
    if (!r)
        return -1;
    *created = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int store_make_current_partitions(struct store *s, int64_t now_us, int ahead_days, int *created, char *err,
                                  size_t errlen)
{
    return store_make_partitions(s, now_us - ROLLUP_DAY_US, now_us + (int64_t)(ahead_days + 1) * ROLLUP_DAY_US,
                                 created, err, errlen);
}

int store_maintain_partitions(struct store *s, int64_t now_us, int ahead_days, int retention_days, int *created,
                              int *dropped, char *err, size_t errlen)
{
    char cutoff[64], days[16];
    *created = *dropped = 0;
    if (store_make_current_partitions(s, now_us, ahead_days, created, err, errlen) < 0)
        return -1;
    int64_t cutoff_us = rollup_floor(now_us, ROLLUP_DAY_US) - (int64_t)retention_days * ROLLUP_DAY_US;
    if (st_format_timestamp(cutoff, sizeof cutoff, cutoff_us) < 0) {
        pk_fail(err, errlen, "partition maintenance: retention out of range");
        return -1;
    }
    snprintf(days, sizeof days, "%d", retention_days);
    const char *params[] = {cutoff};
    /* Days that reached results_default (late or early results) get their own
     * partition, unless retention is about to drop them anyway. One statement
     * per day, after the read: on Citus a partition's DDL may not follow a
     * parallel read of a distributed table in the same transaction. */
    PGresult *r = st_run(s,
                         "SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date AS d FROM results_default "
                         "WHERE started_at >= $1::timestamptz ORDER BY d",
                         1, params, PGRES_TUPLES_OK, "reading results_default's days", err, errlen);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *day[] = {PQgetvalue(r, i, 0)};
        PGresult *m = st_run(s, "SELECT picket_make_partition($1::date)", 1, day, PGRES_TUPLES_OK,
                             "making partitions for results_default's days", err, errlen);
        if (!m) {
            PQclear(r);
            return -1;
        }
        *created += PQgetvalue(m, 0, 0)[0] == 't';
        PQclear(m);
    }
    PQclear(r);
    r = st_run(s, "SELECT picket_drop_partitions($1::timestamptz)", 1, params, PGRES_TUPLES_OK,
               "dropping partitions past retention", err, errlen);
    if (!r)
        return -1;
    *dropped = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st_run_cmd(s, "DELETE FROM rollup_minute WHERE minute < $1::timestamptz", 1, params,
                      "deleting minute rollups past retention", err, errlen);
}

