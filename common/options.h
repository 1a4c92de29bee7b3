/* options.h: one table of command-line options per binary (and per picketctl
 * command), applied by one parser: environment variables first, then the command
 * line (which wins), each value checked and stored by its kind, and --help
 * generated from the same table, so parsing, help and the manual pages cannot
 * drift apart (tests/integration/test_deploy.py compares them). */
#ifndef PK_OPTIONS_H
#define PK_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

enum pk_opt_kind {
    PK_OPT_FLAG,      /* no value: the int at offset becomes 1 */
    PK_OPT_STRING,    /* const char * at offset, borrowed from argv or environ */
    PK_OPT_INT,       /* int at offset, an integer in min..max */
    PK_OPT_LLONG,     /* long long at offset, an integer in min..max */
    PK_OPT_DOUBLE,    /* double at offset, a number in min..max */
    PK_OPT_LOG_LEVEL, /* debug|info|warn|error, applied with pk_log_set_level */
    PK_OPT_CALL,      /* the entry's setter decides; it takes a value when metavar is set */
    PK_OPT_HELP,      /* the parser returns PK_OPTS_HELP */
    PK_OPT_VERSION,   /* the parser returns PK_OPTS_VERSION */
};

struct pk_option;
/* A PK_OPT_CALL setter: opt is its entry (opt->offset says where in target);
 * value is NULL for an option without a value; source is "--name" or the
 * environment variable's name. 0, or -1 with the whole message (after "PROG: ")
 * in err. */
typedef int (*pk_opt_setter)(void *target, const struct pk_option *opt, const char *value, const char *source,
                             char *err, size_t errlen);

/* Entry flags. */
#define PK_OPTF_ENV_ELSEWHERE 1u /* env is read by other code and only named by --help */
#define PK_OPTF_EARLY 2u         /* applied by a PK_OPTS_EARLY_ONLY pass (the probe's --config) */

struct pk_option {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0: none */
    enum pk_opt_kind kind;
    const char *env;       /* environment variable, NULL: none; an empty one counts as unset */
    size_t offset;         /* where the value goes in the target struct */
    double min, max;       /* PK_OPT_INT, PK_OPT_LLONG, PK_OPT_DOUBLE bounds */
    const char *range_text; /* the error's "must be X" (default "an integer in MIN..MAX") */
    pk_opt_setter set;     /* PK_OPT_CALL */
    const char *metavar;   /* the value's name in --help; NULL for options without one */
    const char *help;      /* NULL: parsed but not listed by --help */
    unsigned flags;        /* PK_OPTF_* */
    unsigned tags;         /* 0: listed always; else listed when a pk_opts_print tag matches */
};

/* Parser flags. */
#define PK_OPTS_IN_ORDER 1u    /* stop at the first non-option (a command name) */
#define PK_OPTS_KEEP_GOING 2u  /* report every bad option, not only the first */
#define PK_OPTS_EARLY_ONLY 4u  /* silent pre-pass: apply only PK_OPTF_EARLY entries, help, version */
#define PK_OPTS_NO_ENV 8u      /* do not read environment variables */

struct pk_opts {
    const char *prog;               /* message prefix: "picket-collector", "picketctl latency" */
    const struct pk_option *table;
    size_t n;
    unsigned flags;                 /* PK_OPTS_* */
};

/* What pk_opts_parse returns. */
enum {
    PK_OPTS_OK = 0,
    PK_OPTS_HELP = 1,        /* a PK_OPT_HELP option was given */
    PK_OPTS_VERSION = 2,     /* a PK_OPT_VERSION option was given */
    PK_OPTS_BAD_VALUE = -1,  /* a value (or variable) did not parse; the message is printed */
    PK_OPTS_UNKNOWN = -2,    /* an unknown option or a missing value; getopt printed it */
};

/* Applies the environment, then argv[1..], to target. argv[0] names the program
 * in getopt's own messages. *next (may be NULL) gets the index of the first
 * operand: with PK_OPTS_IN_ORDER the command, else (operands are moved behind the
 * options, as getopt_long does) the first of them. Errors are printed to stderr
 * as "PROG: message". Uses getopt_long, so --name=value, --name value,
 * unambiguous prefixes and "--" work as usual. */
int pk_opts_parse(const struct pk_opts *o, void *target, int argc, char **argv, int *next);

/* Checks value as an entry of kind PK_OPT_INT/LLONG/DOUBLE would, for setters
 * that need more than a range; *out gets the number. 0, or -1 with
 * "SOURCE must be ..., got 'VALUE'" in err. */
int pk_opts_number(const struct pk_option *opt, const char *value, const char *source, double *out, char *err,
                   size_t errlen);

/* Prints the entries that have help (and whose tags are 0 or match tags) as
 * "  -s, --name METAVAR   help (env VAR)", the help starting at column width;
 * newlines in help continue at that column. */
/* Setter of --token-file (entry offset: a struct pk_tls_opts): the flag wins
 * over PICKET_TOKEN. */
int pk_opts_set_token_file(void *target, const struct pk_option *opt, const char *value, const char *source, char *err,
                           size_t errlen);

/* The client TLS flags of the probe and picketctl; member is the struct
 * pk_tls_opts in type, filled from the environment by pk_tls_opts_from_env. */
#define PK_OPTS_TLS_CLIENT(type, member)                                                                              \
    {.name = "tls-ca", .kind = PK_OPT_STRING, .env = "PICKET_TLS_CA", .flags = PK_OPTF_ENV_ELSEWHERE,                 \
     .offset = offsetof(type, member.ca_file), .metavar = "FILE",                                                     \
     .help = "CA certificate the collector's certificate must chain to"},                                            \
        {.name = "tls-cert", .kind = PK_OPT_STRING, .env = "PICKET_TLS_CERT", .flags = PK_OPTF_ENV_ELSEWHERE,         \
         .offset = offsetof(type, member.cert_file), .metavar = "FILE",                                               \
         .help = "client certificate, CN probe:NAME, read:WHO or write:WHO"},                                        \
        {.name = "tls-key", .kind = PK_OPT_STRING, .env = "PICKET_TLS_KEY", .flags = PK_OPTF_ENV_ELSEWHERE,           \
         .offset = offsetof(type, member.key_file), .metavar = "FILE", .help = "its private key"},                   \
        {.name = "token-file", .kind = PK_OPT_CALL, .set = pk_opts_set_token_file, .env = "PICKET_TOKEN_FILE",        \
         .flags = PK_OPTF_ENV_ELSEWHERE, .offset = offsetof(type, member), .metavar = "FILE",                         \
         .help = "bearer token instead of a client certificate (env PICKET_TOKEN_FILE,\n"                            \
                 "or the token itself in PICKET_TOKEN); still needs --tls-ca"},                                      \
    {                                                                                                                 \
        .name = "insecure-plaintext", .kind = PK_OPT_FLAG, .offset = offsetof(type, member.insecure_plaintext),      \
        .help = "no TLS, no credentials: development only (warns at every start)"                                     \
    }

void pk_opts_print(FILE *f, const struct pk_option *table, size_t n, int width, unsigned tags);

#endif
