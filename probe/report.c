/* report.c: the table, JUnit XML and TAP that `picket-probe run --once` prints,
 * and its exit code. Pure: reads the rows it is given and writes to one FILE;
 * owns nothing after it returns. Text from checks (names, reasons) is treated as
 * hostile: made valid UTF-8, kept on one line where the format needs it, and
 * XML-escaped in JUnit, so no message can break the document or forge a line. */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_bad(int outcome)
{
    return outcome != PK_OUTCOME_OK && outcome != PK_OUTCOME_DEGRADED;
}

int report_exit_code(const struct report_row *rows, size_t n)
{
    int code = REPORT_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        int o = rows[i].result->outcome;
        if (is_bad(o))
            return REPORT_EXIT_FAILED;
        if (o == PK_OUTCOME_DEGRADED)
            code = REPORT_EXIT_DEGRADED;
    }
    return code;
}

/* A copy of s that is valid UTF-8 with every control character (newlines too)
 * turned into a space: safe on one line. NULL when out of memory. */
static char *one_line(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return NULL;
    pk_utf8_sanitize(copy);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return copy;
}

static void put_one_line(FILE *out, const char *s)
{
    char *line = one_line(s);
    fputs(line ? line : "?", out);
    free(line);
}

static const char *row_reason(const struct report_row *row)
{
    return row->result->message[0] ? row->result->message : "(no reason given)";
}

static void format_time(char *buf, size_t size, int64_t total_us)
{
    if (total_us < 0)
        snprintf(buf, size, "-");
    else if (total_us < 1000000)
        snprintf(buf, size, "%.1f ms", (double)total_us / 1000.0);
    else
        snprintf(buf, size, "%.2f s", (double)total_us / 1e6);
}

static double seconds(int64_t total_us)
{
    return total_us < 0 ? 0.0 : (double)total_us / 1e6;
}

/* ---------------------------------------------------------------- table */

void report_table(FILE *out, const struct report_row *rows, size_t n)
{
    int name_w = (int)strlen("CHECK"), type_w = (int)strlen("TYPE");
    for (size_t i = 0; i < n; i++) {
        int nl = (int)strlen(rows[i].name), tl = (int)strlen(rows[i].type);
        name_w = nl > name_w ? nl : name_w;
        type_w = tl > type_w ? tl : type_w;
    }
    fprintf(out, "%-*s  %-*s  %-8s  %-6s  %-9s  %s\n", name_w, "CHECK", type_w, "TYPE", "OUTCOME", "STATUS", "TIME",
            "METRICS");
    size_t counts[5] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct pk_result *r = rows[i].result;
        char status[16], time[32];
        if (r->status_code > 0)
            snprintf(status, sizeof status, "%d", r->status_code);
        else
            snprintf(status, sizeof status, "-");
        format_time(time, sizeof time, r->total_us);
        char *name = one_line(rows[i].name);
        char *type = one_line(rows[i].type);
        fprintf(out, "%-*s  %-*s  %-8s  %-6s  %-*s", name_w, name ? name : "?", type_w, type ? type : "?",
                pk_outcome_name(r->outcome), status, r->n_metrics > 0 ? 9 : 0, time);
        free(name);
        free(type);
        for (int m = 0; m < r->n_metrics && m < PK_MAX_METRICS; m++) {
            fputs(m ? " " : "  ", out);
            put_one_line(out, r->metrics[m].name);
            fprintf(out, "=%g", r->metrics[m].value);
        }
        fputc('\n', out);
        if (r->outcome != PK_OUTCOME_OK) {
            fputs("    why: ", out);
            put_one_line(out, row_reason(&rows[i]));
            fputc('\n', out);
        }
        int o = r->outcome;
        counts[o >= PK_OUTCOME_OK && o <= PK_OUTCOME_UNKNOWN ? o : PK_OUTCOME_UNKNOWN]++;
    }
    fprintf(out, "\n%zu check%s: %zu ok, %zu degraded, %zu failed", n, n == 1 ? "" : "s", counts[PK_OUTCOME_OK],
            counts[PK_OUTCOME_DEGRADED], counts[PK_OUTCOME_FAILED]);
    if (counts[PK_OUTCOME_UNKNOWN])
        fprintf(out, ", %zu unknown", counts[PK_OUTCOME_UNKNOWN]);
    fputc('\n', out);
}

/* ---------------------------------------------------------------- JUnit */

/* Writes s XML-escaped. In attributes, tab/newline/CR become character
 * references so that attribute normalisation keeps them; other control bytes
 * (which XML 1.0 cannot carry at all) become '?'. */
static void xml_put(FILE *out, const char *s, int attribute)
{
    char *copy = strdup(s ? s : "");
    if (!copy) {
        fputc('?', out);
        return;
    }
    pk_utf8_sanitize(copy);
    for (const unsigned char *p = (const unsigned char *)copy; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        case '\t': fputs(attribute ? "&#9;" : "\t", out); break;
        case '\n': fputs(attribute ? "&#10;" : "\n", out); break;
        case '\r': fputs("&#13;", out); break;
        default:
            fputc(*p < 0x20 ? '?' : *p, out);
        }
    }
    free(copy);
}

void report_junit(FILE *out, const char *suite, const struct report_row *rows, size_t n)
{
    size_t failures = 0, errors = 0;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        int o = rows[i].result->outcome;
        if (o == PK_OUTCOME_FAILED)
            failures++;
        else if (is_bad(o))
            errors++;
        total += seconds(rows[i].result->total_us);
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out, "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n", n, failures, errors,
            total);
    fputs("  <testsuite name=\"", out);
    xml_put(out, suite, 1);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\" time=\"%.3f\">\n", n, failures,
            errors, total);
    for (size_t i = 0; i < n; i++) {
        const struct report_row *row = &rows[i];
        const struct pk_result *r = row->result;
        fputs("    <testcase classname=\"", out);
        xml_put(out, row->service && row->service[0] ? row->service : row->type, 1);
        fputs("\" name=\"", out);
        xml_put(out, row->name, 1);
        fprintf(out, "\" time=\"%.3f\"", seconds(r->total_us));
        if (r->outcome == PK_OUTCOME_OK && r->n_metrics == 0) {
            fputs("/>\n", out);
            continue;
        }
        fputs(">\n", out);
        if (r->n_metrics > 0) {
            fputs("      <properties>\n", out);
            for (int m = 0; m < r->n_metrics && m < PK_MAX_METRICS; m++) {
                fputs("        <property name=\"", out);
                xml_put(out, r->metrics[m].name, 1);
                fprintf(out, "\" value=\"%g\"/>\n", r->metrics[m].value);
            }
            fputs("      </properties>\n", out);
        }
        if (r->outcome == PK_OUTCOME_DEGRADED) {
            fputs("      <system-out>degraded: ", out);
            xml_put(out, row_reason(row), 0);
            fputs("</system-out>\n", out);
        } else if (r->outcome != PK_OUTCOME_OK) {
            const char *tag = r->outcome == PK_OUTCOME_FAILED ? "failure" : "error";
            fprintf(out, "      <%s message=\"", tag);
            xml_put(out, row_reason(row), 1);
            fprintf(out, "\" type=\"%s\">", pk_outcome_name(r->outcome));
            xml_put(out, row_reason(row), 0);
            fprintf(out, "\nerror class: %s", pk_error_class_name(r->error_class));
            if (r->status_code > 0)
                fprintf(out, "\nstatus: %d", r->status_code);
            fprintf(out, "</%s>\n", tag);
        }
        fputs("    </testcase>\n", out);
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
}

/* ---------------------------------------------------------------- TAP */

static void tap_name(FILE *out, const char *name)
{
    char *line = one_line(name);
    for (const char *p = line ? line : "?"; *p; p++) {
        if (*p == '#' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    free(line);
}

void report_tap(FILE *out, const struct report_row *rows, size_t n)
{
    fprintf(out, "TAP version 13\n1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        const struct pk_result *r = rows[i].result;
        fprintf(out, "%s %zu - ", is_bad(r->outcome) ? "not ok" : "ok", i + 1);
        tap_name(out, rows[i].name);
        if (r->outcome == PK_OUTCOME_OK) {
            fputc('\n', out);
            continue;
        }
        const char *reason = row_reason(&rows[i]);
        if (r->outcome == PK_OUTCOME_FAILED) {
            /* A reason that starts like a directive would mark the test SKIP/TODO. */
            fputs(strncasecmp(reason, "skip", 4) == 0 || strncasecmp(reason, "todo", 4) == 0 ? " # failed: " : " # ",
                  out);
        } else
            fprintf(out, " # %s: ", pk_outcome_name(r->outcome));
        put_one_line(out, reason);
        fputc('\n', out);
    }
}
