/* copy.c: streaming COPY ... FROM STDIN through the store's reusable buffer,
 * flushed in COPY_CHUNK pieces. An abandoned COPY is ended with an error so the
 * server discards it. */
#include "store_int.h"

#include <string.h>

const char st_copy_bin_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
const char st_copy_bin_trailer[2] = "\377\377";

int st_copy_flush(struct copy_state *c, char *err, size_t errlen)
{
    if (c->len > 0 && PQputCopyData(c->s->conn, c->s->copy_buf, (int)c->len) != 1) {
        st_pg_err(c->s, NULL, "COPY results", err, errlen);
        return -1;
    }
    c->len = 0;
    return 0;
}

int st_copy_begin(struct copy_state *c, struct store *s, const char *sql, const char *what, char *err,
                  size_t errlen)
{
    PGresult *res = PQexec(s->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        st_pg_err(s, res, what, err, errlen);
    PQclear(res);
    *c = (struct copy_state){s, 0, ok};
    return ok ? 0 : -1;
}

int st_copy_finish(struct copy_state *c, char *err, size_t errlen)
{
    if (!c->started)
        return 0;
    if (st_copy_flush(c, err, errlen) < 0)
        return -1;
    c->started = 0;
    if (PQputCopyEnd(c->s->conn, NULL) != 1) {
        st_pg_err(c->s, NULL, "COPY results", err, errlen);
        return -1;
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c->s->conn))) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            st_pg_err(c->s, r, "COPY results", err, errlen);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

void st_copy_abort(struct copy_state *c)
{
    if (!c->started)
        return;
    c->started = 0;
    if (PQputCopyEnd(c->s->conn, "picket: batch abandoned") == 1) {
        PGresult *r;
        while ((r = PQgetResult(c->s->conn)))
            PQclear(r);
    }
}

const char st_hex_digits[] = "0123456789abcdef";

/* Appends n bytes to the COPY stream, flushing the buffer as it fills. */
int st_copy_put(struct copy_state *c, const char *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        if (c->len == COPY_BUF_SIZE && st_copy_flush(c, err, errlen) < 0)
            return -1;
        size_t k = COPY_BUF_SIZE - c->len < n ? COPY_BUF_SIZE - c->len : n;
        memcpy(c->s->copy_buf + c->len, p, k);
        c->len += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* Appends bytes as lowercase hex (a bytea's \\x form in COPY text). */
int st_copy_put_hex(struct copy_state *c, const uint8_t *b, size_t n, char *err, size_t errlen)
{
    char hex[512];
    for (size_t k = 0; k < n;) {
        size_t m = 0;
        for (; k < n && m + 2 <= sizeof hex; k++) {
            hex[m++] = st_hex_digits[b[k] >> 4];
            hex[m++] = st_hex_digits[b[k] & 15];
        }
        if (st_copy_put(c, hex, m, err, errlen) < 0)
            return -1;
    }
    return 0;
}

