/* store_dashboard.h: the store's reads that only the dashboard makes
 * (collector/store/dashboard_reads.c), apart from store.h so the dashboard's
 * data access stays in one place. */
#ifndef PK_STORE_DASHBOARD_H
#define PK_STORE_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Outcomes of one check in one of its rounds. */
struct store_bar_row {
    char check_name[PK_NAME_MAX];
    int bucket;       /* 0 .. n_rounds - 1; n_rounds - 1 is the round ending at end_us */
    int64_t round_us; /* tracked: the check's interval; else its interval in whole minutes, at least one */
    uint64_t ok, degraded, failed, unknown;
    int64_t last_us; /* the round's newest result; tracked: the round's start */
    int tracked;      /* 1: a round of the tracker's grid (round_runs); 0: counted from results */
    int global_state; /* tracked: the stored global state (1 up, 2 down; 0 not decided yet) */
};

/* Per check and round with data, over the n_rounds (at most 1,000) rounds of
 * each check, sorted by check then round. A tracked check's rounds are its
 * tracker's (round_runs), the last one holding now_us: ok / failed count its
 * regions up / down. Others count results' outcomes in buckets, the last one
 * ending at end_us. *rows: free(). */
int store_round_bars(struct store *s, int64_t end_us, int64_t now_us, int n_rounds, struct store_bar_row **rows,
                     size_t *n, char *err, size_t errlen);

/* One stored result as the check page lists it. */
struct store_recent_result {
    int64_t started_at_us;
    char probe[128];
    char region[64];
    int outcome, error_class, status_code;
    int64_t total_us; /* -1: none */
    char message[PK_MESSAGE_MAX];
};

/* The check's newest results started before until_us, newest first, at most
 * limit (1..500). An unknown check has none. *rows: free(). */
int store_recent_results(struct store *s, const char *check, int64_t until_us, int limit,
                         struct store_recent_result **rows, size_t *n, char *err, size_t errlen);

#endif
