/* lock_keys.h: every PostgreSQL advisory lock key Picket takes, in one place, so
 * that two features never pick the same key by accident. PostgreSQL keeps two
 * separate key spaces: one 64-bit key (pg_advisory_lock(bigint)) and a pair of
 * 32-bit keys (pg_advisory_lock(int, int)); a key in one never conflicts with a
 * key in the other. Picket's keys:
 *
 *   bigint 112410397255028  transaction   migrations (store/migrate.c): collectors
 *                                          that start together migrate one at a time
 *   bigint 112410397255029  transaction   picket_make_partition / picket_drop_partitions
 *                                          (migrations/005): one partition change at a time
 *   bigint 112410397255030  transaction   rollup compaction (store/rollup_compact.c) and
 *                                          session, rollup-backfill (store/rollup_backfill.c)
 *   bigint 112410397255031  session       the installation's LEADER (collector/leader.c):
 *                                          held by one collector's dedicated connection for
 *                                          as long as it leads; it alone runs the control
 *                                          thread's once-per-installation work (partitions,
 *                                          retention, rollup compaction) and alerting
 *   bigint 5003             transaction   assignment applies (store/assign.c)
 *   (int, int) (PK_LOCK_CHECK_CLASS, check id)  transaction: the tracker's fold of one
 *                                          check (store/tracker.c); the second key is the
 *                                          check's id, so per-check locks never meet the
 *                                          bigint keys above
 *
 * A new key goes here first, with its lifetime and its user. Keys are strings so
 * they can be pasted into SQL text; the numbers are the same in integer form. */
#ifndef PK_LOCK_KEYS_H
#define PK_LOCK_KEYS_H

#define PK_LOCK_MIGRATE "112410397255028"
#define PK_LOCK_PARTITIONS "112410397255029"
#define PK_LOCK_COMPACT "112410397255030"
#define PK_LOCK_LEADER "112410397255031"
#define PK_LOCK_ASSIGN "5003"
/* First key of the (int, int) pair for per-check locks: "pick" in ASCII. */
#define PK_LOCK_CHECK_CLASS 1885954923

#endif
