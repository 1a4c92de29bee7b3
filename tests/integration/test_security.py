#!/usr/bin/python3
"""Security of the collector's gRPC face, with real processes over TLS:
- a probe with no credential, with a certificate from another CA, or with an
  unknown token is refused; a token from `picketctl probe add` works, is stored
  only as its SHA-256, and stops working once `picketctl probe revoke` ran;
- probe A's certificate or token cannot Register as probe B nor send on B's stream;
- a read credential can query but cannot call AdminService; a probe cannot query;
- a plaintext client cannot talk to a TLS collector;
- without TLS material the binaries refuse to start, and --insecure-plaintext
  works but warns on stderr and in the log;
- Health needs no credential."""

import hashlib
import os
import queue
import subprocess
import tempfile
import time
import urllib.request

from picket_env import (SOURCE_DIR, PrivatePostgres, Target, binary, expect_status, grpc_channel, grpc_stubs, migrate,
                        picketctl, pki, start_collector, start_probe, wait_for, write_checks)

import grpc

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()
# Results from a few minutes ago: a fixed old time is past the collector's
# retention (90 days), and its upkeep may delete the row before it is counted.
RECENT_US = (int(time.time()) // 60 - 5) * 60 * 1000000


def code_of(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def hello_stream(stub, probe_id, name):
    """Opens Connect, sends Hello and one batch; returns the status the collector ends it with."""
    out = queue.Queue()
    responses = stub.Connect(iter(out.get, None), timeout=10)
    out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=probe_id, probe_name=name)))
    out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=[pb.Result(
        sequence=1, check_name="sec-check", check_type="http", started_at_us=RECENT_US,
        outcome=pb.OUTCOME_OK, total_us=5, dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1)])))
    try:
        first = next(responses)
        out.put(None)
        for _ in responses:
            pass
        return grpc.StatusCode.OK, str(first)
    except grpc.RpcError as e:
        out.put(None)
        return e.code(), e.details()


def db(pg, sql):
    r = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-A", "-t", "-q", pg.url, "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def main():
    target = Target()
    with PrivatePostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        migrate(pg)

        # ---- refusing to start without TLS material; plaintext needs the flag and warns.
        r = subprocess.run([binary("picket-collector"), "serve", "--db", pg.url, "--listen", "127.0.0.1:1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "--tls-ca" in r.stderr and "--insecure-plaintext" in r.stderr, r
        checks = write_checks(tmp + "/checks.yaml", [{"name": "sec-check", "type": "http", "url": target.url(),
                                                       "interval": "1s"}])
        r = subprocess.run([binary("picket-probe"), "--name", "x", "--collector", "127.0.0.1:1", "--checks", checks],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "--tls-ca" in r.stderr and "--token-file" in r.stderr, r
        r = subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:1", "status"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and "--tls-ca" in r.stderr, r

        plain = start_collector(pg, logdir=tmp, plaintext=True)
        try:
            time.sleep(0.3)
            log = plain.output()
            assert "WARNING: --insecure-plaintext" in log and 'msg="insecure plaintext mode"' in log, log
            r = picketctl(plain.port, "status", plaintext=True)
            assert r.returncode == 0 and "WARNING: --insecure-plaintext" in r.stderr, r
            # A TLS client cannot talk to a plaintext collector either.
            r = picketctl(plain.port, "status", cert_cn="read:ops")
            assert r.returncode == 1, r
        finally:
            plain.stop()

        col = start_collector(pg, logdir=tmp)
        try:
            # ---- Health is open; a plaintext client against TLS fails.
            anon = grpc.secure_channel("127.0.0.1:%d" % col.port,
                                       grpc.ssl_channel_credentials(root_certificates=open(pki().ca, "rb").read()))
            wait_for("health SERVING", lambda: hpb_grpc.HealthStub(anon).Check(hpb.HealthCheckRequest()).status ==
                     hpb.HealthCheckResponse.SERVING, 20)
            insecure = grpc.insecure_channel("127.0.0.1:%d" % col.port)
            got = code_of(lambda: hpb_grpc.HealthStub(insecure).Check(hpb.HealthCheckRequest(), timeout=3))
            assert got[0] == grpc.StatusCode.UNAVAILABLE, got
            r = picketctl(col.port, "status", plaintext=True)
            assert r.returncode == 1, r

            # ---- no credential at all: TLS but neither certificate nor token.
            expect_status("register without credential",
                          code_of(lambda: pb_grpc.ProbeServiceStub(anon).Register(
                              pb.RegisterRequest(probe_name="eu", region="r"), timeout=5)),
                          grpc.StatusCode.UNAUTHENTICATED, "no credential")
            expect_status("status without credential",
                          code_of(lambda: pb_grpc.QueryServiceStub(anon).Status(pb.StatusRequest(), timeout=5)),
                          grpc.StatusCode.UNAUTHENTICATED)

            # ---- a certificate from another CA: the handshake fails.
            other = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "pki"), tmp + "/otherca", "probe:eu"],
                                   capture_output=True, text=True, timeout=60)
            assert other.returncode == 0, other.stderr
            rogue = grpc.secure_channel("127.0.0.1:%d" % col.port, grpc.ssl_channel_credentials(
                root_certificates=open(pki().ca, "rb").read(),
                private_key=open(tmp + "/otherca/probe-eu.key", "rb").read(),
                certificate_chain=open(tmp + "/otherca/probe-eu.crt", "rb").read()))
            got = code_of(lambda: pb_grpc.ProbeServiceStub(rogue).Register(
                pb.RegisterRequest(probe_name="eu", region="r"), timeout=5))
            assert got[0] == grpc.StatusCode.UNAVAILABLE, got

            # ---- probe certificates: own name works, another probe's does not.
            eu = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:eu"))
            us = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:us"))
            eu_id = eu.Register(pb.RegisterRequest(probe_name="eu", region="eu-west", checks=[
                pb.CheckInfo(name="sec-check", type="http")]), timeout=5).probe_id
            us_id = us.Register(pb.RegisterRequest(probe_name="us", region="us-east"), timeout=5).probe_id
            assert eu_id > 0 and us_id > 0 and eu_id != us_id
            expect_status("eu registers as us",
                          code_of(lambda: eu.Register(pb.RegisterRequest(probe_name="us", region="x"), timeout=5)),
                          grpc.StatusCode.PERMISSION_DENIED, "'us'")
            expect_status("eu streams as us (us's id)", hello_stream(eu, us_id, "us"),
                          grpc.StatusCode.PERMISSION_DENIED, "'us'")
            expect_status("eu streams with us's id under its own name", hello_stream(eu, us_id, "eu"),
                          grpc.StatusCode.PERMISSION_DENIED)
            got = hello_stream(eu, eu_id, "eu")
            assert got[0] == grpc.StatusCode.OK and "committed_sequence: 1" in got[1], got
            assert db(pg, "SELECT count(*) FROM results WHERE probe_id = %d" % us_id) == "0"
            assert db(pg, "SELECT count(*) FROM results WHERE probe_id = %d" % eu_id) == "1"
            # A probe may not query.
            expect_status("probe queries",
                          code_of(lambda: pb_grpc.QueryServiceStub(grpc_channel(col.port, "probe:eu")).Status(
                              pb.StatusRequest(), timeout=5)), grpc.StatusCode.PERMISSION_DENIED)

            # ---- read vs write.
            r = picketctl(col.port, "status", cert_cn="read:ops")
            assert r.returncode == 0, r
            r = picketctl(col.port, "probe", "add", "tok-probe", cert_cn="read:ops")
            assert r.returncode == 1 and "PERMISSION_DENIED" not in r.stdout and "write credential" in r.stderr, r
            admin_read = pb_grpc.AdminServiceStub(grpc_channel(col.port, "read:ops"))
            expect_status("read calls RevokeCredential",
                          code_of(lambda: admin_read.RevokeCredential(pb.RevokeCredentialRequest(probe_name="eu"),
                                                                      timeout=5)),
                          grpc.StatusCode.PERMISSION_DENIED)

            # ---- picketctl probe add: token printed once, stored hashed, works.
            r = picketctl(col.port, "probe", "add", "tok-probe", "--region", "ap-south")
            assert r.returncode == 0, r
            token = r.stdout.strip()
            assert token.startswith("pkt_") and len(token) == 68, r.stdout
            assert "--token-file" in r.stderr and token not in r.stderr, r.stderr
            stored = db(pg, "SELECT encode(token_sha256, 'hex') FROM credentials WHERE name = 'tok-probe'")
            assert stored == hashlib.sha256(token.encode()).hexdigest(), stored
            assert token not in db(pg, "SELECT string_agg(t::text, ' ') FROM credentials t")
            assert token not in col.output(), "the collector logged a token"
            assert db(pg, "SELECT region FROM probes WHERE name = 'tok-probe'") == "ap-south"

            tok_stub = pb_grpc.ProbeServiceStub(grpc_channel(col.port, token=token))
            tok_id = tok_stub.Register(pb.RegisterRequest(probe_name="tok-probe", region="ap-south"),
                                       timeout=5).probe_id
            expect_status("token registers as eu",
                          code_of(lambda: tok_stub.Register(pb.RegisterRequest(probe_name="eu", region="x"),
                                                            timeout=5)),
                          grpc.StatusCode.PERMISSION_DENIED, "'eu'")
            expect_status("token streams as eu", hello_stream(tok_stub, eu_id, "eu"), grpc.StatusCode.PERMISSION_DENIED)
            # The real probe binary with the token streams results.
            probe = start_probe("tok-probe", "ap-south", [col.port], checks, logdir=tmp, token=token)
            try:
                wait_for("tok-probe results", lambda: int(db(
                    pg, "SELECT count(*) FROM results WHERE probe_id = %d" % tok_id)) >= 2, 30)
            finally:
                probe.stop()
            assert token not in probe.output()

            # A malformed / unknown token.
            bogus = "pkt_" + "0" * 64
            expect_status("unknown token",
                          code_of(lambda: pb_grpc.ProbeServiceStub(grpc_channel(col.port, token=bogus)).Register(
                              pb.RegisterRequest(probe_name="tok-probe", region="x"), timeout=5)),
                          grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked")
            expect_status("malformed token",
                          code_of(lambda: pb_grpc.ProbeServiceStub(grpc_channel(col.port, token="hunter2")).Register(
                              pb.RegisterRequest(probe_name="tok-probe", region="x"), timeout=5)),
                          grpc.StatusCode.UNAUTHENTICATED, "malformed")

            # ---- revoke: the token stops working at once.
            r = picketctl(col.port, "probe", "revoke", "tok-probe")
            assert r.returncode == 0 and "revoked 1 credential" in r.stdout, r
            expect_status("revoked token",
                          code_of(lambda: tok_stub.Register(pb.RegisterRequest(probe_name="tok-probe", region="x"),
                                                            timeout=5)),
                          grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked")
            probe = start_probe("tok-probe", "ap-south", [col.port], checks, logdir=tmp, token=token)
            try:
                wait_for("revoked probe refused", lambda: "unknown or revoked token" in probe.output(), 20)
            finally:
                probe.stop()
            r = picketctl(col.port, "probe", "revoke", "tok-probe")
            assert r.returncode == 2 and "no live token" in r.stderr, r  # not found: exit 2, as everywhere

            # ---- bootstrap: picket-collector token add --role read, used by picketctl.
            r = subprocess.run([binary("picket-collector"), "token", "add", "--role", "read", "ops-bot", "--db",
                                pg.url], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r
            read_token = r.stdout.strip()
            r = picketctl(col.port, "status", token=read_token)
            assert r.returncode == 0, r
            r = picketctl(col.port, "probe", "add", "x", token=read_token)
            assert r.returncode == 1 and "write credential" in r.stderr, r
            # The counter of refusals is exported.
            metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5).read()
            assert b"picket_collector_auth_denied_total" in metrics
        finally:
            col.stop()
    target.close()
    print("ok")


if __name__ == "__main__":
    main()
