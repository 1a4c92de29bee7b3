#!/usr/bin/python3
"""Probe -> gRPC -> collector -> PostgreSQL with real processes: two probes in two
regions run http checks against real HTTP targets (one healthy and slow-ish, one
answering 503, one closed port); the stored rows are checked field by field, the
sequences of each probe are complete and unique, and `picketctl status` shows
both regions, in the table and in JSON. The healthy target is reached only
through per-probe variables (the file's default points at a closed port): one
probe gets it from --var, the other from PICKET_VARS. Two flows (one passing,
one failing) and an exec check with npm audit's perfdata reach picketctl's
quality lines and the dashboard's /quality view (E2E flows 1 / 2, security
findings 3) in a browser."""

import json
import re
import sys
import tempfile

from picket_env import (PrivatePostgres, Target, browse_steps, free_port, migrate, picketctl, start_collector,
                        start_probe, wait_for, write_checks)


def main():
    tmp = tempfile.mkdtemp(prefix="picket-e2e-")
    ok_target = Target()
    ok_target.delay = 0.05
    ok_target.body = b'{"answer":"yes","sources":[1,2]}'
    bad_target = Target()
    bad_target.status = 503
    bad_target.body = b"down"
    closed_port = free_port()
    checks = write_checks(tmp + "/checks.yaml", [
        {"name": "svc-ok", "type": "http", "url": "{{ok_base}}/health", "interval": "300ms", "timeout": "300ms",
         "service": "svc"},
        {"name": "svc-503", "type": "http", "url": bad_target.url("/health"), "interval": "300ms",
         "timeout": "300ms"},
        {"name": "svc-closed", "type": "http", "method": "POST", "url": "http://127.0.0.1:%d/q" % closed_port,
         "headers": {"Content-Type": "application/json"}, "body": "{\"q\":1}", "interval": "300ms",
         "timeout": "300ms"},
        # Two end-to-end flows, one passing and one failing (the quality view's E2E count).
        {"name": "flow-ok", "type": "flow", "service": "svc", "interval": "300ms", "timeout": "300ms",
         "steps": [{"name": "health", "request": {"url": "{{ok_base}}/health"}, "assert": [{"status": 200}]}]},
        {"name": "flow-503", "type": "flow", "service": "svc", "interval": "300ms", "timeout": "300ms",
         "steps": [{"name": "health", "request": {"url": bad_target.url("/health")}, "assert": [{"status": 200}]}]},
        # npm audit's shape: a Nagios plugin whose perfdata counts the findings.
        {"name": "audit", "type": "exec", "service": "security", "interval": "300ms", "timeout": "300ms",
         "exec": {"command": ["/bin/sh", "-c",
                              "echo 'NPM AUDIT WARNING - 3 | vulnerabilities=3;;;0 high=0 moderate=3'; exit 1"]}},
    ], variables={"ok_base": "http://127.0.0.1:%d" % closed_port})
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp)
            procs.append(col)
            base = ok_target.url("").rstrip("/")
            procs.append(start_probe("probe-eu", "eu-west", [col.port], checks, labels="dc=eu1,tier=edge",
                                     logdir=tmp, extra=["--var", "ok_base=" + base]))
            procs.append(start_probe("probe-us", "us-east", [col.port], checks, labels="dc=us1", logdir=tmp,
                                     env={"PICKET_VARS": "ok_base=" + base}))

            def enough():
                rows = pg.psql("SELECT p.region, c.name, count(*) FROM results r JOIN probes p ON p.id=r.probe_id "
                               "JOIN checks c ON c.id=r.check_id GROUP BY 1,2")
                return len(rows) == 12 and all(int(r[2]) >= 3 for r in rows)
            wait_for("3 results of each check from both regions", enough, 30)

            # Field by field, per check.
            ok_rows = pg.psql("SELECT outcome, error_class, status_code, body_bytes, dns_us, connect_us, tls_us, "
                              "ttfb_us, total_us, message FROM results r JOIN checks c ON c.id=r.check_id "
                              "WHERE c.name='svc-ok'")
            for r in ok_rows:
                outcome, err, status, body, dns, conn, tls, ttfb, total, msg = r
                assert (outcome, err, status, body) == ("1", "0", "200", str(len(ok_target.body))), r
                assert tls == "", r  # no TLS on plain http: NULL
                dns, conn, ttfb, total = int(dns), int(conn), int(ttfb), int(total)
                assert dns >= 0 and conn >= 0, r
                assert ttfb >= 45000, r           # the target waits 50 ms before answering
                assert total >= ttfb + conn, r
                assert total < 2000000, r
                assert msg == "", r
            bad_rows = pg.psql("SELECT DISTINCT outcome, error_class, status_code, message FROM results r "
                               "JOIN checks c ON c.id=r.check_id WHERE c.name='svc-503'")
            assert len(bad_rows) == 1, bad_rows
            assert bad_rows[0][:3] == ["3", "5", "503"], bad_rows
            assert "503" in bad_rows[0][3], bad_rows
            closed = pg.psql("SELECT DISTINCT outcome, error_class, status_code, ttfb_us FROM results r "
                             "JOIN checks c ON c.id=r.check_id WHERE c.name='svc-closed'")
            assert closed == [["3", "2", "0", ""]], closed

            # The probes, their labels and the checks they run.
            probes = pg.psql("SELECT name, region, labels->>'dc' FROM probes ORDER BY name")
            assert probes == [["probe-eu", "eu-west", "eu1"], ["probe-us", "us-east", "us1"]], probes
            runs = pg.psql("SELECT c.name, count(*) FROM probe_checks pc JOIN checks c ON c.id=pc.check_id "
                           "GROUP BY 1 ORDER BY 1")
            assert runs == [["audit", "2"], ["flow-503", "2"], ["flow-ok", "2"], ["svc-503", "2"], ["svc-closed", "2"],
                            ["svc-ok", "2"]], runs
            target = pg.psql("SELECT target, interval_ms FROM checks WHERE name='svc-ok'")
            assert target == [[ok_target.url("/health"), "300"]], target  # as the probes resolved it

            # Every result names its round: a grid point k * 300 ms + spread in wall-clock
            # time, one spread per check for both probes (so a round is one instant in
            # every region), and the run started at (not before) its grid point.
            grid = pg.psql("SELECT c.name, count(DISTINCT (extract(epoch FROM r.scheduled_at) * 1000)::bigint % 300), "
                           "count(DISTINCT r.probe_id), count(*) FILTER (WHERE r.scheduled_at IS NULL), "
                           "min(extract(epoch FROM r.started_at - r.scheduled_at)), "
                           "max(extract(epoch FROM r.started_at - r.scheduled_at)) "
                           "FROM results r JOIN checks c ON c.id=r.check_id GROUP BY 1 ORDER BY 1")
            assert len(grid) == 6, grid  # audit, flow-503, flow-ok, svc-503, svc-closed, svc-ok
            for name, spreads, probes_seen, unscheduled, early, late in grid:
                assert (spreads, probes_seen, unscheduled) == ("1", "2", "0"), grid
                assert float(early) >= -0.005 and float(late) < 1.0, grid
            shared = pg.psql("SELECT count(*) FROM (SELECT check_id, scheduled_at FROM results GROUP BY 1, 2 "
                             "HAVING count(DISTINCT probe_id) = 2) x")
            assert int(shared[0][0]) > 0, shared  # the same rounds, seen from both regions

            # picketctl status, table and JSON.
            out = picketctl(col.port, "status")
            assert out.returncode == 0, out.stderr
            for name in ("svc-ok", "svc-503", "svc-closed", "eu-west", "us-east"):
                assert name in out.stdout, (name, out.stdout)
            assert re.search(r"reason: .*503", out.stdout), out.stdout
            js = json.loads(picketctl(col.port, "status", "--json").stdout)
            by_name = {c["check"]: c for c in js["checks"]}
            assert set(by_name) == {"svc-ok", "svc-503", "svc-closed", "audit", "flow-ok", "flow-503"}, by_name.keys()
            for c in by_name.values():
                assert c["probes"] == 2, c
                assert {r["region"] for r in c["last_hour"]} == {"eu-west", "us-east"}, c
                assert c["last"]["age_s"] < 10, c
            assert all(r["success_ratio"] == 1.0 for r in by_name["svc-ok"]["last_hour"]), by_name["svc-ok"]
            assert all(r["success_ratio"] == 0.0 for r in by_name["svc-503"]["last_hour"]), by_name["svc-503"]
            assert by_name["svc-503"]["last"]["outcome"] == "failed"
            # A check's numbers reach status, the report (its security line) and the API.
            assert by_name["audit"]["metrics"] == {"vulnerabilities": 3, "high": 0, "moderate": 3}, by_name["audit"]
            assert by_name["svc-ok"]["metrics"] == {}, by_name["svc-ok"]
            rep = picketctl(col.port, "report")
            assert rep.returncode == 0, rep.stderr
            assert re.search(r"^Security: +3 vulnerabilities \(audit\)$", rep.stdout, re.M), rep.stdout
            assert re.search(r"^E2E tests: +3 passed, 3 failed$", rep.stdout, re.M), rep.stdout
            rj = json.loads(picketctl(col.port, "report", "--json").stdout)
            assert {c["check"]: c["metrics"] for c in rj["checks"]}["audit"]["vulnerabilities"] == 3, rj

            # The dashboard's live quality view (/quality) from the same figures: the flows passed and
            # failed, the security findings of the audit's metrics.
            quality = browse_steps([
                {"goto": "http://127.0.0.1:%d/quality" % col.http_port},
                {"wait": "[...document.querySelectorAll('#flows tbody tr[data-check] td.e2e')].map((td) => "
                         "td.textContent).sort().join() === 'FAIL,OK'"},
                {"eval": "[...document.querySelectorAll('#cards .card')].map((c) => [c.querySelector('span')"
                         ".textContent, c.querySelector('b').textContent])", "as": "cards"},
                {"eval": "[...document.querySelectorAll('#flows tbody tr[data-check]')].map((tr) => "
                         "[tr.dataset.check, tr.querySelector('td.e2e').textContent]).sort()", "as": "flows"},
                {"eval": "[...document.querySelectorAll('#security tbody tr')].map((tr) => [...tr.children]"
                         ".slice(0, 3).map((td) => td.textContent)).sort()", "as": "security"},
            ], tmp, "quality")
            cards = dict(quality["cards"])
            assert cards["E2E flows passed"] == "1 / 2" and cards["security findings"] == "3", quality
            assert quality["flows"] == [["flow-503", "FAIL"], ["flow-ok", "OK"]], quality
            assert quality["security"] == [["audit", "high", "0"], ["audit", "vulnerabilities", "3"]], quality

            # Stop the probes cleanly: everything they produced is stored exactly once.
            for p in procs[1:]:
                assert p.stop() == 0, p.output()[-2000:]
            for p in procs[1:]:
                m = re.search(r"msg=stopped produced=(\d+) acked_seq=(\d+) pending=(\d+)", p.output())
                assert m, p.output()[-2000:]
                produced, acked, pending = map(int, m.groups())
                assert pending == 0 and acked == produced, m.group(0)
                name = p.name[len("probe-"):]
                seqs = [int(r[0]) for r in pg.psql(
                    "SELECT seq FROM results r JOIN probes p ON p.id=r.probe_id WHERE p.name='%s' ORDER BY seq"
                    % name)]
                assert seqs == list(range(1, produced + 1)), (name, produced, seqs[:5], len(seqs))
        except BaseException:
            for p in procs:
                print("----- %s\n%s" % (p.name, p.output()[-3000:]), file=sys.stderr)
            raise
        finally:
            for p in procs:
                p.kill()
            ok_target.close()
            bad_target.close()
    print("end to end: all assertions passed")


if __name__ == "__main__":
    main()
