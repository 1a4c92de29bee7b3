/* jq_guard.c: turns away, before jq 1.6 parses it, a jq program whose syntax
 * error would sit inside a string literal. jq 1.6's parser leaks memory on every
 * such error (its String rule keeps a value on the parser stack that nothing
 * frees when parsing stops there): a string left open at the end of the program,
 * and any syntax error inside an interpolation "\(...)" of a string, plain or
 * with a format like @base64 "...". The leak is small, but each bad check file
 * reloaded would repeat it and the fuzzer reports it, so the loader checks first.
 * It refuses jq's module directives (import, include, module: a check has no
 * module path, and jq 1.6 leaks on some module names), walks the program as
 * jq's lexer does, turns away an open string, brackets that do not match
 * inside an interpolation and interpolations nested too deeply, then has jq
 * parse every interpolation's body on its own, deepest level
 * first, as "(body),(body),..." -- a parenthesised expression outside any string,
 * where a syntax error costs nothing. A body that does not parse there is the
 * error the whole program would have hit inside the string. */
#include "checks_int.h"
#include "jq_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#define JQ_MAX_NEST 64    /* brackets open inside interpolations, all levels together */
#define JQ_MAX_INTERP 8   /* interpolations inside interpolations */

enum { SCAN_OPEN = -1, SCAN_MISMATCH = -2, SCAN_DEEP = -3 };

/* Walks SRC as jq 1.6's lexer does: strings open and close on '"', a backslash
 * escapes the next character, "\(" opens code that ends at its matching ')',
 * brackets inside that code must pair, and '#' starts a comment to the end of
 * the line. Returns the deepest interpolation level (0 when there is none) or a
 * SCAN_ code. With OUT, appends "(body)," for every interpolation at level WANT. */
static int jq_scan(const char *s, int want, struct pk_buf *out)
{
    char open[JQ_MAX_NEST];         /* '(' '[' '{', or 'I' for an interpolation */
    const char *body[JQ_MAX_NEST];  /* where each interpolation's code starts */
    int top = -1, level = 0, deepest = 0, in_string = 0;
    for (; *s; s++) {
        if (in_string) {
            if (*s == '"') {
                in_string = 0;
            } else if (*s == '\\' && s[1] == '(') {
                if (top == JQ_MAX_NEST - 1 || level == JQ_MAX_INTERP)
                    return SCAN_DEEP;
                open[++top] = 'I';
                body[top] = s + 2;
                if (++level > deepest)
                    deepest = level;
                in_string = 0;
                s++;
            } else if (*s == '\\' && s[1]) {
                s++;
            }
        } else if (*s == '"') {
            in_string = 1;
        } else if (*s == '#') {
            while (s[1] && s[1] != '\n' && s[1] != '\r')
                s++;
        } else if (top >= 0 && (*s == '(' || *s == '[' || *s == '{')) {
            if (top == JQ_MAX_NEST - 1)
                return SCAN_DEEP;
            open[++top] = *s;
        } else if (top >= 0 && (*s == ')' || *s == ']' || *s == '}')) {
            char want_open = *s == ')' ? '(' : *s == ']' ? '[' : '{';
            if (open[top] == 'I' && *s == ')') {
                if (out && level == want && (pk_buf_addf(out, "(%.*s),", (int)(s - body[top]), body[top]) < 0))
                    return SCAN_DEEP; /* out of memory: refuse rather than risk it */
                top--;
                level--;
                in_string = 1;
            } else if (open[top] != want_open) {
                return SCAN_MISMATCH;
            } else {
                top--;
            }
        }
    }
    return in_string || top >= 0 ? SCAN_OPEN : deepest;
}

void ck_jq_error_cb(void *data, jv msg)
{
    struct ck_jq_error *e = data;
    if (!e->have) {
        jv text = jv_get_kind(msg) == JV_KIND_INVALID ? jv_invalid_get_msg(jv_copy(msg)) : jv_copy(msg);
        if (jv_get_kind(text) != JV_KIND_STRING)
            text = jv_dump_string(text, 0);
        const char *s = jv_string_value(text);
        if (strncmp(s, "jq: error: ", 11) == 0)
            s += 11;
        size_t len = strcspn(s, "\n");
        if (len > 0 && s[len - 1] == ':') /* the program text followed on the next line */
            len--;
        if (len >= sizeof e->msg)
            len = sizeof e->msg - 1;
        memcpy(e->msg, s, len);
        e->msg[len] = '\0';
        e->have = 1;
        jv_free(text);
    }
    jv_free(msg);
}

/* 0 when the bodies at LEVEL parse; -1 with WHY when one does not (or on no
 * memory). They are parsed as "(body),(body)" and then a line holding only ')',
 * which is always a syntax error: jq stops after parsing (binding names and its
 * builtins would cost ~25 ms a program, and a name defined around the string is
 * unknown here anyway), and when its first error is on that last line, every
 * body before it parsed. */
static int check_level(const char *src, int level, char *why, size_t whylen)
{
    struct pk_buf code;
    pk_buf_init(&code, 0);
    if (jq_scan(src, level, &code) < 0 || code.len == 0) {
        pk_buf_free(&code);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    code.data[code.len - 1] = '\n'; /* the last ',' */
    if (pk_buf_addc(&code, ')') < 0) {
        pk_buf_free(&code);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int last_line = 1;
    for (size_t i = 0; i < code.len; i++)
        last_line += code.data[i] == '\n';
    struct ck_jq_error e = {.have = 0};
    jq_state *jq = jq_init();
    if (!jq) {
        pk_buf_free(&code);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    jq_set_error_cb(jq, ck_jq_error_cb, &e);
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array()); /* as compile_jq does */
    jq_compile(jq, code.data);
    jq_teardown(&jq);
    pk_buf_free(&code);
    /* jq names the line of its first error: " at <top-level>, line N" */
    const char *where = e.have ? strstr(e.msg, " at <top-level>, line ") : NULL;
    if (where && atoi(where + 22) != last_line) {
        snprintf(why, whylen, "in a string interpolation \"\\(...)\": %.*s", (int)(where - e.msg), e.msg);
        return -1;
    }
    return 0;
}

/* 1 when the program starts (after blanks and comments) with the word import,
 * include or module: jq's module directives, which may only come first. */
static int starts_with_module(const char *s)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s != '#')
            break;
        while (*s && *s != '\n' && *s != '\r')
            s++;
    }
    size_t n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
           s[n] == '_')
        n++;
    return (n == 6 && (strncmp(s, "import", 6) == 0 || strncmp(s, "module", 6) == 0)) ||
           (n == 7 && strncmp(s, "include", 7) == 0);
}

int ck_jq_guard(const char *src, char *why, size_t whylen)
{
    /* A check has no module path, and jq 1.6 leaks (or, without a path set,
     * aborts) on some module names: `include ""`, `import "a//" as a`. */
    if (starts_with_module(src)) {
        snprintf(why, whylen, "jq modules (import, include, module) are not available in checks");
        return -1;
    }
    int deepest = jq_scan(src, 0, NULL);
    if (deepest == SCAN_OPEN) {
        snprintf(why, whylen, "a string literal is not closed");
        return -1;
    }
    if (deepest == SCAN_MISMATCH) {
        snprintf(why, whylen, "brackets do not pair inside a string interpolation \"\\(...)\"");
        return -1;
    }
    if (deepest == SCAN_DEEP) {
        snprintf(why, whylen, "string interpolations are nested too deeply (at most %d levels and %d brackets)",
                 JQ_MAX_INTERP, JQ_MAX_NEST);
        return -1;
    }
    for (int level = deepest; level >= 1; level--)
        if (check_level(src, level, why, whylen) < 0)
            return -1;
    return 0;
}
