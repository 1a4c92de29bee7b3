#!/usr/bin/python3
"""Collectors side by side (docs/SCALING.md): three collectors on one database,
real probes spread over them by the order of their --collector lists, under load;
the leader is killed with SIGKILL.

  - Exactly one collector is the leader (picket_collector_leader) before the kill,
    and only it compacts rollups (picket_collector_rollup_compactions_total stays
    0 on the others).
  - After the kill every probe that was on the dead collector streams to one of the
    two others (their streams_open add up to every probe again), another collector
    becomes the leader, and it compacts.
  - Alerting moved with it: a probe stopped after the kill raises its silent_probe
    alert at the webhook receiver exactly once.
  - At the end every probe stops cleanly with pending=0 dropped=0 and its stored
    sequences are exactly 1..acked_seq: nothing lost, nothing stored twice.

Prints the time until every orphaned probe was back and until the leader moved.
About 40 s."""

import os
import re
import signal
import sys
import tempfile
import time

from picket_env import (PrivatePostgres, WebhookReceiver, migrate, start_collector, start_probe, wait_for, write_checks,
                        free_port)
import urllib.request

N_PROBES = 6  # two per collector, by the first address of their list
CHECKS = 40   # per probe, every 200 ms: 200 results/s per probe


def firing(hook, probe):
    """The firing alerts about probe that the receiver got."""
    return [a for _, a in hook.alerts() if a["labels"].get("probe") == probe and a["status"] == "firing"]


def metrics(col):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                out[parts[0]] = float(parts[1])
        return out


def metric(col, name):
    return metrics(col).get(name, 0)


def main():
    tmp = tempfile.mkdtemp(prefix="picket-ha-")
    hook = WebhookReceiver()
    rules = os.path.join(tmp, "alerts.yml")
    with open(rules, "w") as f:
        f.write("evaluation_interval: 250ms\nreceivers:\n  - name: hook\n    type: webhook\n"
                "    url: http://127.0.0.1:%d/hook\n    retry_initial: 200ms\n    retry_max: 1s\n"
                "rules:\n  - name: silent\n    type: silent_probe\n    probes: \"quiet-*\"\n"
                "    receivers: [hook]\n    after: 3s\n" % hook.port)
    closed_port = free_port()
    checks = write_checks(tmp + "/checks.yaml", [
        {"name": "tcp-%d" % i, "type": "tcp", "tcp": {"host": "127.0.0.1", "port": closed_port}, "interval": "200ms",
         "timeout": "100ms"} for i in range(CHECKS)])
    quiet_checks = write_checks(tmp + "/quiet.yaml", [
        {"name": "quiet-tcp", "type": "tcp", "tcp": {"host": "127.0.0.1", "port": closed_port}, "interval": "1s",
         "timeout": "100ms"}])
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            cols = [start_collector(pg, logdir=tmp, extra=["--alerts", rules, "--compact-interval-s", "1"])
                    for _ in range(3)]
            procs += cols
            wait_for("one leader", lambda: sum(metric(c, "picket_collector_leader") for c in cols) == 1, 15, 0.2)
            leader = [c for c in cols if metric(c, "picket_collector_leader") == 1][0]
            ports = [c.port for c in cols]
            probes = []
            for i in range(N_PROBES):  # probe i prefers collector i % 3, then the next ones
                order = ports[i % 3:] + ports[:i % 3]
                probes.append(start_probe("ha-%d" % i, "eu", order, checks, logdir=tmp, extra=["--log-level", "info"]))
            quiet = start_probe("quiet-1", "eu", ports[::-1], quiet_checks, logdir=tmp)
            procs += probes + [quiet]
            wait_for("every probe streaming, two on each collector",
                     lambda: [metric(c, "picket_collector_streams_open") for c in cols] ==
                     [2 + (c is cols[2]) for c in cols], 30, 0.2)
            wait_for("results of every probe", lambda: int(pg.psql(
                "SELECT count(DISTINCT probe_id) FROM results")[0][0]) == N_PROBES + 1, 30, 0.2)
            wait_for("a compaction by the leader", lambda: metric(leader, "picket_collector_rollup_compactions_total")
                     >= 2, 20, 0.2)
            for c in cols:
                if c is not leader:
                    assert metric(c, "picket_collector_rollup_compactions_total") == 0, "a follower compacted"
                    assert metric(c, "picket_collector_leader") == 0

            # kill -9 of the leader, under load
            survivors = [c for c in cols if c is not leader]
            orphans = [p for i, p in enumerate(probes) if cols[i % 3] is leader]
            if leader is cols[2]:
                orphans.append(quiet)
            t_kill = time.monotonic()
            leader.kill(signal.SIGKILL)
            wait_for("every probe back on the two survivors",
                     lambda: sum(metric(c, "picket_collector_streams_open") for c in survivors) == N_PROBES + 1,
                     30, 0.1)
            t_back = time.monotonic() - t_kill
            wait_for("a new leader", lambda: sum(metric(c, "picket_collector_leader") for c in survivors) == 1, 15,
                     0.1)
            t_leader = time.monotonic() - t_kill
            new_leader = [c for c in survivors if metric(c, "picket_collector_leader") == 1][0]
            other = [c for c in survivors if c is not new_leader][0]
            wait_for("compaction by the new leader",
                     lambda: metric(new_leader, "picket_collector_rollup_compactions_total") >= 2, 20, 0.2)
            assert metric(other, "picket_collector_rollup_compactions_total") == 0, "the follower compacted"
            # The lock is checked every second while held: the new leader must not flap.
            time.sleep(2.5)
            m = metrics(new_leader)
            assert (m.get("picket_collector_leader"), m.get("picket_collector_leader_acquired_total"),
                    m.get("picket_collector_leader_lost_total")) == (1, 1, 0), m
            for p in orphans:
                assert p.alive(), p.output()[-2000:]
            print("ha: leader killed; %d orphaned probes streaming to the other collectors after %.1f s, "
                  "new leader after %.1f s" % (len(orphans), t_back, t_leader))

            # alerting moved too: a probe goes silent, the new leader alerts once
            assert not firing(hook, "quiet-1"), hook.alerts()
            quiet.stop()
            wait_for("quiet-1 silent alert", lambda: firing(hook, "quiet-1"), 20, 0.2)
            time.sleep(2)
            assert len(firing(hook, "quiet-1")) == 1, firing(hook, "quiet-1")

            # The end: every probe stops cleanly; its sequences are stored exactly once.
            time.sleep(1)
            lost = dup = 0
            for p in probes:
                assert p.stop() == 0, p.output()[-2000:]
                m = re.findall(r"msg=stopped produced=(\d+) acked_seq=(\d+) pending=(\d+) dropped=(\d+)", p.output())
                assert m, p.output()[-3000:]
                produced, acked, pending, dropped = map(int, m[-1])
                assert pending == 0 and dropped == 0, (p.name, m[-1])
                name = p.name[len("probe-"):]
                total, distinct, lo, hi = map(int, pg.psql(
                    "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM results r JOIN probes p "
                    "ON p.id = r.probe_id WHERE p.name = '%s'" % name)[0])
                lost += acked - distinct
                dup += total - distinct
                assert (total, distinct, lo, hi) == (acked, acked, 1, acked), \
                    "%s: stored %d rows, %d distinct seqs in [%d, %d]; its last acked seq is %d" % (
                        name, total, distinct, lo, hi, acked)
            total = int(pg.psql("SELECT count(*) FROM results")[0][0])
            print("ha: %d results from %d probes; lost %d, stored twice %d" % (total, N_PROBES + 1, lost, dup))
        except BaseException:
            for p in procs:
                print("----- %s\n%s" % (p.name, p.output()[-3000:]), file=sys.stderr)
            raise
        finally:
            for p in procs:
                p.kill()


if __name__ == "__main__":
    main()
