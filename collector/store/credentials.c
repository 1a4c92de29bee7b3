/* credentials.c: API credentials (migrations/004_credentials.sql). Only the
 * SHA-256 hash of a token is ever stored or looked up; the stored hash is
 * compared again in constant time. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

static int is_hash_hex(const char *h)
{
    if (!h || strlen(h) != PK_TOKEN_HASH_HEX)
        return 0;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return 0;
    return 1;
}

int store_credential_add(struct store *s, enum pk_role role, const char *name, const char *region,
                         const char *token_hash_hex, int64_t *id, char *err, size_t errlen)
{
    if (role != PK_ROLE_PROBE && role != PK_ROLE_READ && role != PK_ROLE_WRITE) {
        pk_fail(err, errlen, "credential role must be probe, read or write");
        return -1;
    }
    if (!name || !name[0] || strlen(name) > 127) {
        pk_fail(err, errlen, "credential name must be 1..127 bytes");
        return -1;
    }
    if (!is_hash_hex(token_hash_hex)) {
        pk_fail(err, errlen, "credential: malformed token hash");
        return -1;
    }
    char what[200];
    snprintf(what, sizeof what, "adding a %s credential for '%.127s'", pk_role_name(role), name);
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN", 0, NULL, what, err, errlen) < 0)
        return -1;
    if (role == PK_ROLE_PROBE) {
        const char *params[] = {name, region && region[0] ? region : "default"};
        if (st_run_cmd(s, "INSERT INTO probes (name, region) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", 2, params,
                       what, err, errlen) < 0)
            goto fail;
    }
    const char *params[] = {pk_role_name(role), name, role == PK_ROLE_PROBE ? name : NULL, token_hash_hex};
    PGresult *r = st_run(s,
                         "INSERT INTO credentials (role, name, probe_name, token_sha256) "
                         "VALUES ($1, $2, $3, decode($4, 'hex')) RETURNING id",
                         4, params, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        goto fail;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return st_commit(s, what, err, errlen);
fail:
    st_rollback(s);
    return -1;
}

int store_credential_lookup(struct store *s, const char *token_hash_hex, struct pk_identity *who, int64_t *id,
                            char *err, size_t errlen)
{
    if (!is_hash_hex(token_hash_hex))
        return 0;
    const char *params[] = {token_hash_hex};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT id, role, name, encode(token_sha256, 'hex') FROM credentials "
                         "WHERE token_sha256 = decode($1, 'hex') AND revoked_at IS NULL",
                         1, params, PGRES_TUPLES_OK, "looking up a token", err, errlen);
    if (!r)
        return -1;
    int found = 0;
    /* The index found the row by hash; compare again without early exit anyway, so
     * this code never becomes a timing oracle if the lookup ever changes. */
    if (PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 3)) == PK_TOKEN_HASH_HEX &&
        pk_ct_equal(PQgetvalue(r, 0, 3), token_hash_hex, PK_TOKEN_HASH_HEX)) {
        memset(who, 0, sizeof *who);
        who->role = pk_role_parse(PQgetvalue(r, 0, 1));
        pk_strlcpy(who->name, PQgetvalue(r, 0, 2), sizeof who->name);
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        found = who->role != PK_ROLE_NONE;
    }
    PQclear(r);
    return found;
}

int store_credentials_dead(struct store *s, const int64_t *ids, size_t n, unsigned char *dead, char *err,
                           size_t errlen)
{
    memset(dead, 0, n);
    if (n == 0)
        return 0;
    struct pk_buf arr;
    pk_buf_init(&arr, 0);
    int rc = -1;
    PGresult *r = NULL;
    pk_buf_addc(&arr, '{');
    for (size_t i = 0; i < n; i++)
        pk_buf_addf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
    if (pk_buf_addc(&arr, '}') < 0) {
        pk_fail(err, errlen, "re-checking %zu credentials: out of memory", n);
        goto out;
    }
    const char *params[] = {arr.data};
    st_ensure_ready(s);
    r = st_run(s,
               "SELECT i FROM unnest($1::bigint[]) AS i "
               "WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.id = i AND c.revoked_at IS NULL)",
               1, params, PGRES_TUPLES_OK, "re-checking open streams' credentials", err, errlen);
    if (!r)
        goto out;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id)
                dead[i] = 1;
    }
    rc = 0;
out:
    PQclear(r);
    pk_buf_free(&arr);
    return rc;
}

int store_credential_revoke(struct store *s, int64_t id, enum pk_role role, const char *name, long *revoked,
                            char *err, size_t errlen)
{
    PGresult *r;
    st_ensure_ready(s);
    if (id > 0) {
        char idbuf[24];
        snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
        const char *params[] = {idbuf};
        r = st_run(s, "UPDATE credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", 1, params,
                   PGRES_COMMAND_OK, "revoking a credential", err, errlen);
    } else {
        const char *params[] = {pk_role_name(role), name ? name : ""};
        r = st_run(s, "UPDATE credentials SET revoked_at = now() WHERE role = $1 AND name = $2 AND revoked_at IS NULL",
                   2, params, PGRES_COMMAND_OK, "revoking credentials", err, errlen);
    }
    if (!r)
        return -1;
    *revoked = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

