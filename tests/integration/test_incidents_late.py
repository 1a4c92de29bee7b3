#!/usr/bin/python3
"""Incidents as results arrive, through the real ingest: a collector with a
private PostgreSQL and three Python gRPC probes (eu, us, ap) stream three days
of 60 s rounds (each result with its scheduled time) for two checks with the
same history: "on" arrives round by round from every region, "cut" has the ap
probe cut off for 30 minutes in the middle of an outage and its spool replayed
after everything else. Then, only through `picketctl --json`:
- both checks' stored incidents equal the open-after-3 / close-after-3 rule with
  a quorum of 2, walked here over the rounds (start, end, regions, down rounds);
- "cut" has exactly the incidents and uptime of "on" (late = on time);
- each one-day window gives the incidents overlapping it, with their real
  starts, and the three days together give the same set as the 3-day window
  (a window only clips); an incident across midnight is one incident."""

import json
import queue
import sys
import time
import urllib.request

from picket_env import PrivatePostgres, grpc_channel, grpc_stubs, migrate, picketctl, rfc3339, start_collector, \
    wait_for, wait_tracked

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()

MIN = 60_000_000
DAY = 1440 * MIN
REGIONS = ["eu", "us", "ap"]
OFFSET = {"eu": 300_000, "us": 600_000, "ap": 900_000}
CHECKS = ["on", "cut"]
now = int(time.time() * 1e6)
# The rounds end 10 minutes ago (past every deadline; the overview's last 60
# rounds show the outages at the end), and the first midnight inside the history
# falls on round MIDNIGHT_K whatever the time of day (else its outage could run
# into another one, or into GAP): the history is 3 to 4 days long.
MIDNIGHT_K = 400
K_END = now // MIN - 10
DAY0 = (K_END - 3 * 1440 + MIDNIGHT_K) // 1440 * DAY
K0 = DAY0 // MIN - MIDNIGHT_K
ROUNDS = K_END - K0
CUT = range(2000, 2030)  # the ap probe's results of "cut" in these rounds arrive last

# Outages (round ranges per region), chosen for the edge cases: overlapping
# regional outages, regional and global blips (under N rounds), an outage with
# a gap of no data inside, one across midnight, one under the cut.
DOWN = {
    "eu": [(100, 120), (500, 502), (1190, 1215), (1990, 2040), (2500, 2501), (3000, 3010)],
    "us": [(110, 130), (1192, 1215), (1995, 2020), (2500, 2501), (3005, 3006)],
    "ap": [(700, 701), (2010, 2025), (3005, 3012)],
}
MIDNIGHT = (DAY0 - K0 * MIN) // MIN  # round index of the first midnight
DOWN["eu"].append((MIDNIGHT - 5, MIDNIGHT + 5))
DOWN["us"].append((MIDNIGHT - 4, MIDNIGHT + 6))
GAP = range(1200, 1210)  # no result from anyone
# In the overview's last 60 rounds: a global outage (eu and us) with eu down a
# round earlier alone, and one regional blip (ap).
DOWN["eu"].append((ROUNDS - 30, ROUNDS - 26))
DOWN["us"].append((ROUNDS - 29, ROUNDS - 26))
DOWN["ap"].append((ROUNDS - 20, ROUNDS - 20))


def spread_us(name, interval_ms=60000):
    h = 1469598103934665603
    for ch in name.encode():
        h = ((h ^ ch) * 1099511628211) & (2 ** 64 - 1)
    return (h % interval_ms) * 1000


def down(region, k):
    return any(a <= k <= b for a, b in DOWN[region])


def expected():
    """Incidents in round indexes: the rule of docs/ANALYTICS.md over the global rounds."""
    found, cur, run, ups = [], None, [], []
    for k in range(ROUNDS):
        if k in GAP:
            continue
        downs = [r for r in REGIONS if down(r, k)]
        if len(downs) >= 2:
            ups = []
            if cur is None:
                run.append((k, downs))
                if len(run) == 3:
                    cur = {"start": run[0][0], "regions": set(), "down_rounds": 0}
                    for _, d in run:
                        cur["regions"] |= set(d)
                        cur["down_rounds"] += 1
                    run = []
            else:
                cur["regions"] |= set(downs)
                cur["down_rounds"] += 1
        else:
            run = []
            if cur is not None:
                ups.append(k)
                if len(ups) == 3:
                    cur["end"] = ups[0]
                    found.append(cur)
                    cur, ups = None, []
    assert cur is None
    return [(i["start"], i["end"], sorted(i["regions"]), i["down_rounds"]) for i in found]


def results_of(region, check, ks):
    out = []
    for k in ks:
        if k in GAP:
            continue
        sched = (K0 + k) * MIN + spread_us(check)
        failed = down(region, k)
        out.append(dict(check_name=check, check_type="http", scheduled_at_us=sched,
                        started_at_us=sched + OFFSET[region],
                        outcome=pb.OUTCOME_FAILED if failed else pb.OUTCOME_OK,
                        error_class=pb.ERROR_CLASS_TIMEOUT if failed else pb.ERROR_CLASS_NONE, status_code=200,
                        dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=20_000))
    return out


class Probe:
    def __init__(self, col, region):
        name = "late-" + region
        self.ch = grpc_channel(col.port, "probe:" + name)
        stub = pb_grpc.ProbeServiceStub(self.ch)
        infos = [pb.CheckInfo(name=c, type="http", target="http://127.0.0.1:1/", interval_ms=60000) for c in CHECKS]
        reg = stub.Register(pb.RegisterRequest(probe_name=name, region=region, version="test", checks=infos,
                                               probe_time_us=int(time.time() * 1e6)))
        self.out = queue.Queue()
        self.responses = stub.Connect(iter(self.out.get, None))
        self.out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name=name)))
        self.seq = 0

    def send(self, results):
        if not results:
            return
        batch = []
        for r in results:
            self.seq += 1
            batch.append(pb.Result(sequence=self.seq, **r))
        self.out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=batch)))
        while True:
            msg = next(self.responses)
            if msg.WhichOneof("kind") == "ack" and msg.ack.committed_sequence == self.seq:
                return

    def close(self):
        self.out.put(None)
        self.ch.close()


def ctl_json(col, *args):
    out = picketctl(col.port, *args, "--json", cert_cn="read:dashboard")
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return json.loads(out.stdout)



def in_rounds(check, incidents):
    """(start, end, regions, down_rounds) in round indexes, from picketctl's times."""
    out = []
    for i in incidents:
        start = (i["start_us"] - spread_us(check)) // MIN - K0
        end = None if i["end_us"] is None else (i["end_us"] - spread_us(check)) // MIN - K0
        assert i["start_us"] == (K0 + start) * MIN + spread_us(check), i  # a round's start
        out.append((start, end, i["regions"], i["down_rounds"]))
    return out


def overview_bars(col, tracked_at):
    """The dashboard overview's history bars of both checks, once its snapshot
    was computed after everything was tracked, with the rounds they show."""
    with urllib.request.urlopen("http://127.0.0.1:%d/api/overview" % col.http_port, timeout=30) as r:
        j = json.loads(r.read())
    if j["computed_at_us"] <= tracked_at:
        return None
    return j["computed_at_us"], {c["check"]: c for c in j["checks"]}


def bars_of(check, now_us):
    """The tracker's rounds as the overview draws them: bar 59 is the round in
    progress at now_us; 'd' global down (2 of 3 regions), 'p' one region down."""
    k_now = (now_us - spread_us(check)) // MIN - K0
    line = ""
    for k in range(k_now - 59, k_now + 1):
        n = sum(down(r, k) for r in REGIONS)
        line += "-" if k < 0 or k >= ROUNDS or k in GAP else "d" if n >= 2 else "p" if n else "u"
    return line


def main():
    want = expected()
    assert len(want) >= 5 and any(s < MIDNIGHT < e for s, e, _, _ in want), want
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1"])
        probes = {}
        try:
            t0 = time.time()
            probes = {r: Probe(col, r) for r in REGIONS}
            # Round by round (60 rounds a batch) from every region: on time.
            for lo in range(0, ROUNDS, 60):
                ks = range(lo, min(lo + 60, ROUNDS))
                for r in REGIONS:
                    rs = results_of(r, "on", ks)
                    rs += results_of(r, "cut", [k for k in ks if not (r == "ap" and k in CUT)])
                    probes[r].send(rs)
            # The cut-off probe's spool, replayed after everything else.
            probes["ap"].send(results_of("ap", "cut", CUT))
            wait_tracked(col)
            tracked_at = int(time.time() * 1e6)
            fed = time.time() - t0

            window = ["--since", rfc3339(K0 * MIN - MIN), "--until", rfc3339((K0 + ROUNDS + 1) * MIN)]
            got = {c["check"]: c for c in ctl_json(col, "incidents", *window)["checks"]}
            for check in CHECKS:
                c = got[check]
                assert (c["open_after"], c["close_after"], c["quorum"], c["interval_us"]) == (3, 3, 2, MIN), c
                have = in_rounds(check, c["incidents"])
                assert have == want, (check, have, want)
            assert got["cut"]["stats"] == got["on"]["stats"], (got["cut"]["stats"], got["on"]["stats"])
            assert got["on"]["rounds"] == ROUNDS - len(GAP), got["on"]["rounds"]
            av = {c["check"]: c for c in ctl_json(col, "availability", *window)["checks"]}
            assert av["cut"]["global"]["up_us"] == av["on"]["global"]["up_us"], (av["cut"], av["on"])
            assert av["on"]["global"]["covered_us"] == (ROUNDS - len(GAP)) * MIN, av["on"]
            down_rounds = sum(1 for k in range(ROUNDS) if k not in GAP and sum(down(r, k) for r in REGIONS) >= 2)
            assert av["on"]["global"]["up_us"] == (ROUNDS - len(GAP) - down_rounds) * MIN, av["on"]
            # One check asked alone counts its rounds by another read (the runs'
            # running totals of that check, not the prefetch of every check): the same answer.
            for check in CHECKS:
                one = ctl_json(col, "availability", *window, "--check", check)["checks"]
                assert one == [av[check]], (check, one, av[check])

            # One region asked alone: its rounds (quorum 1) as counted with every
            # scope's, the same as that region's figure in the answer for all, and
            # exactly the rounds it reported up.
            for r in REGIONS:
                up = (ROUNDS - len(GAP) - sum(1 for k in range(ROUNDS) if k not in GAP and down(r, k))) * MIN
                one = {c["check"]: c for c in ctl_json(col, "availability", *window, "--region", r)["checks"]}
                for check in CHECKS:
                    g = one[check]["global"]
                    assert (g["up_us"], g["covered_us"], one[check]["quorum"]) == \
                        (up, (ROUNDS - len(GAP)) * MIN, 1), (r, check, one[check])
                    mine = [x for x in av[check]["regions"] if x["region"] == r]
                    assert len(mine) == 1 and mine[0]["up_us"] == up, (r, check, av[check]["regions"])

            # One-day windows: the incidents overlapping each day, with their real starts;
            # together the same set as the whole window.
            union = set()
            for d in range(-1, 4):
                since, until = DAY0 + d * DAY, DAY0 + (d + 1) * DAY
                day = ctl_json(col, "incidents", "--since", rfc3339(since), "--until", rfc3339(until),
                               "--check", "on")["checks"][0]
                have = in_rounds("on", day["incidents"])
                lo, hi = (since - spread_us("on")) / MIN - K0, (until - spread_us("on")) / MIN - K0
                assert have == [w for w in want if w[0] < hi and (w[1] is None or w[1] > lo)], (d, have)
                union |= set((s, e, tuple(r), n) for s, e, r, n in have)
            assert sorted(union) == sorted((s, e, tuple(r), n) for s, e, r, n in want), (union, want)

            # The overview's history bars are the tracker's stored rounds (one truth).
            at, ov = wait_for("an overview computed after tracking", lambda: overview_bars(col, tracked_at), 30)
            for check in CHECKS:
                # the newest round is 10 minutes old: over 3 intervals, stale
                assert ov[check]["round_us"] == MIN and ov[check]["stale"] is True, ov[check]
                assert ov[check]["bars"] == bars_of(check, at), (check, ov[check]["bars"], bars_of(check, at))
                assert "d" in ov[check]["bars"] and "p" in ov[check]["bars"], ov[check]
            print("test_incidents_late: %d incidents; fed %d rounds x 3 regions x 2 checks in %.1f s; "
                  "late region and one-day windows agree" % (len(want), ROUNDS, fed))
        finally:
            for p in probes.values():
                p.close()
            col.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
