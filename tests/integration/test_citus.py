#!/usr/bin/python3
"""Picket on Citus against Picket on one PostgreSQL, same data, same run.

Starts a Citus cluster (scripts/citus --dir: a coordinator and two workers on
127.0.0.1, Citus built once into var/cache) and a private plain PostgreSQL;
`picket-collector migrate` on the plain one, `migrate --citus` (twice: it is
idempotent) on the coordinator; a real collector on each. test_query's three
Python gRPC probes stream the same 12 hours of synthetic results through each
collector's real ingest path; compaction folds them; then every analytics
command of picketctl (--json) and the dashboard's JSON API must answer exactly
the same on both, and a few figures are checked against the generated data so
that two equally wrong answers cannot pass. Then backfill, partition making,
moving rows out of results_default, and retention on both. On Citus, each
check's last result (picket_last_results()) is read through both of its paths
(the tracker's co-located join, a check's own query) and compared with the rows.

Run by `scripts/test --citus` (not by ctest: building Citus the first time
takes minutes). Needs root or the postgres user's rights, like scripts/citus.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from picket_env import (PrivatePostgres, Target, binary, migrate, picketctl, start_collector, wait_for,
                        write_checks)
import test_query as tq
from citus_cluster import CitusCluster, diff, strip

def migrate_citus(cl):
    out = subprocess.run([binary("picket-collector"), "migrate", "--citus", "--db", cl.url], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, (out.stdout, out.stderr)
    return out.stdout


def http_json(col, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (col.http_port, path), timeout=30) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        raise AssertionError("GET %s: %d %s" % (path, e.code, e.read()[:500]))


def answers(col, window):
    """Every analytics answer, by name: picketctl --json and the dashboard API."""
    got = {}
    for cmd in (("availability",), ("availability", "--quorum", "1"), ("availability", "--region", "us"),
                ("latency", "--quantile", "0.5", "--quantile", "0.99", "--quantile", "0.999"),
                ("latency", "--service", "shop"), ("trend",), ("incidents",), ("slo",), ("slo", "--backtest"),
                ("regressions",), ("report",), ("report", "--check", "api-a"), ("report", "--region", "us"),
                ("report", "--region", "us")):  # twice: read, then from the baseline cache
        key = " ".join(cmd)
        got[key + " (again)" if key in got else key] = tq.ctl_json(col, *(cmd + tuple(window)))
    got["status"] = tq.ctl_json(col, "status")
    qs = "since=%d&until=%d" % (tq.T0 // 1_000_000, tq.T_END // 1_000_000)
    for api in ("report?", "incidents?", "latency-series?check=api-a&"):
        path = "/api/" + api + qs
        got[path] = http_json(col, path)
    got["/api/probes"] = http_json(col, "/api/probes")
    return got


def ingest(db, col, per_probe, flat):
    t = time.time()
    tq.feed(col, per_probe)
    ingest_s = time.time() - t
    wait_for("rollups compacted", lambda: db.psql("SELECT count(*) FROM rollup_partial") == [["0"]], 120)
    n = int(db.psql("SELECT count(*) FROM rollup_minute")[0][0])
    assert n == len(flat), (n, len(flat))
    assert int(db.psql("SELECT count(*) FROM results")[0][0]) == len(flat)
    return ingest_s


def stored_counts(db):
    """The writers' per-round counts (round_cells, summed per check and region: how
    they are split into rows depends on the transactions) and the compaction's
    check-hour summaries, by check name: both written on Citus as on one
    PostgreSQL, and read there (the tracker, the report's baseline)."""
    cells = db.psql(
        "SELECT ch.name, rc.region, sum((get_byte(rc.cells, 8 * i + 4) << 8) + get_byte(rc.cells, 8 * i + 5)), "
        "sum((get_byte(rc.cells, 8 * i + 6) << 8) + get_byte(rc.cells, 8 * i + 7)) FROM round_cells rc "
        "JOIN checks ch ON ch.id = rc.check_id CROSS JOIN LATERAL generate_series(0, length(rc.cells) / 8 - 1) i "
        "GROUP BY 1, 2 ORDER BY 1, 2")
    hours = db.psql("SELECT ch.name, h.hour, h.ok, h.degraded, h.failed, h.unknown, h.hist_count, round(h.p95_us) "
                    "FROM rollup_check_hour h JOIN checks ch ON ch.id = h.check_id ORDER BY 1, 2")
    assert len(cells) >= len(tq.CHECKS) and len(hours) >= len(tq.CHECKS), (cells, hours)
    # The tracker's runs with their running totals (migration 029), written on
    # Citus by the same INSERT as on one PostgreSQL: every total known and equal
    # to the rounds of the runs before it in its (check, scope).
    runs = db.psql("SELECT ch.name, r.scope, r.from_round, r.to_round, r.state, r.up_before, r.down_before "
                   "FROM round_runs r JOIN checks ch ON ch.id = r.check_id "
                   "ORDER BY ch.name, r.scope COLLATE \"C\", r.from_round")
    assert len(runs) >= len(tq.CHECKS), runs
    sums = {}
    for name, scope, first, last, state, up_before, down_before in runs:
        up, down = sums.get((name, scope), (0, 0))
        assert (up_before, down_before) == (str(up), str(down)), (name, scope, first, up_before, down_before, up, down)
        n = int(last) - int(first) + 1
        sums[(name, scope)] = (up + n * (state == "1"), down + n * (state == "2"))
    assert any(d for _, d in sums.values()), sums
    return cells, hours, runs


def partitions_and_retention(db, label):
    """A row five days old sits in results_default; the collector's upkeep moves it
    into its day's new partition (picket_make_partition); picket_drop_partitions
    drops that partition."""
    day = db.psql("SELECT (now() AT TIME ZONE 'UTC')::date - 5")[0][0]
    db.psql("INSERT INTO results (probe_id, seq, check_id, started_at, outcome, error_class) "
            "SELECT p.id, 999999, c.id, '%s 12:00:00+00', 1, 0 FROM probes p, checks c "
            "WHERE p.name = 'q-eu' AND c.name = 'api-a'" % day)
    assert db.psql("SELECT count(*) FROM results_default WHERE seq = 999999") == [["1"]], label
    # The collector's partition upkeep (at start, then hourly) makes that day's partition.
    col = start_collector(db)
    try:
        part = "results_" + day.replace("-", "")
        wait_for("partition %s on %s" % (part, label),
                 lambda: db.psql("SELECT to_regclass('%s') IS NOT NULL" % part) == [["t"]], 30)
        quiet_log(col, label + " upkeep")
    finally:
        col.stop()
    assert db.psql("SELECT picket_make_partition('%s')" % day) == [["f"]], label
    assert db.psql("SELECT count(*) FROM %s WHERE seq = 999999" % part) == [["1"]], label
    assert db.psql("SELECT count(*) FROM results_default WHERE seq = 999999") == [["0"]], label
    dropped = db.psql("SELECT picket_drop_partitions('%s'::date + 1)" % day)[0][0]
    assert int(dropped) >= 1, (label, dropped)
    assert db.psql("SELECT to_regclass('%s') IS NULL" % part) == [["t"]], label
    assert db.psql("SELECT count(*) FROM results WHERE seq = 999999") == [["0"]], label


def backfill(db, window):
    out = subprocess.run([binary("picket-collector"), "rollup-backfill", "--since", window[1], "--until", window[3],
                          "--db", db.url], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout, out.stderr)
    return out.stdout


ALERTS = """evaluation_interval: 250ms
receivers:
  - name: hook
    type: webhook
    url: %s
    timeout: 2s
rules:
  - name: down
    type: incident
    checks: "*"
    open_after: 3
    close_after: 3
  - name: slow
    type: latency_budget
    checks: "*"
    window: 1h
  - name: burn
    type: slo_burn
    checks: "*"
  - name: silent
    type: silent_probe
    probes: "*"
    after: 1s
"""


def alert_states(db):
    return db.psql("SELECT rule, subject, firing FROM alert_state ORDER BY rule, subject")


def other_paths(db, col, tmp, label):
    """Central assignment (apply, diff), a token, the alert evaluator's state:
    the paths the analytics answers do not touch; returns what to compare."""
    got = {}
    # Partition upkeep while the alert leader holds its lock (they once shared a key,
    # so upkeep waited forever): bounded by a statement timeout.
    assert db.psql("SET statement_timeout = '20s'; SELECT picket_make_partition(current_date + 20)")[-1] == ["t"]
    v1 = write_checks(os.path.join(tmp, "assign-%s.yaml" % label), [
        {"name": "api-a", "type": "http", "url": "http://127.0.0.1:1/a", "interval": "1m", "service": "shop",
         "budgets": {"p50": "100ms", "p95": "300ms", "p99": "1s"}},
        {"name": "later", "type": "http", "url": "http://127.0.0.1:1/l", "interval": "1m", "service": "cart"}])
    out = picketctl(col.port, "apply", v1)
    assert out.returncode == 0, (label, out.stdout, out.stderr)
    out = picketctl(col.port, "diff", v1)
    assert out.returncode == 0, (label, out.stdout, out.stderr)
    got["diff"] = out.stdout
    got["versions"] = db.psql("SELECT version, n_checks FROM check_versions ORDER BY version")
    got["checks"] = db.psql("SELECT name, type, service, budget_p95_ms FROM checks ORDER BY name")
    tok = subprocess.run([binary("picket-collector"), "token", "add", "--role", "read", "citus-test", "--db", db.url],
                         capture_output=True, text=True, timeout=60)
    assert tok.returncode == 0, (label, tok.stdout, tok.stderr)
    got["credentials"] = db.psql("SELECT role, name FROM credentials ORDER BY id")
    return got


def overview_bars(col):
    """The dashboard's history bars (/api/overview, the tracker's stored rounds) once
    two reads a refresh apart agree: per check its round, last round and the bars
    without the trailing rounds after the data (the window moves with the clock)."""
    def read():
        got = {}
        for c in http_json(col, "/api/overview")["checks"]:
            got[c["check"]] = (c["round_us"], c["last_us"], c["bars"].rstrip("-"))
        return got
    def stable():
        a = read()
        time.sleep(5.5)  # the dashboard's refresh period (collector/dashboard.c REFRESH_US)
        b = read()
        return a if a == b and all(a.get(k, (0, 0, ""))[2] for k in tq.CHECKS) else None
    return wait_for("stable overview bars", stable, 40)


def same_bars(plain, citus):
    """Equal but for the window: a read in a later minute lost its oldest rounds."""
    assert sorted(plain) == sorted(citus), (plain, citus)
    for name in plain:
        (pw, pl, pb), (cw, cl, cb) = plain[name], citus[name]
        assert pw == cw and pl == cl, (name, plain[name], citus[name])
        assert len(pb) - len(cb) in range(0, 4) and pb.endswith(cb), (name, pb, cb)
        assert set(cb) & set("upd"), (name, cb)


LAST_COLS = "check_id, started_at, outcome, message, total_us, status_code, probe_id, metrics"


def last_results_paths(cl):
    """picket_last_results() on Citus: every check's newest result, the same rows
    whether a check is read through its tracker row (one statement run by each
    shard) or, without one, by its own single-shard query; both equal to each
    check's newest row read directly."""
    direct = []
    for (k,) in cl.psql("SELECT id FROM checks ORDER BY id"):
        direct += cl.psql("SELECT %s FROM results WHERE check_id = %s ORDER BY started_at DESC LIMIT 1"
                          % (LAST_COLS, k))
    assert len(direct) >= 3, direct
    by_tracker = cl.psql("SELECT %s FROM picket_last_results() ORDER BY check_id" % LAST_COLS)
    assert by_tracker == direct, (by_tracker, direct)
    # Without api-a's tracker row (in a transaction rolled back): its own query.
    out = subprocess.run(["/usr/bin/psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-d", cl.url,
                          "-c", "BEGIN", "-c", "DELETE FROM round_trackers WHERE check_id = "
                          "(SELECT id FROM checks WHERE name = 'api-a')",
                          "-c", "SELECT %s FROM picket_last_results() ORDER BY check_id" % LAST_COLS,
                          "-c", "ROLLBACK"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [ln.split("\t") for ln in out.stdout.splitlines() if "\t" in ln]
    assert "DELETE 1" in out.stdout and lines == direct, (out.stdout, direct)


def quiet_log(col, label):
    """No error and no failed background job (compaction, upkeep, alerts) in the log."""
    bad = [line for line in col.output().splitlines()
           if "level=error" in line or ("level=warn" in line and "comp=http" not in line)]
    assert not bad, (label, bad[:5])


def main():
    per_probe, flat = tq.generate()
    window = ["--since", tq.rfc3339(tq.T0), "--until", tq.rfc3339(tq.T_END)]
    slos = os.path.join(tempfile.mkdtemp(prefix="picket-citus-slos-"), "slos.yaml")
    with open(slos, "w") as f:
        f.write(tq.SLOS_FILE)
    hook = Target()
    alerts = os.path.join(os.path.dirname(slos), "alerts.yaml")
    with open(alerts, "w") as f:
        f.write(ALERTS % hook.url("/hook"))
    extra = ["--compact-interval-s", "1", "--slos", slos, "--alerts", alerts]
    results = {}
    with PrivatePostgres() as pg, CitusCluster() as cl:
        migrate(pg)
        # --citus on a database without the extension: refused, saying why, nothing changed.
        out = subprocess.run([binary("picket-collector"), "migrate", "--citus", "--db", pg.url],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "citus extension is not installed" in out.stderr, (out.stdout, out.stderr)
        first = migrate_citus(cl)
        assert "results: now distributed by check_id" in first, first
        assert "probes: now reference table" in first and "checks: now reference table" in first, first
        again = migrate_citus(cl)
        assert "citus: 0 tables converted;" in again and "results: already distributed" in again, again
        kinds = dict((r[0], r[1]) for r in cl.psql(
            "SELECT table_name::text, citus_table_type FROM citus_tables"))
        by_check = ("results", "rollup_minute", "rollup_hour", "rollup_day", "rollup_check_day", "round_runs",
                    "incidents", "round_trackers", "round_cells", "rollup_check_hour")
        for t in by_check:
            assert kinds.get(t) == "distributed", (t, kinds)
        for t in ("probes", "checks", "credentials"):
            assert kinds.get(t) == "reference", (t, kinds)
        # Every table keyed by check shares one co-location group (a check's rows on one node).
        coloc = cl.psql("SELECT count(DISTINCT colocationid), count(*) FROM pg_dist_partition WHERE "
                        "logicalrelid::text IN (%s)" % ", ".join("'%s'" % t for t in by_check))
        assert coloc == [["1", str(len(by_check))]], coloc
        # results keeps its daily partitions, each distributed too.
        parts = cl.psql("SELECT count(*) FROM pg_inherits i JOIN pg_dist_partition d ON d.logicalrelid = i.inhrelid "
                        "WHERE i.inhparent = 'results'::regclass")
        assert int(parts[0][0]) >= 1, parts
        for label, db in (("plain", pg), ("citus", cl)):
            col = start_collector(db, extra=extra)
            try:
                ingest_s = ingest(db, col, per_probe, flat)
                results[label] = strip(answers(col, window))
                results[label + " ingest_s"] = ingest_s
                results[label + " stored"] = stored_counts(db)
                # A rebuilt day answers the same (rollup-backfill reads raw results).
                backfill(db, window)
                results[label + " after backfill"] = strip(answers(col, window))
                # The evaluator's verdicts (the probes fell silent) and its state, the same on both.
                wait_for("alerts on " + label, lambda: ["silent", "q-eu", "t"] in alert_states(db), 60)
                time.sleep(1)
                results[label + " alerts"] = alert_states(db)
                results[label + " other"] = other_paths(db, col, os.path.dirname(slos), label)
                results[label + " bars"] = overview_bars(col)
                if label == "citus":
                    last_results_paths(db)
                quiet_log(col, label)
            except BaseException:
                sys.stderr.write("collector on %s:\n%s\n" % (label, col.output()[-4000:]))
                raise
            finally:
                col.stop()
            partitions_and_retention(db, label)
    for what in ("alerts", "other", "stored"):
        assert results["plain " + what] == results["citus " + what], (what, results["plain " + what],
                                                                      results["citus " + what])
    same_bars(results["plain bars"], results["citus bars"])
    assert hook.hits > 0, "no alert reached the webhook"
    plain, citus = results["plain"], results["citus"]
    assert sorted(plain) == sorted(citus)
    for name in plain:
        d = diff(plain[name], citus[name], name)
        assert d is None, "plain PostgreSQL and Citus differ: " + d
        d = diff(plain[name], results["citus after backfill"][name], name)
        assert d is None, "Citus after rollup-backfill differs: " + d
    # The figures are the data's, not merely equal on both.
    av = {c["check"]: c for c in plain["availability"]["checks"]}
    for check, (_, regions, _, _) in tq.CHECKS.items():
        counts, _, covered, up, _ = tq.availability(flat, check, len(regions) // 2 + 1)
        for k, v in counts.items():
            assert av[check]["global"][k] == v, (check, k, av[check]["global"], counts)
        assert av[check]["global"]["up_us"] == up and av[check]["global"]["covered_us"] == covered, check
    rep = plain["report"]
    assert [c["check"] for c in rep["checks"]] == ["api-a", "api-b", "web"], rep
    assert rep["checks"][2]["open_incidents"] == 1, rep["checks"][2]
    shutil.rmtree(os.path.dirname(slos), ignore_errors=True)
    print("citus: alert states %r" % results["citus alerts"])
    print("citus: history bars %r" % sorted((k, v[2]) for k, v in results["citus bars"].items()))
    print("citus: %d answers equal on plain PostgreSQL and Citus; ingest of %d results %.1f s plain, %.1f s citus"
          % (len(plain), len(flat), results["plain ingest_s"], results["citus ingest_s"]))


if __name__ == "__main__":
    main()
