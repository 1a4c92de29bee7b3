#!/usr/bin/python3
"""Attacks by holders of a credential, against real processes on 127.0.0.1
(docs/SECURITY.md, "Attacks tried"). Each attack is done, then its outcome asserted:

- a revoked token's open stream is closed (UNAUTHENTICATED) within 5 s, and the
  results it sent after that are not stored; the same for a certificate added to
  the collector's --deny-certificates file, which new calls cannot use either;
- a pushed exec check is refused by a probe without --allow-pushed-exec (the
  refusal is stored and says which option allows it) and runs on a probe with it;
  `shell: true` needs --allow-pushed-shell as well;
- probe B's result for probe A's check, or with another type, closes B's stream
  (PERMISSION_DENIED, counted on /metrics) and A's check keeps its last result and
  type; a result dated past the skew allowance is refused, not stored as latest;
- a result name with a control character is refused; a failure message with ESC,
  BEL, CR and LF reaches `picketctl status` and `report` tables escaped, and
  `--json` exactly.
Every loop is bounded in count and time."""

import hashlib
import json
import os
import ssl
import queue
import tempfile
import threading
import time

from picket_env import (PrivatePostgres, Proc, binary, client_security_args, expect, grpc_channel, grpc_stubs,
                        metric, migrate, picketctl, pki, start_collector, wait_for, write_checks)

import grpc

pb, pb_grpc, hpb, hpb_grpc = grpc_stubs()


def now_us():
    return int(time.time() * 1e6)


def result(seq, name, outcome=None, message="", started=None, ctype="http"):
    return pb.Result(sequence=seq, check_name=name, check_type=ctype,
                     started_at_us=started if started is not None else now_us(),
                     outcome=outcome if outcome is not None else pb.OUTCOME_OK, message=message,
                     status_code=200, total_us=1000, dns_us=-1, connect_us=-1, tls_us=-1, ttfb_us=-1)


class Stream:
    """A Connect stream driven by hand: send() queues, next() waits for a reply."""

    def __init__(self, stub, probe_id, name):
        self.out = queue.Queue()
        self.responses = stub.Connect(iter(self.out.get, None), timeout=60)
        self.out.put(pb.ProbeMessage(hello=pb.Hello(probe_id=probe_id, probe_name=name)))

    def send(self, *results):
        self.out.put(pb.ProbeMessage(batch=pb.ResultBatch(results=list(results))))

    def next(self):
        return next(self.responses)

    def close(self):
        self.out.put(None)


def ends_with(fn):
    """Runs fn; the (code, details) it raised, or (OK, value)."""
    try:
        return grpc.StatusCode.OK, fn()
    except grpc.RpcError as e:
        return e.code(), e.details()


def latest(pg, check):
    rows = pg.psql("SELECT r.outcome, r.probe_id, r.seq FROM results r JOIN checks c ON c.id = r.check_id "
                   "WHERE c.name = '%s' ORDER BY r.started_at DESC, r.seq DESC LIMIT 1" % check)
    return tuple(rows[0]) if rows else None


def revoked_token_attack(pg, col, tmp):
    r = picketctl(col.port, "probe", "add", "tok-probe", "--region", "r1")
    expect(r.returncode == 0, "probe add", r)
    token = r.stdout.strip()
    stub = pb_grpc.ProbeServiceStub(grpc_channel(col.port, token=token))
    reg = stub.Register(pb.RegisterRequest(probe_name="tok-probe", region="r1", probe_time_us=now_us(),
                                           checks=[pb.CheckInfo(name="tok-check", type="http")]), timeout=10)
    s = Stream(stub, reg.probe_id, "tok-probe")
    s.send(result(1, "tok-check"))
    assert s.next().ack.committed_sequence == 1
    # Keep writing, as the stolen credential's holder would, from another thread.
    state = {"seq": 1, "stop": False}

    def writer():
        deadline = time.monotonic() + 20
        while not state["stop"] and time.monotonic() < deadline:
            state["seq"] += 1
            s.send(result(state["seq"], "tok-check"))
            time.sleep(0.1)
    threading.Thread(target=writer, daemon=True).start()
    r = picketctl(col.port, "probe", "revoke", "tok-probe")
    expect(r.returncode == 0 and "revoked 1 credential" in r.stdout, "probe revoke", r)
    revoked_at = time.monotonic()
    code, details = None, None
    while time.monotonic() - revoked_at < 10:
        code, details = ends_with(s.next)
        if code != grpc.StatusCode.OK:
            break
    closed_after = time.monotonic() - revoked_at
    sent_by_close = state["seq"]  # results sent until the close was seen
    state["stop"] = True
    s.close()
    expect(code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in (details or ""),
           "revoked token's stream: got %s %r" % (code, details))
    expect(closed_after < 5.0, "revoked token's stream closed after %.2f s (limit 5 s)" % closed_after)
    def stored():
        return int(pg.psql("SELECT count(*) FROM results WHERE probe_id = %d" % reg.probe_id)[0][0])
    # A batch a writer took before the close may still commit (its ack is never
    # sent): let that tail settle (at most 5 s), then nothing more may come, and
    # nothing sent after the close was seen may be among what was stored.
    stored_then, settle_from = stored(), time.monotonic()
    while time.monotonic() - settle_from < 5:
        time.sleep(0.5)
        now_stored = stored()
        if now_stored == stored_then:
            break
        stored_then = now_stored
    time.sleep(1.5)
    stored_later = stored()
    expect(stored_later == stored_then, "results stored after the stream was closed (%d, then %d)"
           % (stored_then, stored_later))
    expect(stored_later <= sent_by_close, "%d results stored, %d sent before the close" % (stored_later, sent_by_close))
    expect(metric(col, "picket_collector_revoked_streams_total") >= 1, "revoked stream not counted")
    print("revoked token: stream closed %.2f s after revoke" % closed_after)


def denied_certificate_attack(pg, col, deny_file):
    stub = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pd"))
    reg = stub.Register(pb.RegisterRequest(probe_name="pd", region="r5", probe_time_us=now_us(),
                                           checks=[pb.CheckInfo(name="d-check", type="http")]), timeout=10)
    s = Stream(stub, reg.probe_id, "pd")
    s.send(result(1, "d-check"))
    assert s.next().ack.committed_sequence == 1
    with open(pki().cert("probe:pd")[0]) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    colons = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    with open(deny_file, "a") as f:  # the form `openssl x509 -noout -fingerprint -sha256` prints
        f.write("# the lost laptop\nsha256 Fingerprint=%s\n" % colons)
    t0 = time.monotonic()
    code, details = None, None
    while time.monotonic() - t0 < 10:
        code, details = ends_with(s.next)
        if code != grpc.StatusCode.OK:
            break
    closed_after = time.monotonic() - t0
    s.close()
    expect(code == grpc.StatusCode.UNAUTHENTICATED and "deny list" in (details or ""),
           "denied certificate's stream: %s %r" % (code, details))
    expect(closed_after < 5.0, "denied certificate's stream closed after %.2f s (limit 5 s)" % closed_after)
    code, details = ends_with(lambda: pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pd")).Register(
        pb.RegisterRequest(probe_name="pd", region="r5", probe_time_us=now_us()), timeout=10))
    expect(code == grpc.StatusCode.UNAUTHENTICATED and "deny list" in (details or ""),
           "denied certificate's new call: %s %r" % (code, details))
    # Another certificate of the same CA still works.
    other = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pe"))
    expect(other.Register(pb.RegisterRequest(probe_name="pe", region="r5", probe_time_us=now_us()),
                          timeout=10).probe_id > 0, "another certificate refused")
    print("denied certificate: stream closed %.2f s after the deny list changed" % closed_after)


def pushed_exec_attack(pg, col, tmp):
    plugins = os.path.join(tmp, "plugins")
    os.makedirs(plugins)
    plugin = os.path.join(plugins, "check_ok.sh")
    with open(plugin, "w") as f:
        f.write("#!/bin/sh\ntouch %s/plugin-ran\necho 'OK - fine | v=1'\nexit 0\n" % tmp)
    os.chmod(plugin, 0o755)
    v1 = write_checks(tmp + "/exec-v1.yaml", [
        {"name": "pushed-exec", "type": "exec", "exec": {"command": [plugin]}, "interval": "300ms",
         "timeout": "300ms"}])
    v2 = write_checks(tmp + "/exec-v2.yaml", [
        {"name": "pushed-exec", "type": "exec", "exec": {"command": [plugin]}, "interval": "300ms",
         "timeout": "300ms"},
        {"name": "pushed-shell", "type": "exec", "exec": {"command": "echo OK; touch %s/shell-ran" % tmp,
                                                          "shell": True},
         "interval": "300ms", "timeout": "300ms"}])
    def probe(name, extra):
        # No --checks: the probe waits for central assignment.
        return Proc(name, [binary("picket-probe"), "--name", name, "--region", "r2", "--collector",
                           "127.0.0.1:%d" % col.port, "--spool-dir", os.path.join(tmp, "spool-" + name)]
                    + client_security_args("probe:" + name, False, None) + extra, logdir=tmp)
    procs = []
    plain = probe("plain", [])
    procs.append(plain)
    allowed = probe("allowed", ["--allow-pushed-exec", plugins])
    procs.append(allowed)
    try:
        wait_for("both probes connected", lambda: pg.psql(
            "SELECT count(*) FROM probes WHERE name IN ('plain', 'allowed')")[0][0] == "2", 20)
        r = picketctl(col.port, "apply", v1)
        expect(r.returncode == 0, "apply exec v1", r)
        wait_for("the plain probe refuses", lambda: "start it with --allow-pushed-exec" in pg.psql(
            "SELECT coalesce(checks_error, '') FROM probes WHERE name = 'plain'")[0][0], 20)
        err = pg.psql("SELECT checks_error FROM probes WHERE name = 'plain'")[0][0]
        expect("check pushed-exec: exec of '%s' from central assignment not allowed on this probe" % plugin in err,
               "refusal reason: %r" % err)
        wait_for("the allowed probe runs it", lambda: int(pg.psql(
            "SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "
            "WHERE c.name = 'pushed-exec' AND p.name = 'allowed'")[0][0]) >= 2, 20)
        expect(os.path.exists(tmp + "/plugin-ran"), "the allowed probe did not run the plugin")
        n_plain = pg.psql("SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p "
                          "ON p.id = r.probe_id WHERE c.name = 'pushed-exec' AND p.name = 'plain'")[0][0]
        expect(n_plain == "0", "the plain probe ran the pushed exec check %s times" % n_plain)
        # shell needs its own allowance: the allowed probe refuses v2, keeps v1.
        r = picketctl(col.port, "apply", v2)
        expect(r.returncode == 0, "apply exec v2", r)
        wait_for("shell refused", lambda: "start it with --allow-pushed-shell" in pg.psql(
            "SELECT coalesce(checks_error, '') FROM probes WHERE name = 'allowed'")[0][0], 20)
        time.sleep(1)
        expect(not os.path.exists(tmp + "/shell-ran"), "a pushed shell command ran without --allow-pushed-shell")
        # status shows the refusal (the stored ack error) in --json at least.
        st = picketctl(col.port, "status", "--json")
        expect(st.returncode == 0, "status --json", st)
    finally:
        for p in procs:
            p.stop()


def foreign_result_attack(pg, col):
    a = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pa"))
    b = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pb"))
    ra = a.Register(pb.RegisterRequest(probe_name="pa", region="r3", probe_time_us=now_us(),
                                       checks=[pb.CheckInfo(name="a-check", type="http")]), timeout=10)
    rb = b.Register(pb.RegisterRequest(probe_name="pb", region="r3", probe_time_us=now_us(),
                                       checks=[pb.CheckInfo(name="b-check", type="http")]), timeout=10)
    sa = Stream(a, ra.probe_id, "pa")
    sa.send(result(1, "a-check"))
    assert sa.next().ack.committed_sequence == 1
    before = latest(pg, "a-check")
    denied0 = metric(col, "picket_collector_foreign_results_total")
    # B writes a newer failure for A's check.
    sb = Stream(b, rb.probe_id, "pb")
    sb.send(result(1, "b-check"), result(2, "a-check", outcome=pb.OUTCOME_FAILED, message="down",
                                         started=now_us() + 1000000))
    code, details = ends_with(sb.next)
    sb.close()
    expect(code == grpc.StatusCode.PERMISSION_DENIED and "a-check" in details,
           "foreign result: got %s %r" % (code, details))
    expect(latest(pg, "a-check") == before, "a-check's last result changed: %r" % (latest(pg, "a-check"),))
    # B changes its own check's type.
    sb = Stream(b, rb.probe_id, "pb")
    sb.send(result(3, "b-check", ctype="tcp"))
    code, details = ends_with(sb.next)
    sb.close()
    expect(code == grpc.StatusCode.PERMISSION_DENIED and "tcp" in details, "type change: %s %r" % (code, details))
    expect(pg.psql("SELECT type FROM checks WHERE name = 'b-check'")[0][0] == "http", "b-check's type changed")
    expect(metric(col, "picket_collector_foreign_results_total") == denied0 + 2, "refusals not counted")
    # A result an hour in the future (skew allowance 5 min) is refused.
    sa.send(result(2, "a-check", outcome=pb.OUTCOME_FAILED, started=now_us() + 3600 * 10**6))
    code, details = ends_with(sa.next)
    sa.close()
    expect(code == grpc.StatusCode.FAILED_PRECONDITION and "future" in details, "future: %s %r" % (code, details))
    expect(latest(pg, "a-check") == before, "a future result became a-check's latest")
    # B may still write its own check.
    sb = Stream(b, rb.probe_id, "pb")
    sb.send(result(3, "b-check"))
    expect(sb.next().ack.committed_sequence == 3, "B's own result")
    sb.close()


def control_character_attack(pg, col):
    a = pb_grpc.ProbeServiceStub(grpc_channel(col.port, "probe:pc"))
    ra = a.Register(pb.RegisterRequest(probe_name="pc", region="r4", probe_time_us=now_us(),
                                       checks=[pb.CheckInfo(name="c-check", type="http", service="svc")]), timeout=10)
    s = Stream(a, ra.probe_id, "pc")
    s.send(result(1, "c-\x1b[2Jcheck"))
    code, details = ends_with(s.next)
    s.close()
    expect(code == grpc.StatusCode.INVALID_ARGUMENT and "control character 0x1b" in details,
           "control character in a name: %s %r" % (code, details))
    hostile = "header X-Evil: \x1b]0;pwned\x07\x1b[2J\rOK\nc-check ok 200 FAKE ROW\x9b31m"
    s = Stream(a, ra.probe_id, "pc")
    s.send(result(2, "c-check", outcome=pb.OUTCOME_FAILED, message=hostile))
    expect(s.next().ack.committed_sequence == 2, "the hostile message batch")
    s.close()
    for args in (("status",), ("report",), ("status", "--check", "c-check"), ("availability", "--since", "1h"),
                 ("latency", "--since", "1h"), ("incidents", "--since", "1h"), ("slo",)):
        out = picketctl(col.port, *args, cert_cn="read:ops")
        expect(out.returncode in (0, 1), "picketctl %s" % " ".join(args), out)
        bad = sorted({hex(ord(ch)) for ch in out.stdout if (ord(ch) < 0x20 and ch != "\n") or 0x7f <= ord(ch) <= 0x9f})
        expect(not bad, "picketctl %s printed control characters %s" % (" ".join(args), bad), out)
        expect(not any(line.startswith("c-check ok 200 FAKE") for line in out.stdout.splitlines()),
               "a forged table row in picketctl %s" % " ".join(args), out)
    out = picketctl(col.port, "status", cert_cn="read:ops")
    expect("\\x1b]0;pwned\\x07" in out.stdout, "the escaped message is shown", out)
    js = picketctl(col.port, "status", "--json", cert_cn="read:ops")
    expect(js.returncode == 0, "status --json", js)
    checks = {c["check"]: c for c in json.loads(js.stdout)["checks"]}
    msg = checks["c-check"]["last"]["message"]
    expect(msg == hostile, "--json is not exact: %r" % msg)


def main():
    tmp = tempfile.mkdtemp(prefix="picket-attacks-")
    with PrivatePostgres() as pg:
        migrate(pg)
        deny_file = os.path.join(tmp, "denied-certificates")
        with open(deny_file, "w") as f:
            f.write("# SHA-256 fingerprints of client certificates to refuse\n")
        col = start_collector(pg, logdir=tmp, extra=["--tls-ca", pki().ca, "--tls-cert", pki().server_cert,
                                                     "--tls-key", pki().server_key, "--deny-certificates", deny_file])
        try:
            revoked_token_attack(pg, col, tmp)
            denied_certificate_attack(pg, col, deny_file)
            foreign_result_attack(pg, col)
            control_character_attack(pg, col)
            pushed_exec_attack(pg, col, tmp)
        except Exception:
            print("---- collector\n" + col.output()[-6000:])
            for name in ("plain", "allowed"):
                path = os.path.join(tmp, "probe-%s.log" % name)
                if os.path.exists(path):
                    print("---- probe %s\n%s" % (name, open(path).read()[-3000:]))
            raise
        finally:
            col.stop()
    print("ok")


if __name__ == "__main__":
    main()
