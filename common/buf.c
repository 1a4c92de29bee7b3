/* buf.c: the growable, capped byte buffer, the JSON string escaper and the typed
 * array growth policy of buf.h.
 * Owns each buffer's memory until pk_buf_take or pk_buf_free; never aborts, never
 * writes past its cap. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_SENTINEL ((size_t)-1)

void pk_buf_init(struct pk_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max ? max : PK_BUF_DEFAULT_MAX;
}

void pk_buf_init_fixed(struct pk_buf *b, char *mem, size_t size)
{
    memset(b, 0, sizeof *b);
    b->data = mem;
    b->cap = size;
    b->max = FIXED_SENTINEL;
    if (size)
        mem[0] = '\0';
    else
        b->failed = 1;
}

static int is_fixed(const struct pk_buf *b) { return b->max == FIXED_SENTINEL; }

void pk_buf_free(struct pk_buf *b)
{
    if (!is_fixed(b))
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void pk_buf_reset(struct pk_buf *b)
{
    b->len = 0;
    b->failed = is_fixed(b) && b->cap == 0;
    if (b->data)
        b->data[0] = '\0';
}

int pk_buf_reserve(struct pk_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->cap > b->len && extra < b->cap - b->len)
        return 0;
    if (is_fixed(b) || extra >= b->max - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;
    if (cap > b->max)
        cap = b->max;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int pk_buf_add(struct pk_buf *b, const void *p, size_t n)
{
    if (pk_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int pk_buf_adds(struct pk_buf *b, const char *s) { return pk_buf_add(b, s, strlen(s)); }

int pk_buf_addc(struct pk_buf *b, char c) { return pk_buf_add(b, &c, 1); }

int pk_buf_addf(struct pk_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return -1;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n < sizeof small)
        return pk_buf_add(b, small, (size_t)n);
    if (pk_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void *pk_grow(void *p, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need == 0)
        need = 1;
    if (p && need <= *cap)
        return p;
    size_t limit = elem ? SIZE_MAX / elem : SIZE_MAX;
    if (max && max < limit)
        limit = max;
    if (need > limit)
        return NULL;
    size_t n = p && *cap ? *cap : 16;
    if (n > limit)
        n = limit;
    while (n < need)
        n = n > limit / 2 ? limit : n * 2;
    void *grown = realloc(p, n * elem);
    if (!grown)
        return NULL;
    *cap = n;
    return grown;
}

size_t pk_utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int pk_buf_add_json_chars(struct pk_buf *b, const char *value, size_t n)
{
    const unsigned char *p = (const unsigned char *)value;
    for (size_t i = 0; i < n && !b->failed;) {
        size_t k = pk_utf8_seq_len(p + i, n - i);
        if (k == 0) {
            pk_buf_add(b, "\\ufffd", 6);
            i++;
            continue;
        }
        if (k > 1) {
            pk_buf_add(b, value + i, k);
        } else if (p[i] == '"' || p[i] == '\\') {
            char esc[2] = {'\\', (char)p[i]};
            pk_buf_add(b, esc, 2);
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            pk_buf_addf(b, "\\u%04x", p[i]);
        } else {
            pk_buf_add(b, value + i, 1);
        }
        i += k;
    }
    return pk_buf_ok(b);
}

int pk_buf_add_json_string(struct pk_buf *b, const char *value, size_t n)
{
    pk_buf_addc(b, '"');
    pk_buf_add_json_chars(b, value, n);
    return pk_buf_addc(b, '"');
}

char *pk_buf_take(struct pk_buf *b)
{
    if (b->failed) {
        pk_buf_free(b);
        return NULL;
    }
    char *out;
    if (is_fixed(b)) {
        out = strdup(b->data ? b->data : "");
    } else {
        out = b->data ? b->data : strdup("");
        b->data = NULL;
        b->cap = 0;
    }
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
    return out;
}
