/* read_beside.c: see read_beside.h. */
#include "read_beside.h"

#include <stdatomic.h>
#include <stdio.h>

#include "log.h"

static void *beside_main(void *arg)
{
    struct read_beside *b = arg;
    (void)pthread_setname_np(pthread_self(), "pk-read-side");
    b->rc = b->fn(b->side, b->arg, b->err, sizeof b->err);
    return NULL;
}

void read_beside_start(struct read_beside *b, struct store *s, read_beside_fn fn, void *arg)
{
    static atomic_int warned;
    *b = (struct read_beside){.fn = fn, .arg = arg};
    char err[512] = "";
    b->side = store_side(s, err, sizeof err);
    if (b->side && pthread_create(&b->thread, NULL, beside_main, b) != 0) {
        snprintf(err, sizeof err, "cannot start a thread");
        b->side = NULL;
    }
    if (!b->side && !atomic_exchange(&warned, 1)) {
        char q[600];
        PK_WARN("query", "no second connection for reads: parts of a window are read one after the other",
                "error=%s", pk_log_q(q, sizeof q, err));
    }
}

int read_beside_finish(struct read_beside *b, struct store *s, int rc, char *err, size_t errlen)
{
    if (!b->side)
        return rc < 0 ? rc : b->fn(s, b->arg, err, errlen);
    pthread_join(b->thread, NULL);
    if (rc == 0 && b->rc < 0)
        snprintf(err, errlen, "%s", b->err);
    return rc < 0 ? rc : b->rc;
}
