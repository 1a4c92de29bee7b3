/* rounds.h: a check's rounds and the incidents they make, incrementally, at the
 * check's own interval (docs/ANALYTICS.md, "Rounds" and "Incidents as results
 * arrive"). Pure: no database, no clock (callers pass `now`), no gRPC.
 *
 *   - A round is one scheduled execution: round k of a check with interval I and
 *     spread S (fnv1a(name) % I, the probe's offset) is fired by every probe at
 *     k * I + S. pk_round_index gives k from a result's scheduled time (or, for
 *     an older probe that did not send one, from its start).
 *   - struct pk_round_cell: one region's results in one round; the region is down
 *     when more than half of its results with data are bad.
 *   - pk_round_decide: the global state of a round by quorum, and whether it is
 *     decided (every expected region reported, the quorum is reached, or the
 *     deadline passed). A late region decides it again.
 *   - struct pk_timeline: a scope's (one region, or global) round states as
 *     compact runs [from, to] of one state; setting a round in the past (a late
 *     result) edits the runs in place.
 *   - pk_timeline_incidents: the open-after-N / close-after-M rule over the runs
 *     (cost in runs, not rounds), so the incidents of any window, and of the
 *     whole history after a late round, are recomputed exactly and cheaply.
 * State values leave room for a maintenance state (rounds left out of
 * availability and incidents); none is produced yet. */
#ifndef PK_ROUNDS_H
#define PK_ROUNDS_H

#include <stddef.h>
#include <stdint.h>

/* Round states; numbers are stored (round_runs.state), never renumber. */
enum pk_round_state {
    PK_ROUND_NO_DATA = 0, /* no region had a result with data: neither up nor down */
    PK_ROUND_UP = 1,
    PK_ROUND_DOWN = 2,
    /* 3 is reserved for PK_ROUND_MAINTENANCE (treated as no data by every rule). */
};

/* Most rounds one timeline call walks or returns (a year of 5 s rounds is 6.3 M). */
#define PK_ROUNDS_MAX_RUNS 1000000

/* The probe's per-check offset inside the interval, in µs: fnv1a(name) %
 * interval_ms milliseconds (the same function the probe's scheduler uses). */
int64_t pk_round_spread_us(const char *check_name, int64_t interval_ms);

/* floor(a / b) for any signs (C's division truncates toward zero); b != 0.
 * The one floor division of the code base: rounds, minutes, hours. */
static inline int64_t pk_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Round index k of a result: from its scheduled time when known (> 0), else from
 * its start (the probe starts a round within one interval of its grid point).
 * floor((t - spread) / interval). interval_us > 0. */
int64_t pk_round_index(int64_t scheduled_at_us, int64_t started_at_us, int64_t interval_us, int64_t spread_us);

/* Start (the grid point) of round k. */
static inline int64_t pk_round_start(int64_t k, int64_t interval_us, int64_t spread_us)
{
    return k * interval_us + spread_us;
}

/* The first round whose start is at or after t: ceil((t - spread) / interval). */
static inline int64_t pk_round_at_or_after(int64_t t, int64_t interval_us, int64_t spread_us)
{
    int64_t x = t - spread_us;
    int64_t q = pk_floor_div(x, interval_us);
    return q * interval_us < x ? q + 1 : q;
}

/* One region's results in one round (unknown results are not counted). */
struct pk_round_cell {
    uint32_t good, bad;
};

/* PK_ROUND_NO_DATA, _UP or _DOWN (more than half bad). */
int pk_round_cell_state(const struct pk_round_cell *c);

/* A round's global state from its regions (bit r of each mask: region r).
 *   down:  at least `quorum` regions down;
 *   up:    otherwise, when any region has data; no data when none has.
 * Returns 1 when the state is final for now: every expected region has reported,
 * or the quorum of down regions is reached (more regions cannot undo it), or
 * now >= round_end_us + deadline_us. 0: not decided yet (*state is the state so
 * far). A result arriving after a decision decides it again (the caller edits the
 * timeline with the new state). */
int pk_round_decide(uint64_t regions_data, uint64_t regions_down, uint64_t expected, int quorum, int64_t now_us,
                    int64_t round_end_us, int64_t deadline_us, int *state);

/* A run of rounds [from, to] (inclusive, round indexes) in one state. For global
 * timelines `regions` is the union of regions down in the run's rounds (runs of
 * down rounds with different regions are kept apart so incidents name theirs). */
struct pk_round_run {
    int64_t from, to;
    int state;
    uint64_t regions;
};

/* One scope's round states, runs sorted by `from`, disjoint, adjacent runs of one
 * state and regions merged. Rounds in no run are no data. */
struct pk_timeline {
    struct pk_round_run *runs;
    size_t n, cap;
};

void pk_timeline_free(struct pk_timeline *t);

/* Sets round k to state (with regions); splits or merges runs. 1 when it changed
 * something, 0 when the round already had that state, -1 out of memory (or too
 * many runs). Setting PK_ROUND_NO_DATA removes the round. */
int pk_timeline_set(struct pk_timeline *t, int64_t k, int state, uint64_t regions);

/* State of round k (PK_ROUND_NO_DATA when in no run); *regions when not NULL. */
int pk_timeline_get(const struct pk_timeline *t, int64_t k, uint64_t *regions);

/* Rounds of [from, until) (round indexes, half-open) by state. */
struct pk_round_counts {
    int64_t up, down, no_data;
};
void pk_timeline_count(const struct pk_timeline *t, int64_t from, int64_t until, struct pk_round_counts *out);

/* Drops every round before k (what is older is stored, or past retention). The
 * caller keeps incidents that ended before k itself. */
void pk_timeline_trim(struct pk_timeline *t, int64_t k);

/* An incident in round indexes: it starts at its first down round, opens (is
 * known) at the N-th consecutive down round, closes at the M-th consecutive up
 * round and ends at the first of those M rounds (when it was first seen working).
 * Open: end = close = -1. */
struct pk_round_incident {
    int64_t start, opened, end, closed;
    int64_t down_rounds;
    uint64_t regions;
};

/* The open-after-N / close-after-M rule over the runs of rounds [from, until)
 * (half-open; runs clipped), starting from a quiet state (no incident, no down
 * run) at `from`. No-data rounds are skipped (they break no run). *out malloc'd
 * (caller frees). 0, or -1 with err (N or M < 1, out of memory). */
int pk_timeline_incidents(const struct pk_timeline *t, int64_t from, int64_t until, int open_after,
                          int close_after, struct pk_round_incident **out, size_t *nout, char *err,
                          size_t errlen);

#endif
