#!/usr/bin/python3
"""A drop in answer quality is found within the hour (docs/ANALYTICS.md,
"Baselines and regressions"): the regression rule on a metric a check extracts
judges its 5-minute medians too (the fast half), as it does latency.

A Python gRPC probe streams nine days of one result a minute for a RAG check
(answer_length around 800 characters, +-5 %), whose answers halve three hours
45-50 minutes before now. `picketctl regressions --metric answer_length` (the
back-test: the functions the alert thread runs) lists one alarm, raised by the
fast half (5-minute windows) 40 minutes into the drop (8 deviant windows in a
row), since the drop's first window, with the value and the expected length;
with --no-fast none yet (the hourly half needs three hours in a row). The rule
judges a metric downward by default (`direction` in the answer); `--direction
both` raises the same alarm, `--direction up` none. The steady
metric of the same check (sources) raises nothing either way. The live
baseline_regression rule with `metric: answer_length` fires with the same start
and says it was the 5-minute median."""

import json
import random
import time

from picket_env import FakeProbe, PrivatePostgres, WebhookReceiver, grpc_stubs, migrate, picketctl, rfc3339, \
    start_collector, wait_for, webhook_rules

pb, _, _, _ = grpc_stubs()

MIN = 60_000_000
HOUR = 60 * MIN
DAYS = 9
CHECK = "rag-answer"
NOW = int(time.time() * 1e6)
END = (NOW // MIN) * MIN  # the last result is of the minute before this
T0 = END - DAYS * 24 * HOUR
DROP_AT = (NOW // (5 * MIN)) * 5 * MIN - 45 * MIN  # 45-50 minutes ago, on a 5-minute window


def results():
    rng = random.Random(12)
    out = []
    for m in range(DAYS * 24 * 60):
        t = T0 + m * MIN
        length = 800 * (1 + 0.05 * rng.uniform(-1, 1)) * (0.5 if t >= DROP_AT else 1.0)
        out.append(pb.Result(check_name=CHECK, check_type="http", started_at_us=t + 1_000_000,
                             outcome=pb.OUTCOME_OK, error_class=pb.ERROR_CLASS_NONE, status_code=200, dns_us=-1,
                             connect_us=-1, tls_us=-1, ttfb_us=-1, total_us=100_000 + rng.randrange(0, 2000),
                             metrics=[pb.Metric(name="answer_length", value=round(length)),
                                      pb.Metric(name="sources", value=4)]))
    return out



def ctl_json(col, *args):
    out = picketctl(col.port, *args, "--json", cert_cn="read:test")
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout)


def main():
    t_start = time.time()
    hook = WebhookReceiver()
    rules = webhook_rules(hook, "  - name: quality\n    type: baseline_regression\n    checks: \"rag-*\"\n"
                          "    metric: answer_length\n    window: 1s\n    repeat_interval: 0s\n", "picket-metric-fast-")
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--compact-interval-s", "1", "--alerts", rules])
        probe = None
        try:
            info = pb.CheckInfo(name=CHECK, type="http", target="http://127.0.0.1:1/", interval_ms=60000)
            probe = FakeProbe(col.port, "rag-probe", [info], region="eu")
            res = results()
            for i in range(0, len(res), 500):
                for r in res[i:i + 500]:
                    r.sequence = probe.next_seq()
                probe.send_batch(res[i:i + 500], timeout=60)
            window = ["--since", rfc3339(END - 24 * HOUR), "--until", rfc3339(END + MIN)]

            def alarms(*extra):
                got = ctl_json(col, "regressions", *window, "--metric", *extra)
                return got, [(a["check"], a["fired_at_us"], a["since_us"], a["cleared_at_us"], a["window_s"])
                             for a in got["alarms"]]

            # compaction builds the rollups the rule reads its exclusions from; wait for the alarm
            wait_for("the back-test's alarm", lambda: alarms("answer_length")[1], 60, interval=1.0)
            got, al = alarms("answer_length")
            assert got["metric"] == "answer_length" and got["fast"] is True, got
            assert got["direction"] == "down", got  # a metric rule's default: a drop regresses
            assert al == [(CHECK, DROP_AT + 40 * MIN, DROP_AT, None, 300)], (al, DROP_AT)
            # judged both ways the same drop raises alike; judged upward it is no regression
            assert alarms("answer_length", "--direction", "both")[1] == al, al
            got_up, up = alarms("answer_length", "--direction", "up")
            assert got_up["direction"] == "up" and up == [], up
            bad = picketctl(col.port, "regressions", *window, "--direction", "up", cert_cn="read:test")
            assert bad.returncode == 2 and "metric" in bad.stderr, (bad.returncode, bad.stderr)
            bad = picketctl(col.port, "regressions", *window, "--metric", "answer_length", "--direction", "sideways",
                            cert_cn="read:test")
            assert bad.returncode == 2 and "sideways" in bad.stderr, (bad.returncode, bad.stderr)
            a = got["alarms"][0]
            assert a["score"] < -4 and abs(a["value"] / a["expected"] - 0.5) < 0.05, a
            # the hourly half alone does not know yet (it needs three hours in a row)
            got, al = alarms("answer_length", "--no-fast")
            assert got["fast"] is False and al == [], (al, DROP_AT)
            # a steady metric: nothing, with or without the fast half
            assert alarms("sources")[1] == [] and alarms("sources", "--no-fast")[1] == []
            table = picketctl(col.port, "regressions", *window, "--metric", "answer_length", cert_cn="read:test").stdout
            assert "its 5-minute median" in table and "5m median" in table, table

            # the live rule: fires since the drop's first window, naming the 5-minute median
            wait_for("the live rule's firing alert", lambda: [a for _, a in hook.alerts() if a["status"] == "firing"],
                     30)
            firing = [a for _, a in hook.alerts() if a["status"] == "firing"]
            assert len(firing) == 1 and firing[0]["labels"]["check"] == CHECK, firing
            assert firing[0]["starts_at"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(DROP_AT // 10**6))), \
                (firing, rfc3339(DROP_AT))
            assert "5-minute median of answer_length" in firing[0]["summary"], firing
            print("test_metric_fast: answer_length halved at %s; the fast half raised 40 min in (hourly half: not yet), "
                  "back-test and live rule alike, in %.1f s" % (rfc3339(DROP_AT), time.time() - t_start))
        except BaseException:
            print(col.output()[-3000:])
            raise
        finally:
            if probe:
                probe.close()
            col.stop()


if __name__ == "__main__":
    main()
