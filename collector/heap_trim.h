/* heap_trim.h: the collector's heap kept compact (heap_trim.c): free heap
 * pages handed back to the kernel on a timer, and the heap's figures for
 * /metrics. */
#ifndef PICKET_COLLECTOR_HEAP_TRIM_H
#define PICKET_COLLECTOR_HEAP_TRIM_H

#include <stddef.h>

/* Starts the thread that every period_ms looks at the heap and, when more than
 * free_bytes lie free inside it, gives the free pages back (malloc_trim); after
 * the first trim only once the resident bytes not in use have grown by
 * free_bytes since the last. 0, or -1 with err. */
int heap_trim_start(int period_ms, size_t free_bytes, char *err, size_t errlen);

/* Stops and joins the thread (no-op when not started). */
void heap_trim_stop(void);

/* Appends the heap's series (Prometheus text) to buf; returns the bytes
 * written (at most size - 1). */
size_t heap_trim_metrics(char *buf, size_t size);

#endif
