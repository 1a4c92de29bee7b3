#!/usr/bin/python3
"""The report's baseline column against real processes: a Python gRPC probe
streams eight days of hourly results for two checks through the real ingest
path (a steady one, and one whose latency triples for the last ten hours);
after compaction `picketctl report --json` must show a learned baseline for
both, a regression for the stepped check only, starting at the step's first
hour, and no regression for the steady one. A third check with only three days
of history and a daily peak (latency doubled 09:00-17:00 UTC) is "learning":
no verdict, where an all-hours median would call every peak a regression.

Back-testing over the last two days: `picketctl regressions` lists exactly one
alarm, the stepped check's, fired by the fast half 75 minutes into the step
(by the hourly half alone, --no-fast, at the end of the step's third hour; the
fifth with --consecutive 5), since the step's first hour, as the live report
says; with --metric sources one, the steady check's drop of cited sources (by
the fast half too, 75 minutes in; at the end of the third hour with --no-fast); `picketctl slo --backtest` lists the burn-rate alarms of a fourth check
whose every result fails for one hour, at the minutes worked out below."""

import json
import queue
import random
import sys
import time
import urllib.error
import urllib.request

from picket_env import PrivatePostgres, grpc_channel, grpc_stubs, migrate, picketctl, rfc3339, start_collector, \
    wait_for

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()

MIN = 60_000_000
HOUR = 60 * MIN
DAYS = 10
PER_HOUR = 6
STEP_HOURS = 10

now = int(time.time() * 1e6)
END = (now // HOUR) * HOUR          # the last full hour ends here
T0 = END - DAYS * 24 * HOUR
STEP_AT = END - STEP_HOURS * HOUR
YOUNG_DAYS = 3
FAIL_AT = END - 30 * HOUR           # "flaky" (SLO 99 %) fails every result of this hour
BLIP_AT = END - 40 * HOUR           # and one result (the 4th, +30 min) of this one


CHECKS = ("steady", "stepped", "young", "flaky")


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
            for check in CHECKS:
                if check == "young" and t < END - YOUNG_DAYS * 24 * HOUR:
                    continue
                seq += 1
                failed = check == "flaky" and (t == FAIL_AT or (t == BLIP_AT and i == 3))
                metrics = []
                if check == "steady":  # answer quality: sources drop from 4 to 1 at the step, length stays
                    rng = random.Random("m/%d/%d" % (t, i))
                    metrics = [pb.Metric(name="sources", value=1 if t >= STEP_AT else 4),
                               pb.Metric(name="answer_len", value=800 + rng.randrange(-15, 16))]
                out.append(pb.Result(sequence=seq, check_name=check, check_type="http",
                                     started_at_us=t + i * 10 * MIN + 1_000_000,
                                     outcome=pb.OUTCOME_FAILED if failed else pb.OUTCOME_OK,
                                     error_class=pb.ERROR_CLASS_TIMEOUT if failed else pb.ERROR_CLASS_NONE,
                                     status_code=200, dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1,
                                     total_us=-1 if failed else latency(check, t, i), metrics=metrics))
    return out


def feed(col, res):
    name = "b-probe"
    ch = grpc_channel(col.port, "probe:" + name)
    stub = pb_grpc.ProbeServiceStub(ch)
    infos = [pb.CheckInfo(name=c, type="http", target="http://127.0.0.1:1/", interval_ms=600000,
                          slo_target_percent=99.0 if c == "flaky" else 0, slo_window_ms=86_400_000 if c == "flaky" else 0)
             for c in CHECKS]
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



def ctl_json(col, *args):
    out = picketctl(col.port, *args, "--json", cert_cn="read:test")
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout)


def backtest(col):
    window = ["--since", rfc3339(END - 48 * HOUR), "--until", rfc3339(END)]
    got = ctl_json(col, "regressions", *window)
    assert got["threshold"] == 3 and got["consecutive"] == 3, got
    assert got["checks_learning"] == 1, got  # young: three days, no verdict
    assert got["fast"] is True, got
    alarms = [(a["check"], a["fired_at_us"], a["since_us"], a["cleared_at_us"], a["window_s"]) for a in got["alarms"]]
    # The fast half (5-minute medians, 8 deviant windows in a row; a result every 10
    # minutes fills every other window, and empty windows neither count nor break
    # the run): raised at the end of the 8th window with a result, STEP_AT + 75 min,
    # since the step's first window; never cleared (the step lasts to the end).
    assert alarms == [("stepped", STEP_AT + 75 * MIN, STEP_AT, None, 300)], (alarms, STEP_AT)
    a = got["alarms"][0]
    assert a["score"] > 4 and a["p95_us"] is None and abs(a["value"] / a["expected"] - 3) < 0.15, a
    # Asked in parts of one check each (1 ms: a part stops after its first check):
    # the same answer as in one part.
    parted = ctl_json(col, "regressions", *window, "--part-ms", "1")
    assert parted == got and got["checks"] >= 2, (parted, got)
    # The hourly half alone: at the end of the step's third hour (k = 3; the fifth with 5).
    got = ctl_json(col, "regressions", *window, "--no-fast")
    assert got["fast"] is False, got
    alarms = [(a["check"], a["fired_at_us"], a["since_us"], a["cleared_at_us"], a["window_s"]) for a in got["alarms"]]
    assert alarms == [("stepped", STEP_AT + 3 * HOUR, STEP_AT, None, 3600)], (alarms, STEP_AT)
    assert got["alarms"][0]["score"] > 3 and got["alarms"][0]["p95_us"] == got["alarms"][0]["value"], got
    got = ctl_json(col, "regressions", *window, "--consecutive", "5", "--check", "stepped", "--no-fast")
    assert [(a["fired_at_us"], a["since_us"]) for a in got["alarms"]] == [(STEP_AT + 5 * HOUR, STEP_AT)], got
    # before the step nothing fires
    got = ctl_json(col, "regressions", "--since", rfc3339(END - 48 * HOUR), "--until", rfc3339(STEP_AT))
    assert got["alarms"] == [], got
    bad = picketctl(col.port, "regressions", "--since", rfc3339(END - 40 * 24 * HOUR), "--until", rfc3339(END),
                    cert_cn="read:test")
    assert bad.returncode == 2 and "31 days" in bad.stderr, (bad.returncode, bad.stderr)
    # The rule on a metric (--metric, as an alert rule with 'metric:' runs it): steady's
    # sources drop from 4 to 1 at the step, judged both ways: one alarm, by the fast
    # half on 5-minute medians as for latency (75 minutes in: 8 windows with a result),
    # by the hourly half alone at the end of the step's third hour; answer_len, steady,
    # none; a metric nobody extracts, none.
    got = ctl_json(col, "regressions", *window, "--metric", "sources")
    assert got["metric"] == "sources" and got["fast"] is True, got
    alarms = [(a["check"], a["fired_at_us"], a["since_us"], a["cleared_at_us"], a["value"], a["expected"])
              for a in got["alarms"]]
    assert alarms == [("steady", STEP_AT + 75 * MIN, STEP_AT, None, 1, 4)], (alarms, STEP_AT)
    assert got["alarms"][0]["score"] < -3 and got["alarms"][0]["p95_us"] is None, got
    assert got["alarms"][0]["window_s"] == 300, got
    got = ctl_json(col, "regressions", *window, "--metric", "sources", "--no-fast")
    alarms = [(a["check"], a["fired_at_us"], a["since_us"], a["cleared_at_us"], a["value"], a["expected"])
              for a in got["alarms"]]
    assert alarms == [("steady", STEP_AT + 3 * HOUR, STEP_AT, None, 1, 4)], (alarms, STEP_AT)
    assert ctl_json(col, "regressions", *window, "--metric", "answer_len")["alarms"] == []
    assert ctl_json(col, "regressions", *window, "--metric", "nope")["alarms"] == []
    assert ctl_json(col, "regressions", *window)["metric"] is None
    table = picketctl(col.port, "regressions", *window, "--metric", "sources", cert_cn="read:test").stdout
    assert "hourly median of sources" in table, table
    rows = [l for l in table.splitlines() if l.startswith("steady ")]
    assert len(rows) == 1 and rfc3339(STEP_AT + 75 * MIN) in rows[0] and " 1.00 " in rows[0], table
    assert rows[0].endswith("5m median"), table
    csv = picketctl(col.port, "regressions", *window, "--metric", "sources", "--csv", cert_cn="read:test").stdout
    assert csv.splitlines()[0].endswith(",score,value,expected,window_s"), csv
    assert csv.splitlines()[1].startswith("steady,") and csv.splitlines()[1].endswith(",1,4,300"), csv
    bad = picketctl(col.port, "availability", "--metric", "sources", cert_cn="read:test")
    assert bad.returncode == 2 and "regressions" in bad.stderr, (bad.returncode, bad.stderr)

    # SLO burn rates of flaky (99 %: budget 1 %), one result every 10 minutes, the hour
    # from FAIL_AT all failed. 1h/5m at 14.4: the first failure alone burns 1/6 = 16.7x
    # over the hour and 100x over its 5 minutes: fired at the end of its minute; cleared
    # when a 5-minute window holds the first good result again (60 min later). 6h/30m at
    # 6: the third failure makes 3/36 = 8.3x over 6 hours (two: 5.6x); the 30-minute
    # window is clean again once it starts after the last failure (+50 min): +81 min.
    # The single failure at BLIP_AT + 30 min: 1/6 over the hour (16.7x) and 100x over 5
    # minutes fire the 1h/5m rule for ten minutes; 1/36 (2.8x) leaves the 6h rule quiet.
    got = ctl_json(col, "slo", "--backtest", *window)
    alarms = [(a["check"], a["long_window_us"] // MIN, a["short_window_us"] // MIN, a["fired_at_us"],
               a["cleared_at_us"]) for a in got["alarms"]]
    assert alarms == [("flaky", 60, 5, BLIP_AT + 31 * MIN, BLIP_AT + 41 * MIN),
                      ("flaky", 60, 5, FAIL_AT + 1 * MIN, FAIL_AT + 61 * MIN),
                      ("flaky", 360, 30, FAIL_AT + 21 * MIN, FAIL_AT + 81 * MIN)], (alarms, BLIP_AT, FAIL_AT)
    got = ctl_json(col, "slo", "--backtest", *window, "--long-window", "60", "--short-window", "5", "--factor", "20")
    # 1/6 over the hour is 16.7x, under 20: the blip stays quiet, the second failure
    # of the outage (2/6 = 33x) fires it
    assert [a["fired_at_us"] for a in got["alarms"]] == [FAIL_AT + 11 * MIN], got
    # the table and CSV forms say the same
    table = picketctl(col.port, "regressions", *window, cert_cn="read:test").stdout
    rows = [l for l in table.splitlines() if l.startswith("stepped ")]
    assert len(rows) == 1 and rfc3339(STEP_AT + 75 * MIN) in rows[0] and rfc3339(STEP_AT) in rows[0], table
    assert rows[0].endswith("5m median"), table
    assert "1 check(s) still learning" in table, table
    csv = picketctl(col.port, "slo", "--backtest", *window, "--csv", cert_cn="read:test").stdout.splitlines()
    assert csv[0].startswith("check,service,long_window_s") and len(csv) == 4, csv
    assert csv[2].split(",")[:6] == ["flaky", "", "3600", "300", "14.4", str(FAIL_AT + MIN)], csv
    table = picketctl(col.port, "slo", "--backtest", *window, cert_cn="read:test").stdout
    assert "60m/5m>14.4" in table and "360m/30m>6" in table, table
    bad = picketctl(col.port, "slo", "--backtest", "--factor", "3", cert_cn="read:test")
    assert bad.returncode == 2 and "together" in bad.stderr, (bad.returncode, bad.stderr)


def marks(col, check, since, until):
    url = "http://127.0.0.1:%d/api/check-marks?check=%s&since=%d&until=%d" % (
        col.http_port, check, since // 1_000_000, until // 1_000_000)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def band(col):
    """The dashboard's baseline band (/api/check-marks): the learned hourly p95
    with the rule's threshold either side; stepped's last hours lie above it."""
    code, j = marks(col, "steady", END - 24 * HOUR, END)
    assert code == 200 and j["maintenance"] == [] and j["band_threshold"] == 3, (code, j)
    assert [b["t_us"] for b in j["band"]] == [END - (24 - i) * HOUR for i in range(24)], j["band"]
    for b in j["band"]:
        assert 95_000 < b["expected_us"] < 105_000 and b["low_us"] < b["expected_us"] < b["high_us"] < 130_000, b
    code, j = marks(col, "stepped", END - 24 * HOUR, END)
    assert code == 200 and len(j["band"]) == 24, (code, j)
    assert all(b["high_us"] < 0.5 * latency("stepped", END - HOUR, 0) for b in j["band"][-STEP_HOURS:]), j["band"]
    code, j = marks(col, "young", END - 24 * HOUR, END)
    assert code == 200 and j["band"] == [], j  # still learning: no band
    code, j = marks(col, "nope", END - 24 * HOUR, END)
    assert code == 404 and "nope" in j["error"], (code, j)


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
            band(col)
            assert abs(stepped["last_p95_us"] / stepped["expected_p95_us"] - 3.0) < 0.15, stepped
            table = picketctl(col.port, "report", cert_cn="read:test").stdout
            line = [l for l in table.splitlines() if " stepped " in l][0]
            assert "REGR" in line, table
            line = [l for l in table.splitlines() if " young " in l][0]
            assert " learn " in line, table
            # the hour with one failure in six (over 5 %) is left out of flaky's learning
            assert rep["flaky"]["baseline"]["excluded_points"] >= 1, rep["flaky"]["baseline"]
            assert steady["excluded_points"] == 0, steady
            # Per-metric baselines, for one check: a drop in answer quality is a regression
            # (the latency of steady is not); without --check no metric is read.
            assert steady["metrics"] == [] and stepped["metrics"] == [], steady
            one = ctl_json(col, "report", "--check", "steady")["checks"][0]["baseline"]
            assert one["regression"] is False, one
            mets = {m["metric"]: m for m in one["metrics"]}
            assert sorted(mets) == ["answer_len", "sources"], one
            assert mets["sources"]["regression"] is True and mets["sources"]["since_us"] == STEP_AT, mets
            assert mets["sources"]["last_value"] == 1 and mets["sources"]["expected"] == 4, mets
            assert mets["sources"]["last_score"] < -3 and mets["sources"]["state"] == "regression", mets
            assert mets["answer_len"]["regression"] is False and mets["answer_len"]["state"] == "normal", mets
            assert mets["answer_len"]["history_points"] >= (DAYS - 1) * 24 - 2, mets
            table = picketctl(col.port, "report", "--check", "steady", cert_cn="read:test").stdout
            assert "REGR" in [l for l in table.splitlines() if " steady " in l][0], table
            backtest(col)
            print("baseline report: stepped check regression since its step (score %.1f), steady check none; "
                  "back-tests exact" % stepped["last_score"])
        except BaseException:
            print(col.output()[-3000:], file=sys.stderr)
            raise
        finally:
            col.kill()


if __name__ == "__main__":
    main()
