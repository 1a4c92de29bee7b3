#!/usr/bin/python3
"""The collector is killed (SIGKILL) and restarted while a probe streams, twice,
and once stopped with SIGTERM: afterwards every result the probe produced is
stored exactly once. The test compares the stored sequence numbers with
1..produced, not just counts."""

import re
import signal
import sys
import tempfile
import time

from picket_env import (PrivatePostgres, Target, migrate, start_collector, start_probe, wait_for, write_checks)


def stored(pg):
    return [int(r[0]) for r in pg.psql("SELECT seq FROM results ORDER BY seq")]


def main():
    tmp = tempfile.mkdtemp(prefix="picket-restart-")
    target = Target()
    checks = write_checks(tmp + "/checks.yaml", [
        {"name": "fast-%d" % i, "type": "http", "url": target.url("/%d" % i), "interval": "100ms",
         "timeout": "100ms"} for i in range(5)])
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp)
            port = col.port
            procs.append(col)
            probe = start_probe("restart-probe", "eu-west", [port], checks, logdir=tmp)
            procs.append(probe)
            wait_for("first results", lambda: len(stored(pg)) >= 50, 30)

            for round_, sig in enumerate((signal.SIGKILL, signal.SIGKILL, signal.SIGTERM)):
                before = len(stored(pg))
                col.kill(sig)
                time.sleep(1.5)   # results keep coming while nobody listens
                col = start_collector(pg, port=port, logdir=tmp)
                procs.append(col)
                wait_for("results after restart %d" % round_, lambda: len(stored(pg)) > before + 60, 30)

            assert probe.stop() == 0, probe.output()[-2000:]
            m = re.search(r"msg=stopped produced=(\d+) acked_seq=(\d+) pending=(\d+) dropped=(\d+) reconnects=(\d+)",
                          probe.output())
            assert m, probe.output()[-3000:]
            produced, acked, pending, dropped, reconnects = map(int, m.groups())
            assert pending == 0 and dropped == 0 and acked == produced, m.group(0)
            assert reconnects >= 3, m.group(0)
            seqs = stored(pg)
            assert seqs == list(range(1, produced + 1)), (produced, len(seqs), len(set(seqs)))
            print("collector restart: %d results, %d reconnects, all stored exactly once" % (produced, reconnects))
        except BaseException:
            for p in procs:
                print("----- %s\n%s" % (p.name, p.output()[-3000:]), file=sys.stderr)
            raise
        finally:
            for p in procs:
                p.kill()
            target.close()


if __name__ == "__main__":
    main()
