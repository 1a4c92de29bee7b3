/* rpc_query_arena.c: frees the arena an analytics answer lives in
 * (rpc_query_arena.h); the allocators themselves are inline in the header. */
#include "rpc_query_arena.h"

void *rpc_query_alloc(struct rpc_query_arena *a, size_t size) { return ralloc(a, size); }

void rpc_query_arena_free(struct rpc_query_arena *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    free(a);
}
