/* read_beside.h: one read on a store's side connection (store_side), on a
 * thread of its own, while the caller reads on the store itself. A report or
 * a latency answer over weeks reads two parts of its window that cover
 * disjoint times (each its own consistent read): two PostgreSQL backends then
 * work at once, on two cores, instead of one after the other. Never includes
 * gRPC or libpq. */
#ifndef PICKET_READ_BESIDE_H
#define PICKET_READ_BESIDE_H

#include <pthread.h>
#include <stddef.h>

#include "store.h"

/* A read: 0, or -1 with err. */
typedef int (*read_beside_fn)(struct store *s, void *arg, char *err, size_t errlen);

struct read_beside {
    read_beside_fn fn;
    void *arg;
    struct store *side; /* NULL: the read is left to read_beside_finish, on the caller's store */
    pthread_t thread;
    int rc;
    char err[512];
};

/* Starts fn(side, arg) on its own thread. Without a side connection or a thread
 * (logged once), read_beside_finish runs fn on s instead: the answer is the
 * same, only later. */
void read_beside_start(struct read_beside *b, struct store *s, read_beside_fn fn, void *arg);
/* Ends the read started beside the caller's, whose result is rc: waits for
 * it (without a side connection: runs it on s, unless rc already failed).
 * rc when it is -1 (err as the caller left it), else the read's 0, or -1 with
 * its err. */
int read_beside_finish(struct read_beside *b, struct store *s, int rc, char *err, size_t errlen);

#endif
