/* migrations.h: the SQL files of migrations/, compiled in (see cmake/embed.cmake). */
#ifndef PK_MIGRATIONS_H
#define PK_MIGRATIONS_H

#include <stddef.h>

struct pk_migration {
    int version;      /* the number the file name starts with */
    const char *name; /* file name */
    const char *sql;
};

extern const struct pk_migration pk_migrations[]; /* sorted by version */
extern const size_t pk_migrations_count;

#endif
