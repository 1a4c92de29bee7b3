/* leader.c: the installation's leader lock (lock_keys.h, PK_LOCK_LEADER), a
 * session-level advisory lock taken with pg_try_advisory_lock on a connection
 * used for nothing else (collector/leader.c owns it). PostgreSQL releases it when
 * that session ends, including when the collector is killed or its connection
 * breaks, so another collector can take it over. */
#include "store_int.h"

#include <stdlib.h>

#include "lock_keys.h"

int store_leader_try(struct store *s, char *err, size_t errlen)
{
    st_ensure_ready(s);
    PGresult *r = st_run(s, "SELECT pg_try_advisory_lock(" PK_LOCK_LEADER ")", 0, NULL, PGRES_TUPLES_OK,
                         "taking the leader lock", err, errlen);
    if (!r)
        return -1;
    int got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return got;
}

int store_leader_held(struct store *s, char *err, size_t errlen)
{
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                         "AND granted AND ((classid::bigint << 32) | objid::bigint) = " PK_LOCK_LEADER
                         " AND objsubid = 1",
                         0, NULL, PGRES_TUPLES_OK, "checking the leader lock", err, errlen);
    if (!r)
        return -1;
    int held = atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return held;
}
