#!/usr/bin/python3
"""The leader's storage upkeep (compaction, partitions, retention) runs on a
thread and connection of its own: while a compaction cannot go on (another
session holds rollup_partial locked), `picketctl status` and `picketctl
incidents` still answer at once with their default timeout. When the upkeep
ran on the control thread, every query queued behind it and timed out (the
first report after a start waited 4 s for a retention pass on a month of
history). Afterwards the compaction resumes."""

import os
import subprocess
import sys
import tempfile
import time

from pgharness import PSQL
from picket_env import PrivatePostgres, metric, migrate, picketctl, start_collector, wait_for


def blocked_compaction(pg):
    """The compaction's backend (the upkeep thread's connection, named for it)
    waiting for a lock on a statement over rollup_partial."""
    rows = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'picket-collector pk-upkeep' "
                   "AND wait_event_type = 'Lock' AND query LIKE '%rollup_partial%'")
    return int(rows[0][0]) > 0


def main():
    tmp = tempfile.mkdtemp(prefix="picket-upkeep-")
    procs = []
    with PrivatePostgres() as pg:
        locker = None
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp, extra=["--compact-interval-s", "1"])
            procs.append(col)
            wait_for("a first compaction", lambda: metric(col, "picket_collector_rollup_compactions_total") >= 1, 30)
            # Every connection names the collector's part it serves (docs/DEPLOY.md);
            # the writers and the tracker connect with their first work.
            names = {r[0] for r in pg.psql("SELECT application_name FROM pg_stat_activity "
                                           "WHERE application_name LIKE 'picket-collector%'")}
            for want in ("picket-collector pk-control", "picket-collector pk-leader", "picket-collector pk-upkeep"):
                assert want in names, "no backend named %r among %s" % (want, sorted(names))
            # Another session holds rollup_partial: the next compaction waits for it.
            locker = subprocess.Popen([PSQL, "-X", "-q", "-d", pg.url, "-c",
                                       "BEGIN; LOCK TABLE rollup_partial IN ACCESS EXCLUSIVE MODE; "
                                       "SELECT pg_sleep(60);"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env=dict(os.environ, PGAPPNAME="picket-test-locker"))
            wait_for("the compaction waiting for the lock", lambda: blocked_compaction(pg), 30, 0.2)
            for args in (["status"], ["incidents", "--since", "1h"]):
                t0 = time.monotonic()
                out = picketctl(col.port, *args)
                ms = (time.monotonic() - t0) * 1000
                assert out.returncode == 0, (args, out.returncode, out.stderr[-2000:])
                assert ms < 2000, "picketctl %s took %.0f ms behind a blocked compaction" % (" ".join(args), ms)
                print("picketctl %s answered in %.0f ms while the compaction waited" % (" ".join(args), ms))
            assert blocked_compaction(pg), "the compaction stopped waiting before the queries were timed"
            done = metric(col, "picket_collector_rollup_compactions_total")
            pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'picket-test-locker'")  # the lock goes with its session
            locker.wait()
            locker = None
            wait_for("the compaction resumed", lambda: metric(col, "picket_collector_rollup_compactions_total") > done,
                     30)
        except BaseException:
            for p in procs:
                print("----- %s\n%s" % (p.name, p.output()[-3000:]), file=sys.stderr)
            raise
        finally:
            if locker:
                locker.kill()
            for p in procs:
                p.stop()


if __name__ == "__main__":
    main()
