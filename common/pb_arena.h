/* pb_arena.h: a bump allocator for protobuf-c's unpack. A ResultBatch of 1,000
 * results unpacks into a few thousand small objects (each Result, its strings,
 * its metrics), each a malloc and, at free_unpacked, a free: a sixth of the
 * collector's CPU per result at full ingest. Unpacked into an arena, the whole
 * message goes at once with pb_arena_reset, and no free_unpacked is called.
 * Not thread-safe: one arena per thread. */
#ifndef PK_PB_ARENA_H
#define PK_PB_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct pb_arena;

/* A new, empty arena; NULL when out of memory. */
struct pb_arena *pb_arena_new(void);
/* The allocator to pass to protobuf_c_message_unpack: its free does nothing;
 * what it allocated stays until pb_arena_reset. Valid while the arena is. */
ProtobufCAllocator *pb_arena_allocator(struct pb_arena *a);
/* Forgets everything allocated (every message unpacked into the arena is gone).
 * Keeps one block, sized for the largest message seen up to a bound, so the
 * next message of that size needs no malloc and touches no new page. */
void pb_arena_reset(struct pb_arena *a);
/* Bytes of the blocks the arena holds. */
size_t pb_arena_held(const struct pb_arena *a);
void pb_arena_free(struct pb_arena *a);

#endif
