#!/usr/bin/python3
"""The SLO leaves out exactly the rounds that start inside a maintenance window
(docs/ANALYTICS.md, "Maintenance"), also when the window begins and ends
mid-minute, while rollups only know whole minutes. Real collector, private
PostgreSQL, a Python gRPC probe through the real ingest path.

Two checks, every 5 s and every 60 s, each with 20 minutes of rounds twice: 40
minutes ago (the SLO's per-minute part, its last 6 hours) and 8 hours ago (the
part read as stretches between windows). In each stretch the rounds of three
minutes [M+10m, M+13m) fail, and a window covers [M+10m30s, M+11m45s): 75 s,
so 15 of the 5 s rounds, and for the 60 s check (its round 30-45 s into the
minute) both of its rounds at M+10 and M+11. Exact answers: the 5 s check
keeps 36 - 15 = 21 failed rounds per stretch (the whole-minute cut kept 24 or
12), the 60 s check 1 (it kept 2 or 1); availability's counts the same. Then
the raw results of one edge minute
are deleted (as retention would): that minute falls back to the minute rule.
Also: the collector's start log holds no warning (libmicrohttpd once warned
about the order of its options)."""

import json
import time

from picket_env import (FakeProbe, PrivatePostgres, grpc_stubs, migrate, picketctl, round_spread_us,
                        start_collector, wait_for, wait_tracked)

pb, _, _, _ = grpc_stubs()

SEC, MIN = 1_000_000, 60_000_000
NOW_MIN = int(time.time() * 1e6) // MIN * MIN
BASES = {"recent": NOW_MIN - 40 * MIN, "old": NOW_MIN - 8 * 60 * MIN}
LATE_US = 400_000  # each result starts 0.4 s after its round, as a busy probe's do


def pick_60s_name():
    """A name whose 60 s round lies 30-45 s into its minute: both rounds at M+10 and
    M+11 are then inside the window, and the minute rule gets M+10's wrong."""
    for i in range(1000):
        name = "x60-%d" % i
        if 30 * SEC <= round_spread_us(name, 60000) < 45 * SEC:
            return name
    raise AssertionError("no name with a spread of 30-45 s")


X5, X60 = "x5", pick_60s_name()
INTERVAL_MS = {X5: 5000, X60: 60000}


def window(base):
    return base + 10 * MIN + 30 * SEC, base + 11 * MIN + 45 * SEC


def rounds(check, base):
    """(round start, ok) of the check's 20 minutes from base; failed in [base+10m, base+13m)."""
    iv = INTERVAL_MS[check] * 1000
    sp = round_spread_us(check, INTERVAL_MS[check])
    return [(base + k * iv + sp, not base + 10 * MIN <= base + k * iv + sp < base + 13 * MIN)
            for k in range(20 * MIN // iv)]


def expected(check, bases):
    good = bad = 0
    for base in bases:
        w0, w1 = window(base)
        for at, ok in rounds(check, base):
            if not w0 <= at < w1:
                good, bad = good + ok, bad + (not ok)
    return good, bad


def rfc3339(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // SEC))


def slo(col, check):
    out = picketctl(col.port, "slo", "--since", rfc3339(BASES["old"] - 60 * MIN), "--until", rfc3339(NOW_MIN),
                    "--check", check, "--json", cert_cn="read:dashboard")
    assert out.returncode == 0, (out.stdout, out.stderr)
    c = json.loads(out.stdout)["checks"][0]
    return c["good"], c["bad"]


def availability(col, check, base):
    """(ok, failed) of the check's 20 minutes from base, global."""
    out = picketctl(col.port, "availability", "--since", rfc3339(base), "--until", rfc3339(base + 20 * MIN),
                    "--check", check, "--json", cert_cn="read:dashboard")
    assert out.returncode == 0, (out.stdout, out.stderr)
    g = json.loads(out.stdout)["checks"][0]["global"]
    return g["ok"], g["failed"]


def main():
    t_start = time.time()
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg)
        try:
            wait_for("collector started", lambda: "msg=listening" in col.output(), 10)
            start_log = col.output()
            assert "level=warn" not in start_log and "level=error" not in start_log, start_log
            print("ok: the collector's start log has no warning (libmicrohttpd's option order)")
            infos = [pb.CheckInfo(name=c, type="http", target="http://127.0.0.1:1/", interval_ms=iv, service="svc",
                                  slo_target_percent=99.0, slo_window_ms=86_400_000) for c, iv in INTERVAL_MS.items()]
            p = FakeProbe(col.port, "exact-eu", infos)
            points = [(check, at, ok) for check in INTERVAL_MS for base in BASES.values()
                      for at, ok in rounds(check, base)]
            for i in range(0, len(points), 200):  # numbered per batch: send_batch waits for the last one's ack
                p.send_batch([pb.Result(
                    sequence=p.next_seq(), check_name=check, check_type="http", scheduled_at_us=at,
                    started_at_us=at + LATE_US, outcome=pb.OUTCOME_OK if ok else pb.OUTCOME_FAILED,
                    error_class=pb.ERROR_CLASS_NONE if ok else pb.ERROR_CLASS_TIMEOUT, status_code=200,
                    dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=5000) for check, at, ok in points[i:i + 200]])
            wait_tracked(col)

            before = {c: slo(col, c) for c in INTERVAL_MS}
            assert before[X5] == (2 * 204, 2 * 36) and before[X60] == (2 * 17, 2 * 3), before
            counts = {(c, b): availability(col, c, base) for c in INTERVAL_MS for b, base in BASES.items()}
            assert all(counts[(X5, b)] == (204, 36) and counts[(X60, b)] == (17, 3) for b in BASES), counts
            for name, base in BASES.items():
                w0, w1 = window(base)
                out = picketctl(col.port, "maintenance", "add", "edge-" + name, "--for", "service:svc", "--start",
                                rfc3339(w0), "--end", rfc3339(w1))
                assert out.returncode == 0, (out.stdout, out.stderr)
            after = {c: slo(col, c) for c in INTERVAL_MS}
            want = {c: expected(c, BASES.values()) for c in INTERVAL_MS}
            assert want == {X5: (2 * 204, 2 * 21), X60: (2 * 17, 2 * 1)}, want
            assert after == want, (after, want)
            print("ok: a window from mm:30 for 75 s leaves out exactly its rounds: 5 s rounds good/bad %d/%d, "
                  "60 s rounds %d/%d (both in the per-minute part and the older stretches)"
                  % (after[X5] + after[X60]))
            counts = {(c, b): availability(col, c, base) for c in INTERVAL_MS for b, base in BASES.items()}
            assert all(counts[(X5, b)] == (204, 21) and counts[(X60, b)] == (17, 1) for b in BASES), counts
            print("ok: availability's counts leave out the same rounds: 5 s ok/failed %d/%d, 60 s %d/%d"
                  % (counts[(X5, "recent")] + counts[(X60, "recent")]))

            # Retention took the raw results of the old window's first minute: that minute
            # keeps the minute rule (it starts before the window: all 12 of its failed rounds count).
            edge = BASES["old"] + 10 * MIN
            pg.psql("DELETE FROM results WHERE check_id = (SELECT id FROM checks WHERE name = '%s') "
                    "AND started_at >= to_timestamp(%d) AND started_at < to_timestamp(%d)"
                    % (X5, edge // SEC, (edge + MIN) // SEC))
            got = slo(col, X5)
            assert got == (2 * 204, 2 * 21 + 6), got
            print("ok: a minute whose raw results are gone falls back to the minute rule (bad %d)" % got[1])
        finally:
            col.stop()
    print("test_maintenance_exact passed in %.1f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
