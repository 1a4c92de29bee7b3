#!/usr/bin/python3
"""An idle collector stays idle: with 200 checks of history and nobody reading the
dashboard, the default view's snapshot is not recomputed in a loop. After a
while without readers (--dashboard-idle-after-s, 60 s by default; 10 s
here) the refresh thread and the live thread (the overview's last results and
bars, /api/board) stop; the collector and its
PostgreSQL backends then use under 5 % of a core (measured from /proc over 15 s
and printed); the next reader gets the last snapshot (its age says so) and wakes
the threads, so a fresh one follows within seconds. Before its first reader
the dashboard computes nothing: the first request waits for a pass that
starts with it."""

import os
import sys
import tempfile
import time

from picket_env import PrivatePostgres, migrate, start_collector, wait_for
from test_dashboard import api, feed_many

IDLE_AFTER_S = 10   # --dashboard-idle-after-s (the default, 60 s, is collector/dashboard.c's IDLE_AFTER_US)
REFRESH_S = 5       # collector/dashboard.c, REFRESH_US
CPU_GOAL = 0.05


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main():
    tmp = tempfile.mkdtemp(prefix="picket-dashboard-idle-")
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--dashboard-idle-after-s", str(IDLE_AFTER_S)], logdir=tmp)
        try:
            feed_many(col, 200)
            # Nobody has read the dashboard yet: it has computed nothing, and the
            # first reader waits for a pass that starts with its request.
            time.sleep(REFRESH_S + 2)
            t0 = time.time()
            code, rep = api(col, "/api/report")
            assert code == 200, rep
            assert rep["computed_at_us"] / 1e6 >= t0 - 0.01, ("a snapshot computed before the first reader came",
                                                              rep["computed_at_us"] / 1e6, t0)
            print("first reader: the report computed %.2f s after the request, answered after %.2f s"
                  % (rep["computed_at_us"] / 1e6 - t0, time.time() - t0), flush=True)
            wait_for("the first snapshot with the 200 checks",
                     lambda: len(api(col, "/api/report")[1].get("checks", [])) == 200, 60)
            wait_for("the board with the 200 checks", lambda: len(api(col, "/api/board")[1].get("checks", [])) == 200, 30)
            last_read = time.time()
            time.sleep(IDLE_AFTER_S + REFRESH_S + 2)

            pids = [col.proc.pid] + [int(r[0]) for r in pg.psql("SELECT pid FROM pg_stat_activity WHERE pid <> "
                                                                "pg_backend_pid() AND backend_type = 'client backend'")]
            before = sum(cpu_seconds(p) for p in pids)
            t0 = time.time()
            time.sleep(15)
            used = (sum(cpu_seconds(p) for p in pids) - before) / (time.time() - t0)
            print("idle collector: %.2f %% of a core (collector and its %d database backends, 15 s)"
                  % (100 * used, len(pids) - 1), flush=True)
            assert used < CPU_GOAL, "idle collector used %.1f %% of a core" % (100 * used)

            code, rep = api(col, "/api/report")
            assert code == 200, rep
            age = time.time() - rep["computed_at_us"] / 1e6
            # No pass started later than IDLE_AFTER_S (plus one refresh and its run) after the last reader.
            assert rep["computed_at_us"] / 1e6 <= last_read + IDLE_AFTER_S + REFRESH_S + 2, (age, last_read)
            assert age >= 10, age
            code, b = api(col, "/api/board")
            assert code == 200 and b["live_at_us"] / 1e6 <= last_read + IDLE_AFTER_S + REFRESH_S + 2, (b, last_read)
            assert time.time() - b["live_at_us"] / 1e6 >= 10, b["live_at_us"]
            first, live_first = rep["computed_at_us"], b["live_at_us"]
            wait_for("a fresh snapshot after the reader came back",
                     lambda: api(col, "/api/report")[1]["computed_at_us"] > first, 30)
            wait_for("a live part under 3 s old after the reader came back",
                     lambda: time.time() - api(col, "/api/board")[1]["live_at_us"] / 1e6 < 3, 30)
            assert api(col, "/api/board")[1]["live_at_us"] > live_first
        except BaseException:
            print("----- collector\n%s" % col.output()[-3000:], file=sys.stderr)
            raise
        finally:
            col.kill()
    print("dashboard idle: all assertions passed")


if __name__ == "__main__":
    main()
