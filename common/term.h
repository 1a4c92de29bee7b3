/* term.h: text from outside (a monitored server's header quoted in a failure
 * message, a probe's check names) made safe for an operator's terminal. Table
 * printers pass every such string through here; --json and CSV stay exact. */
#ifndef PK_TERM_H
#define PK_TERM_H

#include <stddef.h>

/* Writes s into buf (size bytes, always NUL-terminated) with every control
 * character escaped: C0 (0x00-0x1f), DEL and C1 (U+0080-U+009F) become \xHH or
 * \u00HH, and a byte that is not well-formed UTF-8 becomes \xHH. Everything else
 * (including backslash) is copied as is. A string that does not fit is cut on a
 * character boundary and ends in "...". Returns buf. */
const char *pk_term_escape(char *buf, size_t size, const char *s);

/* pk_term_escape into one of a few rotating static buffers, so several can be
 * passed to one printf. For single-threaded command-line output only (picketctl);
 * each result stays valid until PK_TERM_SLOTS more calls. NULL becomes "". */
#define PK_TERM_SLOTS 16
const char *pk_term(const char *s);

#endif
