/* leader.h: which collector of an installation runs the once-per-installation
 * work. Collectors side by side on one database elect one leader with a
 * PostgreSQL session advisory lock (lock_keys.h, PK_LOCK_LEADER) held by a
 * connection of a thread of its own; the leader alone runs partition upkeep,
 * retention and rollup compaction (ingest.c's control thread) and alerting
 * (alerts.c). When the leader dies or loses its connection the lock is released
 * and another collector takes it within about a second. docs/SCALING.md. */
#ifndef PK_LEADER_H
#define PK_LEADER_H

#include <stddef.h>
#include <stdint.h>

/* Starts the election thread on its own connection to conninfo; 0, or -1 with
 * err (out of memory). Until it is started every caller is the leader (a process
 * that does not elect, such as a unit test, leads alone). */
int leader_start(const char *conninfo, char *err, size_t errlen);
/* Stops the thread and closes its connection, which releases the lock. */
void leader_stop(void);

/* 1 while this process holds the leader lock (or never started an election).
 * Cheap; any thread. */
int leader_holds(void);

struct leader_stats {
    int electing; /* 1 once leader_start ran */
    int leader;   /* leader_holds() */
    uint64_t became_leader; /* times this process took the lock */
    uint64_t lost;          /* times it lost it (connection broken) */
};
void leader_get_stats(struct leader_stats *out);

#endif
