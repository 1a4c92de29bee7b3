/* test_json_fields.c: ctl/json_fields.c, the table-driven JSON of picketctl's
 * answers: every kind written as its own JSON value from its own field (distinct
 * values in every field, so a wrong offset or kind fails), the null cases (empty
 * string, 0 time, NaN and infinite numbers) and the table's key order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "json_fields.h"

struct row {
    char *name, *note, *empty;
    int32_t count;
    int64_t big, at_us, never_us;
    uint64_t huge;
    double ratio, score, missing, endless;
};

#define F(key, field, kind) CTL_JSON(struct row, key, field, kind)
static const struct ctl_json_field fields[] = {
    F("name", name, STR),         F("note", note, STR_NULL),       F("empty", empty, STR_NULL),
    F("count", count, INT),       F("big", big, I64),              F("huge", huge, U64),
    F("ratio", ratio, DOUBLE),    F("at_us", at_us, TIME),         F("never_us", never_us, TIME),
    F("score", score, NUM),       F("missing", missing, NUM),      F("endless", endless, NUM),
};

static void every_kind_from_its_field(void **state)
{
    (void)state;
    struct row r = {"web", "slow", "", 7, -9000000000LL, 1700000000000000LL, 0, 18000000000000000000ULL,
                    0.5, 2.25, NAN, INFINITY};
    json_object *o = ctl_json_object(&r, fields, CTL_JSON_NFIELDS(fields));
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"name\":\"web\",\"note\":\"slow\",\"empty\":null,\"count\":7,\"big\":-9000000000,"
                        "\"huge\":18000000000000000000,\"ratio\":0.5,\"at_us\":1700000000000000,\"never_us\":null,"
                        "\"score\":2.25,\"missing\":null,\"endless\":null}");
    json_object_put(o);
}

static void adds_to_an_existing_object(void **state)
{
    (void)state;
    struct row r = {"db", "", "", 0, 0, 0, 0, 0, 0, 0, 0, 0};
    json_object *o = json_object_new_object();
    json_object_object_add(o, "first", json_object_new_int(1));
    ctl_json_add_fields(o, &r, fields, 2);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"first\":1,\"name\":\"db\",\"note\":null}");
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_from_its_field),
        cmocka_unit_test(adds_to_an_existing_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
