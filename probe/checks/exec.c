/* exec.c: the exec check type, the Nagios plugin convention. Runs argv
 * directly (a shell only when shell: true) in a process group of its own, with
 * stdout and stderr on one pipe capped at max_output_bytes (the rest is read
 * and counted), and kills the whole group at the timeout or when the plugin
 * exits leaving children behind. Exit 0/1/2/3 map to ok/degraded/failed/
 * unknown; perfdata (`label=value[UOM];warn;crit;min;max`) becomes metrics,
 * the value stored as written, the UOM dropped. Works on a worker thread
 * (check_job); between fork and exec the child only calls async-signal-safe
 * functions. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"

#define DEFAULT_MAX_OUTPUT ((int64_t)64 * 1024)
#define SLICE_MS 50
/* After the plugin exits, how long its output pipe may stay open (held by a
 * child it left behind) before the group is killed. */
#define LINGER_MS 200

extern char **environ;

struct exec_check {
    struct check_worker w; /* first: check_worker_new, start and destroy */
};

static struct check_job_queue queue = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* ------------------------------------------------------------- perfdata */

static atomic_ullong names_truncated;

uint64_t check_exec_names_truncated(void)
{
    return atomic_load(&names_truncated);
}

/* full_len: the label's length as the plugin wrote it; past the metric name's
 * size it is cut, counted and logged (first time, then every 1000th). */
static void add_metric(struct pk_result *r, const char *label, size_t label_len, size_t full_len, double value)
{
    if (r->n_metrics >= PK_MAX_METRICS || label_len == 0)
        return;
    if (full_len > PK_METRIC_NAME_MAX - 1) {
        unsigned long long n = atomic_fetch_add(&names_truncated, 1) + 1;
        if (n == 1 || n % 1000 == 0) {
            char qc[300], ql[200];
            char shown[PK_METRIC_NAME_MAX];
            memcpy(shown, label, label_len < sizeof shown - 1 ? label_len : sizeof shown - 1);
            shown[label_len < sizeof shown - 1 ? label_len : sizeof shown - 1] = '\0';
            PK_WARN("exec", "perfdata label cut to the metric name limit", "check=%s label=%s length=%zu limit=%d "
                    "truncated_total=%llu", pk_log_q(qc, sizeof qc, r->check_name), pk_log_q(ql, sizeof ql, shown),
                    full_len, PK_METRIC_NAME_MAX - 1, n);
        }
    }
    struct pk_metric *m = &r->metrics[r->n_metrics++];
    size_t n = label_len < sizeof m->name - 1 ? label_len : sizeof m->name - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)label[i];
        m->name[i] = (char)(isalnum(c) || c == '_' ? c : '_');
    }
    m->name[n] = '\0';
    m->value = value;
}

/* Parses Nagios perfdata from text[0..len): space-separated
 * label=value[UOM][;warn;crit;min;max], labels optionally in single quotes
 * ('' is a quote inside). Malformed items and values like "U" are skipped. */
static void parse_perfdata(const char *text, size_t len, struct pk_result *r)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)text[i]))
            i++;
        if (i >= len)
            break;
        char label[PK_METRIC_NAME_MAX];
        size_t label_len = 0, full_len = 0;
        if (text[i] == '\'') {
            i++;
            while (i < len) {
                if (text[i] == '\'' && i + 1 < len && text[i + 1] == '\'') {
                    full_len++;
                    if (label_len < sizeof label - 1)
                        label[label_len++] = '\'';
                    i += 2;
                } else if (text[i] == '\'') {
                    i++;
                    break;
                } else {
                    full_len++;
                    if (label_len < sizeof label - 1)
                        label[label_len++] = text[i];
                    i++;
                }
            }
        } else {
            while (i < len && text[i] != '=' && !isspace((unsigned char)text[i])) {
                full_len++;
                if (label_len < sizeof label - 1)
                    label[label_len++] = text[i];
                i++;
            }
        }
        if (i >= len || text[i] != '=') {
            while (i < len && !isspace((unsigned char)text[i]))
                i++;
            continue;
        }
        i++;
        size_t start = i;
        while (i < len && !isspace((unsigned char)text[i]))
            i++;
        char value[64];
        size_t vlen = i - start < sizeof value - 1 ? i - start : sizeof value - 1;
        memcpy(value, text + start, vlen);
        value[vlen] = '\0';
        char *end;
        double v = strtod(value, &end);
        if (end != value)
            add_metric(r, label, label_len, full_len, v);
    }
}

/* The first line up to '|' is the status text; perfdata follows '|' on the
 * first line and, Nagios 3 style, after the first '|' in the lines after it. */
static void parse_output(const char *out, size_t len, char *status, size_t status_size, struct pk_result *r)
{
    const char *nl = memchr(out, '\n', len);
    size_t line_len = nl ? (size_t)(nl - out) : len;
    const char *bar = memchr(out, '|', line_len);
    size_t text_len = bar ? (size_t)(bar - out) : line_len;
    while (text_len && isspace((unsigned char)out[text_len - 1]))
        text_len--;
    size_t copy = text_len < status_size - 1 ? text_len : status_size - 1;
    memcpy(status, out, copy);
    status[copy] = '\0';
    if (bar)
        parse_perfdata(bar + 1, line_len - (size_t)(bar + 1 - out), r);
    if (nl) {
        const char *rest = nl + 1;
        size_t rest_len = len - (size_t)(rest - out);
        const char *bar2 = memchr(rest, '|', rest_len);
        if (bar2)
            parse_perfdata(bar2 + 1, rest_len - (size_t)(bar2 + 1 - rest), r);
    }
}

/* ------------------------------------------------------------ the child */

/* environ plus the check's additions (rendered templates, which replace
 * same-named entries). NULL with err on failure; freed with free_env. */
static char **build_env(const struct pk_check *c, char *err, size_t errlen)
{
    const struct pk_exec_options *o = &c->u.exec;
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + o->n_env + 1, sizeof *env);
    if (!env)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < o->n_env; j++) {
            size_t kl = strlen(o->env[j].key);
            if (strncmp(environ[i], o->env[j].key, kl) == 0 && environ[i][kl] == '=')
                replaced = 1;
        }
        if (!replaced && !(env[k++] = strdup(environ[i])))
            goto oom;
    }
    for (size_t j = 0; j < o->n_env; j++) {
        char *value = NULL;
        const char *shown;
        if (check_render(c, o->env[j].value ? o->env[j].value : "", &value, &shown, err, errlen) < 0)
            goto fail;
        size_t sz = strlen(o->env[j].key) + strlen(value) + 2;
        if (!(env[k] = malloc(sz))) {
            free(value);
            goto oom;
        }
        snprintf(env[k++], sz, "%s=%s", o->env[j].key, value);
        free(value);
    }
    return env;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    for (size_t i = 0; env && i < k; i++)
        free(env[i]);
    free(env);
    return NULL;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Only async-signal-safe calls from here to exec. */
static void child(const char *const *argv, char **envp, const char *workdir, int out_fd, int err_fd)
{
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    /* Close every other inherited fd except the exec-error pipe (CLOEXEC). */
    if (err_fd > 3)
        close_range(3, (unsigned)err_fd - 1, 0);
    close_range((unsigned)err_fd + 1, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    char code[2] = {'x', 0};
    if (workdir && workdir[0] && chdir(workdir) < 0)
        code[0] = 'd';
    else
        execvpe(argv[0], (char *const *)argv, envp);
    code[1] = (char)errno;
    (void)!write(err_fd, code, sizeof code);
    _exit(127);
}

/* ------------------------------------------------------------ the work */

static void set_failed(struct pk_result *r, int outcome, int error_class, const char *message)
{
    r->outcome = outcome;
    r->error_class = error_class;
    pk_strlcpy(r->message, message, sizeof r->message);
    pk_utf8_sanitize(r->message);
}

/* One execution in progress: what exec_work's steps share. */
struct exec_run {
    const struct pk_check *check;
    struct check_job *job;
    int64_t deadline;
    size_t cap;                       /* output bytes kept */
    int out_pipe[2], err_pipe[2];
    char **envp, **rendered, *out;
    size_t out_len;
    int64_t out_total;                /* output bytes read, kept or not */
    pid_t pid;
    int status, exited, timed_out;
};

/* Renders argv and the environment, allocates the output buffer and opens the
 * pipes. *shown_program gets what messages may name. */
static int exec_prepare(struct exec_run *x, struct pk_result *r, const char **shown_program)
{
    const struct pk_exec_options *o = &x->check->u.exec;
    size_t argc = 0;
    while (o->argv[argc]) /* NULL-terminated, whatever argc says */
        argc++;
    x->rendered = calloc(argc + 1, sizeof *x->rendered);
    if (!x->rendered || !(x->out = malloc(x->cap + 1))) {
        set_failed(r, PK_OUTCOME_FAILED, PK_ERR_INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < argc; i++) {
        const char *shown;
        if (check_render(x->check, o->argv[i], &x->rendered[i], &shown, r->message, sizeof r->message) < 0) {
            r->outcome = PK_OUTCOME_FAILED;
            r->error_class = PK_ERR_INTERNAL;
            return -1;
        }
        if (i == 0)
            *shown_program = o->shell ? "/bin/sh" : shown;
    }
    if (!(x->envp = build_env(x->check, r->message, sizeof r->message))) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_INTERNAL;
        return -1;
    }
    if (pipe2(x->out_pipe, O_CLOEXEC) < 0 || pipe2(x->err_pipe, O_CLOEXEC) < 0) {
        set_failed(r, PK_OUTCOME_FAILED, PK_ERR_INTERNAL, strerror(errno));
        return -1;
    }
    return 0;
}

/* Forks the plugin; -1 with the result set when it could not even start. */
static int exec_spawn(struct exec_run *x, struct pk_result *r, const char *shown_program)
{
    const struct pk_exec_options *o = &x->check->u.exec;
    const char *shell_argv[] = {"/bin/sh", "-c", x->rendered[0], NULL};
    const char *const *argv = o->shell ? shell_argv : (const char *const *)x->rendered;
    x->pid = fork();
    if (x->pid < 0) {
        set_failed(r, PK_OUTCOME_FAILED, PK_ERR_INTERNAL, strerror(errno));
        return -1;
    }
    if (x->pid == 0)
        child(argv, x->envp, o->workdir, x->out_pipe[1], x->err_pipe[1]);
    setpgid(x->pid, x->pid); /* also here, so the group exists before any kill */
    close(x->out_pipe[1]);
    close(x->err_pipe[1]);
    x->out_pipe[1] = x->err_pipe[1] = -1;

    char failure[2];
    ssize_t n;
    while ((n = read(x->err_pipe[0], failure, sizeof failure)) < 0 && errno == EINTR)
        ;
    if (n != 2)
        return 0;
    waitpid(x->pid, NULL, 0);
    x->pid = -1;
    char what[PK_MESSAGE_MAX];
    if (failure[0] == 'd')
        snprintf(what, sizeof what, "cannot enter workdir %s: %s", o->workdir, strerror((unsigned char)failure[1]));
    else
        snprintf(what, sizeof what, "cannot run %s: %s", shown_program, strerror((unsigned char)failure[1]));
    set_failed(r, PK_OUTCOME_UNKNOWN, PK_ERR_INTERNAL, what);
    return -1;
}

/* Output closed while the plugin runs on: wait for it without the pipe. */
static void exec_wait_without_output(struct exec_run *x)
{
    while (!x->exited && !check_job_cancelled(x->job) && pk_mono_us() < x->deadline) {
        if (waitpid(x->pid, &x->status, WNOHANG) == x->pid)
            x->exited = 1;
        else
            poll(NULL, 0, 10);
    }
    x->timed_out = !x->exited;
}

/* Reads the output until the plugin exits (and a little after, for what it
 * left in the pipe), the deadline passes or the job is cancelled; then kills
 * whatever the plugin left running in its group. */
static void exec_collect(struct exec_run *x)
{
    int64_t linger_until = 0;
    fcntl(x->out_pipe[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        if (!x->exited && waitpid(x->pid, &x->status, WNOHANG) == x->pid) {
            x->exited = 1;
            linger_until = pk_mono_us() + LINGER_MS * 1000;
        }
        int64_t now = pk_mono_us();
        if (check_job_cancelled(x->job) || now >= x->deadline) {
            x->timed_out = !x->exited;
            break;
        }
        if (x->exited && now >= linger_until)
            break;
        int left = check_ms_left(x->exited ? linger_until : x->deadline);
        struct pollfd p = {x->out_pipe[0], POLLIN, 0};
        int ready = poll(&p, 1, left < SLICE_MS ? left : SLICE_MS);
        if (ready <= 0)
            continue;
        char buf[8192];
        ssize_t n = read(x->out_pipe[0], buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            if (!x->exited)
                exec_wait_without_output(x);
            break;
        }
        x->out_total += n;
        size_t keep = x->cap - x->out_len;
        if (keep > (size_t)n)
            keep = (size_t)n;
        memcpy(x->out + x->out_len, buf, keep);
        x->out_len += keep;
    }
    /* Whatever the plugin left running in its group goes with it. */
    kill(-x->pid, SIGKILL);
    if (!x->exited)
        waitpid(x->pid, &x->status, 0);
    x->pid = -1;
    x->out[x->out_len] = '\0';
}

/* The outcome from the exit status and the output, then the check's assertions. */
static void exec_judge(const struct exec_run *x, struct pk_result *r, int64_t timeout_ms)
{
    if (x->timed_out) {
        char what[64];
        snprintf(what, sizeof what, "timed out after %lld ms; killed", (long long)timeout_ms);
        set_failed(r, PK_OUTCOME_FAILED, PK_ERR_TIMEOUT, what);
        return;
    }
    char text[PK_MESSAGE_MAX];
    parse_output(x->out, x->out_len, text, sizeof text, r);
    if (WIFSIGNALED(x->status)) {
        r->outcome = PK_OUTCOME_UNKNOWN;
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "killed by signal %d%s%.200s", WTERMSIG(x->status),
                 text[0] ? ": " : "", text);
        pk_utf8_sanitize(r->message);
        return;
    }
    int code = WEXITSTATUS(x->status);
    static const int outcomes[4] = {PK_OUTCOME_OK, PK_OUTCOME_DEGRADED, PK_OUTCOME_FAILED, PK_OUTCOME_UNKNOWN};
    if (code <= 3) {
        r->outcome = outcomes[code];
        r->error_class = code == 0 ? PK_ERR_NONE : code == 3 ? PK_ERR_INTERNAL : PK_ERR_ASSERTION;
        if (code != 0)
            snprintf(r->message, sizeof r->message, "%s", text[0] ? text : "(no output)");
    } else {
        r->outcome = PK_OUTCOME_UNKNOWN;
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "exit code %d%s%.200s", code, text[0] ? ": " : "", text);
    }
    pk_utf8_sanitize(r->message);
    check_apply_asserts(x->check, x->out, x->out_len, r);
}

static void exec_work(struct check_job *job)
{
    const struct pk_check *c = job->check;
    const struct pk_exec_options *o = &c->u.exec;
    struct pk_result *r = &job->result;
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    int64_t t0 = pk_mono_us();
    struct exec_run x = {
        .check = c,
        .job = job,
        .deadline = t0 + timeout_ms * 1000,
        .cap = (size_t)(o->max_output_bytes > 0 ? o->max_output_bytes : DEFAULT_MAX_OUTPUT),
        .out_pipe = {-1, -1},
        .err_pipe = {-1, -1},
        .pid = -1,
    };
    const char *shown_program = o->argv[0];
    if (exec_prepare(&x, r, &shown_program) == 0 && exec_spawn(&x, r, shown_program) == 0) {
        exec_collect(&x);
        r->total_us = pk_mono_us() - t0;
        r->body_bytes = x.out_total;
        exec_judge(&x, r, timeout_ms);
    }
    if (x.pid > 0) {
        kill(-x.pid, SIGKILL);
        waitpid(x.pid, NULL, 0);
    }
    if (r->total_us < 0)
        r->total_us = pk_mono_us() - t0;
    for (int i = 0; i < 2; i++) {
        if (x.out_pipe[i] >= 0)
            close(x.out_pipe[i]);
        if (x.err_pipe[i] >= 0)
            close(x.err_pipe[i]);
    }
    free_env(x.envp);
    free_env(x.rendered);
    free(x.out);
}

static int exec_create(const struct check_env *env, const struct pk_check *check, void **state, char *err,
                       size_t errlen)
{
    if (!check->u.exec.argv || !check->u.exec.argv[0] || !check->u.exec.argv[0][0]) {
        snprintf(err, errlen, "%s:%d: check '%s' has no command to run", check->file ? check->file : "",
                 check->line, check->name);
        return -1;
    }
    for (size_t i = 0; i < check->u.exec.n_env; i++)
        if (!check->u.exec.env[i].key || !check->u.exec.env[i].key[0] || strchr(check->u.exec.env[i].key, '=')) {
            snprintf(err, errlen, "%s:%d: check '%s' has a bad environment name", check->file ? check->file : "",
                     check->line, check->name);
            return -1;
        }
    return check_worker_create(sizeof(struct exec_check), env, check, &queue, exec_work, state, err, errlen);
}

static void exec_poll(void) { check_job_queue_drain(&queue); }

const struct check_type check_type_exec = {
    .create = exec_create,
    .start = check_worker_start,
    .destroy = check_worker_destroy,
    .poll_completions = exec_poll,
};
