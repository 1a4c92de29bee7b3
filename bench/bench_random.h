/* bench_random.h: the seeded random numbers the detection benches generate their
 * series with (bench/detection.c, bench/detection_rounds.c): splitmix64, so a
 * seed gives the same series on every machine, and the few distributions built
 * on it. No state of its own: the caller keeps the seed. */
#ifndef PK_BENCH_RANDOM_H
#define PK_BENCH_RANDOM_H

#include <math.h>
#include <stdint.h>

static inline uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1), never 0 (gaussian takes its log). */
static inline double uniform(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0; }
static inline double uniform_in(uint64_t *s, double lo, double hi) { return lo + (hi - lo) * uniform(s); }
/* An integer in [lo, hi]. */
static inline int int_in(uint64_t *s, int lo, int hi) { return lo + (int)(uniform(s) * (hi - lo + 1)); }

/* Standard normal (Box-Muller). */
static inline double gaussian(uint64_t *s)
{
    double u1 = uniform(s), u2 = uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Daily shape: 1 at the peak hour, 0 twelve hours away. */
static inline double bump(double hour_of_day, double peak)
{
    return 0.5 * (1.0 + cos(6.283185307179586 * (hour_of_day - peak) / 24.0));
}

#endif
