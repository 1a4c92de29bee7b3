/* assign.h: turns check files sent to AdminService into what the store keeps
 * for central assignment. Knows neither gRPC nor libpq. */
#ifndef PK_ASSIGN_H
#define PK_ASSIGN_H

#include <stddef.h>

#include "store.h"

struct assign_input {
    const char *name;    /* file name as the operator gave it */
    const char *content;
    size_t len;
};

/* The loaded files and the store's view of them; pointers into `sets`. */
struct assign_set {
    struct pk_checkset *sets; /* one per file */
    size_t n_sets;
    struct store_assign_file *files;
    struct store_assign_check *checks;
    size_t n_checks;
};

/* Validates every file with the check loader (environment deferred to the
 * probes), all or nothing; names must be unique across files. -1 with
 * "file:line:col: reason" in err. */
int assign_load(const struct assign_input *in, size_t n, struct assign_set *out, char *err, size_t errlen);
void assign_free(struct assign_set *a);

#endif
