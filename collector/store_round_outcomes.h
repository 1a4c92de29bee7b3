/* store_round_outcomes.h: one raw read for the few minutes where a maintenance
 * window begins or ends mid-minute (collector/maint_exact.c): a check's results
 * there counted by the minute they started in, the round they belong to and
 * their outcome, so the SLO can leave out exactly the rounds inside a window
 * although rollups only know whole minutes (collector/store/round_outcomes.c). */
#ifndef PK_STORE_ROUND_OUTCOMES_H
#define PK_STORE_ROUND_OUTCOMES_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Results of one (started minute, region, round, outcome). */
struct store_round_outcome {
    int64_t minute_us; /* the start of the minute the results started in (their rollup minute) */
    char region[128];  /* of the probe that sent them */
    int64_t round_us;  /* their round: scheduled_at, or started_at for results of older probes */
    int outcome;       /* 1 ok, 2 degraded, 3 failed, anything else unknown */
    uint64_t count;
};

/* The check's results (of probes in region, or of every region when NULL) that
 * started in [from_us, to_us), grouped as above, sorted by minute, then region. An unknown
 * check has none. *rows: free(). 0, or -1 with err. */
int store_round_outcomes(struct store *s, const char *check, const char *region, int64_t from_us, int64_t to_us,
                         struct store_round_outcome **rows, size_t *n, char *err, size_t errlen);

#endif
