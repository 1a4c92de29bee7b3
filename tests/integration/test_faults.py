#!/usr/bin/python3
"""Faults survived (docs/RELIABILITY.md): one probe streams about 3,000 results per second
through these, in order, with real processes and real signals:

  1. kill -9 of the probe, twice, while batches are in flight;
  2. kill -9 of the collector while its PostgreSQL transaction is open (seen
     in pg_stat_activity), the probe failing over to a second collector on
     another port; then the second one killed and the probe failing back;
  3. both collectors gone for OUTAGE seconds (env PICKET_FAULT_OUTAGE_S,
     default 20: the bench times a ten-minute one) while results pile up in
     the spool;
  4. PostgreSQL stopped for PG_OUTAGE seconds (env PICKET_FAULT_PG_OUTAGE_S,
     default 60) and started again.

Afterwards the stored sequence numbers of the probe are exactly 1..N, where N
is the probe's last acknowledged sequence: nothing lost, nothing twice. The
drain rate of each backlog, as the probe logs it, is printed; the 50,000/s
goal is asserted by bench/run_spool (a test on a shared CI machine under
sanitizers is no place for a throughput goal), here it only has to be at
least FLOOR (env PICKET_FAULT_DRAIN_FLOOR, default 5,000/s)."""

import os
import re
import signal
import sys
import tempfile
import time

from picket_env import (PrivatePostgres, migrate, start_collector, start_probe, wait_for, write_checks, free_port)

OUTAGE = float(os.environ.get("PICKET_FAULT_OUTAGE_S", "20"))
PG_OUTAGE = float(os.environ.get("PICKET_FAULT_PG_OUTAGE_S", "60"))
FLOOR = float(os.environ.get("PICKET_FAULT_DRAIN_FLOOR", "5000"))


def count(pg):
    return int(pg.psql("SELECT count(*) FROM results")[0][0])


PROBE = None


def grows(pg, by, what, timeout=60):
    before = count(pg)

    def grown():
        if PROBE is not None and not PROBE.alive():
            raise SystemExit("the probe exited: " + PROBE.output()[-2000:])
        return count(pg) >= before + by
    wait_for(what, grown, timeout, 0.2)


def drained(probe, already):
    """Drain lines the probe logged after the first `already` ones."""
    lines = re.findall(r"msg=\"backlog drained\" results=(\d+) seconds=([0-9.]+) rate_per_s=(\d+)", probe.output())
    return [(int(a), float(b), int(c)) for a, b, c in lines[already:]]


def in_transaction(pg):
    """True while some collector connection has a transaction open."""
    rows = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                   "AND state IN ('active', 'idle in transaction') AND query ILIKE '%results%'")
    return int(rows[0][0]) > 0


def main():
    tmp = tempfile.mkdtemp(prefix="picket-faults-")
    closed_port = free_port()  # nothing listens: each check is a quick, real "connection refused"
    checks = write_checks(tmp + "/checks.yaml", [
        {"name": "tcp-%d" % i, "type": "tcp", "tcp": {"host": "127.0.0.1", "port": closed_port}, "interval": "100ms",
         "timeout": "100ms"} for i in range(300)])
    procs = []
    report = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            port_a, port_b = free_port(), free_port()
            col_a = start_collector(pg, port=port_a, logdir=tmp)
            col_b = start_collector(pg, port=port_b, logdir=tmp)
            procs += [col_a, col_b]
            probe = start_probe("fault-probe", "eu-west", [port_a, port_b], checks, logdir=tmp,
                                extra=["--log-level", "info"])
            procs.append(probe)
            global PROBE
            PROBE = probe
            grows(pg, 3000, "first results")

            # 1. kill -9 of the probe while it streams, twice
            for i in range(2):
                probe.kill(signal.SIGKILL)
                time.sleep(0.5)
                probe.start()
                grows(pg, 3000, "results after probe kill %d" % (i + 1))
            report.append("probe killed -9 twice: resumed from its spool")

            # 2. kill -9 of the collector inside a transaction; failover to B and back
            wait_for("a collector transaction in flight", lambda: in_transaction(pg), 30, 0.01)
            col_a.kill(signal.SIGKILL)
            grows(pg, 3000, "results through collector B after A was killed")
            assert "collector=ipv4:127.0.0.1:%d" % port_b in probe.output(), "probe never used collector B"
            col_a = start_collector(pg, port=port_a, logdir=tmp)
            procs.append(col_a)
            wait_for("a collector transaction in flight", lambda: in_transaction(pg), 30, 0.01)
            col_b.kill(signal.SIGKILL)
            grows(pg, 3000, "results through collector A after B was killed")
            report.append("collector killed -9 mid-transaction twice: failed over A -> B -> A")

            # 3. no collector at all for OUTAGE seconds
            n_drains = len(drained(probe, 0))
            col_a.kill(signal.SIGKILL)
            time.sleep(OUTAGE)
            col_a = start_collector(pg, port=port_a, logdir=tmp)
            procs.append(col_a)
            wait_for("the backlog after the collector outage to drain", lambda: drained(probe, n_drains), 120, 0.2)
            results, secs, rate = drained(probe, n_drains)[0]
            report.append("collectors down %.0f s: %d results replayed in %.2f s = %d/s" % (OUTAGE, results, secs,
                                                                                            rate))
            assert results >= OUTAGE * 1000, (results, OUTAGE)  # the backlog really was one
            assert rate >= FLOOR, report[-1]

            # 4. PostgreSQL stopped for PG_OUTAGE seconds
            n_drains = len(drained(probe, 0))
            pg.stop()
            time.sleep(PG_OUTAGE)
            pg.start()
            wait_for("the backlog after the database outage to drain", lambda: drained(probe, n_drains), 180, 0.2)
            results, secs, rate = drained(probe, n_drains)[0]
            report.append("PostgreSQL down %.0f s: %d results replayed in %.2f s = %d/s" % (PG_OUTAGE, results, secs,
                                                                                            rate))
            assert rate >= FLOOR, report[-1]
            assert col_a.alive(), "the collector died with its database: " + col_a.output()[-2000:]

            # The end: everything the probe spooled is stored, once.
            assert probe.stop() == 0, probe.output()[-2000:]
            m = re.findall(r"msg=stopped produced=(\d+) acked_seq=(\d+) pending=(\d+) dropped=(\d+)",
                           probe.output())
            assert m, probe.output()[-3000:]
            produced, acked, pending, dropped = map(int, m[-1])
            assert pending == 0 and dropped == 0, m[-1]
            rows = pg.psql("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM results")
            total, distinct, lo, hi = map(int, rows[0])
            assert (total, distinct, lo, hi) == (acked, acked, 1, acked), \
                "stored %d rows, %d distinct seqs in [%d, %d]; the probe's last acked seq is %d" % (
                    total, distinct, lo, hi, acked)
            gaps = pg.psql("SELECT count(*) FROM generate_series(1, %d) s WHERE NOT EXISTS "
                           "(SELECT 1 FROM results r WHERE r.seq = s)" % acked)
            assert int(gaps[0][0]) == 0
            report.append("all %d results stored exactly once (seq 1..%d, no gap, no duplicate)" % (acked, acked))
            for line in report:
                print("faults: " + line)
        except BaseException:
            for p in procs:
                print("----- %s\n%s" % (p.name, p.output()[-4000:]), file=sys.stderr)
            for line in report:
                print("faults (so far): " + line, file=sys.stderr)
            raise
        finally:
            for p in procs:
                p.kill()


if __name__ == "__main__":
    main()
