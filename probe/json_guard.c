/* json_guard.c: the probe parses every response body that a `json:` assertion,
 * capture or extraction reads with jq 1.6's jv_parse_sized, and that parser
 * leaks the string it just read when a string follows a value inside an array
 * or object without a separator (`{"a":"b" "c"}`: "Expected separator between
 * values"; its value() returns the error without freeing the new string). The
 * bodies come from the services being monitored, so a service answering such
 * text on every check would grow the probe by the string's size each time.
 * json_jq_would_leak replays jq 1.6's own scanner and parser state (strings and
 * their escapes, bare literals, the six structure characters, its depth limit of
 * 256, the BOM it skips) without building anything, and says yes where jq would
 * leak in the first value. Where jq stops on another error first, it stops too
 * and says no: jq then fails the body itself, leaking nothing. After the first
 * value, anything but whitespace also gets a yes: jq 1.6 would parse on, may
 * leak there, and then ignore its own error and keep the first value; newer jq
 * calls such a body an error, and so does the probe (it is not one JSON text).
 * So a body refused here is one jq refuses too, or one with more than one value. */
#include "json_guard.h"

#include <string.h>

#define JQ_MAX_PARSING_DEPTH 256 /* jq 1.6: "Exceeds depth limit for parsing" */

enum { ARRAY = 'A', OBJECT = 'O', KEY = 'K' };
enum { NONE, VALUE_STRING, VALUE_OTHER };

struct emu {
    unsigned char kind[JQ_MAX_PARSING_DEPTH + 2];
    unsigned char nonempty[JQ_MAX_PARSING_DEPTH + 2];
    int sp;
    int next; /* jq's p->next: NONE, or the kind of the value waiting for a separator */
};

/* jq 1.6's parse_token for one structure character: 0 when it goes on, -1 when
 * jq reports an error there (and so stops, leaking nothing). */
static int structure(struct emu *e, char ch)
{
    switch (ch) {
    case '[':
    case '{':
        if (e->sp >= JQ_MAX_PARSING_DEPTH || e->next != NONE)
            return -1;
        e->kind[e->sp] = ch == '[' ? ARRAY : OBJECT;
        e->nonempty[e->sp++] = 0;
        return 0;
    case ':':
        if (e->next != VALUE_STRING || e->sp == 0 || e->kind[e->sp - 1] != OBJECT)
            return -1;
        e->kind[e->sp] = KEY;
        e->nonempty[e->sp++] = 0;
        e->next = NONE;
        return 0;
    case ',':
        if (e->next == NONE || e->sp == 0 || e->kind[e->sp - 1] == OBJECT)
            return -1;
        if (e->kind[e->sp - 1] == KEY)
            e->sp--;
        e->nonempty[e->sp - 1] = 1;
        e->next = NONE;
        return 0;
    case ']':
        if (e->sp == 0 || e->kind[e->sp - 1] != ARRAY || (e->next == NONE && e->nonempty[e->sp - 1]))
            return -1;
        e->sp--;
        e->next = VALUE_OTHER;
        return 0;
    default: /* '}' */
        if (e->sp == 0)
            return -1;
        if (e->next != NONE) {
            if (e->kind[e->sp - 1] != KEY)
                return -1;
            e->sp--;
        } else if (e->kind[e->sp - 1] != OBJECT || e->nonempty[e->sp - 1]) {
            return -1;
        }
        e->sp--;
        e->next = VALUE_OTHER;
        return 0;
    }
}

int json_jq_would_leak(const char *body, size_t len)
{
    static const char bom[] = "\xEF\xBB\xBF";
    if (len >= 3 && memcmp(body, bom, 3) == 0) {
        body += 3;
        len -= 3;
    }
    if (len > 0x7fffffff)
        len = 0x7fffffff; /* what the caller hands jq */
    struct emu e = {.sp = 0, .next = NONE};
    int in_string = 0, escaped = 0, literal = 0, done = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = body[i];
        int ws = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
        if (done) {
            if (!ws)
                return 1; /* more than one JSON value */
            continue;
        }
        if (in_string) {
            if (escaped) {
                escaped = 0;
            } else if (ch == '\\') {
                escaped = 1;
            } else if (ch == '"') {
                in_string = 0;
                if (e.next != NONE)
                    return 1; /* value(): "Expected separator between values", the string lost */
                e.next = VALUE_STRING;
                done = e.sp == 0;
            }
            continue;
        }
        int quote = ch == '"';
        int structural = ch == '[' || ch == ']' || ch == '{' || ch == '}' || ch == ':' || ch == ',';
        if (!ws && !quote && !structural) {
            literal = 1;
            continue;
        }
        if (literal) { /* check_literal: a bare literal ends here */
            literal = 0;
            if (e.next != NONE)
                return 0; /* "Expected separator": jq stops, the literal owned nothing */
            e.next = VALUE_OTHER;
            if (e.sp == 0) {
                done = 1;
                if (!ws)
                    return 1;
                continue;
            }
        }
        if (quote)
            in_string = 1;
        else if (structural && structure(&e, ch) < 0)
            return 0;
        done = e.sp == 0 && e.next != NONE;
    }
    return 0;
}
