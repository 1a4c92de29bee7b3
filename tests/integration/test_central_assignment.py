#!/usr/bin/python3
"""Central check assignment with real processes (docs/CHECKS.md, "Central assignment").

`picketctl diff` and `apply` against a private PostgreSQL through the collector;
a probe started with no --checks receives version 1 and runs it; version 2
changes one check, removes two (one of them in flight at the swap), adds one,
and adds one selected only for another region. The probe swaps without a
restart: results for the new check appear, the removed one stops, the check in
flight still reports, the other region's check never runs. A bad file is
refused by apply with file:line:col and nothing is stored. The service,
budgets and SLO of pushed checks reach `checks` (and `picketctl slo --json`)
without a probe restart: an edited budget at apply, a new check's at its ack."""

import json

import os
import re
import sys
import tempfile
import time

from picket_env import (PrivatePostgres, Proc, Target, binary, client_security_args, migrate, picketctl,
                        start_collector, wait_for,
                        write_checks)


def count(pg, check):
    return int(pg.psql("SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id "
                       "WHERE c.name = '%s'" % check)[0][0])


def meta(pg, check):
    rows = pg.psql("SELECT coalesce(service, ''), budget_p50_ms, budget_p95_ms, budget_p99_ms, slo_target_percent, "
                   "slo_window_ms, coalesce(replace(labels, E'\\n', ','), '') FROM checks WHERE name = '%s'" % check)
    return tuple(rows[0]) if rows else None


def main():
    tmp = tempfile.mkdtemp(prefix="picket-assign-")
    keep, v1_change, v2_change, gone, new, eu = Target(), Target(), Target(), Target(), Target(), Target()
    slow = Target()
    slow.delay = 2.5
    v1 = write_checks(tmp + "/v1.yaml", [
        {"name": "keep", "type": "http", "url": "{{keep_base}}/keep", "interval": "300ms", "timeout": "300ms"},
        {"name": "change", "type": "http", "url": v1_change.url("/c"), "interval": "300ms", "timeout": "300ms",
         "service": "shop", "budgets": {"p50": "100ms", "p95": "200ms", "p99": "300ms"},
         "slo": {"target": 99.5, "window": "7d"}, "labels": {"team": "shop", "area": "web"}},
        {"name": "gone", "type": "http", "url": gone.url("/g"), "interval": "300ms", "timeout": "300ms"},
        {"name": "slow", "type": "http", "url": slow.url("/s"), "interval": "4s", "timeout": "3500ms"},
    ], variables={"keep_base": keep.url("").rstrip("/")})
    v2 = write_checks(tmp + "/v2.yaml", [
        {"name": "keep", "type": "http", "url": "{{keep_base}}/keep", "interval": "300ms", "timeout": "300ms"},
        {"name": "change", "type": "http", "url": v2_change.url("/c"), "interval": "300ms", "timeout": "300ms",
         "service": "shop", "budgets": {"p50": "100ms", "p95": "400ms", "p99": "500ms"},
         "slo": {"target": 99.5, "window": "7d"}, "labels": {"team": "shop"}},
        {"name": "new", "type": "http", "url": new.url("/n"), "interval": "300ms", "timeout": "300ms",
         "service": "cart", "budgets": {"p99": "1s"}, "slo": {"target": 99.9, "window": "1d"}},
        {"name": "eu-only", "type": "http", "url": eu.url("/e"), "interval": "300ms", "timeout": "300ms",
         "selector": {"regions": ["eu-west"]}},
    ], variables={"keep_base": keep.url("").rstrip("/")})
    bad = tmp + "/bad.yaml"
    with open(bad, "w") as f:
        f.write("checks:\n  - name: fine\n    type: http\n    url: http://127.0.0.1:1/\n"
                "    selector: {regions: eu-west}\n")
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp)
            procs.append(col)

            # A bad file: refused locally with file:line:col, nothing stored.
            out = picketctl(col.port, "apply", v1, bad)
            assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
            assert re.search(r"bad\.yaml:5:25: 'selector\.regions' must be a non-empty list", out.stderr), out.stderr
            assert pg.psql("SELECT count(*) FROM check_versions")[0][0] == "0"

            # diff against nothing: everything is added; exit 1 (changes).
            out = picketctl(col.port, "diff", v1)
            assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
            for name in ("keep", "change", "gone", "slow"):
                assert re.search(r"^\+ %s\s+added$" % name, out.stdout, re.M), out.stdout
            out = picketctl(col.port, "apply", v1)
            assert out.returncode == 0 and "checks version 1 is current" in out.stdout, (out.stdout, out.stderr)
            # The same files again: no new version, diff exit 0.
            out = picketctl(col.port, "apply", "--json", v1)
            assert out.returncode == 0 and '"created":false' in out.stdout.replace(' ', ''), out.stdout
            assert pg.psql("SELECT count(*) FROM check_versions")[0][0] == "1"
            out = picketctl(col.port, "diff", v1)
            assert out.returncode == 0 and "no changes against checks version 1" in out.stdout, out.stdout

            # A probe without --checks waits for, then runs, version 1.
            probe = Proc("probe-us", [binary("picket-probe"), "--name", "probe-us", "--region", "us-east",
                                      "--collector", "127.0.0.1:%d" % col.port, "--labels", "dc=us1",
                                      "--spool-dir", os.path.join(tmp, "spool-us")]
                         + client_security_args("probe:probe-us", False, None),
                         logdir=tmp)
            procs.append(probe)
            wait_for("version 1 results", lambda: all(count(pg, c) >= 2 for c in ("keep", "change", "gone")), 30)
            wait_for("probe acknowledged version 1",
                     lambda: pg.psql("SELECT checks_version FROM probes WHERE name='probe-us'")[0][0] == "1", 10)
            # The pushed check's metadata is stored without a re-register, and the query API uses it.
            v1_meta = ("shop", "100", "200", "300", "99.5", str(7 * 86400 * 1000), "area=web,team=shop")
            wait_for("metadata of a pushed check", lambda: meta(pg, "change") == v1_meta, 10)
            out = picketctl(col.port, "slo", "--json", "--check", "change")
            assert out.returncode == 0, (out.stdout, out.stderr)
            slo = json.loads(out.stdout)["checks"]
            assert [(c["check"], c["service"], round(c["target"], 6), c["window_us"]) for c in slo] == \
                [("change", "shop", 0.995, 7 * 86400 * 10**6)], slo

            # diff shows what apply will change, with the changed key.
            out = picketctl(col.port, "diff", "--json", v2)
            assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
            out = picketctl(col.port, "diff", v2)
            assert out.returncode == 1, out.stdout
            assert re.search(r"^\+ new\s+added$", out.stdout, re.M), out.stdout
            assert re.search(r"^\+ eu-only\s+added$", out.stdout, re.M), out.stdout
            assert re.search(r"^- gone\s+removed$", out.stdout, re.M), out.stdout
            assert re.search(r"^- slow\s+removed$", out.stdout, re.M), out.stdout
            assert re.search(r"^~ change\s+changed \(budgets, labels, url\)$", out.stdout, re.M), out.stdout
            assert not re.search(r"^. keep\b", out.stdout, re.M), out.stdout

            # Apply v2 while `slow` has a run in flight (its target answers after 2.5 s).
            hits = slow.hits
            wait_for("a run of slow in flight", lambda: slow.hits > hits, 10, 0.02)
            in_flight_started = time.time()
            out = picketctl(col.port, "apply", v2)
            assert out.returncode == 0 and "checks version 2 is current" in out.stdout, (out.stdout, out.stderr)
            # An edited budget is stored by the apply itself (no probe involved).
            assert meta(pg, "change") == ("shop", "100", "400", "500", "99.5", str(7 * 86400 * 1000), "team=shop"), \
                meta(pg, "change")
            wait_for("results of the new check", lambda: count(pg, "new") >= 2, 15)
            wait_for("probe acknowledged version 2",
                     lambda: pg.psql("SELECT checks_version FROM probes WHERE name='probe-us'")[0][0] == "2", 10)
            assert probe.alive(), "the probe restarted or died"
            # A new check gets its row, with its metadata, when the probe acknowledges.
            assert meta(pg, "new") == ("cart", "", "", "1000", "99.9", str(86400 * 1000), ""), meta(pg, "new")
            out = picketctl(col.port, "slo", "--json", "--check", "new")
            assert out.returncode == 0, (out.stdout, out.stderr)
            assert [(c["service"], round(c["target"], 6)) for c in json.loads(out.stdout)["checks"]] == \
                [("cart", 0.999)], out.stdout
            # The run in flight at the swap finished and was stored.
            wait_for("the in-flight slow run stored", lambda: int(pg.psql(
                "SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = 'slow' AND "
                "r.started_at >= to_timestamp(%f) - interval '1 second'" % in_flight_started)[0][0]) == 1, 10)
            # Removed checks do not run again; the changed one runs its new definition.
            gone_hits, slow_hits, v1_hits = gone.hits, slow.hits, v1_change.hits
            before = count(pg, "gone")
            time.sleep(2.0)
            assert count(pg, "gone") == before, "gone still runs after the swap"
            assert gone.hits == gone_hits and slow.hits == slow_hits and v1_change.hits == v1_hits
            assert v2_change.hits > 0 and new.hits > 0 and keep.hits > 0
            assert eu.hits == 0 and count(pg, "eu-only") == 0, "a check for eu-west ran in us-east"
            slow_after = pg.psql("SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'slow' AND r.started_at > to_timestamp(%f)" % in_flight_started)
            assert slow_after[0][0] == "0", slow_after
            # Register's view (probe_checks) follows the acknowledged version.
            names = sorted(r[0] for r in pg.psql(
                "SELECT c.name FROM probe_checks pc JOIN checks c ON c.id = pc.check_id JOIN probes p "
                "ON p.id = pc.probe_id WHERE p.name = 'probe-us'"))
            assert names == ["change", "keep", "new"], names
            log = probe.output()
            assert "checks swapped" in log and "kept=1" in log, log[-3000:]
            print("ok: apply/diff, push on connect and on change, swap without restart")
        except Exception:
            for p in procs:
                sys.stderr.write("---- %s\n%s\n" % (p.name, p.output()[-4000:]))
            raise
        finally:
            for p in procs:
                p.stop()
            for t in (keep, v1_change, v2_change, gone, new, eu, slow):
                t.close()


if __name__ == "__main__":
    main()
