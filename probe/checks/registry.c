/* registry.c: the list of check types this probe can run. Adding a type is
 * one file in checks/ and one line below. Owns nothing. */
#include "registry.h"

#include <string.h>

static const struct check_type *const types[] = {
    &check_type_http,
};

const struct check_type *check_type_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof types / sizeof *types; i++)
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

void check_types_poll_completions(void)
{
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (types[i]->poll_completions)
            types[i]->poll_completions();
}
