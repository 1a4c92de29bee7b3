/* store.h: everything the collector keeps, in PostgreSQL; the store's only public
 * face (collector/store/, one file per concern, is the only code that includes
 * libpq). One struct store is one database connection and is used by one thread
 * at a time; writer threads each open their own. */
#ifndef PK_STORE_H
#define PK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "check_meta.h"
#include "checks.h"
#include "histogram.h"
#include "result.h"

struct store;

struct store_probe_info {
    const char *name;
    const char *region;
    const struct pk_kv *labels;
    size_t n_labels;
    const char *version;
};

struct store_check_info {
    const char *name;
    const char *type;
    const char *target;
    int64_t interval_ms;
    /* Analytics metadata (migrations/006_check_meta.sql); NULL / 0: not given. */
    const char *service;
    struct pk_check_meta meta;
};

/* A known check as the query API sees it (store_check_meta). */
struct store_check_meta {
    char name[PK_NAME_MAX];
    char type[PK_TYPE_MAX];
    char service[PK_NAME_MAX]; /* "" when none */
    int64_t interval_ms;       /* 0 when not known */
    struct pk_check_meta meta;
};

/* One probe's results for one transaction. results are in increasing seq order. */
struct store_batch {
    int64_t probe_id;
    const struct pk_result *results;
    size_t n_results;
    uint64_t committed_seq; /* out: the probe's highest stored sequence after commit */
    size_t n_inserted;      /* out: rows actually inserted (duplicates skipped) */
};

struct store_status_region {
    char region[64];
    int64_t total;
    int64_t ok;
};

#define STORE_STATUS_MAX_REGIONS 16

struct store_status_row {
    char check_name[PK_NAME_MAX];
    char check_type[PK_TYPE_MAX];
    int64_t last_started_at_us; /* 0 when no result yet */
    int last_outcome;
    char last_message[PK_MESSAGE_MAX];
    int64_t last_total_us;
    int last_status_code;
    char last_probe[128];
    char last_region[64];
    int probes; /* probes that run it */
    size_t n_regions;
    struct store_status_region regions[STORE_STATUS_MAX_REGIONS]; /* last hour */
    /* The numbers of the last result (extract:, exec perfdata, burst and samples
     * figures), by name: npm audit's vulnerabilities, say. None when that result
     * has none (a plugin that could not run): no stale figure is shown as current. */
    char metrics_text[PK_MAX_METRICS * (PK_METRIC_NAME_MAX + 32)]; /* "name=value ..." as read */
    struct pk_metric last_metrics[PK_MAX_METRICS];
    int n_last_metrics;
    int64_t last_metrics_at_us; /* when that result started; 0: no numbers */
};

/* conninfo: a libpq URL or key=value string. NULL + err on failure. */
struct store *store_open(const char *conninfo, char *err, size_t errlen);
void store_close(struct store *s);
/* A second connection to s's database, opened on first use and closed with s,
 * for a read that runs on its own thread beside one on s (read_beside.h); its
 * deadline is set to s's each time. NULL with err when it cannot be opened. */
struct store *store_side(struct store *s, char *err, size_t errlen);
/* 0 when the database answers a trivial query; reconnects once if the link broke. */
int store_ping(struct store *s);

/* A caller's deadline (wall clock, microseconds; 0 clears it): statements started
 * after it fail with "the caller's deadline passed", and PostgreSQL stops one
 * still running then (statement_timeout). -1 with err when it has passed already
 * or the database refused (collector/store/deadline.c). */
int store_set_deadline(struct store *s, int64_t deadline_us, char *err, size_t errlen);

/* Migrations are compiled into the binary (see migrations.c, generated). */
int store_schema_version(struct store *s, int *version, char *err, size_t errlen);
int store_latest_schema_version(void);
/* Applies every known migration above the current version, one transaction each.
 * *applied receives how many ran. */
int store_migrate(struct store *s, int *applied, char *err, size_t errlen);
/* migrate --citus (store/citus.c): distributes results and the rollups by check_id
 * over `shards` shards (when not distributed yet), makes probes, checks and
 * credentials reference tables; idempotent. note() is told each table's state
 * ("now" or "already", and what it is); *converted: tables converted by this
 * call; *workers: the active workers. */
typedef void (*store_citus_note_fn)(void *user, const char *table, const char *when, const char *what);
int store_citus_distribute(struct store *s, int shards, store_citus_note_fn note, void *user, int *converted,
                           int *workers, char *err, size_t errlen);
/* 0 when the schema is exactly the one this binary knows; -1 + err otherwise. */
int store_check_schema(struct store *s, char *err, size_t errlen);

/* Creates or updates the probe (by name); returns its id and its committed seq. */
int store_upsert_probe(struct store *s, const struct store_probe_info *info, int64_t *probe_id,
                       uint64_t *committed_seq, char *err, size_t errlen);
/* Records which checks a probe runs (replacing its previous list) and upserts
 * their `checks` rows from what it sent, except that a check the current
 * central assignment version defines keeps that version's type, target,
 * interval and metadata (docs/CHECKS.md, "Check metadata"). */
int store_set_probe_checks(struct store *s, int64_t probe_id, const struct store_check_info *checks, size_t n,
                           char *err, size_t errlen);
/* Every known check with its metadata, by name. *rows is malloc'd; caller frees. */
int store_check_meta(struct store *s, struct store_check_meta **rows, size_t *n, char *err, size_t errlen);
/* Marks the probe seen now (heartbeats). */
int store_touch_probe(struct store *s, int64_t probe_id, char *err, size_t errlen);

/* What a heartbeat says about the probe's spool. */
struct store_heartbeat {
    uint64_t pending, dropped, spool_bytes; /* dropped: the probe's cumulative counter */
};
/* Marks n probes (distinct ids) seen and records their spool figures, in one
 * statement; the stored drop total grows by what each probe's counter grew (a
 * counter that restarted counts from 0). Ids not registered are skipped. */
int store_probe_heartbeats(struct store *s, const int64_t *probe_ids, const struct store_heartbeat *hbs, size_t n,
                           char *err, size_t errlen);

struct store_probe_row {
    char name[128];
    char region[64];
    int64_t last_seen_us;
    uint64_t pending, dropped, spool_bytes, committed_seq;
    int64_t checks_version;         /* central checks version it runs; 0: its local files */
    int64_t checks_refused_version; /* the last version it refused; 0: none since one was accepted */
    char checks_error[512];         /* why it refused that one */
};
/* Every probe, by name. *rows is malloc'd; caller frees. */
int store_probe_status(struct store *s, struct store_probe_row **rows, size_t *n, char *err, size_t errlen);
/* The regions probes are registered in, sorted (*out: one block, free()). */
int store_region_names(struct store *s, char ***out, size_t *n, char *err, size_t errlen);
/* A digest of the ids of the probes in region (md5 hex, 33 bytes with its
 * NUL): it changes when a probe joins or leaves the region, which changes
 * what the region's past rollups sum (the baseline cache keys on it). */
int store_region_probes_digest(struct store *s, const char *region, char *digest, size_t len, char *err,
                               size_t errlen);

/* Stores several probes' batches in ONE transaction: locks each probe's row, skips
 * results with seq <= the stored high-water mark, COPYs the rest, raises the mark,
 * commits. On -1 nothing was stored. */
int store_write_batches(struct store *s, struct store_batch *batches, size_t n, char *err, size_t errlen);

/* ---- round tracking (collector/store/tracker.c, migrations/017_round_tracking.sql):
 * round states and incidents kept as results arrive (docs/ANALYTICS.md, "The tracker"). */

struct store_track_config {
    int open_after, close_after; /* N, M */
    int quorum;                  /* 0: a majority of the check's regions */
    int64_t deadline_us;         /* a global round waits this long after its end for silent regions */
};

struct store_track_stats {
    uint64_t checks_folded, rounds_folded, errors;
};

/* Folds the rounds the (committed) batches touched, each check in its own
 * transaction under its advisory lock. 0, or -1 with err (the last failure;
 * the other checks are still folded). */
int store_track_batches(struct store *s, const struct store_batch *batches, size_t n,
                        const struct store_track_config *cfg, int64_t now_us, struct store_track_stats *st, char *err,
                        size_t errlen);
/* The same for spans of round times per check (collector/track_queue.c). */
struct store_track_span {
    char check[PK_NAME_MAX];
    int64_t t_min, t_max; /* scheduled (else started) times of its results */
};
int store_track_spans(struct store *s, const struct store_track_span *spans, size_t n,
                      const struct store_track_config *cfg, int64_t now_us, struct store_track_stats *st, char *err,
                      size_t errlen);
/* Decides the global rounds whose deadline passed (the deadline pass). */
int store_track_due(struct store *s, const struct store_track_config *cfg, int64_t now_us,
                    struct store_track_stats *st, char *err, size_t errlen);
/* Deletes the writers' per-round counts (round_cells, collector/store/round_cells.c)
 * older than they are read: a day and a half before now_us. */
int store_round_cells_prune(struct store *s, int64_t now_us, char *err, size_t errlen);

/* A stored incident (scope "*" is global). Times in µs; end/closed -1 while open. */
struct store_incident {
    char check_name[256];
    char scope[128];
    char regions[512]; /* comma-separated */
    int64_t start_round, opened_round, end_round, closed_round;
    int64_t start_us, opened_us, end_us, closed_us, interval_us, down_rounds;
    int open_after, close_after, quorum, maintenance;
};

/* Incidents of a check (NULL: every check) and scope ("*" global; NULL every
 * scope) that overlap [since, until): started before until and not ended
 * before since. Sorted by check, scope, start. *out malloc'd. */
int store_incidents_read(struct store *s, const char *check, const char *scope, int64_t since_us, int64_t until_us,
                         struct store_incident **out, size_t *n, char *err, size_t errlen);

/* A check's stored runs of one scope (NULL: every region scope, not the
 * global one; "": every scope) overlapping rounds [k_from, k_until), by scope
 * then round. */
struct store_round_run {
    char scope[128];
    int64_t from, to;
    int state;
    char regions[512]; /* comma-separated (global down runs) */
};
int store_round_runs_read(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                          struct store_round_run **out, size_t *n, char *err, size_t errlen);

/* The rule a check's rounds were tracked with; 0 when not tracked yet (no row). */
struct store_track_rule {
    int64_t interval_us, spread_us;
    int open_after, close_after, quorum;
};
int store_track_rule_read(struct store *s, const char *check, struct store_track_rule *out, char *err, size_t errlen);

/* Reads for many checks at once (store/tracked_reads.c): one statement each,
 * rows sorted by check name (strcmp order). 0 from store_tracked_batch_ok: use
 * the per-check reads (Citus, where these would go to every shard). */
int store_tracked_batch_ok(struct store *s);
struct store_track_rule_row {
    char check_name[PK_NAME_MAX];
    int64_t interval_us, spread_us;
    int open_after, close_after, quorum;
};
/* Every tracked check's rule. */
int store_track_rules_read_all(struct store *s, struct store_track_rule_row **out, size_t *n, char *err,
                               size_t errlen);
/* Reads the rules, the round counts of checks[0..n) over the rounds of [since,
 * until) and every incident overlapping [inc_since, inc_until) now, in three
 * statements, and answers store_track_rule_read, store_round_counts and
 * store_incidents_read from them (for what they cover) until
 * store_tracked_prefetch_end (or the next prefetch, or store_close): one
 * answer that covers every check then makes three statements, not several
 * per check (on Citus too: there each shard counts its own checks). 0, or -1
 * with err. */
int store_tracked_prefetch(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                           int64_t inc_since_us, int64_t inc_until_us, char *err, size_t errlen);
/* The same with the round counts of one scope only ("*" global, or a region;
 * NULL: every scope): store_round_counts of another scope then reads the runs.
 * An answer that needs one scope (incidents) skips the regions' runs, which
 * are most of them. */
int store_tracked_prefetch_scope(struct store *s, const char *const *checks, size_t n, int64_t since_us,
                                 int64_t until_us, int64_t inc_since_us, int64_t inc_until_us, const char *scope,
                                 char *err, size_t errlen);
void store_tracked_prefetch_end(struct store *s);
struct store_round_count_row {
    char check_name[PK_NAME_MAX];
    char scope[128];
    int64_t up, down;
};
/* Up and down rounds per scope of checks[i] in its rounds [k_from[i],
 * k_until[i]), by check, scope. */
int store_round_counts_read_many(struct store *s, const char *const *checks, const int64_t *k_from,
                                 const int64_t *k_until, size_t n_checks, struct store_round_count_row **out,
                                 size_t *n, char *err, size_t errlen);
/* Up and down rounds of one check in its rounds [k_from, k_until), one row
 * per scope (scope: only that one, "*" global or a region; NULL: every
 * scope), from the runs' running totals: a few primary-key lookups per scope,
 * never the runs in between (the statement store_tracked_prefetch runs for
 * many checks). *out is malloc'd. */
int store_round_counts_one(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                           struct store_round_count_row **out, size_t *n, char *err, size_t errlen);
/* From the prefetch (store_tracked_prefetch) when it holds check's rounds
 * [k_from, k_until) exactly: 1 with the up and down rounds of scope ("*" global,
 * or a region); 0 when it does not (read the runs). */
int store_round_counts(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                       int64_t *up, int64_t *down);

/* picketctl status: one row per known check. *rows is malloc'd; caller frees.
 * -2 when check_name is given and not known. */
int store_status(struct store *s, const char *check_name, struct store_status_row **rows, size_t *n, char *err,
                 size_t errlen);
/* The same rows without the last hour's counts per region (regions[] empty):
 * each check's last result and metrics, for the report. */
int store_last_results(struct store *s, const char *check_name, struct store_status_row **rows, size_t *n, char *err,
                       size_t errlen);

/* ---- credentials (migrations/004_credentials.sql): only SHA-256 hashes of tokens. */

/* Stores a new credential with the token's hash (64 hex digits). For PK_ROLE_PROBE
 * name is the probe's name, and the probe row is created (in region, "default"
 * when NULL or empty) if it does not exist yet. *id receives the credential id. */
int store_credential_add(struct store *s, enum pk_role role, const char *name, const char *region,
                         const char *token_hash_hex, int64_t *id, char *err, size_t errlen);
/* Finds the live (not revoked) credential with this token hash: 1 with *who and
 * *id filled, 0 when there is none, -1 + err when the database failed. */
int store_credential_lookup(struct store *s, const char *token_hash_hex, struct pk_identity *who, int64_t *id,
                            char *err, size_t errlen);
/* Revokes live credentials: the one with id when id > 0, else all with role and
 * name. *revoked receives how many were revoked (0 is not an error). */
int store_credential_revoke(struct store *s, int64_t id, enum pk_role role, const char *name, long *revoked,
                            char *err, size_t errlen);
/* The name of probe probe_id: 1 with name filled, 0 when there is no such probe. */
int store_probe_name(struct store *s, int64_t probe_id, char *name, size_t namelen, char *err, size_t errlen);
/* Of the credential ids ids[0..n-1], which are revoked or gone: dead[i] = 1 for
 * those, 0 for the live ones. One query, whatever n (open streams re-check
 * their credentials with it every second or so). */
int store_credentials_dead(struct store *s, const int64_t *ids, size_t n, unsigned char *dead, char *err,
                           size_t errlen);
/* A check a probe may send results for: registered by it or assigned to it,
 * now or before (migrations/016_probe_check_history.sql), with a type it had. */
struct store_probe_check {
    char name[128];
    char type[16];
    int64_t id; /* the check's id (checks are never renamed or deleted) */
};
/* The (check, type, id) of probe probe_id's history, sorted by name then type
 * in byte order (strcmp). *out is malloc'd (NULL when n is 0); the caller frees it. */
int store_probe_check_types(struct store *s, int64_t probe_id, struct store_probe_check **out, size_t *n, char *err,
                            size_t errlen);
/* A Hello's two reads in one statement: store_probe_name's (1 when the probe
 * exists, 0 when not) and, when it exists, store_probe_check_types' *out and *n. */
int store_probe_hello(struct store *s, int64_t probe_id, char *name, size_t namelen, struct store_probe_check **out,
                      size_t *n, char *err, size_t errlen);

/* ---- central check assignment (migrations/003_assignment.sql) ---- */

struct store_assign_file {
    const char *origin;  /* the file name given to picketctl apply */
    const char *vars;    /* its vars: block, normalised; NULL when none */
    const char *secrets; /* its secrets: block, normalised; NULL when none */
};

struct store_assign_check {
    const char *name;
    size_t file_index; /* into the files array */
    const char *definition;
    const struct pk_kv *keys; /* top-level key -> normalised value */
    size_t n_keys;
    char *const *regions; /* selector */
    size_t n_regions;
    const struct pk_kv *labels; /* selector */
    size_t n_labels;
    const char *type;
    const char *target;
    int64_t interval_ms;
    /* Analytics metadata as the check defines it (migrations/008); NULL / 0: not given. */
    const char *service;
    struct pk_check_meta meta;
};

struct store_assign_change {
    char name[PK_NAME_MAX];
    char change[8];  /* "added", "removed", "changed" */
    char keys[1024]; /* changed keys, comma-separated, sorted ("vars"/"secrets": the file's blocks) */
};

/* Compares the given set with the current version. commit=0 (diff) changes
 * nothing; commit=1 (apply) stores the set as version current+1 in one
 * transaction when anything differs (*created=1), else stores no version.
 * Either way an apply then makes the `checks` rows of the checks the current
 * version defines carry its type, target, interval and metadata (service,
 * budgets, SLO), in the same transaction: queries see an edited budget at once.
 * Checks no probe has reported yet get their row when a probe acknowledges.
 * *version: the version current afterwards. *changes is malloc'd (caller frees). */
int store_assign_apply(struct store *s, const struct store_assign_file *files, size_t n_files,
                       const struct store_assign_check *checks, size_t n_checks, int commit, int64_t *version,
                       int *created, struct store_assign_change **changes, size_t *n_changes, char *err,
                       size_t errlen);
/* The current version, 0 when none was ever applied. Cheap (primary key). */
int store_assign_current(struct store *s, int64_t *version, char *err, size_t errlen);

/* One document of a version for one probe: a check file holding the checks of
 * one source file that select the probe (by its stored region and labels). */
struct store_assign_doc {
    char *origin; /* malloc'd */
    char *yaml;   /* malloc'd */
};
int store_assign_documents(struct store *s, int64_t version, int64_t probe_id, struct store_assign_doc **docs,
                           size_t *n, char *err, size_t errlen);
void store_assign_documents_free(struct store_assign_doc *docs, size_t n);
/* Records a probe's answer to a version. Accepted: probes.checks_version,
 * the `checks` rows (with metadata) of that version's checks for the probe,
 * and, so status counts stay right, probe_checks become those checks.
 * Refused: only checks_error. */
int store_assign_ack(struct store *s, int64_t probe_id, int64_t version, int accepted, const char *error,
                     char *err, size_t errlen);

/* ---- partitions and rollups (migrations/005_partitions_rollups.sql,
 * docs/ANALYTICS.md "Storage and rollups") ---- */

/* Rollups on (default) or off for this connection's store_write_batches: on,
 * each stored group also writes its per-(check, probe, minute) partial rows in
 * the same transaction. Off is for the rollups-on/off benchmark. */
void store_set_rollups(struct store *s, int on);

/* Makes the daily partitions of results covering [from_us, to_us) (UTC days);
 * *created receives how many were new. */
int store_make_partitions(struct store *s, int64_t from_us, int64_t to_us, int *created, char *err, size_t errlen);
/* Days of results partitioned ahead of now by the leader's upkeep and by
 * `picket-collector migrate`. */
#define STORE_PARTITIONS_AHEAD_DAYS 3
/* The partitions the upkeep keeps: yesterday to now + ahead_days. */
int store_make_current_partitions(struct store *s, int64_t now_us, int ahead_days, int *created, char *err,
                                  size_t errlen);
/* The collector's periodic job: partitions for yesterday to now + ahead_days,
 * and for any day with rows waiting in results_default; then drops partitions
 * (and minute rollups) older than retention_days. */
int store_maintain_partitions(struct store *s, int64_t now_us, int ahead_days, int retention_days, int *created,
                              int *dropped, char *err, size_t errlen);

/* Folds every partial rollup row of a minute before floor_minute(now_us) -
 * bound_us into rollup_minute, rollup_hour and rollup_day (merged in C),
 * deleting the partial rows in the same transaction; idempotent, and safe with
 * several collectors. *folded: partial entries (check, probe, minute) folded. */
int store_rollup_compact(struct store *s, int64_t now_us, int64_t bound_us, uint64_t *folded, char *err,
                         size_t errlen);

enum store_rollup_group { STORE_ROLLUP_BY_PROBE = 0, STORE_ROLLUP_BY_REGION = 1, STORE_ROLLUP_BY_CHECK = 2 };

struct store_rollup_filter {
    int64_t since_us, until_us; /* [since, until), each truncated to its minute */
    const char *check;          /* NULL: every check */
    const char *const *checks;  /* with check NULL and n_checks > 0: only these checks (a report's chunk) */
    size_t n_checks;
    const char *probe;          /* NULL: every probe */
    const char *region;         /* NULL: every region */
    enum store_rollup_group group;
    int64_t bucket_us; /* 0: the whole window; else a series of buckets this wide (whole minutes) from since */
    int align; /* 1: buckets start at multiples of bucket_us from the Unix epoch (UTC), the first and last
                * clipped to the window (each labelled with its clipped start): whole hours and days are
                * read from the hour and day levels instead of minutes */
    int counts_only; /* 1: the counts only: no histogram is read nor decoded (the rows' hist is empty) */
    int p95_only;    /* 1: of each row's histogram only its p95 (p95_us) and count are given, not copied */
};

struct store_rollup_row {
    char check_name[PK_NAME_MAX];
    char group[128]; /* the probe's name, the region, or "*" (STORE_ROLLUP_BY_CHECK) */
    int64_t bucket_start_us;
    uint64_t ok, degraded, failed, unknown;
    struct pk_hist hist; /* total_us of the results that had one */
    double p95_us;       /* with p95_only: the p95 of hist (NaN: empty), whose count only is set */
};

#define STORE_ROLLUP_MAX_BUCKETS 10000

/* Per (check, probe or region[, bucket]) over the window, from the coarsest
 * rollup level that covers each part exactly plus the partial rows not yet
 * compacted, read in one snapshot, merged in C. Groups with no results are
 * absent. Rows sorted by check name, group, bucket. *rows is malloc'd: free(). */
int store_rollup_query(struct store *s, const struct store_rollup_filter *f, struct store_rollup_row **rows,
                       size_t *n, char *err, size_t errlen);
/* The same into the caller's buffer *rows of *cap rows (NULL and 0 at first),
 * grown as needed and kept for the next read, freed by the caller: reads one
 * after the other reuse memory already touched instead of faulting in fresh
 * pages (a row holds a 9 kB histogram; a report for one region reads 200 chunks
 * of 3,500 rows). On error *n is 0 and the buffer is still the caller's. */
int store_rollup_query_into(struct store *s, const struct store_rollup_filter *f, struct store_rollup_row **rows,
                            size_t *n, size_t *cap, char *err, size_t errlen);

/* The same rows handed one at a time to fn, in the same order, without a copy
 * of their histograms (valid during the call only): fn returns 0 to go on, -2
 * when out of memory, -1 with its own message in err (set err[0] to 0 before). */
struct store_rollup_entry {
    const char *check_name, *group;
    int64_t bucket_start_us;
    uint64_t ok, degraded, failed, unknown;
    const struct pk_hist *hist;
};
typedef int (*store_rollup_each_fn)(void *ctx, const struct store_rollup_entry *e);
int store_rollup_query_each(struct store *s, const struct store_rollup_filter *f, store_rollup_each_fn fn, void *ctx,
                            char *err, size_t errlen);

/* One (check, hour) over every probe (rollup_check_hour, store/check_hours.c):
 * the counts and the p95 of the histogram merged over the probes (NaN when it
 * holds nothing), what store_rollup_query by check with hourly buckets gives. */
struct store_check_hour {
    int check; /* index into the checks asked for */
    int64_t hour_us;
    uint64_t ok, degraded, failed, unknown, hist_count;
    double p95_us;
};
/* The summaries of checks[0..n) for the hours starting in [since, until) (whole
 * hours), sorted by check (its index in checks) then hour; hours with rows not
 * compacted yet are taken from the histograms. *out malloc'd. 0, or -1 with err. */
int store_check_hours_read(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                           struct store_check_hour **out, size_t *nout, char *err, size_t errlen);
/* The same summaries over the probes of one region (as store_rollup_query
 * with .region and hourly buckets gives them): the packed days of
 * region_hour_days (migration 044) where the region's packs hold, the rest
 * from the rollups, a few checks a read. */
int store_region_hours_read(struct store *s, const char *const *checks, size_t n, const char *region,
                            int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout,
                            char *err, size_t errlen);
/* The whole days starting in [since, until) of checks[0..n) over every probe
 * (rollup_check_day), sorted by check then day, each as a store_check_hour
 * (hour_us: the day's start): its counts and the p95 of its histogram (NaN:
 * none), what store_rollup_query by check with daily buckets gives. *partial
 * is 1 (and nothing is read) when some of those days still have rows not
 * compacted: read them through store_rollup_query. 0, or -1 with err. */
int store_check_days_p95(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                         struct store_check_hour **out, size_t *nout, int *partial, char *err, size_t errlen);
/* What the summaries of checks[0..n) are at (check_hour_marks, migration 028):
 * each check's id (0: not known) and counter, raised whenever a summary of an
 * hour that had ended was rewritten; *dirty is 1 when some hour in [since,
 * until) still has rows not compacted (store_check_hours_read then reads
 * histograms). Read before the summaries they vouch for. 0, or -1 with err. */
struct store_check_mark {
    int64_t check_id, seq;
    int64_t pruned; /* the highest counter whose rewrite record is deleted (migration 038) */
};
int store_check_hours_marks(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                            struct store_check_mark *marks, int *dirty, char *err, size_t errlen);
/* For each check_ids[i], the earliest hour rewritten after its counter was
 * since_seq[i] (check_hour_rewrites, migration 038), INT64_MAX: none recorded
 * (the caller compares the counters and the pruned mark). 0, or -1 with err. */
int store_check_hours_rewritten(struct store *s, const int64_t *check_ids, const int64_t *since_seq, size_t n,
                                int64_t *from_us, char *err, size_t errlen);

/* One hour of one check's fast-half summary (rollup_check_hour.fast, migration
 * 043): an opaque value the collector computes from the hour's minute rows
 * (collector/regression_rule.c) and stores back while the row is unchanged. */
#define STORE_CHECK_FAST_LEN 98
struct store_check_fast {
    int row;      /* the check has a summary row for the hour */
    int dirty;    /* some result of the hour is not compacted yet (rollup_partial) */
    int has;      /* fast is stored (row and not dirty) */
    uint64_t total; /* the row's ok + degraded + failed + unknown */
    uint8_t fast[STORE_CHECK_FAST_LEN];
};
/* The hours [from, to) (whole hours) of one check, one entry per hour in order
 * (*out malloc'd, (to - from) / 1 h entries). 0, or -1 with err. */
int store_check_fast_read(struct store *s, const char *check, int64_t from_us, int64_t to_us,
                          struct store_check_fast **out, char *err, size_t errlen);
/* The same for checks[0..n_checks) in one read: check c's hour k at
 * (*out)[c * hours + k]. */
int store_check_fast_read_many(struct store *s, const char *const *checks, size_t n_checks, int64_t from_us,
                               int64_t to_us, struct store_check_fast **out, char *err, size_t errlen);
/* Stores v[i] as the summary of check's hour hours[i] where that row has no
 * summary and its counts add up to totals[i] (the minute rows it was computed
 * from): a row the compaction rewrote meanwhile keeps NULL. *written: the rows
 * stored. 0, or -1 with err. */
int store_check_fast_write(struct store *s, const char *check, const int64_t *hours, const uint64_t *totals,
                           const uint8_t (*v)[STORE_CHECK_FAST_LEN], size_t n, size_t *written, char *err,
                           size_t errlen);

/* One metric's median over the successful results of one hour. */
struct store_metric_point {
    char metric[64];
    int64_t hour_us;
    double median;
};
/* The hourly medians of every numeric metric check extracts, over [since, until)
 * (region NULL: all), sorted by metric name then hour; at most 20,000 rows.
 * Reads raw results (collector/store/metrics.c). *out is malloc'd: free(). */
int store_metric_hourly(struct store *s, const char *check, const char *region, int64_t since_us, int64_t until_us,
                        struct store_metric_point **out, size_t *n, char *err, size_t errlen);
/* The same for one metric (metric NULL: every metric, as store_metric_hourly). */
int store_metric_hourly_of(struct store *s, const char *check, const char *region, const char *metric,
                           int64_t since_us, int64_t until_us, struct store_metric_point **out, size_t *n, char *err,
                           size_t errlen);
/* One metric's medians in windows of width_us (aligned to the epoch; hour_us is
 * then the window's start) over [since, until), sorted by window; at most 20,000
 * rows. For the regression rule's fast half on a metric. *out malloc'd: free(). */
int store_metric_windows_of(struct store *s, const char *check, const char *region, const char *metric,
                            int64_t since_us, int64_t until_us, int64_t width_us, struct store_metric_point **out,
                            size_t *n, char *err, size_t errlen);

/* ---- rollup backfill (docs/ANALYTICS.md, "Backfill") ---- */

struct store_backfill_day {
    int64_t day_us;             /* the UTC day (on_day); 0 in the total */
    int days, days_skipped;     /* in the total: days rebuilt, days without raw results (left alone) */
    uint64_t results;           /* raw results read */
    uint64_t minutes;           /* minute rows written */
    uint64_t partials_replaced; /* partial rows deleted (their results were read raw) */
};
typedef void (*store_backfill_cb)(void *user, const struct store_backfill_day *day);

/* Rebuilds rollup_minute, rollup_hour and rollup_day from the raw results for
 * every UTC day that intersects [since_us, until_us) and has raw results: one
 * REPEATABLE READ transaction per day, holding the compaction's advisory lock,
 * deletes the day's rollup rows and its partial rows and writes them again from
 * `results` (merged in C). Idempotent; safe while collectors ingest and
 * compact. A day without raw results is left as it is. on_day (may be NULL)
 * is called after each day commits; *total sums them. */
int store_rollup_backfill(struct store *s, int64_t since_us, int64_t until_us, store_backfill_cb on_day, void *user,
                          struct store_backfill_day *total, char *err, size_t errlen);

struct store_rollup_coverage {
    int has_rollups;
    int64_t first_rollup_us;    /* the oldest minute/hour/day of any rollup row */
    int results_before_rollups; /* raw results older than that (or any, when there are no rollups) */
    int has_results;
    int64_t oldest_result_day_us; /* the oldest UTC day holding raw results */
};
/* Cheap (index probes): for `migrate`'s notice and rollup-backfill's default window. */
int store_rollup_coverage(struct store *s, struct store_rollup_coverage *c, char *err, size_t errlen);

/* ---- alerting (migrations/007_alerts.sql, docs/ALERTS.md) ---- */

/* The installation's leader lock (lock_keys.h), a session-level advisory lock:
 * store_leader_try takes it if free (1 taken or already held by this session, 0
 * held by another, -1 error); store_leader_held says whether this session still
 * holds it (1, 0, -1). A collector that dies (even kill -9) releases it with its
 * session. Used only by collector/leader.c, on a connection of its own. */
int store_leader_try(struct store *s, char *err, size_t errlen);
int store_leader_held(struct store *s, char *err, size_t errlen);

/* One raw result for the alert rules: its check, its probe's region. */
struct store_alert_round {
    char check[PK_NAME_MAX];
    char region[64];
    int64_t at_us;
    int outcome;
    int64_t total_us; /* -1 when none */
};
/* Results with started_at >= since_us, ordered by check name, started_at. */
int store_alert_rounds(struct store *s, int64_t since_us, struct store_alert_round **rows, size_t *n, char *err,
                       size_t errlen);

struct store_alert_state {
    char rule[PK_NAME_MAX];
    char subject[PK_NAME_MAX];
    int firing;
    int64_t since_us, last_change_us;
    int flips;
    int64_t flap_window_start_us;
    int flapping;
    int64_t last_notified_us; /* 0: never */
    int notified_firing;
    int has_value;
    double value;
    char summary[512];
};
/* Every stored alert state. *rows is malloc'd: free(). */
int store_alert_states(struct store *s, struct store_alert_state **rows, size_t *n, char *err, size_t errlen);

struct store_outbox_new {
    const char *receiver;
    const char *event_key; /* unique per receiver: a second insert is a no-op */
    const char *group_key;
    const char *payload;   /* JSON: one alert in the receiver's format */
    int64_t delay_ms;      /* first attempt not before now + delay_ms (group_wait) */
};
/* Upserts st and enqueues the events in ONE transaction. */
int store_alert_save(struct store *s, const struct store_alert_state *st, const struct store_outbox_new *ev, size_t n,
                     char *err, size_t errlen);

struct store_outbox_row {
    int64_t id;
    char receiver[PK_NAME_MAX];
    char event_key[512];
    char group_key[512];
    char *payload; /* malloc'd */
    int attempts;
};
/* Undelivered rows whose next_attempt has come, oldest first, at most limit. */
int store_outbox_due(struct store *s, int limit, struct store_outbox_row **rows, size_t *n, char *err, size_t errlen);
void store_outbox_free(struct store_outbox_row *rows, size_t n);
/* delivered: delivered_at = now(); else attempts + 1, last_error, next_attempt = now + retry_ms. */
int store_outbox_mark(struct store *s, int64_t id, int delivered, const char *error, int64_t retry_ms, char *err,
                      size_t errlen);

/* Exposed for unit tests: encode one result as a COPY text-format line
 * (tab-separated, '\n'-terminated, with COPY escaping). Returns bytes written
 * or -1 if buf is too small. Column order is STORE_RESULT_COLUMNS. */
#define STORE_RESULT_COLUMNS                                                                                   \
    "probe_id, seq, check_id, started_at, outcome, error_class, status_code, body_bytes, dns_us, connect_us, " \
    "tls_us, ttfb_us, total_us, message, metrics, scheduled_at"
long store_encode_result_row(char *buf, size_t size, int64_t probe_id, int64_t check_id, const struct pk_result *r);
/* The same row for COPY ... (FORMAT binary), which the writers use (no text to
 * parse on the server); same columns, NULLs and -1 cases. */
long store_encode_result_row_binary(char *buf, size_t size, int64_t probe_id, int64_t check_id,
                                    const struct pk_result *r);
/* COPY text escaping of one field value; returns bytes written or -1. */
long store_copy_escape(char *buf, size_t size, const char *value);

/* ---- prefetch.c: the tables the reports read, into the kernel's page cache
 * at start (pg_prewarm's 'prefetch' mode), so that a first report after a
 * reboot reads them sequentially instead of block by block. */
extern const char *const store_prefetch_tables[]; /* most wanted first */
extern const size_t store_prefetch_tables_n;
struct store_prefetch_stats {
    int installed;            /* pg_prewarm is installed (else nothing was done) */
    int relations, skipped;   /* relations (tables, indexes) prefetched; left out for the budget */
    int failed;               /* refused by the server (err: the last refusal) */
    int64_t bytes, skipped_bytes;
};
/* CREATE EXTENSION IF NOT EXISTS pg_prewarm: 0 done, 1 not possible (why: the
 * server's message, e.g. a role that may not create it). `migrate` calls it. */
int store_prefetch_install(struct store *s, char *why, size_t whylen);
/* Each listed table and its indexes, whole, in the list's order, while their
 * sizes fit in what is left of budget_bytes (a relation too large is skipped,
 * smaller ones after it still fit). Nothing (0, out->installed 0) without
 * pg_prewarm. The kernel reads ahead of each posix_fadvise; 850 MB took 0.7 s
 * from disk here (docs/PERFORMANCE.md, "Read ahead at start"). */
int store_prefetch(struct store *s, int64_t budget_bytes, struct store_prefetch_stats *out, char *err,
                   size_t errlen);

#endif
