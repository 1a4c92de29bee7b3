#!/usr/bin/python3
"""Maintenance windows end to end (docs/ANALYTICS.md, "Maintenance") against
real processes: a collector with a private PostgreSQL, --alerts with a Python
webhook receiver on 127.0.0.1 and a --maintenance file; Python gRPC probes
send results through the real ingest path.

Checked: a bad --maintenance file stops the collector at start with
FILE:LINE:COL; 40 minutes of history with a 10-minute outage give the exact
availability before and, after `picketctl maintenance add` over the outage,
the outage's rounds are left out (failed 0, covered 30 minutes, uptime 1,
maintenance_us 10 minutes) and its incident is marked; of two checks failing
now, the one in an active window opens no alert while the other pages;
`maintenance list` shows the file's and picketctl's windows, `end` ends one,
invalid windows and a read credential are refused. In a browser: the check
pages give each incident's cause, and the overview shows checks without a
result for three intervals as STALE and hides them on request."""

import json
import os
import subprocess
import tempfile
import time
import urllib.request

from picket_env import FakeProbe, PrivatePostgres, WebhookReceiver, binary, browse_steps, grpc_stubs, migrate, \
    picketctl, pki, rfc3339, round_spread_us, start_collector, wait_for, wait_tracked

pb, _, _, _ = grpc_stubs()

MIN = 60_000_000
now_us = int(time.time() * 1e6)
T0 = (now_us // MIN - 45) * MIN  # 40 minutes of history ending 5 minutes ago
T_END = T0 + 40 * MIN
OUT_FROM, OUT_TO = T0 + 10 * MIN, T0 + 20 * MIN  # the outage (failed rounds)
ROOT_FROM, CHILD_FROM, DEP_TO = T0 + 25 * MIN, T0 + 26 * MIN, T0 + 32 * MIN  # dep-root, then dep-child fail
OLD = T0 - 8 * 60 * MIN  # ten more failed rounds, older than the SLO's 6-hour per-minute part
DEPENDS = {"dep-child": "dep-root", "a-child": "a-root"}  # depends_on as CheckInfo carries it
# The file's weekly window falls three days from today (03:00 Berlin: 01:00 or 02:00 UTC), so that it is
# scheduled, never in progress, whenever the test runs (a fixed Sunday was active on Sundays 02:00-03:00 UTC).
BACKUP_WDAY = (time.gmtime(now_us // 1_000_000).tm_wday + 3) % 7  # Monday 0, as time.gmtime
BACKUP_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[BACKUP_WDAY]


class Probe(FakeProbe):
    def __init__(self, port, name, checks):
        self.interval_ms = dict(checks)
        infos = [pb.CheckInfo(name=c, type="http", target="http://127.0.0.1:1/", interval_ms=iv, service="svc",
                              depends_on=DEPENDS.get(c, "")) for c, iv in checks]
        for info in infos:
            if info.name == "m-hist":  # an SLO, so that `picketctl slo` shows what maintenance leaves out
                info.slo_target_percent, info.slo_window_ms = 99.0, 86_400_000
        super().__init__(port, name, infos)

    def send(self, points):
        """points: [(check, grid_us, ok)]: the round at grid_us + the check's spread (as a
        probe schedules it: scheduled and started then); returns when committed."""
        results = []
        for check, t, ok in points:
            at = t + round_spread_us(check, self.interval_ms[check])
            results.append(pb.Result(sequence=self.next_seq(), check_name=check, check_type="http",
                                     scheduled_at_us=at, started_at_us=at,
                                     outcome=pb.OUTCOME_OK if ok else pb.OUTCOME_FAILED,
                                     error_class=pb.ERROR_CLASS_NONE if ok else pb.ERROR_CLASS_TIMEOUT,
                                     status_code=200, dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=5000))
        self.send_batch(results)



def ctl(col, *args, expect=0, cn="write:test"):
    out = picketctl(col.port, *args, cert_cn=cn)
    assert out.returncode == expect, (args, out.returncode, out.stdout[-3000:], out.stderr[-3000:])
    return out


def ctl_json(col, *args):
    return json.loads(ctl(col, *args, "--json", cn="read:dashboard").stdout)


def bad_file_refused(tmp, pg):
    bad = os.path.join(tmp, "bad.yml")
    with open(bad, "w") as f:
        f.write("windows:\n  - name: nightly\n    for: [api-*]\n    every: \"someday 02:00\"\n    duration: 1h\n")
    out = subprocess.run([binary("picket-collector"), "serve", "--db", pg.url, "--listen", "127.0.0.1:1",
                          "--tls-ca", pki().ca, "--tls-cert", pki().server_cert, "--tls-key", pki().server_key,
                          "--maintenance", bad], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert bad + ":2:5:" in out.stderr and "someday 02:00" in out.stderr, out.stderr
    print("ok: a bad --maintenance file stops the collector:", out.stderr.strip())


def main():
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="picket-maint-")
    hook = WebhookReceiver()
    rules = os.path.join(tmp, "alerts.yml")
    with open(rules, "w") as f:
        f.write("evaluation_interval: 250ms\nreceivers:\n  - name: hook\n    type: webhook\n"
                "    url: http://127.0.0.1:%d/hook\nrules:\n  - name: down\n    type: incident\n    checks: \"a-*\"\n"
                "    open_after: 3\n    close_after: 2\n    repeat_interval: 0s\n" % hook.port)
    maint_file = os.path.join(tmp, "maintenance.yml")
    with open(maint_file, "w") as f:
        f.write("windows:\n  - name: weekly-backup\n    for: [service:db]\n    cron: \"0 3 * * %s\"\n"
                "    duration: 1h\n    timezone: Europe/Berlin\n    reason: weekly backup\n" % BACKUP_DAY)
    with PrivatePostgres() as pg:
        migrate(pg)
        bad_file_refused(tmp, pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--alerts", rules, "--maintenance", maint_file])
        try:
            # ---- history: 40 one-minute rounds, failed over [OUT_FROM, OUT_TO)
            p = Probe(col.port, "m-eu", [("m-hist", 60000), ("dep-root", 60000), ("dep-child", 60000), ("a-maint", 200),
                                         ("a-ctrl", 200), ("a-root", 200), ("a-child", 200)])
            assert pg.psql("SELECT depends_on FROM checks WHERE name = 'dep-child'") == [["dep-root"]]
            p.send([("m-hist", T0 + i * MIN, not OUT_FROM <= T0 + i * MIN < OUT_TO) for i in range(40)] +
                   [("m-hist", OLD + i * MIN, False) for i in range(10)] +
                   [("m-hist", OLD + i * MIN, True) for i in range(10, 15)])  # the old incident closes
            p.send([(c, T0 + i * MIN, not start <= T0 + i * MIN < DEP_TO)
                    for i in range(40) for c, start in (("dep-root", ROOT_FROM), ("dep-child", CHILD_FROM))])
            wait_for("rollups compacted", lambda: pg.psql("SELECT count(*) FROM rollup_partial") == [["0"]], 30)
            wait_tracked(col)
            window = ["--since", rfc3339(T0), "--until", rfc3339(T_END), "--check", "m-hist"]
            before = ctl_json(col, "availability", *window)["checks"][0]
            g = before["global"]
            assert (g["ok"], g["failed"], g["covered_us"], g["up_us"]) == (30, 10, 40 * MIN, 30 * MIN), before
            assert before["maintenance_us"] == 0, before
            inc = ctl_json(col, "incidents", *window)["checks"][0]["incidents"]
            assert len(inc) == 1 and inc[0]["start_us"] == OUT_FROM + round_spread_us("m-hist") and not inc[0]["maintenance"], inc
            slo_window = ["--since", rfc3339(OLD - 60 * MIN), "--until", rfc3339(T_END), "--check", "m-hist"]
            slo = ctl_json(col, "slo", *slo_window)["checks"][0]
            assert (slo["good"], slo["bad"]) == (35, 20), slo

            # ---- a window over the outage: its rounds leave availability, its incident is marked
            out = ctl(col, "maintenance", "add", "deploy", "--for", "m-hist", "--start", rfc3339(OUT_FROM), "--end",
                      rfc3339(OUT_TO), "--reason", "release 4.2")
            assert "added" in out.stdout, out.stdout
            ctl(col, "maintenance", "add", "old-work", "--for", "service:svc", "--start", rfc3339(OLD), "--duration",
                "10m")
            after = ctl_json(col, "availability", *window)["checks"][0]
            g = after["global"]
            assert (g["ok"], g["failed"], g["covered_us"], g["up_us"], g["uptime"]) == (30, 0, 30 * MIN, 30 * MIN, 1.0), \
                after
            assert after["maintenance_us"] == 10 * MIN and after["rounds"] == 30, after
            inc = ctl_json(col, "incidents", *window)["checks"][0]["incidents"]
            assert len(inc) == 1 and inc[0]["maintenance"] and inc[0]["maintenance_window"] == "deploy", inc
            table = ctl(col, "incidents", *window, cn="read:dashboard").stdout
            assert "[maintenance: deploy]" in table, table
            slo = ctl_json(col, "slo", *slo_window)["checks"][0]
            assert (slo["good"], slo["bad"]) == (35, 0), slo  # both windows: the recent minutes and the older stretch
            print("ok: rounds in the window left out of availability (30 of 40 rounds, uptime 1.0) and of the SLO; "
                  "incident marked")
            # The check page's chart shades the same windows (/api/check-marks), clipped to its range.
            url = "http://127.0.0.1:%d/api/check-marks?check=m-hist&since=%d&until=%d" % (
                col.http_port, (OLD - 60 * MIN) // 1_000_000, T_END // 1_000_000)
            with urllib.request.urlopen(url, timeout=30) as r:
                marks = json.loads(r.read())
            assert [(m["name"], m["start_us"], m["end_us"]) for m in marks["maintenance"]] == [
                ("old-work", OLD, OLD + 10 * MIN), ("deploy", OUT_FROM, OUT_TO)], marks

            # ---- depends_on: dep-child's incident starts while dep-root's is open: caused by it
            got = ctl_json(col, "incidents", "--since", rfc3339(T0), "--until", rfc3339(T_END), "--service", "svc")
            by = {c["check"]: c["incidents"] for c in got["checks"]}
            assert [(i["start_us"], i["caused_by"]) for i in by["dep-child"]] == [(CHILD_FROM + round_spread_us("dep-child"), "dep-root")], by
            assert [(i["start_us"], i["caused_by"]) for i in by["dep-root"]] == [(ROOT_FROM + round_spread_us("dep-root"), None)], by
            # The same cause when the answer holds dep-child alone (its dependency read for the cause only).
            alone = ctl_json(col, "incidents", "--since", rfc3339(T0), "--until", rfc3339(T_END), "--check",
                             "dep-child")
            assert [c["check"] for c in alone["checks"]] == ["dep-child"], alone
            assert [(i["start_us"], i["caused_by"]) for i in alone["checks"][0]["incidents"]] == [
                (CHILD_FROM + round_spread_us("dep-child"), "dep-root")], alone
            table = ctl(col, "incidents", "--since", rfc3339(T0), "--until", rfc3339(T_END), "--service", "svc",
                        cn="read:dashboard").stdout
            assert "[caused by dep-root]" in table, table
            # The dashboard's API (and so its incidents table) carries both marks.
            url = "http://127.0.0.1:%d/api/incidents?service=svc&since=%d&until=%d" % (
                col.http_port, T0 // 1_000_000, T_END // 1_000_000)
            with urllib.request.urlopen(url, timeout=30) as r:
                api = {c["check"]: c["incidents"] for c in json.loads(r.read())["checks"]}
            assert api["dep-child"][0]["caused_by"] == "dep-root", api["dep-child"]
            assert api["m-hist"][0]["maintenance"] and api["m-hist"][0]["maintenance_window"] == "deploy", api
            # The check pages say so in their incidents' cause, dep-child's with a link to dep-root's page
            # over the same range.
            base = "http://127.0.0.1:%d/check/%%s?since=%d&until=%d" % (col.http_port, T0 // 1_000_000,
                                                                         T_END // 1_000_000)
            cause_js = ("[...document.querySelectorAll('#incidents tbody td.cause')].map((td) => [td.textContent, "
                        "(td.querySelector('a') || {}).href || ''])")
            steps = []
            for c in ("dep-child", "dep-root", "m-hist"):
                steps += [{"goto": base % c}, {"wait": "document.querySelector('#state').dataset.state === 'ready'"},
                          {"eval": cause_js, "as": c}]
            # The overview: these three checks' last results are minutes old (3 intervals without one): STALE,
            # never their last outcome forever, and "hide stale" (kept in the URL) hides them.
            stale_js = ("Object.fromEntries(['m-hist', 'dep-root', 'dep-child'].map((c) => { const tr = document."
                        "querySelector('#checks tbody tr[data-check=\"' + c + '\"]'); return [c, tr ? [tr.className, "
                        "tr.querySelector('td.e2e').textContent] : null]; }))")
            steps += [{"goto": "http://127.0.0.1:%d/" % col.http_port},
                      {"wait": "document.querySelector('#checks tbody tr[data-check=\"dep-child\"] td.e2e.STALE')"
                               " !== null"},
                      {"eval": stale_js, "as": "stale"}, {"click": "#f-hide-stale"},
                      {"wait": "location.search.includes('stale=hide')"},
                      {"eval": stale_js, "as": "hidden"}]
            seen = browse_steps(steps, tmp, "causes")
            assert seen["stale"] == {c: ["stale", "STALE"] for c in ("m-hist", "dep-root", "dep-child")}, seen
            assert seen["hidden"] == {c: None for c in ("m-hist", "dep-root", "dep-child")}, seen
            assert seen["dep-child"] == [["caused by dep-root", base % "dep-root"]], seen
            assert seen["dep-root"] == [["–", ""]], seen
            assert seen["m-hist"] == [["maintenance: deploy", ""]], seen
            print("ok: dep-child's incident is caused by dep-root's (API, picketctl and its check page)")

            # ---- alerts: a-maint is in an active window, a-ctrl is not; a-child depends on a-root; all fail now
            t = int(time.time() * 1e6)  # the window starts a minute before the failures, lasts 10 minutes
            ctl(col, "maintenance", "add", "a-window", "--for", "a-maint", "--start", rfc3339(t - MIN), "--duration",
                "10m")
            failing = ("a-maint", "a-ctrl", "a-root", "a-child")
            p.send([(c, t - (6 - i) * 200_000, False) for i in range(6) for c in failing])
            wait_for("a-ctrl and a-root paged",
                     lambda: "check a-ctrl is down" in hook.text() and "check a-root is down" in hook.text(), 15)
            deadline = time.time() + 2.0  # eight more evaluations
            while time.time() < deadline:
                p.send([(c, int(time.time() * 1e6), False) for c in failing])
                time.sleep(0.25)
            assert "a-maint" not in hook.text() and "a-child" not in hook.text(), hook.text()
            print("ok: neither the check in maintenance nor the dependent one paged; a-ctrl and a-root did "
                  "(%d notifications)" % len(hook.bodies()))

            # ---- list, end, refusals
            listed = ctl_json(col, "maintenance", "list")
            names = {w["name"]: w for w in listed["windows"]}
            assert set(names) == {"weekly-backup", "a-window"}, listed  # deploy is over: only with --all
            assert names["a-window"]["state"] == "active" and names["a-window"]["source"] == "picketctl", listed
            assert names["weekly-backup"]["source"] == "file" and names["weekly-backup"]["state"] == "scheduled", listed
            assert names["weekly-backup"]["description"] == "cron 0 3 * * %s for 1h (Europe/Berlin)" % BACKUP_DAY, listed
            nxt = names["weekly-backup"]["next_start_us"]
            assert time.gmtime(nxt // 1_000_000).tm_wday == BACKUP_WDAY and time.gmtime(nxt // 1_000_000).tm_hour in (1, 2), \
                listed
            every = ctl_json(col, "maintenance", "list", "--all")
            assert {w["name"] for w in every["windows"]} == {"weekly-backup", "a-window", "deploy", "old-work"}, every
            out = ctl(col, "maintenance", "end", "a-window")
            assert "ended 1" in out.stdout, out.stdout
            listed = ctl_json(col, "maintenance", "list")
            assert {w["name"] for w in listed["windows"]} == {"weekly-backup"}, listed
            out = ctl(col, "maintenance", "end", "a-window", expect=2)
            assert "no maintenance window called 'a-window'" in out.stderr, out.stderr
            out = ctl(col, "maintenance", "add", "bad", "--for", "x", "--every", "someday 02:00", "--duration", "1h",
                      expect=2)
            assert "someday 02:00" in out.stderr, out.stderr
            out = ctl(col, "maintenance", "add", "bad", "--for", "x", "--start", "now", "--duration", "1h",
                      "--timezone", "Mars/Olympus", expect=2)
            assert "Mars/Olympus" in out.stderr, out.stderr
            out = picketctl(col.port, "maintenance", "add", "w", "--for", "x", "--start", "now", "--duration", "1h",
                            cert_cn="read:dashboard")
            assert out.returncode != 0 and "write credential" in out.stderr, (out.returncode, out.stderr)
            print("ok: list, end and refusals")
            p.close()
        finally:
            col.stop()
    print("test_maintenance: ok in %.1f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
