#!/usr/bin/python3
"""The report's baseline column against real processes: a Python gRPC probe
streams eight days of hourly results for two checks through the real ingest
path (a steady one, and one whose latency triples for the last ten hours);
after compaction `picketctl report --json` must show a learned baseline for
both, a regression for the stepped check only, starting at the step's first
hour, and no regression for the steady one. A third check with only three days
of history and a daily peak (latency doubled 09:00-17:00 UTC) is "learning":
no verdict, where an all-hours median would call every peak a regression."""

import json
import queue
import random
import sys
import time

from picket_env import PrivatePostgres, grpc_channel, grpc_stubs, migrate, picketctl, start_collector, wait_for

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()

MIN = 60_000_000
HOUR = 60 * MIN
DAYS = 8
PER_HOUR = 6
STEP_HOURS = 10

now = int(time.time() * 1e6)
END = (now // HOUR) * HOUR          # the last full hour ends here
T0 = END - DAYS * 24 * HOUR
STEP_AT = END - STEP_HOURS * HOUR
YOUNG_DAYS = 3


def latency(check, t, i):
    rng = random.Random("%s/%d/%d" % (check, t, i))
    base = 100_000 * (1.0 + 0.02 * rng.uniform(-1, 1))
    if check == "stepped" and t >= STEP_AT:
        base *= 3
    if check == "young" and 9 <= (t // HOUR) % 24 < 17:
        base *= 2
    return int(base)


def results():
    out, seq = [], 0
    for h in range(DAYS * 24):
        t = T0 + h * HOUR
        for i in range(PER_HOUR):
            for check in ("steady", "stepped", "young"):
                if check == "young" and t < END - YOUNG_DAYS * 24 * HOUR:
                    continue
                seq += 1
                out.append(pb.Result(sequence=seq, check_name=check, check_type="http",
                                     started_at_us=t + i * 10 * MIN + 1_000_000, outcome=pb.OUTCOME_OK,
                                     error_class=pb.ERROR_CLASS_NONE, status_code=200, dns_us=-1, connect_us=-1,
                                     tls_us=-1, ttfb_us=-1, total_us=latency(check, t, i)))
    return out


def feed(col, res):
    name = "b-probe"
    ch = grpc_channel(col.port, "probe:" + name)
    stub = pb_grpc.ProbeServiceStub(ch)
    infos = [pb.CheckInfo(name=c, type="http", target="http://127.0.0.1:1/", interval_ms=600000)
             for c in ("steady", "stepped", "young")]
    reg = stub.Register(pb.RegisterRequest(probe_name=name, region="eu", version="test", checks=infos,
                                           probe_time_us=int(time.time() * 1e6)))
    out = queue.Queue()
    responses = stub.Connect(iter(out.get, None))
    out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name=name)))
    for i in range(0, len(res), 500):
        out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=res[i:i + 500])))
    want = res[-1].sequence
    while True:
        msg = next(responses)
        if msg.WhichOneof("kind") == "ack" and msg.ack.committed_sequence == want:
            break
    out.put(None)
    ch.close()


def main():
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1"])
        try:
            feed(col, results())
            wait_for("rollups compacted", lambda: pg.psql("SELECT count(*) FROM rollup_partial") == [["0"]], 60)
            out = picketctl(col.port, "report", "--json", cert_cn="read:test")
            assert out.returncode == 0, out.stderr
            rep = {c["check"]: c for c in json.loads(out.stdout)["checks"]}
            steady, stepped = rep["steady"]["baseline"], rep["stepped"]["baseline"]
            # history: the hours before the last 24 (the window ends at the current hour)
            for b in (steady, stepped):
                assert b["history_points"] >= (DAYS - 1) * 24 - 2, b
                assert b["windows"] >= 23, b
            assert steady["regression"] is False and steady["state"] == "normal", steady
            assert stepped["state"] == "regression", stepped
            young = rep["young"]["baseline"]
            assert young["history_points"] >= (YOUNG_DAYS - 1) * 24 - 2, young
            assert young["state"] == "learning" and young["regression"] is False, young
            assert young["last_score"] is None and young["windows"] >= 23, young
            assert stepped["regression"] is True, stepped
            assert stepped["since_us"] == STEP_AT, (stepped, STEP_AT)
            assert stepped["last_score"] > 3, stepped
            assert abs(stepped["last_p95_us"] / stepped["expected_p95_us"] - 3.0) < 0.15, stepped
            table = picketctl(col.port, "report", cert_cn="read:test").stdout
            line = [l for l in table.splitlines() if " stepped " in l][0]
            assert "REGR" in line, table
            line = [l for l in table.splitlines() if " young " in l][0]
            assert " learn " in line, table
            print("baseline report: stepped check regression since its step (score %.1f), steady check none"
                  % stepped["last_score"])
        except BaseException:
            print(col.output()[-3000:], file=sys.stderr)
            raise
        finally:
            col.kill()


if __name__ == "__main__":
    main()
