#!/usr/bin/python3
"""A standard gRPC client (Python grpcio, stubs generated from our proto) speaks
Picket's wire contract: Health, Register, a Connect stream with hello, batches and
heartbeats, acks only after commit; then the rows are read back from PostgreSQL.
Also: a malformed batch gets INVALID_ARGUMENT and stores nothing; Health answers
NOT_SERVING while PostgreSQL is down and SERVING again after it is back."""

import queue
import re
import sys
import time
import urllib.error
import urllib.request

from picket_env import PrivatePostgres, grpc_channel, grpc_stubs, migrate, start_collector, wait_for

import grpc

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()
# Results from a few minutes ago: a fixed old time is past the collector's
# retention (90 days), and its upkeep may delete the row before it is counted.
RECENT_US = (int(time.time()) // 60 - 5) * 60 * 1000000


def result(seq, name="py-check", outcome=None, total=1500):
    return pb.Result(sequence=seq, check_name=name, check_type="http", started_at_us=RECENT_US + seq,
                     outcome=outcome or pb.OUTCOME_OK, error_class=pb.ERROR_CLASS_NONE, status_code=200,
                     body_bytes=42, dns_us=1, connect_us=2, tls_us=-1, ttfb_us=3, total_us=total,
                     metrics=[pb.Metric(name="sources", value=2.0)])


class Stream:
    def __init__(self, stub, probe_id):
        self.out = queue.Queue()
        self.responses = stub.Connect(iter(self.out.get, None))
        self.out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=probe_id, probe_name="py-probe")))

    def send(self, msg):
        self.out.put(msg)

    def next(self):
        return next(self.responses)

    def close(self):
        self.out.put(None)


def main():
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg)
        try:
            # TLS with a client certificate (CN probe:py-probe), as every probe uses.
            ch = grpc_channel(col.port, "probe:py-probe")
            health = hpb_grpc.HealthStub(ch)
            wait_for("health SERVING", lambda: health.Check(hpb.HealthCheckRequest()).status ==
                     hpb.HealthCheckResponse.SERVING, 20)

            stub = pb_grpc.ProbeServiceStub(ch)
            reg = stub.Register(pb.RegisterRequest(
                probe_name="py-probe", region="py-region", version="test",
                labels=[pb.Label(key="team", value="sre'; DROP TABLE probes;--")],
                checks=[pb.CheckInfo(name="py-check", type="http", target="http://127.0.0.1:1/", interval_ms=1000)]))
            assert reg.probe_id > 0, reg
            assert reg.committed_sequence == 0, reg

            s = Stream(stub, reg.probe_id)
            s.send(pb.ProbeMessage(batch=pb.ResultBatch(results=[result(i) for i in range(1, 4)])))
            msg = s.next()
            assert msg.WhichOneof("kind") == "ack", msg
            assert msg.ack.committed_sequence == 3, msg
            # The ack means committed: the rows are there now, field by field.
            rows = pg.psql("SELECT seq, outcome, status_code, body_bytes, dns_us, connect_us, tls_us, ttfb_us, "
                           "total_us, metrics->>'sources' FROM results ORDER BY seq")
            assert rows == [[str(i), "1", "200", "42", "1", "2", "", "3", "1500", "2"] for i in range(1, 4)], rows

            # After a reconnect, a resent, overlapping batch stores only what is new.
            s.close()
            s = Stream(stub, reg.probe_id)
            s.send(pb.ProbeMessage(batch=pb.ResultBatch(results=[result(i) for i in range(2, 6)])))
            msg = s.next()
            assert msg.ack.committed_sequence == 5, msg
            seqs = [int(r[0]) for r in pg.psql("SELECT seq FROM results ORDER BY seq")]
            assert seqs == [1, 2, 3, 4, 5], seqs

            s.send(pb.ProbeMessage(heartbeat=pb.Heartbeat(sent_at_us=int(time.time() * 1e6))))
            msg = s.next()
            assert msg.WhichOneof("kind") == "heartbeat", msg
            s.close()

            labels = pg.psql("SELECT labels->>'team' FROM probes WHERE name='py-probe'")
            assert labels == [["sre'; DROP TABLE probes;--"]], labels

            # Re-registering reports the stored high-water mark.
            reg2 = stub.Register(pb.RegisterRequest(probe_name="py-probe", region="py-region"))
            assert reg2.probe_id == reg.probe_id and reg2.committed_sequence == 5, reg2

            # A batch whose sequences go backwards is refused and nothing is stored.
            s = Stream(stub, reg.probe_id)
            s.send(pb.ProbeMessage(batch=pb.ResultBatch(results=[result(9), result(8)])))
            try:
                s.next()
                raise AssertionError("bad batch was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
                assert "do not increase" in e.details(), e.details()
            assert pg.psql("SELECT count(*) FROM results") == [["5"]]

            # A batch before hello is refused.
            out = queue.Queue()
            resp = stub.Connect(iter(out.get, None))
            out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=[result(10)])))
            try:
                next(resp)
                raise AssertionError("batch before hello was accepted")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
            out.put(None)

            # /metrics counts what happened, in the Prometheus text format.
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5).read().decode()

            def metric(name):
                m = re.search(r"^%s (\S+)$" % name, text, re.M)
                assert m, (name, text)
                return float(m.group(1))
            assert metric("picket_collector_results_stored_total") == 5
            assert metric("picket_collector_results_duplicate_total") == 2
            assert metric("picket_collector_streams_rejected_total") == 2
            assert metric("picket_collector_database_up") == 1
            assert metric("process_resident_memory_bytes") > 1e6
            for line in text.splitlines():
                assert line.startswith("#") or re.match(r"^[a-z_]+(\{[a-z_]+=\"[^\"]*\"\})? [0-9.e+-]+$", line), line
            assert urllib.request.urlopen("http://127.0.0.1:%d/healthz" % col.http_port, timeout=5).status == 200

            # Unknown method: UNIMPLEMENTED.
            try:
                ch.unary_unary("/picket.v1.Nope/Nothing")(b"")
                raise AssertionError("unknown method answered")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e

            # Health follows the database.
            pg.stop()
            wait_for("health NOT_SERVING", lambda: health.Check(hpb.HealthCheckRequest()).status ==
                     hpb.HealthCheckResponse.NOT_SERVING, 20)
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % col.http_port, timeout=5)
                raise AssertionError("/healthz said ok without a database")
            except urllib.error.HTTPError as e:
                assert e.code == 503, e
            pg.start()
            wait_for("health SERVING again", lambda: health.Check(hpb.HealthCheckRequest()).status ==
                     hpb.HealthCheckResponse.SERVING, 30)
            ch.close()
            # A clean SIGTERM shutdown exits 0 (under ASan this also means no leak).
            assert col.stop() == 0, col.output()[-4000:]
        except BaseException:
            print(col.output()[-4000:], file=sys.stderr)
            raise
        finally:
            col.stop()
    print("python grpc client: all assertions passed")


if __name__ == "__main__":
    main()
