#!/usr/bin/python3
"""An incident alert is the stored incident opening and closing (docs/ALERTS.md,
"incident"), even when the incident closes between two evaluations and has left
the rule's lookback (N + M + 4 rounds) by the next one, and when a newer incident
opened in between.

The check runs every 200 ms; three Python probes (eu, us, ap) send rounds that
lie 10-16 s in the past (a spool replayed after an outage), in three bursts. eu
and us fail rounds [5, 15) (incident A) and [25, 35) (incident B), a majority:
- burst 1, rounds 0-14: A is open; the receiver gets A firing;
- burst 2, rounds 15-34: A closed at round 15, long out of the lookback, and B is
  open: the receiver gets A resolved with ends_at = round 15 (not the evaluation
  time), then B firing;
- burst 3, rounds 35-44: B closed at round 35: B resolved with ends_at = round 35."""

import time

from picket_env import FakeProbe, PrivatePostgres, WebhookReceiver, grpc_stubs, migrate, rfc3339_ms, \
    round_spread_us, start_collector, wait_for, wait_tracked, webhook_rules

pb, _, _, _ = grpc_stubs()

CHECK = "late-end"
IV_MS = 200
IV = IV_MS * 1000
REGIONS = ("eu", "us", "ap")
A, B = (5, 15), (25, 35)


def down(region, k):
    return region in ("eu", "us") and (A[0] <= k < A[1] or B[0] <= k < B[1])



def send(probes, at, ks):
    for r in REGIONS:
        p = probes[r]
        p.send_batch([pb.Result(sequence=p.next_seq(), check_name=CHECK, check_type="http", scheduled_at_us=at[k],
                                started_at_us=at[k], outcome=pb.OUTCOME_FAILED if down(r, k) else pb.OUTCOME_OK,
                                error_class=pb.ERROR_CLASS_TIMEOUT if down(r, k) else pb.ERROR_CLASS_NONE,
                                status_code=200, dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=5000)
                      for k in ks])


def alerts_of(hook, status):
    return [a for _, a in hook.alerts() if a["status"] == status and a["labels"]["check"] == CHECK]


def main():
    t_start = time.time()
    hook = WebhookReceiver()
    rules = webhook_rules(hook, "  - name: down\n    type: incident\n    checks: \"late-*\"\n    open_after: 3\n"
                          "    close_after: 2\n    repeat_interval: 0s\n    flap_flips: 10\n", "picket-alert-end-")
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--alerts", rules, "--open-after", "3",
                                         "--close-after", "2"])
        probes = {}
        try:
            info = pb.CheckInfo(name=CHECK, type="http", target="http://127.0.0.1:1/", interval_ms=IV_MS)
            probes = {r: FakeProbe(col.port, "late-" + r, [info], region=r) for r in REGIONS}
            spread = round_spread_us(CHECK, IV_MS)
            k0 = int(time.time() * 1e6) // IV - 80  # round 0 is 16 s ago, round 44 7 s ago
            at = [(k0 + k) * IV + spread for k in range(45)]
            lookback = (3 + 2 + 4) * IV

            send(probes, at, range(0, 15))
            wait_tracked(col, 20)
            wait_for("A firing", lambda: alerts_of(hook, "firing"), 10)
            firing = alerts_of(hook, "firing")
            assert [a["starts_at"] for a in firing] == [rfc3339_ms(at[A[0]])], firing

            send(probes, at, range(15, 35))
            assert time.time() * 1e6 - at[A[1]] > 2 * lookback, "A's end is not out of the lookback"
            wait_tracked(col, 20)
            wait_for("A resolved and B firing",
                     lambda: alerts_of(hook, "resolved") and len(alerts_of(hook, "firing")) == 2, 10)
            resolved, firing = alerts_of(hook, "resolved"), alerts_of(hook, "firing")
            assert len(resolved) == 1, resolved
            assert resolved[0]["starts_at"] == rfc3339_ms(at[A[0]]), resolved
            assert resolved[0]["ends_at"] == rfc3339_ms(at[A[1]]), (resolved[0], rfc3339_ms(at[A[1]]))
            assert resolved[0]["labels"]["region"] == "eu,us", resolved
            assert firing[1]["starts_at"] == rfc3339_ms(at[B[0]]), firing

            send(probes, at, range(35, 45))
            wait_tracked(col, 20)
            wait_for("B resolved", lambda: len(alerts_of(hook, "resolved")) == 2, 10)
            resolved = alerts_of(hook, "resolved")
            assert resolved[1]["starts_at"] == rfc3339_ms(at[B[0]]), resolved
            assert resolved[1]["ends_at"] == rfc3339_ms(at[B[1]]), (resolved[1], rfc3339_ms(at[B[1]]))
            time.sleep(1.0)  # a few more evaluations: nothing else is sent
            assert len(alerts_of(hook, "firing")) == 2 and len(alerts_of(hook, "resolved")) == 2, hook.bodies()
            print("test_incident_alert_end: two incidents closed out of the lookback resolve at their stored "
                  "ends in %.1f s" % (time.time() - t_start))
        finally:
            for p in probes.values():
                p.close()
            col.stop()


if __name__ == "__main__":
    main()
