/* pb_arena.c: a bump allocator for protobuf-c unpacking (pb_arena.h). Blocks
 * are malloc'd; an allocation that does not fit the newest block gets a new one
 * (at least BLOCK_MIN, and twice what the arena used so far, so a large message
 * needs few). pb_arena_reset frees every block but one, sized for what the
 * arena used (at most KEEP_MAX): the next message of that size fits it. */
#include "pb_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK_MIN ((size_t)64 * 1024)
#define KEEP_MAX ((size_t)8 * 1024 * 1024)
#define ALIGN (alignof(max_align_t))

struct block {
    struct block *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
};

struct pb_arena {
    ProtobufCAllocator allocator;
    struct block *head; /* the newest block first */
    size_t used;        /* bytes handed out since the last reset */
    size_t held;        /* bytes of all blocks */
};

static struct block *block_new(size_t cap)
{
    struct block *b = malloc(sizeof *b + cap);
    if (b) {
        b->next = NULL;
        b->cap = cap;
        b->used = 0;
    }
    return b;
}

static void *arena_alloc(void *data, size_t size)
{
    struct pb_arena *a = data;
    size = (size + ALIGN - 1) & ~(ALIGN - 1);
    if (size == 0)
        size = ALIGN;
    struct block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = 2 * a->used > BLOCK_MIN ? 2 * a->used : BLOCK_MIN;
        if (cap < size)
            cap = size;
        if (!(b = block_new(cap)))
            return NULL;
        b->next = a->head;
        a->head = b;
        a->held += cap;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->used += size;
    return p;
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* everything goes at pb_arena_reset */
}

struct pb_arena *pb_arena_new(void)
{
    struct pb_arena *a = calloc(1, sizeof *a);
    if (a) {
        a->allocator.alloc = arena_alloc;
        a->allocator.free = arena_free;
        a->allocator.allocator_data = a;
    }
    return a;
}

ProtobufCAllocator *pb_arena_allocator(struct pb_arena *a)
{
    return &a->allocator;
}

static void free_blocks(struct block *b)
{
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
}

void pb_arena_reset(struct pb_arena *a)
{
    struct block *keep = a->head;
    if (keep && keep->next) {
        /* Several blocks: one that holds it all next time, within the bound. */
        size_t want = a->used < KEEP_MAX ? a->used : KEEP_MAX;
        free_blocks(keep);
        a->held = 0;
        keep = want > BLOCK_MIN ? block_new(want) : NULL;
        if (keep)
            a->held = keep->cap;
    } else if (keep && keep->cap > KEEP_MAX) {
        free(keep);
        keep = NULL;
        a->held = 0;
    }
    if (keep)
        keep->used = 0;
    a->head = keep;
    a->used = 0;
}

size_t pb_arena_held(const struct pb_arena *a)
{
    return a->held;
}

void pb_arena_free(struct pb_arena *a)
{
    if (!a)
        return;
    free_blocks(a->head);
    free(a);
}
