#!/usr/bin/python3
"""One truth for incidents (docs/ANALYTICS.md, "The tracker"): a known outage sent
through the real gRPC ingest from three regions, then the SAME incident (start,
end, regions) read back from every reader: `picketctl incidents --json`, the
HTTP API (/api/incidents), /metrics (picket_incident_open while it is open,
picket_incidents_total after) and the alert receiver (an `incident` rule's
webhook: firing with the incident's start, resolved with its end).

The check runs every 200 ms; three Python probes (eu, us, ap) send each round as
it ends. eu and us fail rounds [10, 20): a majority of the three regions, so a
global incident (open after 3 down rounds, closed after 2 up ones) over exactly
those rounds, and one regional incident in each of eu and us; ap has none."""

import json
import re
import time
import urllib.request

from picket_env import FakeProbe, PrivatePostgres, WebhookReceiver, grpc_stubs, migrate, picketctl, rfc3339, \
    rfc3339_ms, round_spread_us, start_collector, wait_for, wait_tracked, webhook_rules

pb, _, _, _ = grpc_stubs()

CHECK = "truth-api"
IV_MS = 200
IV = IV_MS * 1000
ROUNDS = 36
DOWN_FROM, DOWN_TO = 10, 20  # rounds eu and us fail
REGIONS = ("eu", "us", "ap")


def firing_or_resolved(hook, status):
    return [a for _, a in hook.alerts() if a["status"] == status]


def result(probe, at_us, ok):
    """One round's result from probe (numbered with its next sequence)."""
    pb = probe.pb
    return pb.Result(sequence=probe.next_seq(), check_name=CHECK, check_type="http", scheduled_at_us=at_us,
                     started_at_us=at_us, outcome=pb.OUTCOME_OK if ok else pb.OUTCOME_FAILED,
                     error_class=pb.ERROR_CLASS_NONE if ok else pb.ERROR_CLASS_TIMEOUT, status_code=200,
                     dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=5000)




def metrics(col):
    """{(name, check, region): value} of the incident series on /metrics."""
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5).read().decode()
    out = {}
    for m in re.finditer(r'^(picket_incident_open|picket_incidents_total)\{check="([^"]*)",region="([^"]*)"\} (\S+)$',
                         body, re.M):
        out[(m.group(1), m.group(2), m.group(3))] = float(m.group(4))
    return out


def main():
    t_start = time.time()
    hook = WebhookReceiver()
    rules = webhook_rules(hook, "  - name: down\n    type: incident\n    checks: \"truth-*\"\n"
                          "    open_after: 3\n    close_after: 2\n    repeat_interval: 0s\n", "picket-truth-")
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--alerts", rules, "--open-after", "3",
                                         "--close-after", "2"])
        probes = {}
        try:
            info = pb.CheckInfo(name=CHECK, type="http", target="http://127.0.0.1:1/", interval_ms=IV_MS)
            probes = {r: FakeProbe(col.port, "truth-" + r, [info], region=r) for r in REGIONS}
            spread = round_spread_us(CHECK, IV_MS)
            k0 = int(time.time() * 1e6) // IV + 1
            at = [(k0 + k) * IV + spread for k in range(ROUNDS)]
            saw_open = {}
            for k in range(ROUNDS):
                # each round is sent as it ends, from every region
                wait = (at[k] + IV) / 1e6 - time.time()
                if wait > 0:
                    time.sleep(wait)
                for r in REGIONS:
                    probes[r].send_batch([result(probes[r], at[k], not (r in ("eu", "us") and DOWN_FROM <= k < DOWN_TO))])
                if k == DOWN_TO - 2:  # the incident is open: /metrics and the receiver say so
                    wait_tracked(col, 20)
                    wait_for("picket_incident_open 1 on /metrics",
                             lambda: metrics(col).get(("picket_incident_open", CHECK, "*")) == 1.0, 10)
                    saw_open = metrics(col)
                    wait_for("the webhook's firing alert", lambda: firing_or_resolved(hook, "firing"), 10)
            wait_tracked(col, 20)
            wait_for("the webhook's resolved alert", lambda: firing_or_resolved(hook, "resolved"), 10)
            wait_for("picket_incident_open 0 on /metrics",
                     lambda: metrics(col).get(("picket_incident_open", CHECK, "*")) == 0.0, 10)

            # ---- picketctl: the one global incident, exactly the outage's rounds
            since, until = at[0] - 60_000_000, at[-1] + 60_000_000  # picketctl's window is a minute at least
            out = picketctl(col.port, "incidents", "--check", CHECK, "--since", rfc3339(since),
                            "--until", rfc3339(until), "--json", cert_cn="read:dashboard")
            assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-2000:])
            got = json.loads(out.stdout)["checks"][0]
            assert (got["open_after"], got["close_after"], got["interval_us"]) == (3, 2, IV), got
            ctl = [(i["start_us"], i["end_us"], sorted(i["regions"])) for i in got["incidents"]]
            want = [(at[DOWN_FROM], at[DOWN_TO], ["eu", "us"])]
            assert ctl == want, (ctl, want)
            start_us, end_us = want[0][0], want[0][1]

            # ---- the HTTP API: the same
            url = "http://127.0.0.1:%d/api/incidents?check=%s&since=%d&until=%d" % (
                col.http_port, CHECK, since // 1_000_000 - 1, until // 1_000_000 + 1)
            with urllib.request.urlopen(url, timeout=30) as r:
                api_checks = json.loads(r.read())["checks"]
            api = [(i["start_us"], i["end_us"], sorted(i["regions"])) for c in api_checks if c["check"] == CHECK
                   for i in c["incidents"]]
            assert api == want, (api, want)

            # ---- /metrics: open while it was, one incident globally and one in each failing region
            m = metrics(col)
            assert saw_open.get(("picket_incident_open", CHECK, "*")) == 1.0, saw_open
            assert m.get(("picket_incident_open", CHECK, "*")) == 0.0, m
            totals = {reg: v for (name, c, reg), v in m.items() if name == "picket_incidents_total" and c == CHECK}
            assert totals == {"*": 1.0, "eu": 1.0, "us": 1.0}, totals

            # ---- the receiver: firing at the incident's start, resolved at its end, its regions
            firing, resolved = firing_or_resolved(hook, "firing"), firing_or_resolved(hook, "resolved")
            assert len(firing) == 1 and len(resolved) == 1, hook.bodies()
            for a in firing + resolved:
                assert a["labels"]["check"] == CHECK and a["labels"]["region"] == "eu,us", a
                assert a["starts_at"] == rfc3339_ms(start_us), (a, rfc3339_ms(start_us))
            assert resolved[0]["ends_at"] == rfc3339_ms(end_us), (resolved[0], rfc3339_ms(end_us))
            print("test_one_truth: incident %s .. %s in eu,us the same from picketctl, /api/incidents, /metrics "
                  "and the webhook (firing and resolved) in %.1f s" % (rfc3339(start_us), rfc3339(end_us),
                                                                      time.time() - t_start))
        finally:
            for p in probes.values():
                p.close()
            col.stop()


if __name__ == "__main__":
    main()
