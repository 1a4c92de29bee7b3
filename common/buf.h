/* buf.h: the one growable byte buffer (an idea taken from curl's dynbuf): grows by
 * doubling up to a cap fixed at init, latches a failure so a chain of appends is
 * checked once at the end, and keeps its bytes NUL-terminated. Also the one JSON
 * string escaper and the one UTF-8 policy (well-formed sequences pass, any other
 * byte becomes U+FFFD) every module uses. Owns its memory; never aborts. */
#ifndef PK_BUF_H
#define PK_BUF_H

#include <stddef.h>
#include <stdint.h>

#define PK_BUF_DEFAULT_MAX ((size_t)64 << 20) /* 64 MiB */

struct pk_buf {
    char *data;    /* NUL-terminated when non-NULL; owned */
    size_t len;    /* bytes used, not counting the NUL */
    size_t cap;    /* bytes allocated */
    size_t max;    /* never grows past this many bytes (NUL included) */
    int failed;    /* latched by the first append that did not fit or could not allocate */
};

/* max 0 = PK_BUF_DEFAULT_MAX. Allocates nothing until the first append. */
void pk_buf_init(struct pk_buf *b, size_t max);
/* Wraps a caller's fixed array: never reallocates, fails past size-1 bytes. */
void pk_buf_init_fixed(struct pk_buf *b, char *mem, size_t size);
void pk_buf_free(struct pk_buf *b);
/* Empties the buffer (keeps its memory) and clears a latched failure. */
void pk_buf_reset(struct pk_buf *b);

/* Each returns 0, or -1 (and latches) when the cap or memory ran out; after a
 * failure every later append is a no-op that returns -1. */
int pk_buf_reserve(struct pk_buf *b, size_t extra);
int pk_buf_add(struct pk_buf *b, const void *p, size_t n);
int pk_buf_adds(struct pk_buf *b, const char *s);
int pk_buf_addc(struct pk_buf *b, char c);
int pk_buf_addf(struct pk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON string literal (quotes included) of n bytes of value: '"', '\\' and
 * control characters escaped, bytes that are not well-formed UTF-8 written as
 * \ufffd. */
int pk_buf_add_json_string(struct pk_buf *b, const char *value, size_t n);
/* The same escaping without the quotes, for a value spliced into a literal the
 * caller opened (a template's "{{ name }}"). */
int pk_buf_add_json_chars(struct pk_buf *b, const char *value, size_t n);

/* 0 while nothing failed. */
static inline int pk_buf_ok(const struct pk_buf *b) { return b->failed ? -1 : 0; }

/* Hands the bytes to the caller (free() them; "" when empty), NULL when a failure
 * was latched (the bytes are freed). The buffer is left empty and usable. */
char *pk_buf_take(struct pk_buf *b);

/* Length of the well-formed UTF-8 sequence at p (n bytes available), or 0 when the
 * bytes there are not one (overlong, surrogate, past U+10FFFF, cut short). */
size_t pk_utf8_seq_len(const unsigned char *p, size_t n);

#define PK_UTF8_REPLACEMENT "\xef\xbf\xbd"

/* The one growth policy for typed arrays (a pk_buf holds bytes; this holds
 * structs): returns p reallocated to room for at least need elements of elem
 * bytes, 16 the first time, then doubling, and stores the new room in *cap; p
 * itself when need <= *cap. NULL when need exceeds max elements (0: whatever
 * size_t allows) or memory ran out; then p is still the caller's, unchanged, and
 * so is *cap. Usage:
 *     struct row *rows = pk_grow(t->rows, &t->cap, t->n + 1, sizeof *rows, 0);
 *     if (!rows) return -1;
 *     t->rows = rows; */
void *pk_grow(void *p, size_t *cap, size_t need, size_t elem, size_t max);

#endif
