/* term.c: escapes control characters in text bound for a terminal (term.h).
 * An ESC from a monitored server's response header must never reach an
 * operator's terminal as an escape sequence, nor a CR or LF forge a table row.
 * Owns a few static buffers for pk_term; never allocates. */
#include "term.h"
#include "buf.h"

#include <stdio.h>
#include <string.h>

const char *pk_term_escape(char *buf, size_t size, const char *s)
{
    if (size == 0)
        return buf;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), out = 0, fit = 0;
    for (size_t i = 0; i < n;) {
        char piece[8];
        size_t plen, k = pk_utf8_seq_len(p + i, n - i);
        if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", p[i]);
        else if (k == 0)
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", p[i]), k = 1;
        else if (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) /* C1: U+0080..U+009F */
            plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)p[i + 1]);
        else
            memcpy(piece, p + i, k), plen = k;
        if (out + plen + 1 > size) {
            /* cut after the last whole piece that leaves room for "..." */
            if (size >= 4) {
                memcpy(buf + fit, "...", 3);
                out = fit + 3;
            }
            break;
        }
        memcpy(buf + out, piece, plen);
        out += plen;
        i += k;
        if (size >= 4 && out <= size - 4)
            fit = out;
    }
    buf[out < size ? out : size - 1] = '\0';
    return buf;
}

const char *pk_term(const char *s)
{
    static char slots[PK_TERM_SLOTS][2048];
    static unsigned next;
    char *buf = slots[next++ % PK_TERM_SLOTS];
    return pk_term_escape(buf, sizeof slots[0], s);
}
