"""picket_env: shared pieces of Picket's integration tests.

Starts the real binaries from $PICKET_BUILD_DIR against a PrivatePostgres, serves
real HTTP targets on 127.0.0.1, and generates Python gRPC stubs from the proto.
Every wait is bounded; every process started here is killed on exit.

TLS is on by default: a per-run private CA (scripts/pki into a temp dir, see
pki()) gives the collector its server certificate, each probe a client
certificate with CN probe:<name>, and picketctl a write:test certificate.
plaintext=True (on both sides) uses --insecure-plaintext instead.
Standard library plus Debian's python3-grpcio / python3-grpc-tools (stubs only).
"""

import http.server
import atexit
import importlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pgharness import PrivatePostgres, free_port, free_ports  # noqa: E402,F401

SOURCE_DIR = os.environ.get("PICKET_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD_DIR = os.environ.get("PICKET_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))


def binary(name):
    path = os.path.join(BUILD_DIR, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not built (looked in %s)" % (name, BUILD_DIR))
    return path


def browse_steps(steps, workdir, name, timezone="UTC", headers=None):
    """Runs dashboard_pages.mjs (headless Chromium through playwright-core) over
    steps (its STEPS.json list) with the JSON written to workdir/name.json;
    returns the values its "eval" steps named. A failed step or a page error
    raises, naming the failure screenshot."""
    path = os.path.join(workdir, name + ".json")
    with open(path, "w") as f:
        json.dump({"timezone": timezone, "steps": steps, "headers": headers or {}}, f)
    p = subprocess.run(["node", os.path.join(HERE, "dashboard_pages.mjs"), path], capture_output=True, text=True,
                       timeout=240)
    lines = p.stdout.strip().splitlines()
    out = json.loads(lines[-1]) if lines else {"errors": [p.stderr[-2000:]]}
    if p.returncode != 0:
        raise AssertionError("browser (%s): exit %d\n%s\n%s\nscreenshot: %s.fail.png" % (
            name, p.returncode, "\n".join(out.get("errors", [])), p.stderr[-2000:], path))
    return out["values"]


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # a predicate may fail while things start
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (timeout, what, last))



def expect(cond, what, out=None):
    """Fails with `what` unless cond holds; out (a finished subprocess) adds its
    stdout and the end of its stderr to the message."""
    if not cond:
        detail = ""
        if out is not None:
            detail = "\n--- stdout\n%s\n--- stderr\n%s" % (out.stdout, out.stderr[-3000:])
        raise AssertionError(what + detail)


def expect_status(what, got, code, fragment=None):
    """got is a (status code, details) pair from a gRPC call: fails unless the
    code is `code` and, when given, fragment is in the details."""
    expect(got[0] == code, "%s: expected %s, got %s %r" % (what, code, got[0], got[1]))
    if fragment:
        expect(fragment in (got[1] or ""), "%s: %r does not mention %r" % (what, got[1], fragment))

class Proc:
    """A background process with its output in a log file."""

    def __init__(self, name, argv, env=None, logdir=None):
        self.name = name
        self.argv = argv
        self.logdir = logdir or tempfile.mkdtemp(prefix="picket-log-")
        self.log_path = os.path.join(self.logdir, name + ".log")
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def stop(self):
        self.kill(signal.SIGTERM)
        return self.proc.returncode

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Pki:
    """A private CA made by scripts/pki in a temp dir; client certificates on demand."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="picket-pki-")
        atexit.register(shutil.rmtree, self.dir, True)
        self._run()
        self.ca = os.path.join(self.dir, "ca.crt")
        self.server_cert = os.path.join(self.dir, "collector.crt")
        self.server_key = os.path.join(self.dir, "collector.key")

    def _run(self, *cns):
        r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "pki"), self.dir] + list(cns), capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("scripts/pki failed: " + r.stderr)

    def cert(self, cn):
        """(cert_path, key_path) of a client certificate with this CN, e.g. "probe:eu"."""
        base = os.path.join(self.dir, cn.replace(":", "-", 1))
        if not os.path.exists(base + ".crt"):
            self._run(cn)
        return base + ".crt", base + ".key"

    def client_args(self, cn):
        crt, key = self.cert(cn)
        return ["--tls-ca", self.ca, "--tls-cert", crt, "--tls-key", key]


_PKI = None


def pki():
    """The test run's PKI, made on first use."""
    global _PKI
    if _PKI is None:
        _PKI = Pki()
    return _PKI


def write_token_file(token, directory=None):
    fd, path = tempfile.mkstemp(prefix="picket-token-", dir=directory)
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def grpc_channel(port, cn="probe:py-probe", token=None):
    """A Python grpcio channel to the collector over TLS, with the cn client
    certificate, or with only the CA and a bearer token when token is given."""
    import grpc
    with open(pki().ca, "rb") as f:
        ca = f.read()
    if token:
        creds = grpc.composite_channel_credentials(grpc.ssl_channel_credentials(root_certificates=ca),
                                                   grpc.access_token_call_credentials(token))
    else:
        crt, key = pki().cert(cn)
        with open(crt, "rb") as f:
            chain = f.read()
        with open(key, "rb") as f:
            pkey = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=pkey, certificate_chain=chain)
    return grpc.secure_channel("127.0.0.1:%d" % port, creds)


def _has_security_flag(extra):
    return any(a in ("--insecure-plaintext", "--tls-ca", "--tls-cert", "--token-file") for a in (extra or []))


def client_security_args(cn, plaintext=False, token=None):
    """Flags for a probe or picketctl: a token (over TLS) when given, else the cn certificate."""
    if plaintext:
        return ["--insecure-plaintext"]
    if token:
        return ["--tls-ca", pki().ca, "--token-file", write_token_file(token)]
    return pki().client_args(cn)


def migrate(pg):
    out = subprocess.run([binary("picket-collector"), "migrate", "--db", pg.url], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise AssertionError("migrate failed: %s %s" % (out.stdout, out.stderr))
    return out.stdout


def start_collector(pg, port=None, extra=None, logdir=None, http_port=None, plaintext=False):
    # both chosen at once: the collector's gRPC and HTTP ports must differ
    # (two free_port() calls once returned the same port, and the collector
    # could not listen)
    pick = free_ports(2)
    port = port or (pick[0] if pick[0] != http_port else pick[1])
    http_port = http_port or (pick[1] if pick[1] != port else pick[0])
    argv = [binary("picket-collector"), "serve", "--db", pg.url, "--listen", "127.0.0.1:%d" % port,
            "--http-listen", "127.0.0.1:%d" % http_port]
    if plaintext:
        argv.append("--insecure-plaintext")
    elif not _has_security_flag(extra):
        argv += ["--tls-ca", pki().ca, "--tls-cert", pki().server_cert, "--tls-key", pki().server_key]
    p = Proc("collector-%d" % port, argv + (extra or []), logdir=logdir)
    p.port = port
    p.http_port = http_port
    wait_for("collector on port %d" % port, lambda: _port_open(port) or (not p.alive() and _died(p)), 20)
    return p


def round_spread_us(name, interval_ms=60000):
    """A check's round offset inside its interval, as the probe and the tracker
    compute it (pk_round_spread_us): fnv1a(name) % interval. Round k of the check
    starts at k * interval + this."""
    h = 1469598103934665603
    for ch in name.encode():
        h = ((h ^ ch) * 1099511628211) & (2 ** 64 - 1)
    return (h % interval_ms) * 1000


def metric(col, name):
    """The value of an unlabelled series on the collector's /metrics."""
    import urllib.request
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def wait_tracked(col, timeout=60.0):
    """Waits until the collector's tracker has folded every committed result
    (picket_collector_tracker_pending_checks 0 on /metrics)."""
    import urllib.request

    def caught_up():
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % col.http_port, timeout=5).read().decode()
        for line in body.splitlines():
            if line.startswith("picket_collector_tracker_pending_checks "):
                return float(line.split()[1]) == 0
        raise AssertionError("no picket_collector_tracker_pending_checks on /metrics")
    wait_for("the tracker caught up", caught_up, timeout)


def _died(p):
    raise AssertionError("process %s exited: %s" % (p.name, p.output()[-2000:]))


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_probe(name, region, collectors, checks_file, labels="", extra=None, logdir=None, env=None, plaintext=False,
                token=None, cert_cn=None, spool_dir=None):
    """TLS with a probe:<name> certificate by default; token=... uses that bearer
    token instead, cert_cn=... another certificate, plaintext=True no TLS.
    spool_dir: where the probe keeps unacknowledged results (default a fresh
    directory); restarting the returned Proc keeps using it."""
    spool_dir = spool_dir or tempfile.mkdtemp(prefix="picket-spool-%s-" % name)
    argv = [binary("picket-probe"), "--name", name, "--region", region, "--checks", checks_file,
            "--spool-dir", spool_dir]
    if not _has_security_flag(extra):
        argv += client_security_args(cert_cn or "probe:" + name, plaintext, token)
    for c in collectors:
        argv += ["--collector", "127.0.0.1:%d" % c]
    if labels:
        argv += ["--labels", labels]
    p = Proc("probe-" + name, argv + (extra or []), logdir=logdir, env=env)
    p.spool_dir = spool_dir
    return p


def picketctl(port, *args, plaintext=False, token=None, cert_cn="write:test"):
    """Runs picketctl against the collector on port; a write:test certificate by default."""
    sec = [] if _has_security_flag(args) else client_security_args(cert_cn, plaintext, token)
    out = subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:%d" % port] + sec + list(args),
                         capture_output=True, text=True, timeout=30)
    return out


class Target:
    """A real HTTP server on 127.0.0.1 whose answers the test controls."""

    def __init__(self):
        self.status = 200
        self.body = b'{"ok":true}'
        self.delay = 0.0
        self.hits = 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                target.hits += 1
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                if target.delay:
                    time.sleep(target.delay)
                self.send_response(target.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(target.body)))
                self.end_headers()
                self.wfile.write(target.body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def write_checks(path, checks, variables=None):
    """checks: list of dicts -> a YAML check file (flow style JSON is valid YAML);
    variables: the file's `vars:` map."""
    with open(path, "w") as f:
        if variables:
            f.write("vars: " + json.dumps(variables) + "\n")
        f.write("checks:\n")
        for c in checks:
            f.write("  - " + json.dumps(c) + "\n")
    return path


def grpc_stubs():
    """Generates picket_pb2/_grpc and health_pb2/_grpc into a temp dir; returns modules."""
    out = tempfile.mkdtemp(prefix="picket-pystubs-")
    proto_dir = os.path.join(SOURCE_DIR, "proto")
    # health.proto's path would make a Python module "grpc.health...", shadowed by the
    # grpcio package itself; generate it from a copy under another folder name (the
    # proto package, and so the method names on the wire, stay grpc.health.v1).
    os.makedirs(os.path.join(out, "src", "pkhealth"))
    with open(os.path.join(proto_dir, "grpc/health/v1/health.proto")) as f_in, \
            open(os.path.join(out, "src", "pkhealth", "health.proto"), "w") as f_out:
        f_out.write(f_in.read())
    for include, name in ((proto_dir, "picket/v1/picket.proto"), (os.path.join(out, "src"), "pkhealth/health.proto")):
        cmd = ["/usr/bin/python3", "-m", "grpc_tools.protoc", "-I", include, "--python_out=" + out,
               "--grpc_python_out=" + out, name]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("grpc_tools.protoc failed: " + r.stderr)
    sys.path.insert(0, out)
    pb = importlib.import_module("picket.v1.picket_pb2")
    pb_grpc = importlib.import_module("picket.v1.picket_pb2_grpc")
    hpb = importlib.import_module("pkhealth.health_pb2")
    hpb_grpc = importlib.import_module("pkhealth.health_pb2_grpc")
    return pb, pb_grpc, hpb, hpb_grpc


def rfc3339(us):
    """Microseconds since the epoch as picketctl's --since/--until take them (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // 1_000_000))


def rfc3339_ms(us):
    """As the alert receivers get times: milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1_000_000)) + ".%03dZ" % (us % 1_000_000 // 1000)


def webhook_rules(hook, rule, prefix="picket-rules-"):
    """Writes an alert rules file (evaluation every 250 ms) whose one receiver is
    hook (a WebhookReceiver, named "hook") and whose rules are the YAML list rule
    (e.g. "  - name: down\n    type: incident\n..."); returns its path."""
    path = os.path.join(tempfile.mkdtemp(prefix=prefix), "alerts.yml")
    with open(path, "w") as f:
        f.write("evaluation_interval: 250ms\nreceivers:\n  - name: hook\n    type: webhook\n"
                "    url: http://127.0.0.1:%d/hook\nrules:\n%s" % (hook.port, rule))
    return path


class WebhookReceiver:
    """An alert receiver on 127.0.0.1: records every POST as (time, path, JSON body,
    Idempotency-Key) in arrivals while status is 200; answers status (set it to 503 to
    refuse deliveries, which are then not recorded)."""

    def __init__(self, name="hook"):
        self.name = name
        self.arrivals = []
        self.status = 200
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = rec.status
                if status == 200:
                    with rec.lock:
                        rec.arrivals.append((time.time(), self.path, json.loads(body),
                                             self.headers.get("Idempotency-Key")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self):
        """Every recorded JSON body, in arrival order."""
        with self.lock:
            return [b for _, _, b, _ in self.arrivals]

    def text(self):
        return json.dumps(self.bodies())

    def alerts(self):
        """Webhook arrivals flattened: list of (time, alert dict)."""
        with self.lock:
            return [(t, a) for t, _, b, _ in self.arrivals for a in b.get("alerts", [])]

    def keys(self):
        """The event key of every alert that arrived (webhook bodies)."""
        return [a["key"] for _, a in self.alerts()]

    def posts_with(self, pred):
        with self.lock:
            return [b for _, _, b, _ in self.arrivals if any(pred(a) for a in b.get("alerts", []))]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeProbe:
    """A Python probe on one Connect stream: registers infos (CheckInfo messages) in
    region, says Hello, and sends result batches, waiting for their acks. self.pb is the
    generated picket_pb2 module (for building results); self.seq the last sequence."""

    _stubs = None

    def __init__(self, port, name, infos, region="eu"):
        if FakeProbe._stubs is None:
            FakeProbe._stubs = grpc_stubs()[:2]
        self.pb, pb_grpc = FakeProbe._stubs
        self.ch = grpc_channel(port, "probe:" + name)
        stub = pb_grpc.ProbeServiceStub(self.ch)
        reg = stub.Register(self.pb.RegisterRequest(probe_name=name, region=region, version="test", checks=infos,
                                                    probe_time_us=int(time.time() * 1e6)))
        self.seq = reg.committed_sequence
        self.out = queue.Queue()
        self.acks = queue.Queue()
        self.responses = stub.Connect(iter(self.out.get, None))
        self.out.put(self.pb.ProbeMessage(hello=self.pb.Hello(probe_id=reg.probe_id, probe_name=name)))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for msg in self.responses:
                if msg.WhichOneof("kind") == "ack":
                    self.acks.put(msg.ack.committed_sequence)
        except Exception:
            pass

    def next_seq(self):
        self.seq += 1
        return self.seq

    def send_batch(self, results, what="results", timeout=20):
        """Sends results (numbered with next_seq) in one batch; returns the time their ack
        arrived; AssertionError when none covers them within timeout seconds."""
        self.out.put(self.pb.ProbeMessage(batch=self.pb.ResultBatch(results=results)))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.acks.get(timeout=max(0.01, deadline - time.time())) >= self.seq:
                    return time.time()
            except queue.Empty:
                break
        raise AssertionError(what + " not acknowledged")

    def heartbeat(self, dropped=0):
        self.out.put(self.pb.ProbeMessage(heartbeat=self.pb.Heartbeat(sent_at_us=int(time.time() * 1e6),
                                                                      dropped_results=dropped)))

    def close(self):
        self.out.put(None)
        self.ch.close()
