#!/usr/bin/python3
"""The cost of every command does not depend on how much older history is stored.

One private PostgreSQL with pg_stat_statements. picket-bench-analytics generate
stores CHECKS checks x 3 regions x (DAYS + 1) days through the collector's own
ingest code (results, rollups, the tracker's round cells, runs and incidents,
the check-hour summaries); a real collector serves it (its start-up upkeep,
which prunes the round cells past 36 h, done before anything is measured). Every command a user runs
over the last DAYS days and the last 24 h (picketctl report, availability,
latency, incidents, status; the dashboard's overview and one check's page over
HTTP) is run once to warm the collector's caches, then once measured: the
shared buffers (hit + read) of each statement PostgreSQL ran for it, per call
(pg_stat_statements), which do not depend on the machine's load as times do.
(A statement's calls are averaged: the dashboard's background refresh may run
the same statement for every check meanwhile, which moves the average either
way; a statement that read the older history would double in every call.)
Then every stored row of every history table is copied to the same span just
before it (the stored history doubles; the tracker's runs and incidents move
by whole rounds, and the runs' running totals are recomputed, as migration 037
does), and everything is measured again.

Each command's buffers, summed over the statements it ran in both passes, may
grow by at most 25 % + 32 blocks (an index one level deeper; the history
doubled); a command whose statements read the older history would double. A
control statement that does read it (a count of one check's results without a
time bound) must grow by at least 1.6x, or the measure could not see growth.
The window's answers (availability, latency) must be the same before and after.
Prints one table (docs/PERFORMANCE.md, "Commands at scale"). About 30-40 s.

    tests/integration/test_history_doubling.py [--checks N] [--days D]
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.request

from pgharness import PrivatePostgres
from picket_env import binary, start_collector, wait_for

DAY_US = 86400 * 1000000
MINUTE_US = 60 * 1000000
GROWTH, SLACK = 1.25, 32  # at most GROWTH x before + SLACK blocks after doubling
CONTROL_MIN = 1.6  # the control statement (reads every stored result of a check) grows at least this much


def rfc3339(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1000000))


def stats_reset(pg):
    pg.psql("SELECT pg_stat_statements_reset()")


def stats_read(pg):
    """{queryid: (query, calls, blocks per call)} of the statements run since the reset,
    except this harness's own."""
    rows = pg.psql("SELECT queryid, calls, shared_blks_hit + shared_blks_read, "
                   "regexp_replace(left(query, 90), '\\s+', ' ', 'g') FROM pg_stat_statements "
                   "WHERE query NOT ILIKE '%pg_stat_statements%' AND calls > 0")
    return {r[0]: (r[3], int(r[1]), int(r[2]) / int(r[1])) for r in rows}


def double_history(pg, start_us, end_us):
    """Copies every history row of [start, end) to [start - span, start)."""
    span_us = end_us - start_us
    shift = "interval '%d seconds'" % (span_us // 1000000)
    days = span_us // DAY_US
    sql = ["SELECT picket_make_partition((to_timestamp(%d) - %s + make_interval(days => d))::date) "
           "FROM generate_series(0, %d) d" % (start_us // 1000000, shift, days - 1)]

    def copy(table, changed, where):
        cols = [r[0] for r in pg.psql("SELECT column_name FROM information_schema.columns WHERE table_name = '%s' "
                                      "ORDER BY ordinal_position" % table)]
        exprs = [changed.get(c, c) for c in cols]
        sql.append("INSERT INTO %s (%s) SELECT %s FROM %s t WHERE %s"
                   % (table, ", ".join(cols), ", ".join(exprs), table, where))

    lo, hi = "to_timestamp(%d)" % (start_us // 1000000), "to_timestamp(%d)" % (end_us // 1000000)
    for table, col in (("results", "started_at"), ("rollup_minute", "minute"), ("rollup_hour", "hour"),
                       ("rollup_day", "day"), ("rollup_check_day", "day"), ("rollup_check_hour", "hour"),
                       ("check_hour_days", "day"),  # the packed days of those summaries (migration 039)
                       ("region_hour_days", "day")):  # and of each region's (migration 044)
        copy(table, {col: "%s - %s" % (col, shift)}, "%s >= %s AND %s < %s" % (col, lo, col, hi))
    # Rounds: a check's round k starts at k x interval + spread, so the span is a
    # whole number of rounds (its interval divides a day).
    rounds = "(%d / (SELECT k.interval_us FROM round_trackers k WHERE k.check_id = t.check_id))" % span_us
    copy("round_runs", {"from_round": "from_round - " + rounds, "to_round": "to_round - " + rounds,
                        "up_before": "NULL", "down_before": "NULL"}, "true")
    inc = {c: "%s - %s" % (c, rounds) for c in ("start_round", "opened_round", "end_round", "closed_round")}
    inc.update({c: "%s - %d" % (c, span_us) for c in ("start_us", "opened_us", "end_us", "closed_us")})
    copy("incidents", inc, "end_round IS NOT NULL")  # an open one stays the newest
    # The running totals of every chain, the older runs now first (migration 037's statement).
    sql.append("UPDATE round_runs SET up_before = NULL")
    with open(binary_dir_migration("037_round_run_totals_fill.sql")) as f:
        sql.append(f.read())
    out = subprocess.run(["/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url, "-c",
                          "; ".join(s.strip().rstrip(";") for s in sql)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError("doubling failed: %s" % (out.stdout + out.stderr)[-2000:])
    pg.psql("VACUUM ANALYZE")


def binary_dir_migration(name):
    import os
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "migrations", name)


class Commands:
    def __init__(self, pg, col, days, check):
        self.pg, self.col = pg, col
        until = int(time.time() * 1e6) // MINUTE_US * MINUTE_US
        since, day = until - days * DAY_US, until - DAY_US
        win = ["--since", rfc3339(since), "--until", rfc3339(until), "--json"]
        q = "since=%d&until=%d" % (since // 1000000, until // 1000000)
        qc = q + "&check=" + check
        self.items = [
            ("picketctl report, all checks, 24 h", ["report", "--since", rfc3339(day), "--until", rfc3339(until),
                                                    "--json"]),
            ("picketctl report, all checks, %d d" % days, ["report"] + win),
            ("picketctl availability, all checks, %d d" % days, ["availability"] + win),
            ("picketctl latency, all checks, %d d" % days, ["latency"] + win),
            ("picketctl incidents, all checks, %d d" % days, ["incidents"] + win),
            ("picketctl status", ["status", "--json"]),
            ("HTTP overview, %d d" % days, ["/api/report?" + q, "/api/incidents?" + q, "/api/probes"]),
            ("HTTP one check's page, %d d" % days, ["/api/report?" + qc, "/api/incidents?" + qc,
                                                    "/api/latency-series?" + qc]),
        ]
        self.control = ("SELECT count(*), sum(total_us) FROM results WHERE check_id = "
                        "(SELECT id FROM checks WHERE name = '%s')" % check)

    def run(self, what):
        if what[0].startswith("/"):
            bodies = []
            for path in what:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.col.http_port, path), timeout=60) as r:
                    bodies.append(r.read())
            return bodies
        out = subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:%d" % self.col.port,
                              "--insecure-plaintext", "--timeout", "60000"] + what,
                             capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, (what, out.stderr[-500:])
        return out.stdout

    def measure(self):
        """{name: ({queryid: (query, calls, blocks per call)}, answer)}."""
        got = {}
        for name, what in self.items:
            self.run(what)  # warm: the collector's caches, PostgreSQL's plans
            stats_reset(self.pg)
            answer = self.run(what)
            got[name] = (stats_read(self.pg), answer)
        stats_reset(self.pg)
        self.pg.psql(self.control)
        control = {q: v for q, v in stats_read(self.pg).items() if "sum(total_us) FROM results" in v[0]}
        assert len(control) == 1, control
        got["control: one check's results, no time bound (psql)"] = (control, None)
        return got


def window_answer(text):
    """availability and latency without the moment they were asked."""
    j = json.loads(text)
    for k in ("generated_at_us", "query_us", "took_us", "elapsed_us"):
        j.pop(k, None)
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", type=int, default=6, help="checks (default 6), 3 regions each")
    ap.add_argument("--days", type=int, default=3, help="days of the window (default 3); DAYS + 1 are stored")
    ap.add_argument("--verbose", action="store_true", help="also each statement's buffers before and after")
    args = ap.parse_args()
    now_us = int(time.time() * 1e6)
    end_us = (now_us // DAY_US + 1) * DAY_US  # the next UTC midnight: the window is full of history
    gen_days = args.days + 1
    t0 = time.monotonic()
    with PrivatePostgres() as pg:
        pg.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        pg.stop()
        pg.start()
        pg.psql("CREATE EXTENSION pg_stat_statements")
        out = subprocess.run([binary("picket-collector"), "migrate", "--db", pg.url], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        g = subprocess.run([binary("picket-bench-analytics"), "generate", "--db", pg.url, "--checks",
                            str(args.checks), "--regions", "3", "--days", str(gen_days), "--end-us", str(end_us)],
                           capture_output=True, text=True, timeout=600)
        assert g.returncode == 0, g.stderr[-2000:]
        pg.psql("VACUUM ANALYZE")
        n_before = int(pg.psql("SELECT count(*) FROM results")[0][0])
        runs_before = int(pg.psql("SELECT count(*) FROM round_runs")[0][0])
        assert runs_before > 0 and int(pg.psql("SELECT count(*) FROM rollup_check_hour")[0][0]) > 0
        col = start_collector(pg, plaintext=True, extra=["--compact-interval-s", "3600"])
        try:
            # The leader's start-up upkeep prunes round_cells past 36 h (ROUND_CELLS_KEEP_US):
            # done, and its dead rows vacuumed, before anything is measured.
            cut = (int(time.time() * 1e6) - 37 * 3600 * 1000000) // MINUTE_US
            wait_for("start-up upkeep", lambda: pg.psql("SELECT count(*) FROM round_cells WHERE minute < %d"
                                                        % cut) == [["0"]], 60)
            pg.psql("VACUUM ANALYZE")
            cmds = Commands(pg, col, args.days, "scale-check-%04d" % (args.checks // 2))
            before = cmds.measure()
            double_history(pg, end_us - gen_days * DAY_US, end_us)
            after = cmds.measure()
        except BaseException:
            sys.stderr.write("collector:\n%s\n" % col.output()[-3000:])
            raise
        finally:
            col.stop()
        n_after = int(pg.psql("SELECT count(*) FROM results")[0][0])
        runs_after = int(pg.psql("SELECT count(*) FROM round_runs")[0][0])
        assert n_after == 2 * n_before and runs_after == 2 * runs_before, (n_before, n_after, runs_before,
                                                                          runs_after)
        assert pg.psql("SELECT count(*) FROM round_runs WHERE up_before IS NULL") == [["0"]]

    print("# History doubling (tests/integration/test_history_doubling.py --checks %d --days %d)\n"
          % (args.checks, args.days))
    print("- %d checks x 3 regions, %d days stored (%d results, %d runs), then %d days (%d results, %d runs)"
          % (args.checks, gen_days, n_before, runs_before, 2 * gen_days, n_after, runs_after))
    print("- shared buffers (hit + read) per call of each statement the command ran, summed over the "
          "statements run in both passes (pg_stat_statements)\n")
    print("| command | statements in both (only before, only after) | buffers before | buffers after | "
          "after / before | verdict |")
    print("|---|---|---|---|---|---|")
    bad = []
    for name in before:
        b, a = before[name][0], after[name][0]
        common = sorted(set(b) & set(a))
        sb, sa = sum(b[q][2] for q in common), sum(a[q][2] for q in common)
        ratio = sa / sb if sb else float("nan")
        if name.startswith("control"):
            ok = sb > 0 and ratio >= CONTROL_MIN
            verdict = "grows, as it must" if ok else "DID NOT GROW"
        else:
            ok = len(common) > 0 and sa <= GROWTH * sb + SLACK
            verdict = "PASS" if ok else "GREW"
        print("| %s | %d (%d, %d) | %.0f | %.0f | %.2f | %s |"
              % (name, len(common), len(set(b) - set(a)), len(set(a) - set(b)), sb, sa, ratio,
                 verdict))
        if not ok:
            worst = sorted(common, key=lambda q: b[q][2] - a[q][2])[:3]
            bad.append((name, [(a[q][0], b[q][2], a[q][2]) for q in worst]))
    if args.verbose:
        for name in before:
            b, a = before[name][0], after[name][0]
            print("\n%s:" % name)
            for q in sorted(set(b) | set(a), key=lambda q: -max(b.get(q, ("", 0, 0))[2], a.get(q, ("", 0, 0))[2])):
                print("  %8s %8s  %s" % ("%.0f" % b[q][2] if q in b else "-", "%.0f" % a[q][2] if q in a else "-",
                                         (b.get(q) or a.get(q))[0]))
    for name in before:
        if "availability" in name or "latency" in name:
            assert window_answer(before[name][1]) == window_answer(after[name][1]), (
                name, "the window's answer changed when older history was added")
    print("\n%.0f s" % (time.monotonic() - t0))
    assert not bad, bad


if __name__ == "__main__":
    main()
