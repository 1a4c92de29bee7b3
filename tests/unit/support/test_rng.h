/* test_rng.h: the unit tests' deterministic random numbers (xorshift64), the
 * same sequence on every machine and run; header only. */
#ifndef PICKET_TEST_RNG_H
#define PICKET_TEST_RNG_H

#include <stdint.h>

/* The next number of the sequence in *state (never 0). */
static inline uint64_t test_rng_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#endif
