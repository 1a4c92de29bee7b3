/* options.c: the one command-line parser. It turns a table of struct pk_option
 * into getopt_long's arguments (so every binary keeps getopt's syntax and its own
 * messages), reads the entries' environment variables, then the command line,
 * and stores each value by its kind into the caller's struct; --help lines come
 * from the same table. Owns nothing: string values are borrowed from argv or
 * environ. Never exits; main() decides what an error costs. */
#include "options.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "pk_error.h"

/* More than any table needs; a longer one is a programming error, reported. */
#define MAX_OPTIONS 64
/* getopt_long's value for the long option at index i. */
#define LONG_BASE 0x1000

static void *field(void *target, const struct pk_option *opt) { return (char *)target + opt->offset; }

static int takes_value(const struct pk_option *opt)
{
    switch (opt->kind) {
    case PK_OPT_FLAG:
    case PK_OPT_HELP:
    case PK_OPT_VERSION:
        return 0;
    case PK_OPT_CALL:
        return opt->metavar != NULL;
    default:
        return 1;
    }
}

static int range_error(const struct pk_option *opt, const char *value, const char *source, char *err,
                       size_t errlen)
{
    if (opt->range_text)
        return pk_fail(err, errlen, "%s must be %s, got '%s'", source, opt->range_text, value);
    return pk_fail(err, errlen, "%s must be an integer in %.0f..%.0f, got '%s'", source, opt->min, opt->max, value);
}

int pk_opts_number(const struct pk_option *opt, const char *value, const char *source, double *out, char *err,
                   size_t errlen)
{
    char *end;
    double v;
    if (opt->kind == PK_OPT_DOUBLE)
        v = strtod(value, &end);
    else
        v = (double)strtoll(value, &end, 10);
    if (!*value || *end || !(v >= opt->min && v <= opt->max))
        return range_error(opt, value, source, err, errlen);
    *out = v;
    return 0;
}

/* Stores one value (NULL for options without one) given as source. */
static int apply(const struct pk_option *opt, void *target, const char *value, const char *source, char *err,
                 size_t errlen)
{
    double d;
    switch (opt->kind) {
    case PK_OPT_FLAG:
        *(int *)field(target, opt) = 1;
        return 0;
    case PK_OPT_STRING:
        *(const char **)field(target, opt) = value;
        return 0;
    case PK_OPT_INT:
        if (pk_opts_number(opt, value, source, &d, err, errlen) < 0)
            return -1;
        *(int *)field(target, opt) = (int)d;
        return 0;
    case PK_OPT_LLONG: {
        char *end;
        long long v = strtoll(value, &end, 10); /* not through double: ids keep every digit */
        if (!*value || *end || (double)v < opt->min || (double)v > opt->max)
            return range_error(opt, value, source, err, errlen);
        *(long long *)field(target, opt) = v;
        return 0;
    }
    case PK_OPT_DOUBLE:
        if (pk_opts_number(opt, value, source, &d, err, errlen) < 0)
            return -1;
        *(double *)field(target, opt) = d;
        return 0;
    case PK_OPT_LOG_LEVEL: {
        int level = pk_log_parse_level(value);
        if (level < 0)
            return pk_fail(err, errlen, "unknown %s '%s'", source, value);
        pk_log_set_level(level);
        return 0;
    }
    case PK_OPT_CALL:
        return opt->set(target, opt, value, source, err, errlen);
    default:
        return 0;
    }
}

static int wanted(const struct pk_opts *o, const struct pk_option *opt)
{
    if (!(o->flags & PK_OPTS_EARLY_ONLY))
        return 1;
    return (opt->flags & PK_OPTF_EARLY) || opt->kind == PK_OPT_HELP || opt->kind == PK_OPT_VERSION;
}

static int apply_env(const struct pk_opts *o, void *target)
{
    int rc = PK_OPTS_OK;
    for (size_t i = 0; i < o->n; i++) {
        const struct pk_option *opt = &o->table[i];
        if (!opt->env || (opt->flags & PK_OPTF_ENV_ELSEWHERE) || !wanted(o, opt))
            continue;
        const char *v = getenv(opt->env);
        if (!v || (!v[0] && opt->kind == PK_OPT_STRING))
            continue;
        char err[1024];
        if (apply(opt, target, v, opt->env, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", o->prog, err);
            rc = PK_OPTS_BAD_VALUE;
            if (!(o->flags & PK_OPTS_KEEP_GOING))
                return rc;
        }
    }
    return rc;
}

/* The getopt_long arguments of the table: long options whose val is LONG_BASE +
 * index, and the short ones. -1 when the table is too long. */
static int getopt_args(const struct pk_opts *o, struct option *longs, char *shorts, size_t shorts_size)
{
    size_t s = 0;
    if (o->n > MAX_OPTIONS || shorts_size < 2 * MAX_OPTIONS + 2)
        return -1;
    if (o->flags & PK_OPTS_IN_ORDER)
        shorts[s++] = '+';
    for (size_t i = 0; i < o->n; i++) {
        const struct pk_option *opt = &o->table[i];
        longs[i] = (struct option){opt->name, takes_value(opt) ? required_argument : no_argument, NULL,
                                   LONG_BASE + (int)i};
        if (opt->short_name) {
            shorts[s++] = opt->short_name;
            if (takes_value(opt))
                shorts[s++] = ':';
        }
    }
    longs[o->n] = (struct option){NULL, 0, NULL, 0};
    shorts[s] = '\0';
    return 0;
}

static const struct pk_option *entry_of(const struct pk_opts *o, int c)
{
    if (c >= LONG_BASE && (size_t)(c - LONG_BASE) < o->n)
        return &o->table[c - LONG_BASE];
    for (size_t i = 0; i < o->n; i++)
        if (o->table[i].short_name && o->table[i].short_name == c)
            return &o->table[i];
    return NULL;
}

int pk_opts_parse(const struct pk_opts *o, void *target, int argc, char **argv, int *next)
{
    struct option longs[MAX_OPTIONS + 1];
    char shorts[2 * MAX_OPTIONS + 2];
    if (getopt_args(o, longs, shorts, sizeof shorts) < 0) {
        fprintf(stderr, "%s: too many options in one table\n", o->prog);
        return PK_OPTS_BAD_VALUE;
    }
    int rc = o->flags & PK_OPTS_NO_ENV ? PK_OPTS_OK : apply_env(o, target);
    if (rc != PK_OPTS_OK && !(o->flags & PK_OPTS_KEEP_GOING))
        return rc;
    int early = (o->flags & PK_OPTS_EARLY_ONLY) != 0, c;
    optind = 0; /* 0, not 1: GNU getopt then reads the ordering of this optstring afresh */
    opterr = !early;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const struct pk_option *opt = entry_of(o, c);
        if (!opt) { /* getopt said why */
            if (early)
                continue;
            rc = rc == PK_OPTS_OK ? PK_OPTS_UNKNOWN : rc;
            if (!(o->flags & PK_OPTS_KEEP_GOING))
                break;
            continue;
        }
        if (!wanted(o, opt))
            continue;
        if (opt->kind == PK_OPT_HELP || opt->kind == PK_OPT_VERSION)
            return opt->kind == PK_OPT_HELP ? PK_OPTS_HELP : PK_OPTS_VERSION;
        char err[1024], source[80];
        snprintf(source, sizeof source, "--%s", opt->name);
        if (apply(opt, target, takes_value(opt) ? optarg : NULL, source, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", o->prog, err);
            rc = rc == PK_OPTS_OK ? PK_OPTS_BAD_VALUE : rc;
            if (!(o->flags & PK_OPTS_KEEP_GOING))
                break;
        }
    }
    if (next)
        *next = optind;
    return rc;
}

int pk_opts_set_token_file(void *target, const struct pk_option *opt, const char *value, const char *source, char *err,
                           size_t errlen)
{
    (void)source, (void)err, (void)errlen;
    struct pk_tls_opts *tls = field(target, opt);
    tls->token_file = value;
    tls->token = NULL; /* the flag wins over PICKET_TOKEN */
    return 0;
}

/* ------------------------------------------------------------------ --help */

void pk_opts_print(FILE *f, const struct pk_option *table, size_t n, int width, unsigned tags)
{
    for (size_t i = 0; i < n; i++) {
        const struct pk_option *opt = &table[i];
        if (!opt->help || (opt->tags && !(opt->tags & tags)))
            continue;
        char left[160];
        int len = snprintf(left, sizeof left, "  %s%s--%s%s%s", opt->short_name ? (char[]){'-', opt->short_name, 0} : "",
                           opt->short_name ? ", " : "", opt->name, opt->metavar ? " " : "",
                           opt->metavar ? opt->metavar : "");
        fputs(left, f);
        fprintf(f, "%*s", len < width ? width - len : 2, "");
        for (const char *p = opt->help; *p; p++) {
            fputc(*p, f);
            if (*p == '\n' && p[1])
                fprintf(f, "%*s", width, "");
        }
        size_t hl = strlen(opt->help);
        if (opt->env && !strstr(opt->help, opt->env)) /* a help ending in "\n" puts it on a line of its own */
            fprintf(f, "%*s(env %s)", hl && opt->help[hl - 1] == '\n' ? width : 1, "", opt->env);
        fputc('\n', f);
    }
}
