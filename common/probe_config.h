/* probe_config.h: who a probe is and where it sends results.
 * Sources, later ones winning: built-in defaults, the YAML file given by
 * --config / PICKET_PROBE_CONFIG, environment (PICKET_PROBE_NAME, PICKET_REGION,
 * PICKET_LABELS="k=v,k2=v2", PICKET_COLLECTOR="host:port[,host:port]",
 * PICKET_CHECKS="file[,file]", PICKET_VARS="k=v,k2=v2", PICKET_SPOOL_DIR,
 * PICKET_SPOOL_CAP, PICKET_SPOOL_FSYNC), then command-line flags.
 * The config file's `vars:` map and --var K=V give the check files' variables. */
#ifndef PK_PROBE_CONFIG_H
#define PK_PROBE_CONFIG_H

#include <stddef.h>

#include "checks.h"

#define PK_PROBE_MAX_LIST 16
#define PK_PROBE_MAX_VARS 64

struct pk_probe_config {
    char name[128];                /* default: hostname */
    char region[64];               /* default: "default" */
    struct pk_kv labels[PK_PROBE_MAX_LIST];
    size_t n_labels;
    /* Variables for the check files ({{name}}), overriding the files' own `vars:`.
     * Unlike the lists, later sources MERGE key by key. */
    struct pk_kv vars[PK_PROBE_MAX_VARS];
    size_t n_vars;
    char *collectors[PK_PROBE_MAX_LIST]; /* "ipv4:127.0.0.1:7700" style gRPC targets */
    size_t n_collectors;
    char *check_files[PK_PROBE_MAX_LIST];
    size_t n_check_files;
    int batch_max;                 /* results per batch, default 500 */
    int flush_ms;                  /* max wait before sending a partial batch, default 200 */
    int heartbeat_ms;              /* default 10000 */
    char spool_dir[1024];          /* default: $STATE_DIRECTORY/spool, else var/spool/<name> */
    unsigned long long spool_cap;  /* bytes, default 256 MiB */
    int spool_fsync_ms;            /* 0 always, -1 never, else the longest unsynced; default 1000 */
};

/* "256M", "1G", "65536" (K, M, G are powers of 1024). -1 when malformed or < 64 KiB. */
int pk_probe_config_parse_size(const char *s, unsigned long long *out);
/* "always", "never" or a duration ("1s", "250ms"). -1 when malformed. */
int pk_probe_config_parse_fsync(const char *s, int *ms);
/* The spool directory to use: the configured one, or the default above. */
void pk_probe_config_spool_dir(const struct pk_probe_config *cfg, char *out, size_t outlen);

void pk_probe_config_defaults(struct pk_probe_config *cfg);
/* Load YAML keys name, region, labels (map), collectors (list), checks (list),
 * batch_max, flush_ms, heartbeat_ms, vars, spool_dir, spool_cap, spool_fsync. -1 with "path:line:col: reason" on error. */
int pk_probe_config_load_file(struct pk_probe_config *cfg, const char *path, char *err, size_t errlen);
/* Apply the PICKET_* environment variables above. -1 with the variable named on error. */
int pk_probe_config_load_env(struct pk_probe_config *cfg, char *err, size_t errlen);
/* Helpers for flags: "k=v,k2=v2" and "a,b". -1 with err on malformed input. */
/* "k=v" (one variable; the value may contain ',' and '='). */
int pk_probe_config_set_var(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen);
int pk_probe_config_set_labels(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen);
int pk_probe_config_add_collectors(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen);
int pk_probe_config_add_check_files(struct pk_probe_config *cfg, const char *spec, char *err, size_t errlen);
void pk_probe_config_free(struct pk_probe_config *cfg);

#endif
