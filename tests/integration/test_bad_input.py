#!/usr/bin/python3
"""Bad input (docs/RELIABILITY.md, bad input): hostile Python grpcio clients throw every kind of
bad input at one collector while a real picket-probe and a well-behaved Python
client stream alongside. Each offender gets a clear status and is cut off alone;
the good ones are never interrupted and every one of their results is stored.

Cases: malformed protobuf (stream and Register), oversized messages, a stream
that never sends Hello, a stream gone silent, sequences going backwards (across
batches and inside one) with a legitimate resend on a new stream afterwards,
names and labels full of SQL metacharacters (stored verbatim), control
characters / invalid UTF-8 / oversized names and labels (refused at Register),
clocks far off (Register, result timestamps, heartbeats), and a sparse 100 MB
check file (picket-probe validate and daemon start)."""

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

from picket_env import (PrivatePostgres, Target, binary, grpc_stubs, migrate, start_collector, start_probe,
                        wait_for, write_checks)

import grpc

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()

HELLO_TIMEOUT_MS = 1500
HEARTBEAT_MS = 1000
MAX_SKEW_MS = 60000


def now_us():
    return int(time.time() * 1e6)


def result(seq, name, started=None):
    return pb.Result(sequence=seq, check_name=name, check_type="http",
                     started_at_us=started if started is not None else now_us(), outcome=pb.OUTCOME_OK,
                     status_code=200, total_us=1000)


def batch(seqs, name="hostile-check", started=None):
    return pb.ProbeMessage(batch=pb.ResultBatch(results=[result(s, name, started) for s in seqs]))


def expect_error(fn, code, *fragments):
    """Calls fn, which must fail with `code`; every fragment must be in the details."""
    try:
        got = fn()
    except grpc.RpcError as e:
        assert e.code() == code, "expected %s, got %s: %s" % (code, e.code(), e.details())
        for f in fragments:
            assert f in (e.details() or ""), "%r not in %r" % (f, e.details())
        return e.details()
    raise AssertionError("expected %s, the call answered %r" % (code, got))


class Stream:
    """A Connect stream driven message by message; raw=True sends bytes as given."""

    def __init__(self, ch, raw=False):
        self.out = queue.Queue()
        if raw:
            call = ch.stream_stream("/picket.v1.ProbeService/Connect", request_serializer=None,
                                    response_deserializer=pb.CollectorMessage.FromString)
        else:
            call = pb_grpc.ProbeServiceStub(ch).Connect
        self.responses = call(iter(self.out.get, None))

    def send(self, msg):
        self.out.put(msg)

    def next(self):
        return next(self.responses)

    def close(self):
        self.out.put(None)


def register(stub, name, **kw):
    kw.setdefault("region", "bad-input")
    kw.setdefault("probe_time_us", now_us())
    # The collector accepts results only for checks the probe registered.
    kw.setdefault("checks", [pb.CheckInfo(name=n, type="http") for n in ("hostile-check", "good-check", "clock-check")])
    return stub.Register(pb.RegisterRequest(probe_name=name, **kw), timeout=10)


class GoodClient(threading.Thread):
    """Streams a batch of 10 results every 50 ms with heartbeats until stopped;
    records the last sequence sent and the last acknowledged."""

    def __init__(self, ch):
        super().__init__(daemon=True)
        self.stub = pb_grpc.ProbeServiceStub(ch)
        self.stop = threading.Event()
        self.sent = 0
        self.acked = 0
        self.error = None

    def run(self):
        try:
            reg = register(self.stub, "good-client", labels=[pb.Label(key="role", value="good")])
            out = queue.Queue()
            responses = self.stub.Connect(iter(out.get, None))
            out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name="good-client")))
            acks = queue.Queue()

            def read():
                try:
                    for m in responses:
                        if m.WhichOneof("kind") == "ack":
                            acks.put(m.ack.committed_sequence)
                except grpc.RpcError as e:
                    if not self.stop.is_set():
                        self.error = "stream ended: %s %s" % (e.code(), e.details())
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            last_hb = 0
            while not self.stop.is_set() and self.error is None:
                seqs = list(range(self.sent + 1, self.sent + 11))
                out.put(batch(seqs, "good-check"))
                self.sent = seqs[-1]
                if time.monotonic() - last_hb > HEARTBEAT_MS / 2000:
                    out.put(pb.ProbeMessage(heartbeat=pb.Heartbeat(sent_at_us=now_us())))
                    last_hb = time.monotonic()
                time.sleep(0.05)
                while not acks.empty():
                    self.acked = acks.get()
            deadline = time.monotonic() + 15
            while self.acked < self.sent and time.monotonic() < deadline and self.error is None:
                try:
                    self.acked = acks.get(timeout=0.5)
                except queue.Empty:
                    pass
            out.put(None)
        except Exception as e:  # reported by the main thread
            self.error = "good client failed: %r" % (e,)


def stored_seqs(pg, probe_name):
    return [int(r[0]) for r in pg.psql(
        "SELECT r.seq FROM results r JOIN probes p ON p.id = r.probe_id WHERE p.name = '%s' ORDER BY r.seq"
        % probe_name.replace("'", "''"))]


def check_file_cases(tmp, good_checks):
    """A sparse 100 MB check file is refused unread by validate and by the daemon."""
    huge = os.path.join(tmp, "huge.yaml")
    with open(huge, "wb") as f:
        f.truncate(100 * 1024 * 1024)
    limit_msg = "%s: 104857600 bytes is over the 16777216-byte limit" % huge
    t0 = time.monotonic()
    out = subprocess.run([binary("picket-probe"), "validate", huge], capture_output=True, text=True, timeout=30)
    assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    assert limit_msg in out.stderr, out.stderr
    assert time.monotonic() - t0 < 5, "validate took too long: it read the file?"
    out = subprocess.run([binary("picket-probe"), "--name", "huge", "--collector", "127.0.0.1:1", "--checks", huge,
                          "--insecure-plaintext"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    assert limit_msg in out.stderr, out.stderr
    # The limit is an environment setting: lower it and a good file is refused too.
    out = subprocess.run([binary("picket-probe"), "validate", good_checks], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, PICKET_MAX_CHECK_FILE_BYTES="10"))
    assert out.returncode == 3 and "is over the 10-byte limit" in out.stderr, (out.returncode, out.stderr)
    out = subprocess.run([binary("picket-probe"), "validate", good_checks], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, PICKET_MAX_CHECK_FILE_BYTES="lots"))
    assert out.returncode == 2 and "PICKET_MAX_CHECK_FILE_BYTES" in out.stderr, (out.returncode, out.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="picket-badinput-")
    target = Target()
    checks = write_checks(os.path.join(tmp, "checks.yaml"), [
        {"name": "probe-ok", "type": "http", "url": target.url("/ok"), "interval": "200ms", "timeout": "200ms"},
        {"name": "probe-ok-2", "type": "http", "url": target.url("/ok2"), "interval": "300ms", "timeout": "300ms"},
    ])
    check_file_cases(tmp, checks)

    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--hello-timeout-ms", str(HELLO_TIMEOUT_MS), "--heartbeat-ms",
                                         str(HEARTBEAT_MS), "--max-clock-skew-ms", str(MAX_SKEW_MS)],
                              plaintext=True)  # hostile clients of many names; authentication is test_security's
        probe = None
        try:
            ch = grpc.insecure_channel("127.0.0.1:%d" % col.port)
            health = hpb_grpc.HealthStub(ch)
            wait_for("health SERVING", lambda: health.Check(hpb.HealthCheckRequest()).status ==
                     hpb.HealthCheckResponse.SERVING, 20)
            stub = pb_grpc.ProbeServiceStub(ch)

            # The well-behaved ones, running through everything below.
            probe = start_probe("real-probe", "eu", [col.port], checks, logdir=tmp, plaintext=True)
            good = GoodClient(ch)
            good.start()
            wait_for("real probe results", lambda: len(stored_seqs(pg, "real-probe")) >= 3, 20)
            wait_for("good client results", lambda: good.acked >= 20, 20)

            # ---- malformed protobuf: Register and stream
            raw_register = ch.unary_unary("/picket.v1.ProbeService/Register", request_serializer=None,
                                          response_deserializer=pb.RegisterResponse.FromString)
            expect_error(lambda: raw_register(b"\xff\xff\xff\xff", timeout=10), grpc.StatusCode.INVALID_ARGUMENT,
                         "malformed RegisterRequest")
            reg = register(stub, "hostile-malformed")
            s = Stream(ch, raw=True)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg.probe_id, probe_name="hostile-malformed"))
                   .SerializeToString())
            s.send(b"\x12\x05\x0a\x03\x08")  # a batch whose result is cut short
            expect_error(s.next, grpc.StatusCode.INVALID_ARGUMENT, "malformed ProbeMessage")
            s.close()

            # ---- oversized: over the 8 MiB receive limit, on a stream and on Register
            reg_big = register(stub, "hostile-big")
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_big.probe_id, probe_name="hostile-big")))
            big = pb.ProbeMessage(batch=pb.ResultBatch(results=[
                pb.Result(sequence=1, check_name="x", started_at_us=now_us(), outcome=pb.OUTCOME_OK,
                          message="m" * (9 * 1024 * 1024))]))
            s.send(big)
            expect_error(s.next, grpc.StatusCode.RESOURCE_EXHAUSTED)
            s.close()
            expect_error(lambda: register(stub, "hostile-big2", version="v" * (9 * 1024 * 1024)),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert stored_seqs(pg, "hostile-big") == []

            # ---- a stream that never says Hello, and one that goes silent
            t0 = time.monotonic()
            s = Stream(ch)
            expect_error(s.next, grpc.StatusCode.DEADLINE_EXCEEDED, "no Hello within %d ms" % HELLO_TIMEOUT_MS)
            waited = time.monotonic() - t0
            assert HELLO_TIMEOUT_MS / 1000 - 0.2 <= waited < HELLO_TIMEOUT_MS / 1000 + 3, waited
            s.close()
            reg_silent = register(stub, "hostile-silent")
            t0 = time.monotonic()
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_silent.probe_id, probe_name="hostile-silent")))
            expect_error(s.next, grpc.StatusCode.DEADLINE_EXCEEDED, "silent", "3 heartbeat intervals")
            waited = time.monotonic() - t0
            assert 3 * HEARTBEAT_MS / 1000 - 0.2 <= waited < 3 * HEARTBEAT_MS / 1000 + 3, waited
            s.close()

            # ---- sequences going backwards within one stream
            reg_seq = register(stub, "hostile-seq")
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_seq.probe_id, probe_name="hostile-seq")))
            s.send(batch([1, 2, 3]))
            assert s.next().ack.committed_sequence == 3
            s.send(batch([3, 4, 5]))  # starts at the previous batch's last
            expect_error(s.next, grpc.StatusCode.INVALID_ARGUMENT, "hostile-seq", "backwards",
                         "batch starts at 3 after 3")
            s.close()
            assert stored_seqs(pg, "hostile-seq") == [1, 2, 3], "part of the refused batch was stored"
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_seq.probe_id, probe_name="hostile-seq")))
            s.send(batch([9, 8]))  # not increasing inside the batch
            expect_error(s.next, grpc.StatusCode.INVALID_ARGUMENT, "hostile-seq", "do not increase", "8 after 9")
            s.close()
            assert stored_seqs(pg, "hostile-seq") == [1, 2, 3]
            # A NEW stream resending what is already stored is a legitimate resend:
            # the duplicates are skipped, the new ones stored, once.
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_seq.probe_id, probe_name="hostile-seq")))
            s.send(batch([1, 2, 3, 4, 5]))
            assert s.next().ack.committed_sequence == 5
            s.close()
            assert stored_seqs(pg, "hostile-seq") == [1, 2, 3, 4, 5]

            # ---- SQL metacharacters are stored verbatim and read back equal
            sql_name = "p'; DROP TABLE results;-- \\\"%_$1"
            sql_check = "c'); DELETE FROM probes; --\\\\N\""
            sql_labels = [pb.Label(key="k'ey\"", value="v'); TRUNCATE results; --"),
                          pb.Label(key="\\N", value="$$ \\. %s")]
            reg_sql = register(stub, sql_name, labels=sql_labels, checks=[
                pb.CheckInfo(name=sql_check, type="http", target="http://x/'?a=1;--", interval_ms=1000)])
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_sql.probe_id, probe_name=sql_name)))
            s.send(batch([1, 2], sql_check))
            assert s.next().ack.committed_sequence == 2
            s.close()
            rows = pg.psql("SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM probes WHERE id = %d" % reg_sql.probe_id)
            assert bytes.fromhex(rows[0][0]).decode() == sql_name, rows
            rows = pg.psql("SELECT encode(convert_to(k, 'UTF8'), 'hex'), encode(convert_to(v, 'UTF8'), 'hex') "
                           "FROM probes, jsonb_each_text(labels) AS l(k, v) WHERE id = %d ORDER BY k" % reg_sql.probe_id)
            got = sorted((bytes.fromhex(k).decode(), bytes.fromhex(v).decode()) for k, v in rows)
            assert got == sorted((l.key, l.value) for l in sql_labels), got
            rows = pg.psql("SELECT encode(convert_to(c.name, 'UTF8'), 'hex'), count(*) FROM results r "
                           "JOIN checks c ON c.id = r.check_id WHERE r.probe_id = %d GROUP BY c.name" % reg_sql.probe_id)
            assert [(bytes.fromhex(rows[0][0]).decode(), rows[0][1])] == [(sql_check, "2")], rows
            assert pg.psql("SELECT count(*) FROM probes WHERE name = 'good-client'") == [["1"]]

            # ---- control characters, invalid UTF-8 and oversized names/labels: refused
            def refused(fragment, **kw):
                name = kw.pop("name", "hostile-names")
                expect_error(lambda: register(stub, name, **kw), grpc.StatusCode.INVALID_ARGUMENT, fragment)
            refused("probe_name: control character 0x0a at byte 3", name="bad\nlevel=error msg=forged")
            refused("probe_name: control character 0x7f", name="bad\x7f")
            refused("labels[0].value: control character 0x1b at byte 0", labels=[pb.Label(key="k", value="\x1b[2J")])
            refused("labels.key: control character 0x00", labels=[pb.Label(key="a", value="b"),
                                                                      pb.Label(key="x\x00y", value="b")])
            refused("checks[0].name: control character 0x09",
                    checks=[pb.CheckInfo(name="tab\there", type="http")])
            refused("labels[0].value: 300 bytes is over the 256-byte limit",
                    labels=[pb.Label(key="k", value="v" * 300)])
            refused("probe_name: 200 bytes is over the 127-byte limit", name="n" * 200)
            refused("labels: 65 labels is over the limit of 64",
                    labels=[pb.Label(key="k%d" % i, value="v") for i in range(65)])
            # Invalid UTF-8 cannot come from a Python str: splice the bytes in.
            raw = pb.RegisterRequest(probe_name="bad-utf8-@@", region="r",
                                     probe_time_us=now_us()).SerializeToString().replace(b"@@", b"\xc3\x28")
            expect_error(lambda: raw_register(raw, timeout=10), grpc.StatusCode.INVALID_ARGUMENT,
                         "probe_name: invalid UTF-8 at byte 9")
            raw = pb.RegisterRequest(probe_name="bad-utf8-label", labels=[pb.Label(key="k", value="@@")],
                                     probe_time_us=now_us()).SerializeToString().replace(b"@@", b"\xed\xa0")
            expect_error(lambda: raw_register(raw, timeout=10), grpc.StatusCode.INVALID_ARGUMENT,
                         "labels[0].value: invalid UTF-8 at byte 0")
            assert pg.psql("SELECT count(*) FROM probes WHERE name LIKE 'bad%' OR name = 'hostile-names'") == [["0"]]

            # ---- clocks far off
            expect_error(lambda: register(stub, "hostile-clock", probe_time_us=now_us() + 3600 * 10**6),
                         grpc.StatusCode.FAILED_PRECONDITION, "ahead of", "fix NTP", "allowed 60 s")
            expect_error(lambda: register(stub, "hostile-clock", probe_time_us=now_us() - 3600 * 10**6),
                         grpc.StatusCode.FAILED_PRECONDITION, "behind", "fix NTP")
            assert pg.psql("SELECT count(*) FROM probes WHERE name = 'hostile-clock'") == [["0"]]
            reg_clock = register(stub, "hostile-clock")  # a good clock at Register...
            s = Stream(ch)
            s.send(pb.ProbeMessage(hello=pb.Hello(probe_id=reg_clock.probe_id, probe_name="hostile-clock")))
            # ...then heartbeats an hour off: logged once, not cut off.
            for _ in range(3):
                s.send(pb.ProbeMessage(heartbeat=pb.Heartbeat(sent_at_us=now_us() + 3600 * 10**6)))
                assert s.next().WhichOneof("kind") == "heartbeat"
            # Old results are legitimate (a probe sending what it buffered)...
            s.send(batch([1], "clock-check", started=now_us() - 86400 * 10**6))
            assert s.next().ack.committed_sequence == 1
            # ...results from the future are refused, and nothing of that batch is stored.
            s.send(batch([2, 3], "clock-check", started=now_us() + 3600 * 10**6))
            expect_error(s.next, grpc.StatusCode.FAILED_PRECONDITION, "hostile-clock", "result seq 2",
                         "in the future", "fix NTP")
            s.close()
            assert stored_seqs(pg, "hostile-clock") == [1]

            # ---- the well-behaved ones were never disturbed, and all is stored
            sent_before = good.sent
            wait_for("good client to keep going", lambda: good.acked > sent_before, 10)
            good.stop.set()
            good.join(30)
            assert not good.is_alive(), "good client did not finish"
            assert good.error is None, good.error
            assert good.acked == good.sent, (good.acked, good.sent)
            assert stored_seqs(pg, "good-client") == list(range(1, good.sent + 1))

            assert probe.alive(), probe.output()[-3000:]
            seen = len(stored_seqs(pg, "real-probe"))
            wait_for("real probe to keep storing", lambda: len(stored_seqs(pg, "real-probe")) > seen + 3, 10)
            assert probe.stop() == 0, probe.output()[-3000:]
            seqs = stored_seqs(pg, "real-probe")
            assert seqs == list(range(1, len(seqs) + 1)), seqs
            plog = probe.output()
            for bad in ("stream ended", "register failed", "collector silent"):
                assert bad not in plog, (bad, plog[-3000:])

            # ---- the collector: alive, each offender logged once, with its name
            assert col.alive(), col.output()[-3000:]
            clog = col.output()
            closed = [l for l in clog.splitlines() if "stream closed by collector" in l]
            assert not [l for l in closed if "good-client" in l or "real-probe" in l], closed
            assert len([l for l in closed if "probe=hostile-seq " in l and "backwards" in l]) == 1, closed
            assert len([l for l in closed if "probe=hostile-silent " in l]) == 1, closed
            assert len([l for l in clog.splitlines() if "probe clock skew over the bound" in l
                        and "hostile-clock" in l]) == 1, clog[-3000:]
            # A forged name cannot forge a log line.
            assert not [l for l in clog.splitlines() if l.startswith("level=error msg=forged")], clog
            assert col.stop() == 0, col.output()[-4000:]
        except BaseException:
            print(col.output()[-6000:], file=sys.stderr)
            if probe:
                print(probe.output()[-3000:], file=sys.stderr)
            raise
        finally:
            if probe:
                probe.kill()
            col.stop()
            target.close()
    print("bad input: all assertions passed")


if __name__ == "__main__":
    main()
