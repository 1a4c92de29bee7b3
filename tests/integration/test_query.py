#!/usr/bin/python3
"""The Query API and picketctl's analytics commands against real processes: a
collector with a private PostgreSQL, three Python gRPC probes (eu, us, ap) that
register checks with service, budgets and an SLO and stream 12 hours of
synthetic results (known latencies, a one-region outage, a quorum outage, an
incident still open at the end, degraded and unknown results) through the real
ingest path; compaction folds them into rollups; then every picketctl command
(--json) is compared with answers computed here, independently, from the
results this test generated: counts, uptime and incidents exactly, quantiles
within 1%, trend slopes from the same Theil-Sen definition."""

import csv
import io
import json
import math
import queue
import random
import sys
import time

from picket_env import PrivatePostgres, Target, grpc_channel, grpc_stubs, migrate, picketctl, rfc3339, \
    round_spread_us as spread_us, start_collector, start_probe, wait_for, wait_tracked
import os
import tempfile

import grpc

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()

MIN = 60_000_000
HOUR = 60 * MIN
MINUTES = 720  # 12 hours of one result per check, probe and minute
REGIONS = ["eu", "us", "ap"]
OFFSET = {"eu": 5_000_000, "us": 10_000_000, "ap": 15_000_000}  # after the round's grid point



now = int(time.time() * 1e6)
T0 = (now // MIN - MINUTES - 10) * MIN  # data ends 10 minutes ago: all of it compactable
T_END = T0 + MINUTES * MIN

# SLOs over groups of checks (the collector's --slos file): members by service
# (AND) check name patterns; an SLO window shorter than the 6 h read per minute;
# a group whose selector matches no known check.
SLOS_FILE = """slos:
  - name: shop-journey
    description: every check of the shop service, together
    target: 99.5%
    window: 1d
    service: shop
  - name: edge
    target: 99
    window: 5h
    checks: [api-a, we*]
  - name: ghost
    target: 99.9
    service: nowhere
"""
GROUPS = {"shop-journey": (0.995, 1440, ["api-a", "api-b"]), "edge": (0.99, 300, ["api-a", "web"]),
          "ghost": (0.999, 30 * 1440, [])}

CHECKS = {
    # name: (service, regions, budgets ms, slo (percent, window ms))
    "api-a": ("shop", REGIONS, (100, 300, 1000), (99.0, 86_400_000)),
    "api-b": ("shop", REGIONS, None, None),
    "web": ("site", ["eu", "ap"], None, None),
}


def outcome_of(check, region, m):
    """(outcome, total_us or -1) of the result of check in region at minute m."""
    rng = random.Random("%s/%s/%d" % (check, region, m))
    if check == "api-a":
        base = {"eu": 80_000, "us": 120_000, "ap": 200_000}[region]
        lat = base + rng.randrange(0, 100_000)
        if region == "us" and 40 <= m < 60:          # us alone: not a global outage (quorum 2)
            return pb.OUTCOME_FAILED, 2_000_000
        if region in ("eu", "us") and 100 <= m < 110:  # two regions: global down
            return pb.OUTCOME_FAILED, 2_000_000
        if region == "eu" and m == 10:                # one round: no incident (N = 3)
            return pb.OUTCOME_FAILED, 2_000_000
        if region == "eu" and 700 <= m < 705:         # late failures for the burn rates
            return pb.OUTCOME_FAILED, -1
        if region == "ap" and 200 <= m < 220:
            return pb.OUTCOME_DEGRADED, lat
        return pb.OUTCOME_OK, lat
    if check == "api-b":  # p95 climbs about 3 % an hour: a trend up
        lat = int(100_000 * (1 + 0.03 * m / 60.0)) + rng.randrange(0, 20_000)
        return pb.OUTCOME_OK, lat
    # web: unknowns are no data; an outage in both its regions still open at the end
    if region == "eu" and 300 <= m < 303:
        return pb.OUTCOME_UNKNOWN, -1
    if m >= MINUTES - 5:
        return pb.OUTCOME_FAILED, -1
    return pb.OUTCOME_OK, 30_000 + rng.randrange(0, 5_000)


def generate():
    """{region: [pb.Result...]} in sequence order, and a flat list of (check, region, m, outcome, total)."""
    per_probe, flat = {}, []
    for region in REGIONS:
        seq = 0
        out = []
        for m in range(MINUTES):
            for check, (_, regions, _, _) in CHECKS.items():
                if region not in regions:
                    continue
                outcome, total = outcome_of(check, region, m)
                seq += 1
                out.append(pb.Result(sequence=seq, check_name=check, check_type="http",
                                     scheduled_at_us=T0 + m * MIN + spread_us(check),
                                     started_at_us=T0 + m * MIN + spread_us(check) + OFFSET[region],
                                     outcome=outcome,
                                     error_class=pb.ERROR_CLASS_NONE if outcome != pb.OUTCOME_FAILED
                                     else pb.ERROR_CLASS_TIMEOUT, status_code=200, dns_us=-1, connect_us=-1,
                                     tls_us=-1, ttfb_us=-1, total_us=total))
                flat.append((check, region, m, outcome, total))
        per_probe[region] = out
    return per_probe, flat


def feed(col, per_probe):
    for region in REGIONS:
        name = "q-" + region
        ch = grpc_channel(col.port, "probe:" + name)
        stub = pb_grpc.ProbeServiceStub(ch)
        infos = []
        for check, (service, regions, budgets, slo) in CHECKS.items():
            if region not in regions:
                continue
            info = pb.CheckInfo(name=check, type="http", target="http://127.0.0.1:1/", interval_ms=60000,
                                service=service)
            if budgets:
                info.budget_p50_ms, info.budget_p95_ms, info.budget_p99_ms = budgets
            if slo:
                info.slo_target_percent, info.slo_window_ms = slo
            infos.append(info)
        reg = stub.Register(pb.RegisterRequest(probe_name=name, region=region, version="test", checks=infos,
                                               probe_time_us=int(time.time() * 1e6)))
        out = queue.Queue()
        responses = stub.Connect(iter(out.get, None))
        out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name=name)))
        results = per_probe[region]
        for i in range(0, len(results), 500):
            out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=results[i:i + 500])))
        want = results[-1].sequence
        while True:
            msg = next(responses)
            if msg.WhichOneof("kind") == "ack" and msg.ack.committed_sequence == want:
                break
        out.put(None)
        ch.close()


# ------------------------------------------------------- independent answers

GOOD = (pb.OUTCOME_OK, pb.OUTCOME_DEGRADED)


def exact_quantile(values, q):
    v = sorted(values)
    rank = max(1, math.ceil(q * len(v)))
    return v[rank - 1]


def region_down(flat, check, m_lo, m_hi):
    """{(region, m): True/False} for rounds with data."""
    state = {}
    for c, region, m, outcome, _ in flat:
        if c != check or not (m_lo <= m < m_hi) or outcome == pb.OUTCOME_UNKNOWN:
            continue
        state[(region, m)] = outcome == pb.OUTCOME_FAILED  # one result per region and round
    return state


def rounds(flat, check, quorum, region=None):
    """[(m, 'up'|'down'|None, regions down)] per minute, global with the quorum or one region."""
    st = region_down(flat, check, 0, MINUTES)
    out = []
    for m in range(MINUTES):
        regs = [r for r in REGIONS if (r, m) in st and (region is None or r == region)]
        down = [r for r in regs if st[(r, m)]]
        if not regs:
            out.append((m, None, []))
        else:
            need = quorum if region is None else 1
            out.append((m, "down" if len(down) >= need else "up", down))
    return out


def availability(flat, check, quorum, region=None):
    res = [x for x in flat if x[0] == check and (region is None or x[1] == region)]
    counts = {k: sum(1 for x in res if x[3] == o) for k, o in
              (("ok", pb.OUTCOME_OK), ("degraded", pb.OUTCOME_DEGRADED), ("failed", pb.OUTCOME_FAILED),
               ("unknown", pb.OUTCOME_UNKNOWN))}
    good = counts["ok"] + counts["degraded"]
    bad = counts["failed"]
    rs = rounds(flat, check, quorum, region)
    covered = sum(1 for _, s, _ in rs if s) * MIN
    up = sum(1 for _, s, _ in rs if s == "up") * MIN
    return counts, good / (good + bad), covered, up, up / covered


def incidents(flat, check, quorum, n_open=3, m_close=3, region=None):
    """The N/M rule of docs/ANALYTICS.md walked here over the minute rounds."""
    rs = rounds(flat, check, quorum, region)
    found, cur, down_run, up_run = [], None, [], []
    for m, s, down in rs:
        if s is None:
            continue
        if cur is None:
            if s == "down":
                down_run.append((m, down))
                if len(down_run) == n_open:
                    cur = {"start": down_run[0][0], "regions": set(), "down_rounds": 0}
                    for dm, dr in down_run:
                        cur["regions"] |= set(dr)
                        cur["down_rounds"] += 1
                    down_run = []
            else:
                down_run = []
        else:
            if s == "down":
                up_run = []
                cur["regions"] |= set(down)
                cur["down_rounds"] += 1
            else:
                up_run.append(m)
                if len(up_run) == m_close:
                    cur["end"] = up_run[0]
                    found.append(cur)
                    cur, up_run = None, []
    if cur is not None:
        cur["end"] = None
        found.append(cur)
    out = []
    for i in found:
        # a round starts at its grid point: minute m's round of the check at T0 + m * MIN + spread
        start = T0 + i["start"] * MIN + spread_us(check)
        end = T0 + i["end"] * MIN + spread_us(check) if i["end"] is not None else None
        out.append({"start_us": start, "end_us": end, "open": end is None,
                    # an open one runs to the end of the window's last round
                    "duration_us": (end if end is not None else T_END + spread_us(check)) - start,
                    "regions": sorted(i["regions"]), "down_rounds": i["down_rounds"]})
    observed = sum(1 for _, s, _ in rs if s) * MIN
    closed = [x for x in out if not x["open"]]
    downtime = sum(x["duration_us"] for x in out)
    stats = {"count": len(out), "closed": len(closed), "downtime_us": downtime, "observed_us": observed,
             "mttr_s": sum(x["duration_us"] for x in closed) / len(closed) / 1e6 if closed else None,
             "mtbf_s": (observed - downtime) / len(out) / 1e6 if out else None}
    return out, stats


def theil_sen(points):
    """Median of pairwise slopes per day, and the median of y."""
    slopes = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            (ti, yi), (tj, yj) = points[i], points[j]
            if ti != tj:
                slopes.append((yj - yi) / ((tj - ti) / 86_400e6))
    slopes.sort()
    ys = sorted(y for _, y in points)

    def med(v):
        n = len(v)
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return med(slopes), med(ys), slopes


def sen_band(points, slopes, z=1.959963984540054):
    n = len(points)
    ties = {}
    for _, y in points:
        ties[y] = ties.get(y, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties.values())) / 18.0
    c = z * math.sqrt(var)
    big_n = len(slopes)
    m1, m2 = (big_n - c) / 2, (big_n + c) / 2
    lo = min(max(int(math.floor(m1 + 0.5)), 1), big_n)
    hi = min(max(int(math.floor(m2 + 1 + 0.5)), 1), big_n)
    return slopes[lo - 1], slopes[hi - 1]


# ----------------------------------------------------------------- helpers

def group_slo(flat, members, target, window_min, region=None):
    """The group SLO at T_END, computed here from the results: (good, bad,
    budget left, [(burn 1h, burn 5m), (burn 6h, burn 30m)]); None where no data."""
    def counts(w):
        ys = [x for x in flat if x[0] in members and x[2] >= MINUTES - w and (region is None or x[1] == region)]
        return (sum(1 for x in ys if x[3] in GOOD), sum(1 for x in ys if x[3] == pb.OUTCOME_FAILED))
    good, bad = counts(window_min)
    left = 1 - bad / ((1 - target) * (good + bad)) if good + bad else None

    def burn(w):
        g, b_ = counts(min(w, window_min))
        return b_ / (g + b_) / (1 - target) if g + b_ else None
    return good, bad, left, [(burn(60), burn(5)), (burn(360), burn(30))]


def check_group(got, flat, name, region=None, window_min=None):
    target, window, members = GROUPS[name]
    window = window_min or window
    assert got["name"] == name and got["members"] == members, got
    assert abs(got["target"] - target) < 1e-12 and got["window_us"] == window * MIN, got
    good, bad, left, burns = group_slo(flat, members, target, window, region)
    assert (got["good"], got["bad"]) == (good, bad), (name, region, got, good, bad)
    if left is None:
        assert got["budget_left"] is None and got["budget_left_min"] is None, got
    else:
        close(got["budget_left"], left, what=(name, "budget left"))
        close(got["budget_left_min"], left * (1 - target) * window, what=(name, "budget left min"))
    assert len(got["burns"]) == 2, got
    for bw, (want_long, want_short) in zip(got["burns"], burns):
        for k, want in (("burn_long", want_long), ("burn_short", want_short)):
            if want is None:
                assert bw[k] is None, (name, bw)
            else:
                close(bw[k], want, what=(name, k, bw["long_window_us"]))
        assert bw["firing"] == (want_long is not None and want_short is not None and want_long > bw["factor"]
                                and want_short > bw["factor"]), (name, bw)


def close(a, b, rel=1e-9, what=""):
    assert a is not None and b is not None, (what, a, b)
    assert abs(a - b) <= rel * max(abs(a), abs(b), 1e-12), (what, a, b)


def ctl(col, *args, expect=0):
    out = picketctl(col.port, *args, cert_cn="read:dashboard")
    assert out.returncode == expect, (args, out.returncode, out.stdout[-3000:], out.stderr[-3000:])
    return out


def ctl_json(col, *args):
    return json.loads(ctl(col, *args, "--json").stdout)



def main():
    per_probe, flat = generate()
    window = ["--since", rfc3339(T0), "--until", rfc3339(T_END)]
    with PrivatePostgres() as pg:
        migrate(pg)
        slos = os.path.join(tempfile.mkdtemp(prefix="picket-query-slos-"), "slos.yaml")
        with open(slos, "w") as f:
            f.write(SLOS_FILE)
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--slos", slos])
        try:
            t_start = time.time()
            feed(col, per_probe)
            # Compaction folds every partial row (all are older than its 2-minute bound).
            wait_for("rollups compacted", lambda: pg.psql("SELECT count(*) FROM rollup_partial") == [["0"]], 60)
            wait_tracked(col)  # rounds and incidents are folded after the ack
            n_minutes = pg.psql("SELECT count(*) FROM rollup_minute")[0][0]
            assert int(n_minutes) == len(flat), (n_minutes, len(flat))

            # What Register stored about each check (migration 006).
            meta = pg.psql("SELECT name, service, budget_p50_ms, budget_p95_ms, budget_p99_ms, slo_target_percent, "
                           "slo_window_ms FROM checks ORDER BY name")
            assert meta == [["api-a", "shop", "100", "300", "1000", "99", "86400000"],
                            ["api-b", "shop", "", "", "", "", ""],
                            ["web", "site", "", "", "", "", ""]], meta

            # ---- availability: exact counts, success ratio and uptime, global (quorum) and per region
            got = ctl_json(col, "availability", *window)
            assert got["since_us"] == T0 and got["until_us"] == T_END, got
            assert [c["check"] for c in got["checks"]] == ["api-a", "api-b", "web"], got
            for c in got["checks"]:
                regions = CHECKS[c["check"]][1]
                quorum = len(regions) // 2 + 1
                assert c["quorum"] == quorum and c["round_us"] == MIN, c
                # the answer states its rounds: the check's interval and the global rounds with data
                assert c["interval_us"] == MIN and c["rounds"] == c["global"]["covered_us"] // MIN, c
                for fig, region in [(c["global"], None)] + [(r, r["region"]) for r in c["regions"]]:
                    counts, ratio, covered, up, uptime = availability(flat, c["check"], quorum, region)
                    for k, v in counts.items():
                        assert fig[k] == v, (c["check"], region, k, fig, counts)
                    close(fig["success_ratio"], ratio, what=(c["check"], region, "success"))
                    assert fig["covered_us"] == covered and fig["up_us"] == up, (c["check"], region, fig, covered, up)
                    close(fig["uptime"], uptime, what=(c["check"], region, "uptime"))
                assert sorted(r["region"] for r in c["regions"]) == sorted(regions), c
            a = next(c for c in got["checks"] if c["check"] == "api-a")
            assert a["global"]["up_us"] == a["global"]["covered_us"] - 10 * MIN, a  # the quorum outage only
            # --quorum 1: any region down is down; --region and --check filter.
            got1 = ctl_json(col, "availability", *window, "--quorum", "1", "--check", "api-a")
            assert len(got1["checks"]) == 1
            _, _, covered, up, _ = availability(flat, "api-a", 1)
            assert got1["checks"][0]["global"]["up_us"] == up, (got1, up)
            gotr = ctl_json(col, "availability", *window, "--region", "us", "--service", "shop")
            assert [c["check"] for c in gotr["checks"]] == ["api-a", "api-b"], gotr
            for c in gotr["checks"]:
                assert [r["region"] for r in c["regions"]] == ["us"], c
                counts, _, covered, up, _ = availability(flat, c["check"], 1, "us")
                assert c["global"]["failed"] == counts["failed"] and c["global"]["up_us"] == up, (c, counts, up)
            # A relative window holding all the data gives the same counts.
            rel = ctl_json(col, "availability", "--since", "13h", "--check", "api-a")
            assert rel["checks"][0]["global"]["ok"] == a["global"]["ok"], (rel, a)

            # ---- latency: every quantile within 1 % of the exact one, budgets and breaches
            got = ctl_json(col, "latency", *window, "--quantile", "0.5", "--quantile", "0.9",
                           "--quantile", "0.99", "--quantile", "0.999")
            qs = [0.5, 0.9, 0.99, 0.999]
            assert got["quantiles"] == qs, got
            for c in got["checks"]:
                for scope, qv, count in [(None, c["quantiles_us"], c["count"])] + \
                        [(r["region"], r["quantiles_us"], r["count"]) for r in c["regions"]]:
                    # over successful results only: failed ones (2 s timeouts here) keep their counts
                    lats = [x[4] for x in flat if x[0] == c["check"] and x[4] >= 0 and x[3] in GOOD and
                            (scope is None or x[1] == scope)]
                    if scope is None:
                        n_failed_timed = sum(1 for x in flat if x[0] == c["check"] and x[4] >= 0 and x[3] not in GOOD)
                        assert c["check"] != "api-a" or n_failed_timed > 0, c["check"]
                    assert count == len(lats), (c["check"], scope, count, len(lats))
                    for q, v in zip(qs, qv):
                        close(v, exact_quantile(lats, q), rel=0.01, what=(c["check"], scope, q))
            a = next(c for c in got["checks"] if c["check"] == "api-a")
            assert a["budget"] == {"p50_us": 100_000, "p95_us": 300_000, "p99_us": 1_000_000}, a
            lats = [x[4] for x in flat if x[0] == "api-a" and x[4] >= 0 and x[3] in GOOD]
            want = [n for n, q, b in (("p50", 0.5, 100_000), ("p95", 0.95, 300_000), ("p99", 0.99, 1_000_000))
                    if exact_quantile(lats, q) > b]
            # p99 is the successes' (under 300 ms): the 2 s timeouts, 2 % of api-a's results, would
            # have breached the 1 s p99 budget had failed results been in the histogram.
            assert a["breaches"] == want and "p50" in want and "p99" not in want, (a, want)
            assert a["p99_us"] < 300_000, a
            b = next(c for c in got["checks"] if c["check"] == "api-b")
            assert b["budget"] == {"p50_us": None, "p95_us": None, "p99_us": None} and b["breaches"] == [], b

            # ---- incidents: exact starts, ends, durations, regions, MTTR/MTBF; service merge
            got = ctl_json(col, "incidents", *window)
            for c in got["checks"]:
                quorum = len(CHECKS[c["check"]][1]) // 2 + 1
                want, stats = incidents(flat, c["check"], quorum)
                have = [{k: i[k] for k in ("start_us", "end_us", "open", "duration_us", "regions", "down_rounds")}
                        for i in c["incidents"]]
                assert have == want, (c["check"], have, want)
                for k in ("count", "closed", "downtime_us", "observed_us"):
                    assert c["stats"][k] == stats[k], (c["check"], k, c["stats"], stats)
                # the answer states its definitions and the rounds it judged
                assert (c["open_after"], c["close_after"], c["quorum"], c["round_us"], c["interval_us"]) == \
                    (3, 3, quorum, MIN, MIN), c
                assert c["rounds"] == stats["observed_us"] // MIN, c
                for k in ("mttr_s", "mtbf_s"):
                    if stats[k] is None:
                        assert c["stats"][k] is None, (c, stats)
                    else:
                        close(c["stats"][k], stats[k], what=(c["check"], k))
            a = next(c for c in got["checks"] if c["check"] == "api-a")
            assert len(a["incidents"]) == 1 and a["incidents"][0]["regions"] == ["eu", "us"], a
            web = next(c for c in got["checks"] if c["check"] == "web")
            assert web["incidents"][-1]["open"] and web["incidents"][-1]["end_us"] is None, web
            shop = next(s for s in got["services"] if s["service"] == "shop")
            assert [i["start_us"] for i in shop["incidents"]] == [T0 + 100 * MIN + spread_us("api-a")], shop
            # One region, and other N/M.
            got = ctl_json(col, "incidents", *window, "--region", "us", "--check", "api-a", "--open-after", "5",
                           "--close-after", "2")
            want, _ = incidents(flat, "api-a", 1, 5, 2, region="us")
            assert (got["checks"][0]["open_after"], got["checks"][0]["close_after"], got["checks"][0]["quorum"]) == \
                (5, 2, 1), got["checks"][0]
            have = [{k: i[k] for k in ("start_us", "end_us", "open", "duration_us", "regions", "down_rounds")}
                    for i in got["checks"][0]["incidents"]]
            assert have == want and len(want) == 2, (have, want)

            # ---- trend: hourly p95 and error rate through Theil-Sen
            got = ctl_json(col, "trend", *window)
            for c in got["checks"]:
                p95_points, err_points = [], []
                # Points on the UTC hour grid, the first and last clipped to the window.
                for g in range(T0 // HOUR * HOUR, T0 + MINUTES * MIN, HOUR):
                    lo = max(g, T0)
                    xs = [x for x in flat
                          if x[0] == c["check"] and lo <= T0 + x[2] * MIN < min(g + HOUR, T0 + MINUTES * MIN)]
                    lats = [x[4] for x in xs if x[4] >= 0]
                    if lats:
                        p95_points.append((lo, exact_quantile(lats, 0.95)))
                    good = sum(1 for x in xs if x[3] in GOOD)
                    bad = sum(1 for x in xs if x[3] == pb.OUTCOME_FAILED)
                    if good + bad:
                        err_points.append((lo, bad / (good + bad)))
                slope, median, slopes = theil_sen(p95_points)
                fig = c["p95_us"]
                cells = 12 if T0 % HOUR == 0 else 13  # hours the window touches
                if c["check"] == "web" and 0 < T0 % HOUR <= 5 * MIN:
                    cells -= 1  # its last, clipped hour holds only web's final failures: no latency
                assert fig["points"] == len(p95_points) == cells, (c["check"], fig, len(p95_points), cells)
                close(fig["median"], median, rel=0.01, what=(c["check"], "p95 median"))
                # Hourly p95s are each within 1 %: the slope moves by at most ~2 % of the level per point gap.
                assert abs(fig["slope_per_day"] - slope) <= 0.02 * median * 24 + 1e-9, (c["check"], fig, slope)
                lo, hi = sen_band(p95_points, slopes)
                want_dir = "up" if lo > 0 else "down" if hi < 0 else "flat"
                if c["check"] == "api-b":
                    assert want_dir == "up" and fig["direction"] == "up", (fig, lo, hi)
                    assert 40 < fig["pct_per_day"] < 110, fig  # about 3 % an hour of the median
                eslope, emedian, _ = theil_sen(err_points)
                efig = c["error_rate"]
                assert efig["points"] == len(err_points), (c["check"], efig)
                close(efig["slope_per_day"], eslope, rel=1e-9, what=(c["check"], "error slope"))
                close(efig["median"], emedian, rel=1e-9, what=(c["check"], "error median"))

            # ---- SLO: api-a only (99 % over a day ending at until), budget and burn rates
            got = ctl_json(col, "slo", "--until", rfc3339(T_END))
            assert [c["check"] for c in got["checks"]] == ["api-a"], got
            s = got["checks"][0]
            assert s["target"] == 0.99 and s["window_us"] == 86_400_000_000, s
            xs = [x for x in flat if x[0] == "api-a"]
            good = sum(1 for x in xs if x[3] in GOOD)
            bad = sum(1 for x in xs if x[3] == pb.OUTCOME_FAILED)
            assert (s["good"], s["bad"]) == (good, bad), (s, good, bad)
            budget = 0.01 * (good + bad)
            close(s["error_budget"], budget, what="error budget")
            close(s["budget_left"], 1 - bad / budget, what="budget left")
            close(s["budget_left_min"], (1 - bad / budget) * 0.01 * 1440, what="budget left min")

            def burn(w):
                ys = [x for x in xs if x[2] >= MINUTES - w]
                g = sum(1 for x in ys if x[3] in GOOD)
                b_ = sum(1 for x in ys if x[3] == pb.OUTCOME_FAILED)
                return b_ / (g + b_) / 0.01
            want_burns = [(60, 5), (360, 30)]
            assert len(s["burns"]) == 2, s
            for bw, (lw, sw) in zip(s["burns"], want_burns):
                assert bw["long_window_us"] == lw * MIN and bw["short_window_us"] == sw * MIN, bw
                close(bw["burn_long"], burn(lw), what=("burn", lw))
                close(bw["burn_short"], burn(sw), what=("burn", sw))
                assert bw["firing"] == (burn(lw) > bw["factor"] and burn(sw) > bw["factor"]), bw

            # ---- SLOs over groups of checks: each over its own window ending at until
            got = ctl_json(col, "slo", "--until", rfc3339(T_END))
            assert [g["name"] for g in got["groups"]] == ["edge", "shop-journey"], got["groups"]
            for g in got["groups"]:
                check_group(g, flat, g["name"])
            edge = got["groups"][0]
            assert edge["service"] == "" and edge["check_patterns"] == ["api-a", "we*"], edge
            # web's open outage at the end: the 5-minute burn of edge is high, its 1 h one is not.
            assert edge["burns"][0]["burn_short"] > 14.4 > edge["burns"][0]["burn_long"], edge
            # One region: only its results count (web is not in us).
            one = ctl_json(col, "slo", "--until", rfc3339(T_END), "--group", "edge", "--region", "eu")
            assert one["checks"] == [] and len(one["groups"]) == 1, one
            check_group(one["groups"][0], flat, "edge", region="eu")
            # A group whose selector matches no check: no data, never 0 % or spent.
            ghost = ctl_json(col, "slo", "--until", rfc3339(T_END), "--group", "ghost")["groups"]
            check_group(ghost[0], flat, "ghost")
            # --service picks the groups with a member in it; the group still counts all its members.
            site = ctl_json(col, "slo", "--until", rfc3339(T_END), "--service", "site")
            assert site["checks"] == [] and [g["name"] for g in site["groups"]] == ["edge"], site
            check_group(site["groups"][0], flat, "edge")
            out = ctl(col, "slo", "--group", "nope", expect=2)
            assert "SLO 'nope' is not in " + slos in out.stderr, out.stderr
            ctl(col, "latency", "--group", "edge", expect=2)
            rows = list(csv.DictReader(io.StringIO(ctl(col, "slo", "--until", rfc3339(T_END), "--csv").stdout)))
            assert [(r["check"], r["group"]) for r in rows] == [("", "edge"), ("", "shop-journey"), ("api-a", "")], rows
            assert int(rows[1]["bad"]) == got["groups"][1]["bad"] and rows[1]["service"] == "shop", rows
            table = ctl(col, "slo", "--until", rfc3339(T_END)).stdout
            assert "SLO (GROUP)" in table and "shop-journey" in table and "api-a" in table, table

            # ---- report: the dashboard's figures are the commands' figures
            rep = ctl_json(col, "report", *window)
            lat = {c["check"]: c for c in ctl_json(col, "latency", *window)["checks"]}
            av = {c["check"]: c for c in ctl_json(col, "availability", *window)["checks"]}
            inc = {c["check"]: c for c in ctl_json(col, "incidents", *window)["checks"]}
            assert [(c["service"], c["check"]) for c in rep["checks"]] == \
                [("shop", "api-a"), ("shop", "api-b"), ("site", "web")], rep
            for c in rep["checks"]:
                name = c["check"]
                last = max((x for x in flat if x[0] == name), key=lambda x: (x[2], OFFSET[x[1]]))
                want_outcome = {pb.OUTCOME_OK: "ok", pb.OUTCOME_FAILED: "failed"}[last[3]]
                assert c["last"]["outcome"] == want_outcome, (name, c["last"], last)
                for k in ("p50_us", "p95_us", "p99_us", "budget", "breaches"):
                    assert c["latency"][k] == lat[name][k], (name, k)
                assert c["availability"] == av[name], name
                assert c["open_incidents"] == sum(1 for i in inc[name]["incidents"] if i["open"]), (name, c)
                assert c["incidents"] == len(inc[name]["incidents"]), (name, c)
            assert rep["checks"][2]["last"]["outcome"] == "failed" and rep["checks"][2]["open_incidents"] == 1
            # SLO in the report: over the report's window (since given).
            a = rep["checks"][0]
            assert a["slo"]["window_us"] == T_END - T0 and a["slo"]["bad"] == bad, a["slo"]
            assert rep["checks"][1]["slo"] is None, rep["checks"][1]
            # Group SLOs in the report: over the report's window too.
            assert [g["name"] for g in rep["groups"]] == ["edge", "shop-journey"], rep["groups"]
            for g in rep["groups"]:
                check_group(g, flat, g["name"], window_min=MINUTES)
            table = ctl(col, "report", *window).stdout
            assert "== shop" in table and "== site" in table and "FAIL" in table and "PASS" in table, table
            assert "== SLOs over groups of checks" in table and "shop-journey" in table, table

            # ---- CSV: one line per check and region (and the global "*"), same figures
            rows = list(csv.DictReader(io.StringIO(ctl(col, "availability", *window, "--csv").stdout)))
            assert len(rows) == 3 + 3 + 2 + 3, rows
            r = next(x for x in rows if x["check"] == "api-a" and x["region"] == "us")
            counts, ratio, _, _, uptime = availability(flat, "api-a", 1, "us")
            assert int(r["failed"]) == counts["failed"] and abs(float(r["uptime"]) - uptime) < 1e-12, r
            for cmd in ("latency", "trend", "incidents", "slo", "report"):
                text = ctl(col, cmd, *window, "--csv").stdout
                assert len(text.splitlines()) >= 2 and "," in text.splitlines()[0], (cmd, text)

            # ---- usage and errors
            assert "--since" in ctl(col, "latency", "--help").stdout
            out = ctl(col, "availability", "--check", "nope", expect=2)
            assert "check 'nope' is not known" in out.stderr, out.stderr
            out = ctl(col, "trend", "--region", "mars", expect=2)
            assert "region 'mars'" in out.stderr, out.stderr
            out = ctl(col, "latency", "--since", "yesterday", expect=2)
            assert "--since 'yesterday'" in out.stderr, out.stderr
            ctl(col, "slo", "--json", "--csv", expect=2)
            ctl(col, "trend", "--quorum", "2", expect=2)
            down = picketctl(1, "report", cert_cn="read:dashboard")
            assert down.returncode == 1, (down.returncode, down.stderr)
            # Query calls need a read credential: a probe's is refused.
            ch = grpc_channel(col.port, "probe:q-eu")
            try:
                pb_grpc.QueryServiceStub(ch).Availability(pb.AvailabilityRequest())
                raise AssertionError("a probe credential could query")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
            ch.close()
            # An RFC 3339 offset is the same instant as its Z form.
            off = ctl_json(col, "trend", "--check", "web", "--since", rfc3339(T0),
                           "--until", time.strftime("%Y-%m-%dT%H:%M:%S+01:00", time.gmtime(T_END // 1_000_000 + 3600)))
            assert off["until_us"] == T_END, off

            # A real probe sends what its check file says (service, budgets:, slo:) at Register.
            target = Target()
            checks = os.path.join(tempfile.mkdtemp(prefix="picket-query-"), "checks.yaml")
            with open(checks, "w") as f:
                f.write("checks:\n  - name: real-check\n    type: http\n    service: real-svc\n    interval: 60s\n"
                        "    budgets: {p50: 100ms, p95: 200ms, p99: 1s}\n    slo: {target: 99.5%%, window: 7d}\n"
                        "    request: {url: '%s'}\n" % target.url())
            probe = start_probe("q-real", "eu", [col.port], checks)
            try:
                want = [["real-svc", "100", "200", "1000", "99.5", str(7 * 86_400_000)]]
                wait_for("real probe's check metadata", lambda: pg.psql(
                    "SELECT service, budget_p50_ms, budget_p95_ms, budget_p99_ms, slo_target_percent, slo_window_ms "
                    "FROM checks WHERE name = 'real-check'") == want, 20)
                # No results in a window is no data (null), never 0 or down.
                nd = ctl_json(col, "report", *window, "--check", "real-check")["checks"][0]
                g = nd["availability"]["global"]
                assert g["success_ratio"] is None and g["uptime"] is None and g["covered_us"] == 0, nd
                assert nd["latency"]["p95_us"] is None and nd["latency"]["breaches"] == [], nd
                assert nd["slo"]["budget_left"] is None and nd["slo"]["good"] == 0, nd
                assert nd["open_incidents"] == 0 and nd["trend"]["p95_us"]["direction"] is None, nd
            finally:
                probe.stop()
                target.close()
            print("query test took %.1f s" % (time.time() - t_start))
            assert col.stop() == 0, col.output()[-4000:]
        except BaseException:
            print(col.output()[-6000:], file=sys.stderr)
            raise
        finally:
            col.stop()
    print("query: all assertions passed")


if __name__ == "__main__":
    main()
