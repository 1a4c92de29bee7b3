/* apply_wait.c: `picketctl apply --wait`. Asks the collector's Status every
 * half second which checks version each probe runs and which it refused
 * (stored from the probes' acknowledgements), until every probe that was
 * connected runs the applied version, refused it, or the time is up. Bounded
 * in time by the caller's timeout; never changes anything on the collector. */
#include "apply_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "result.h"
#include "rpc_ctl.h"

#define POLL_MS 500

enum probe_state { WAITING, RUNS, REFUSED };

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One Status answer: each watched probe's state. Returns how many still wait. */
static size_t update(const Picket__V1__StatusResponse *resp, char (*names)[128], enum probe_state *state,
                     char (*reason)[512], size_t n, int64_t version)
{
    size_t waiting = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < resp->n_probes && state[i] == WAITING; k++) {
            const Picket__V1__ProbeStatus *p = resp->probes[k];
            if (strcmp(p->name, names[i]) != 0)
                continue;
            if (p->checks_version == version) {
                state[i] = RUNS;
            } else if (p->checks_refused_version == version) {
                state[i] = REFUSED;
                snprintf(reason[i], sizeof reason[i], "%s", p->checks_error[0] ? p->checks_error : "no reason given");
            }
        }
        waiting += state[i] == WAITING;
    }
    return waiting;
}

int ctl_apply_wait(const char *collector, int call_timeout_ms, int64_t version, int64_t timeout_ms)
{
    char err[1400];
    Picket__V1__StatusResponse *resp = NULL;
    if (ctl_status(collector, NULL, call_timeout_ms, &resp, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl apply --wait: %s\n", err);
        return 1;
    }
    size_t n = 0;
    char(*names)[128] = calloc(resp->n_probes ? resp->n_probes : 1, sizeof *names);
    char(*reason)[512] = calloc(resp->n_probes ? resp->n_probes : 1, sizeof *reason);
    enum probe_state *state = calloc(resp->n_probes ? resp->n_probes : 1, sizeof *state);
    int rc = 1;
    if (!names || !reason || !state)
        goto out;
    for (size_t k = 0; k < resp->n_probes; k++)
        if (resp->probes[k]->last_seen_us > 0 && resp->now_us - resp->probes[k]->last_seen_us <= CTL_WAIT_RECENT_US)
            snprintf(names[n++], sizeof names[0], "%s", resp->probes[k]->name);
    if (n == 0) {
        fprintf(stderr, "picketctl apply --wait: no probe is connected (none seen in the last %d s): nobody runs "
                "checks version %lld yet\n", (int)(CTL_WAIT_RECENT_US / 1000000), (long long)version);
        rc = CTL_EXIT_NOT_RUNNING;
        goto out;
    }
    int64_t deadline = pk_now_us() + timeout_ms * 1000;
    size_t waiting = update(resp, names, state, reason, n, version);
    while (waiting > 0 && pk_now_us() < deadline) {
        sleep_ms(POLL_MS);
        picket__v1__status_response__free_unpacked(resp, NULL);
        resp = NULL;
        if (ctl_status(collector, NULL, call_timeout_ms, &resp, err, sizeof err) < 0) {
            fprintf(stderr, "picketctl apply --wait: %s\n", err);
            goto out;
        }
        waiting = update(resp, names, state, reason, n, version);
    }
    size_t runs = 0;
    for (size_t i = 0; i < n; i++) {
        if (state[i] == RUNS)
            runs++;
        else if (state[i] == REFUSED)
            printf("refused: probe %s refused checks version %lld: %s\n", names[i], (long long)version, reason[i]);
        else
            printf("no answer: probe %s did not run checks version %lld within %.1f s\n", names[i],
                   (long long)version, (double)timeout_ms / 1000.0);
    }
    printf("connected probes running checks version %lld: %zu of %zu\n", (long long)version, runs, n);
    rc = runs == n ? 0 : CTL_EXIT_NOT_RUNNING;
out:
    if (resp)
        picket__v1__status_response__free_unpacked(resp, NULL);
    free(names);
    free(reason);
    free(state);
    return rc;
}
