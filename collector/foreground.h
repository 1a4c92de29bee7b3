/* foreground.h: queries someone waits for go first (foreground.c). */
#ifndef PK_FOREGROUND_H
#define PK_FOREGROUND_H

#include <stdatomic.h>
#include <stdint.h>

/* A query a user waits for starts (a QueryService call, a dashboard API call
 * that reads the database) ... */
void pk_fg_enter(void);
/* ... and ends. */
void pk_fg_leave(void);

/* Background work nobody waits for calls this before a costly part: it
 * returns once no foreground query has been running for quiet_us, or after
 * max_us, or as soon as *stop (may be NULL) is set. Returns
 * the microseconds it waited. */
int64_t pk_fg_wait_quiet(int64_t quiet_us, int64_t max_us, const atomic_int *stop);

/* 1 when no foreground query is running and none ended in the last quiet_us:
 * for background work that would rather put a part off than wait. */
int pk_fg_quiet(int64_t quiet_us);

/* Foreground queries running now, and started since the process began. */
int pk_fg_running(void);
uint64_t pk_fg_started(void);

#endif
