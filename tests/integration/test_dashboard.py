#!/usr/bin/python3
"""The web dashboard in a real browser (headless Chromium via playwright-core,
tests/integration/dashboard_browser.mjs) against real processes: PostgreSQL, the
collector, a probe checking a local Target.
1. The page shows the check with e2e OK, uptime and latency figures, the probe
   with its last contact; the check's page (/check/NAME) draws its uPlot latency plot.
2. The Target answers 500: the page shows FAIL and an OPEN incident, the public
   status page /status/<group> shows the service down; the JSON API agrees.
3. The Target answers 200 again: FAIL and the open incident clear.
   The default view's compact answer (/api/board) holds the report's figures
   (the same pass), the overview's bars and the incidents, gzipped when asked;
   read every 0.5 s for 6 s, its live part is never older than 5 s.
4. 1,000 checks with results (a Python gRPC probe): the page's first load, from
   navigation start to the tables drawn with the data, measured by the browser
   (7 first visits, each with an empty cache, in one settled browser), must be
   under 300 ms (the median). Screenshots go to the test's temp dir (paths printed).
Incidents here use open_after=1 and close_after=1 (page query string, passed to
/api/incidents) so one round (the check's 1 s interval) opens and closes one; the
N/M rule itself is tested in test_query."""

import gzip
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from picket_env import (PrivatePostgres, Target, grpc_channel, grpc_stubs, migrate, start_collector, start_probe,
                        wait_for, write_checks)

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "dashboard_browser.mjs")
pb, pb_grpc, _, _ = grpc_stubs()
FIRST_LOAD_GOAL_MS = 300
FIRST_LOADS = 7  # first loads measured; their median is asserted
FAULT_S = 5
N_CHECKS = 1000


def browse(url, shot, wait_js, click=None, after_js=None):
    argv = ["node", BROWSER, url, shot, wait_js] + ([click, after_js] if click else [])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=int(os.environ.get("DASHBOARD_WAIT_MS", "20000")) // 1000 + 60)
    if p.returncode != 0:
        raise AssertionError("browser at %s: exit %d\n%s\n%s" % (url, p.returncode, p.stdout[-4000:],
                                                                 p.stderr[-2000:]))
    out = json.loads(p.stdout.strip().splitlines()[-1])
    print("screenshot:", out["screenshot"], flush=True)
    return out


def api(col, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (col.http_port, path), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def row_of(out, check):
    rows = [r for r in out["checks"] if r[0] == check]
    assert len(rows) == 1, out["checks"]
    return rows[0]


def board(col, gz=False):
    """/api/board as JSON, its rows as dicts by check, and the bytes sent."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/board" % col.http_port,
                                 headers={"Accept-Encoding": "gzip"} if gz else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        enc = r.headers.get("Content-Encoding")
    assert enc == ("gzip" if gz else None), enc
    b = json.loads(gzip.decompress(raw) if gz else raw)
    return b, {row[0]: dict(zip(b["cols"], row)) for row in b["checks"]}, len(raw)


def close(a, b):
    """The board's numbers have 10 significant digits."""
    return a == b or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b)))


def check_board(col, check):
    """The board against the answers it stands for: the report of the same pass
    (computed_at_us equal), the overview's bars, the incidents; gzip when asked;
    its live part read every 0.5 s for 6 s is never older than 5 s."""
    def same_pass():
        b, rows, _ = board(col)
        rep = api(col, "/api/report")[1]
        known = any(c["check"] == check for c in rep["checks"])  # a report from before the check: its row is null
        return (b, rows, rep) if known and b["computed_at_us"] == rep["computed_at_us"] else None
    b, rows, rep = wait_for("a board and a report of the same pass", same_pass, 30, interval=0.2)
    assert [c["check"] for c in rep["checks"]] == [r[0] for r in b["checks"]], (rep["checks"], b["checks"])
    for c in rep["checks"]:
        r = rows[c["check"]]
        assert r["service"] == c["service"] and r["type"] == c["check_type"], (r, c)
        assert close(r["uptime_24h"], c["availability"]["global"]["uptime"]), (r, c)
        assert close(r["p95_us"], c["latency"]["p95_us"] if c["latency"]["p95_us"] > 0 else None), (r, c)
        assert r["budget_p95_us"] == c["latency"]["budget_p95_us"], (r, c)
        assert r["trend"] == c["trend"]["p95_us"]["direction"], (r, c)
        assert close(r["slo_left"], c["slo"]["budget_left"]) if c.get("slo") else r["slo_left"] is False, (r, c)
        assert r["regions"] == ",".join(x["region"] for x in c["availability"]["regions"]), (r, c)
    assert [g["name"] for g in b["groups"]] == [g["name"] for g in rep["groups"]], b["groups"]
    r = rows[check]
    assert r["outcome"] in ("ok", "failed", "degraded") and r["last_at_us"] > 0 and len(r["bars"]) == b["rounds"], r
    # the overview is its own pass: it may not show a check the board shows yet
    # (failed once under the sanitizers: KeyError 'shop-api')
    ov = wait_for("the overview to show %s" % check,
                  lambda: (lambda o: o if check in o else None)(
                      {x["check"]: x for x in api(col, "/api/overview")[1]["checks"]}), 30, interval=0.2)
    assert r["round_us"] == ov[check]["round_us"] and r["stale"] == ov[check]["stale"], (r, ov[check])
    gz, gz_rows, gz_len = board(col, gz=True)
    _, _, plain_len = board(col)
    assert set(gz_rows) == set(rows) and gz_len < plain_len, (gz_len, plain_len)
    ages = []
    for _ in range(12):
        t_us = time.time() * 1e6
        ages.append((t_us - board(col)[0]["live_at_us"]) / 1000.0)
        time.sleep(0.5)
    print("board: %d bytes (gzip %d); its live part's age read every 0.5 s: max %.0f ms, median %.0f ms"
          % (plain_len, gz_len, max(ages), sorted(ages)[len(ages) // 2]), flush=True)
    assert max(ages) < 5000, ages


def feed_many(col, n):
    """A Python gRPC probe registers n checks and sends 10 minutes of results each."""
    ch = grpc_channel(col.port, "probe:bulk")
    stub = pb_grpc.ProbeServiceStub(ch)
    infos = [pb.CheckInfo(name="bulk-%04d" % i, type="http", target="http://127.0.0.1:1/", interval_ms=60000,
                          service="bulk-%02d" % (i % 50), budget_p50_ms=100, budget_p95_ms=200, budget_p99_ms=500)
             for i in range(n)]
    reg = stub.Register(pb.RegisterRequest(probe_name="bulk", region="eu", version="test", checks=infos,
                                           probe_time_us=int(time.time() * 1e6)))
    now = int(time.time() * 1e6)
    t0 = (now // 60_000_000 - 10) * 60_000_000
    results, seq = [], 0
    for m in range(10):
        for i in range(n):
            seq += 1
            results.append(pb.Result(sequence=seq, check_name="bulk-%04d" % i, check_type="http",
                                     started_at_us=t0 + m * 60_000_000 + 1000 * i, outcome=pb.OUTCOME_OK,
                                     error_class=pb.ERROR_CLASS_NONE, status_code=200, dns_us=-1, connect_us=-1,
                                     tls_us=-1, ttfb_us=-1, total_us=50_000 + 37 * i))
    out = queue.Queue()
    responses = stub.Connect(iter(out.get, None))
    out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name="bulk")))
    for i in range(0, len(results), 500):
        out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=results[i:i + 500])))
    deadline = time.time() + 60
    while time.time() < deadline:
        msg = next(responses)
        if msg.WhichOneof("kind") == "ack" and msg.ack.committed_sequence == seq:
            break
    else:
        raise AssertionError("bulk results not acknowledged in 60 s")
    out.put(None)
    ch.close()


def main():
    tmp = tempfile.mkdtemp(prefix="picket-dashboard-")
    print("screenshots and logs in", tmp, flush=True)
    target = Target()
    with PrivatePostgres() as pg:
        migrate(pg)
        slos = os.path.join(tmp, "slos.yaml")
        with open(slos, "w") as f:
            f.write("slos:\n  - name: shop-journey\n    service: shop.api\n    target: 99.5%\n    window: 1d\n")
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--slos", slos], logdir=tmp)
        checks = write_checks(os.path.join(tmp, "checks.yaml"), [{
            "name": "shop-api", "type": "http", "service": "shop.api", "interval": "1s", "timeout": "1s",
            "budgets": {"p50": "100ms", "p95": "200ms", "p99": "1s"}, "slo": {"target": 99, "window": "1d"},
            "request": {"url": target.url("/health")}}])
        probe = start_probe("dash-eu", "eu", [col.port], checks, logdir=tmp)
        base = "http://127.0.0.1:%d" % col.http_port
        live = base + "/?open_after=1&close_after=1&since=1h"
        try:
            # The API refuses what it cannot answer, naming the input.
            code, j = api(col, "/api/report?since=yesterday")
            assert code == 400 and "since=yesterday" in j["error"], (code, j)
            code, j = api(col, "/api/report?until=9223372036854775807")  # no overflow to microseconds
            assert code == 400 and "until=9223372036854775807" in j["error"], (code, j)
            code, j = api(col, "/api/latency-series?check=nope")
            assert code == 404 and "nope" in j["error"], (code, j)
            for path in ("/api/report?check=nope", "/api/incidents?check=nope", "/api/slo?check=nope"):
                code, j = api(col, path)  # not known: 404 everywhere, never "database unavailable"
                assert code == 404 and "nope" in j["error"], (path, code, j)
            # The status pages read the background snapshot: 503 until the first one, then 404 for no such group.
            wait_for("the first snapshot", lambda: api(col, "/api/status?group=nosuch")[0] != 503, 30)
            code, j = api(col, "/api/status?group=nosuch")
            assert code == 404 and "nosuch" in j["error"], (code, j)

            # 1. Healthy: OK, figures, the probe, the plot.
            wait_for("a result of shop-api", lambda: api(col, "/api/report?check=shop-api")[1]["checks"][0]
                     ["last_started_at_us"] > 0, 30)
            out = browse(live, os.path.join(tmp, "1-healthy.png"),
                         "document.querySelector('#checks td.e2e.OK') !== null")
            r = row_of(out, "shop-api")
            # check, status, bars, uptime 24 h / 7 d / 30 d, p95 / budget, trend, incident, SLO left, ...
            assert r[1] == "OK" and r[3].endswith("%"), r
            assert r[6].endswith(" ms / 200 ms") and r[6] != "– / 200 ms", r
            assert r[9].endswith("%"), r  # SLO budget left
            plot = browse(base + "/check/shop-api?range=1h", os.path.join(tmp, "1-check.png"),
                          "document.querySelector('#plot canvas') !== null")
            assert plot["plotCanvas"] and not plot["errors"], plot
            # the group SLO of --slos: its member, target, window, and a budget left
            assert out["groupsShown"] and len(out["groups"]) == 1, out["groups"]
            g = out["groups"][0]
            assert g[0] == "shop-journey" and g[1] == "shop-api" and g[2] == "99.50%" and g[3].endswith((" min", " h")), g
            assert g[5].endswith("%") and g[5] != "no data", g
            assert [p[0] for p in out["probes"]] == ["dash-eu"] and p_ago(out["probes"][0][2]), out["probes"]
            assert not out["errors"], out["errors"]
            rep = api(col, "/api/report?check=shop-api")[1]["checks"][0]
            # picketctl's JSON words: "check", lowercase outcomes.
            assert rep["check"] == "shop-api" and rep["last_outcome"] == "ok" and "check_name" not in rep, rep
            assert out["probes"][0][5] == "local files", out["probes"]
            assert rep["latency"]["p95_us"] > 0 and rep["availability"]["global"]["uptime"] == 1.0, rep
            ser = api(col, "/api/latency-series?check=shop-api&since=1h")[1]
            assert len(ser["t"]) >= 1 and len(ser["p95_ms"]) == len(ser["t"]) and ser["budget_p95_us"] == 200_000, ser
            check_board(col, "shop-api")
            out = browse(base + "/", os.path.join(tmp, "1-board.png"),
                         "document.querySelector('#checks td.e2e.OK') !== null && "
                         "document.querySelector('#state').dataset.liveAt > 0")
            r = row_of(out, "shop-api")
            assert r[1] == "OK" and r[3].endswith("%") and r[6].endswith(" ms / 200 ms") and r[9].endswith("%"), r
            assert "live" in out["state"] and "24 h figures" in out["state"] and not out["errors"], out
            st = browse(base + "/status/shop", os.path.join(tmp, "1-status.png"),
                        "document.querySelector('#services td.up') !== null")
            assert [r[:3] for r in st["services"]] == [["shop.api", "up", "100.00%"]], st["services"]

            # 2. Fault: the Target answers 500 for at least FAULT_S, several whole rounds
            # of the check's 1 s interval (a round with a few failures among passes is not down).
            target.status = 500
            fault_until = time.time() + FAULT_S
            out = browse(live, os.path.join(tmp, "2-fault.png"),
                         "document.querySelector('#checks td.e2e.FAIL') !== null && "
                         "document.querySelector('#incidents tr.incident.open') !== null")
            r = row_of(out, "shop-api")
            assert r[1] == "FAIL" and "open" in r[8], r
            assert [i[:2] for i in out["incidents"] if i[1] == "OPEN"] == [["shop-api", "OPEN"]], out["incidents"]
            inc = api(col, "/api/incidents?check=shop-api&open_after=1&close_after=1&since=1h")[1]
            assert any(i["end_us"] == -1 for i in inc["checks"][0]["incidents"]), inc
            st = browse(base + "/status/shop", os.path.join(tmp, "2-status.png"),
                        "document.querySelector('#services td.down') !== null")
            assert st["services"][0][:2] == ["shop.api", "down"], st["services"]
            assert "shop-api" not in json.dumps(api(col, "/api/status?group=shop")[1])  # public: services only

            # 3. Cleared: OK again, the incident closes (the next round is up).
            time.sleep(max(0.0, fault_until - time.time()))
            out = browse(live, os.path.join(tmp, "2-fault-later.png"),
                         "document.querySelector('#incidents tr.incident.open') !== null")
            assert row_of(out, "shop-api")[3] != "100.00%", out["checks"]  # the down round counts
            target.status = 200
            os.environ["DASHBOARD_WAIT_MS"] = "150000"
            out = browse(live, os.path.join(tmp, "3-cleared.png"),
                         "document.querySelector('#checks td.e2e.OK') !== null && "
                         "document.querySelector('#incidents tr.incident.closed') !== null && "
                         "document.querySelector('#incidents tr.incident.open') === null")
            os.environ["DASHBOARD_WAIT_MS"] = "20000"
            r = row_of(out, "shop-api")
            assert r[1] == "OK" and "open" not in r[8], r
            assert [i[1] for i in out["incidents"]] == ["closed"], out["incidents"]
            probe.stop()

            # 4. First load with 1,000 checks (the default view: the collector's snapshot).
            first_load(col, base, tmp)
        finally:
            probe.stop()
            col.stop()
            target.close()
    print("test_dashboard: OK")


def first_load(col, base, tmp):
    """The page's first load with 1,000 checks (and the one above): from
    navigation start to the tables drawn with the data, in the browser. Each of
    the FIRST_LOADS loads is a viewer's first visit (a new browser context: an
    empty cache, every file and answer fetched), in one browser started and
    settled beforehand, so Chromium's own start-up (over a second of both cores)
    is not counted in the page's load. The median is asserted; each load is
    printed with the machine's load average."""
    feed_many(col, N_CHECKS)
    # The default view is a snapshot the collector recomputes in the background.
    wait_for("1,000 bulk checks in the default view's snapshot",
             lambda: sum(c["check"].startswith("bulk-") for c in api(col, "/api/report")[1]["checks"]) == N_CHECKS,
             120, interval=1)
    rep = api(col, "/api/report")[1]
    n = len(rep["checks"])
    # The board joins the snapshot with its live part (last results), made by
    # a pass of its own: on a loaded machine that pass may not have seen the
    # new checks yet when the snapshot has.
    wait_for("every check on the board", lambda: len(board(col)[0]["checks"]) == n, 60, interval=0.5)
    sizes = [len(urllib.request.urlopen(base + p, timeout=30).read()) for p in ("/api/report", "/api/incidents",
                                                                            "/api/overview", "/api/probes")]
    b, _, plain = board(col)
    _, _, gz = board(col, gz=True)
    probes = sizes[3]
    print("default view: report of %d checks computed in %.0f ms; the answers with arguments: %s = %d bytes; "
          "the default view's first load: /api/board %d bytes (gzip %d) + /api/probes %d = %d bytes sent; "
          "board live part computed in %.0f ms"
          % (n, rep["compute_ms"], " + ".join(str(x) for x in sizes), sum(sizes), plain, gz, probes, gz + probes,
             b["live_ms"]), flush=True)
    assert len(b["checks"]) == n and gz + probes < sum(sizes) / 4, (len(b["checks"]), gz, sizes)
    argv = ["node", BROWSER, "--loads", str(FIRST_LOADS), base + "/", os.path.join(tmp, "4-1000-checks.png"),
            "window.picketAllRowsMs > 0"]
    cpu0, t0 = cpu_s(col.proc.pid), time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=FIRST_LOADS * 30 + 60)
    col_cores = (cpu_s(col.proc.pid) - cpu0) / (time.monotonic() - t0)
    if p.returncode != 0:
        raise AssertionError("browser at %s/: exit %d\n%s\n%s" % (base, p.returncode, p.stdout[-4000:], p.stderr[-2000:]))
    loads = json.loads(p.stdout.strip().splitlines()[-1])["loads"]
    times, alls = [], []
    for out in loads:
        assert len(out["checks"]) == n, len(out["checks"])
        print("first load with %d checks: first screen drawn at %.0f ms, every row at %.0f ms (responseEnd %.0f, "
              "DOMContentLoaded %.0f, data in hand %.0f, load %.0f)" % (
                  n, out["firstRenderMs"], out["allRowsMs"], out["nav"]["responseEnd"], out["nav"]["domContentLoaded"],
                  out["dataMs"] or 0, out["nav"]["loadEventEnd"]), flush=True)
        times.append(out["firstRenderMs"])
        alls.append(out["allRowsMs"])
    best = sorted(times)[len(times) // 2]
    print("DASHBOARD_FIRST_LOAD_MS %.0f (median of %d: %s; goal < %d); every row drawn: median %.0f ms (%s); "
          "load average %.1f; the collector used %.2f of a core meanwhile"
          % (best, len(times), ", ".join("%.0f" % t for t in times), FIRST_LOAD_GOAL_MS, sorted(alls)[len(alls) // 2],
             ", ".join("%.0f" % t for t in alls), os.getloadavg()[0], col_cores), flush=True)
    assert best < FIRST_LOAD_GOAL_MS, "first load %.0f ms, goal < %d ms" % (best, FIRST_LOAD_GOAL_MS)


def cpu_s(pid):
    """CPU seconds (user + system) process pid has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p_ago(text):
    return text.endswith(" ago")


if __name__ == "__main__":
    main()
