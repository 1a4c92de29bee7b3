#!/usr/bin/python3
"""The collector fills the reports' baseline caches at start: for every region too.

One private PostgreSQL; picket-bench-analytics generate stores 4 checks x 3
regions x 3 days through the collector's own ingest code; a first collector
compacts the partial rows it leaves (a span holding them is read, not kept);
then a second collector starts on it. Its start-up thread (collector/rpc_warm.c) runs the
default report once for every region, the 30-day and 7-day reports for every
region, and the default report once for each region, so that the first
`picketctl report --region R` after a start finds its 29 days of hourly
summaries in memory. Before them it has PostgreSQL read the reports' tables
ahead (pg_prewarm, which migrate installed: the log names how many relations
and bytes); a collector started with --prefetch-mb 0 does not, nor one on a
database without the extension (it says why). Checked: the log says each fill happened, /metrics counts
one cache entry per check for every region and one per check and region (the
longer windows add none: their trends' hours are the baseline's), and a
report for a region answers with every check.
"""

import json
import subprocess
import sys
import time

from pgharness import PrivatePostgres
from picket_env import binary, metric, start_collector, wait_for

DAY_US = 86400 * 1000000
CHECKS = 4


def main():
    now_us = int(time.time() * 1e6)
    end_us = (now_us // DAY_US) * DAY_US  # the last UTC midnight: nothing stored in the future
    with PrivatePostgres() as pg:
        out = subprocess.run([binary("picket-collector"), "migrate", "--db", pg.url], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "pg_prewarm" not in out.stderr, out.stderr  # a superuser: created, no notice
        assert pg.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'") == [["1"]]
        g = subprocess.run([binary("picket-bench-analytics"), "generate", "--db", pg.url, "--checks", str(CHECKS),
                            "--regions", "3", "--days", "3", "--end-us", str(end_us)],
                           capture_output=True, text=True, timeout=600)
        assert g.returncode == 0, g.stderr[-2000:]
        regions = [r[0] for r in pg.psql("SELECT DISTINCT region FROM probes ORDER BY 1")]
        assert len(regions) == 3, regions
        # The generator leaves its newest minutes as partial rows, and a span
        # holding those is read, not kept: a first collector compacts them.
        first = start_collector(pg, plaintext=True, extra=["--compact-interval-s", "1"])
        try:
            wait_for("the generator's partial rows compacted",
                     lambda: pg.psql("SELECT count(*) FROM rollup_partial") == [["0"]], 60)
        finally:
            first.stop()
        col = start_collector(pg, plaintext=True)
        try:
            def fills():
                return [line for line in col.output().splitlines() if 'msg="caches filled"' in line]
            wait_for("the start-up fills (every region over 24 h, 30 d and 7 d, then each region)",
                     lambda: len(fills()) == 3 + len(regions), 60)
            ahead = [line for line in col.output().splitlines() if 'msg="tables read ahead"' in line]
            assert len(ahead) == 1, col.output()[-3000:]
            fields = dict(f.split("=", 1) for f in ahead[0].split() if "=" in f)
            listed = int(pg.psql("SELECT count(*) FROM pg_class c WHERE (c.relname IN ('checks', 'round_runs', "
                                 "'rollup_check_hour', 'check_hour_days') AND c.relkind = 'r' OR c.oid IN "
                                 "(SELECT indexrelid FROM pg_index WHERE indrelid::regclass::text IN ('checks', "
                                 "'round_runs', 'rollup_check_hour', 'check_hour_days'))) "
                                 "AND pg_relation_size(c.oid) > 0")[0][0])
            assert int(fields["relations"]) >= listed >= 8 and float(fields["mb"]) > 0, (listed, ahead)
            assert fields["skipped"] == "0", ahead
            for r in regions:
                assert any('region="%s"' % r in line for line in fills()), (r, fills())
            for span in ("24 h", "30 d", "7 d"):
                assert any('every check, %s" region=""' % span in line for line in fills()), (span, fills())
            entries = metric(col, "picket_baseline_cache_entries")
            assert entries == CHECKS * (1 + len(regions)), (entries, fills())
            assert metric(col, "picket_baseline_cache_bytes") > 0
            assert metric(col, "picket_baseline_cache_evicted_total") == 0
            rep = subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:%d" % col.port,
                                  "--insecure-plaintext", "report", "--region", regions[1], "--json"],
                                 capture_output=True, text=True, timeout=30)
            assert rep.returncode == 0, rep.stderr
            checks = json.loads(rep.stdout)["checks"]
            assert len(checks) == CHECKS, checks
            # the same entries serve it: none added, none swept
            assert metric(col, "picket_baseline_cache_entries") == entries
            print("test_warm_start: %d fills at start, %d cache entries, a region's report answered from them"
                  % (len(fills()), entries))
        except BaseException:
            sys.stderr.write("collector:\n%s\n" % col.output()[-3000:])
            raise
        finally:
            col.stop()
        # --prefetch-mb 0: nothing read ahead; no extension: nothing, and why.
        for extra, sql, said in ((["--prefetch-mb", "0"], None, None),
                                 ([], "DROP EXTENSION pg_prewarm", 'msg="tables not read ahead"')):
            if sql:
                pg.psql(sql)
            other = start_collector(pg, plaintext=True, extra=extra)
            try:
                wait_for("the default report's fill", lambda: 'msg="caches filled"' in other.output(), 60)
                assert 'msg="tables read ahead"' not in other.output(), other.output()[-3000:]
                assert said is None or (said in other.output() and "no pg_prewarm" in other.output()), \
                    other.output()[-3000:]
            finally:
                other.stop()
    print("test_warm_start: OK")


if __name__ == "__main__":
    main()
