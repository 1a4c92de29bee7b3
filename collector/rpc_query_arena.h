/* rpc_query_arena.h: the arena the analytics answers of rpc_query.c live in
 * (private to rpc_query*.c). Every block comes zeroed from ralloc and is freed at
 * once by rpc_query_arena_free (rpc_query.h) after the answer is sent. */
#ifndef PK_RPC_QUERY_ARENA_H
#define PK_RPC_QUERY_ARENA_H

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rpc_query.h"

struct rpc_query_arena {
    void **ptrs;
    size_t n, cap;
};

static inline void *ralloc(struct rpc_query_arena *a, size_t size)
{
    void **grown = pk_grow(a->ptrs, &a->cap, a->n + 1, sizeof *grown, 0);
    if (!grown)
        return NULL;
    a->ptrs = grown;
    void *p = calloc(1, size ? size : 1);
    if (p)
        a->ptrs[a->n++] = p;
    return p;
}

static inline char *rstrdup(struct rpc_query_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = ralloc(a, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* A new array of n pointers to n initialised messages of type T. */
#define NEW_MSGS(a, T, init, n, out)                                                                                \
    do {                                                                                                            \
        T *items_ = ralloc((a), ((n) ? (n) : 1) * sizeof(T));                                                     \
        (out) = ralloc((a), ((n) ? (n) : 1) * sizeof(T *));                                                         \
        if (!items_ || !(out))                                                                                      \
            goto oom;                                                                                               \
        for (size_t k_ = 0; k_ < (n); k_++) {                                                                       \
            init(&items_[k_]);                                                                                      \
            (out)[k_] = &items_[k_];                                                                                \
        }                                                                                                           \
    } while (0)

#endif
