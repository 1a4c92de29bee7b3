#!/usr/bin/python3
"""Prometheus /metrics on the probe and the collector, with real processes.

A probe runs an http check against a real Target (200, then 500) and a tls
check against a real TLS listener whose certificate's notAfter we know. Both
/metrics bodies must pass `promtool check metrics` with no complaint at all, and
the per-check series (blackbox_exporter's names) must follow what the checks
did: probe_success 1 then 0, probe_http_status_code 200 then 500,
probe_ssl_earliest_cert_expiry = the certificate's notAfter. The collector shows
rollup lag (compaction every second) and counts a refused call under
picket_collector_rpc_errors_total{code="UNAUTHENTICATED"}. A second probe on
the same --metrics-listen address must fail loudly, naming the flag."""

import calendar
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from picket_env import (PrivatePostgres, Target, free_port, migrate, picketctl, pki, start_collector, start_probe,
                        wait_for, write_checks)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def parse(body):
    """{(name, frozenset(labels.items())): value}; asserts HELP and TYPE come once per family."""
    samples, helps, types = {}, set(), set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helps, "HELP twice for " + name
            helps.add(name)
        elif line.startswith("# TYPE "):
            name = line.split(" ")[2]
            assert name not in types, "TYPE twice for " + name
            types.add(name)
        elif line:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            key = (m.group(1), labels)
            assert key not in samples, "duplicate series %r" % line
            samples[key] = float(m.group(4))
    assert helps == types, "families without HELP or TYPE: %s" % (helps ^ types)
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def check_value(samples, check, metric, type_="exec", region="eu-west"):
    """picket_check_value{check, type, region, name}: a check's number (its label is 'name')."""
    labels = {"check": check, "type": type_, "region": region, "name": metric}
    return samples.get(("picket_check_value", frozenset(labels.items())))


def promtool(body, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        raise AssertionError("promtool check metrics on the %s's /metrics (rc=%d):\n%s%s" %
                             (what, r.returncode, r.stdout, r.stderr))


def cert_not_after(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path], capture_output=True, text=True,
                         check=True, timeout=30).stdout.strip()
    when = out.split("=", 1)[1]  # e.g. "Nov 25 10:07:17 2036 GMT"
    return calendar.timegm(time.strptime(when, "%b %d %H:%M:%S %Y %Z"))


class TlsListener:
    """Accepts TLS on 127.0.0.1 with the test PKI's server certificate, handshakes, closes."""

    def __init__(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki().server_cert, pki().server_key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                with self.ctx.wrap_socket(conn, server_side=True) as t:
                    t.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def main():
    if not shutil.which("promtool"):
        raise AssertionError("promtool not found: install Debian's prometheus package (scripts/deps does)")
    tmp = tempfile.mkdtemp(prefix="picket-metrics-")
    target = Target()
    tls = TlsListener()
    expiry = cert_not_after(pki().server_cert)
    checks = write_checks(tmp + "/checks.yaml", [
        {"name": "web", "type": "http", "url": target.url("/health"), "interval": "400ms", "timeout": "400ms"},
        {"name": "cert", "type": "tls", "interval": "1s", "timeout": "1s",
         "tls": {"host": "127.0.0.1", "port": tls.port, "server_name": "localhost", "ca_file": pki().ca}},
        # npm audit's shape: a Nagios plugin whose perfdata counts findings.
        {"name": "audit", "type": "exec", "interval": "1s", "timeout": "1s",
         "exec": {"command": ["/bin/sh", "-c",
                              "echo 'NPM AUDIT WARNING - 3 vulnerabilities | vulnerabilities=3;;;0 high=0 moderate=3'; "
                              "exit 1"]}},
    ])
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp, extra=["--compact-interval-s", "1"])
            procs.append(col)
            mport = free_port()
            probe = start_probe("m-probe", 'eu-west', [col.port], checks, logdir=tmp,
                                extra=["--metrics-listen", "127.0.0.1:%d" % mport])
            procs.append(probe)

            def probe_samples():
                if not probe.alive():
                    raise AssertionError("probe exited: " + probe.output()[-2000:])
                return parse(scrape(mport)[2])

            lbl = {"check": "web", "type": "http", "region": "eu-west"}
            tls_lbl = {"check": "cert", "type": "tls", "region": "eu-west"}

            def first_round():
                s = probe_samples()
                return (value(s, "probe_success", **lbl) == 1 and value(s, "probe_http_status_code", **lbl) == 200
                        and value(s, "probe_ssl_earliest_cert_expiry", **tls_lbl) is not None
                        and check_value(s, "audit", "vulnerabilities") is not None
                        and value(s, "picket_probe_acked_sequence") and value(s, "picket_probe_connected") == 1
                        and s)
            s = wait_for("probe_success 1, status 200, a tls result and an ack", first_round, 30)
            assert value(s, "probe_ssl_earliest_cert_expiry", **tls_lbl) == expiry, \
                (value(s, "probe_ssl_earliest_cert_expiry", **tls_lbl), expiry)
            assert value(s, "probe_success", **tls_lbl) == 1, s
            assert value(s, "probe_http_content_length", **lbl) == len(target.body)
            dur = value(s, "probe_duration_seconds", **lbl)
            assert dur is not None and 0 < dur < 1, dur
            for phase in ("resolve", "connect", "tls", "processing", "transfer"):
                v = value(s, "probe_http_duration_seconds", phase=phase, **lbl)
                assert v is not None and 0 <= v <= dur, (phase, v, dur)
            assert value(s, "probe_http_duration_seconds", phase="tls", **lbl) == 0  # plain http
            assert value(s, "probe_failed_due_to_regex", **lbl) == 0
            assert value(s, "picket_probe_checks") == 3
            # A check's numbers (exec perfdata, extract:) as picket_check_value{name=...}.
            assert check_value(s, "audit", "vulnerabilities") == 3, s
            assert check_value(s, "audit", "moderate") == 3, s
            for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds",
                         "process_threads", "picket_probe_results_produced_total", "picket_probe_pending_results",
                         "picket_probe_spool_bytes", "picket_probe_round_lateness_seconds_count",
                         "picket_probe_runs_in_flight", "picket_probe_reconnects_total"):
                assert value(s, name) is not None, name
            assert value(s, "process_threads") >= 2
            code, ctype, body = scrape(mport)
            assert code == 200 and ctype.startswith("text/plain; version=0.0.4"), (code, ctype)
            promtool(body, "probe")
            assert scrape(mport, "/healthz")[0] == 200

            target.status = 500
            target.body = b"broken"

            def failing():
                s = probe_samples()
                return (value(s, "probe_success", **lbl) == 0 and value(s, "probe_http_status_code", **lbl) == 500
                        and s)
            s = wait_for("probe_success 0 and status 500 after the target broke", failing, 30)
            assert value(s, "probe_http_content_length", **lbl) == len(b"broken")
            assert value(s, "picket_check_runs_total", outcome="failed", **lbl) >= 1
            assert value(s, "picket_check_runs_total", outcome="ok", **lbl) >= 1
            assert value(s, "picket_check_error_class", **lbl) == 5  # http
            promtool(scrape(mport)[2], "probe")

            target.status = 200
            assert probe.stop() == 0, probe.output()[-2000:]

            # The collector: a refused call is counted by code, rollup lag shows.
            def col_samples():
                return parse(scrape(col.http_port)[2])
            before = value(col_samples(), "picket_collector_rpc_errors_total", code="UNAUTHENTICATED")
            assert before is not None
            r = picketctl(col.port, "status", token="pkt_" + "0" * 64, cert_cn=None)
            assert r.returncode != 0, r.stdout
            print("picketctl with a bad token:", r.stderr.strip())
            wait_for("UNAUTHENTICATED counted", lambda: value(col_samples(), "picket_collector_rpc_errors_total",
                                                             code="UNAUTHENTICATED") >= before + 1, 10)

            def lag():
                s = col_samples()
                return value(s, "picket_collector_rollup_lag_seconds") is not None and s
            s = wait_for("rollup lag on the collector", lag, 20)
            lag_s = value(s, "picket_collector_rollup_lag_seconds")
            assert 120 <= lag_s < 200, lag_s
            assert value(s, "picket_collector_rollup_compactions_total") >= 1
            # the rounds' time is counted, and the longest is one of them
            total_s = value(s, "picket_collector_rollup_compaction_seconds_total")
            max_s = value(s, "picket_collector_rollup_compaction_max_seconds")
            assert 0 < max_s <= total_s < 60, (max_s, total_s)
            stored = int(pg.psql("SELECT count(*) FROM results")[0][0])
            assert stored >= 2 and value(s, "picket_collector_results_stored_total") == stored, stored
            assert value(s, "picket_probe_pending_results", probe="m-probe") is not None
            promtool(scrape(col.http_port)[2], "collector")

            # Two probes on one metrics address: the second fails loudly and names the flag.
            holder = socket.socket()
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            busy = holder.getsockname()[1]
            other = start_probe("m-probe-2", "eu-west", [col.port], checks, logdir=tmp,
                                extra=["--metrics-listen", "127.0.0.1:%d" % busy])
            procs.append(other)
            wait_for("second probe to exit", lambda: not other.alive(), 15)
            holder.close()
            assert other.proc.returncode != 0
            assert "--metrics-listen" in other.output() and "127.0.0.1:%d" % busy in other.output(), other.output()
            print("ok: probe and collector /metrics pass promtool; probe_success 1 -> 0, status 200 -> 500, "
                  "cert expiry %d, rollup lag %.0fs" % (expiry, lag_s))
        finally:
            for p in procs:
                p.kill()
            target.close()
            tls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
