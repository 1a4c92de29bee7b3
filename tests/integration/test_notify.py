#!/usr/bin/python3
"""Notifications over HTTPS and SMTP (docs/ALERTS.md "Receivers") against a real
collector: a private CA made with openssl, one HTTPS server on 127.0.0.1 playing
every service (webhook, Slack, Alertmanager, PagerDuty Events v2, Opsgenie,
Microsoft Teams, Discord, Telegram), a CONNECT proxy, and an SMTP server that
insists on STARTTLS and AUTH before it takes a mail.

Checked: an incident reaches every receiver once, with the fields each service's
API documents, and its resolve too; the webhook body's X-Picket-Signature is the
HMAC-SHA256 of the body under the receiver's secret; a receiver failing twice gets
the event on the third attempt, once; a receiver without the private CA refuses
the server's certificate and never delivers; the mail arrives over STARTTLS with
its headers and the check page's link. Measured: the delay from the commit of
the round that opens an incident to the HTTPS webhook's receipt, over 40
incidents; p99 must be under 2 s (docs/PERFORMANCE.md)."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

from picket_env import PrivatePostgres, migrate, start_collector, wait_for
from test_alerts import Probe, pb

N_DELAY = 20  # checks opening incidents together, twice: 40 delay samples
SECRET = "hook-secret-0123"


def make_pki(tmp):
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=tmp, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=picket notify test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "srv.key",
        "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(tmp, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "san.ext")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key"))
    return os.path.join(tmp, "ca.pem"), ctx


class Services:
    """One HTTPS server recording (time, path, headers, raw body) of every POST."""

    def __init__(self, ctx):
        self.arrivals = []
        self.lock = threading.Lock()
        self.fail_left = {"/flaky": 2}
        svc = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do (nginx tcp_nodelay): no 40 ms delayed-ACK stall

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = urllib.parse.unquote(self.path)
                status = 200
                with svc.lock:
                    if svc.fail_left.get(path, 0) > 0:
                        svc.fail_left[path] -= 1
                        status = 500
                    else:
                        svc.arrivals.append((time.time(), path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, prefix):
        with self.lock:
            return [(t, p, h, b) for t, p, h, b in self.arrivals if p.startswith(prefix)]

    def json_at(self, prefix):
        return [json.loads(b) for _, _, _, b in self.at(prefix)]


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 counting the tunnels it opened."""

    def __init__(self):
        self.tunnels = []
        proxy = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n")[0].decode()
                method, target, _ = line.split(" ")
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                host, port = target.rsplit(":", 1)
                proxy.tunnels.append(target)
                up = socket.create_connection((host, int(port)), timeout=5)
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pipe(self.request, up)

        class S(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = S(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pipe(a, b):
    def copy(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=copy, args=(b, a), daemon=True)
    t.start()
    copy(a, b)
    t.join(10)


class Smtp:
    """A minimal SMTP server (RFC 5321 + STARTTLS + AUTH PLAIN/LOGIN): refuses AUTH
    and MAIL before STARTTLS, requires AUTH, records every accepted mail."""

    def __init__(self, ctx, user, password):
        self.mails = []
        smtp = self

        class H(socketserver.StreamRequestHandler):
            def handle(self):
                conn, rf = self.request, self.rfile
                tls = authed = False
                mail = None

                def say(text):
                    conn.sendall((text + "\r\n").encode())

                say("220 127.0.0.1 picket test SMTP")
                for _ in range(200):
                    line = rf.readline(4096)
                    if not line:
                        return
                    cmd = line.decode().rstrip("\r\n")
                    verb = cmd.split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        say("250-127.0.0.1\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS" if tls is False
                            else "250-127.0.0.1\r\n250 AUTH PLAIN LOGIN")
                    elif verb == "STARTTLS" and not tls:
                        say("220 go ahead")
                        conn = ctx.wrap_socket(conn, server_side=True)
                        rf = conn.makefile("rb")
                        tls = True
                    elif verb == "AUTH":
                        if not tls:
                            say("530 5.7.0 must issue a STARTTLS command first")
                            continue
                        parts = cmd.split(" ")
                        if parts[1].upper() == "PLAIN":
                            blob = parts[2] if len(parts) > 2 else None
                            if blob is None:
                                say("334 ")
                                blob = rf.readline().decode().strip()
                            _, u, p = base64.b64decode(blob).decode().split("\0")
                        else:
                            if len(parts) > 2:
                                u = base64.b64decode(parts[2]).decode()
                            else:
                                say("334 VXNlcm5hbWU6")
                                u = base64.b64decode(rf.readline().strip()).decode()
                            say("334 UGFzc3dvcmQ6")
                            p = base64.b64decode(rf.readline().strip()).decode()
                        authed = (u, p) == (user, password)
                        say("235 2.7.0 ok" if authed else "535 5.7.8 bad credentials")
                    elif verb == "MAIL":
                        if not tls or not authed:
                            say("530 5.7.0 authentication required")
                            continue
                        mail = {"from": cmd[10:], "rcpt": [], "tls": tls}
                        say("250 ok")
                    elif verb == "RCPT" and mail is not None:
                        mail["rcpt"].append(cmd[8:])
                        say("250 ok")
                    elif verb == "DATA" and mail is not None:
                        say("354 end with .")
                        data = []
                        while True:
                            ln = rf.readline()
                            if ln in (b".\r\n", b""):
                                break
                            data.append(ln[1:] if ln.startswith(b"..") else ln)
                        mail["data"] = b"".join(data).decode()
                        smtp.mails.append(mail)
                        mail = None
                        say("250 queued")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    elif verb in ("RSET", "NOOP"):
                        say("250 ok")
                    else:
                        say("502 not implemented")

        class S(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = S(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def alerts_file(path, ca, port, proxy_port, smtp_port, pw_file):
    base = "https://127.0.0.1:%d" % port
    text = """evaluation_interval: 250ms
public_url: https://picket.example.org/
receivers:
  - name: hook
    type: webhook
    url: %(b)s/hook
    ca_file: %(ca)s
    secret_env: PICKET_TEST_HOOK_SECRET
  - name: slack
    type: slack
    url: %(b)s/slack
    ca_file: %(ca)s
  - name: am
    type: alertmanager
    url: %(b)s/am
    ca_file: %(ca)s
  - name: pd
    type: pagerduty
    url: %(b)s/pd/v2/enqueue
    ca_file: %(ca)s
    secret: pd-routing-key
  - name: og
    type: opsgenie
    url: %(b)s/og
    ca_file: %(ca)s
    secret: og-api-key
  - name: teams
    type: teams
    url: %(b)s/teams
    ca_file: %(ca)s
    proxy: http://127.0.0.1:%(proxy)d
  - name: discord
    type: discord
    url: %(b)s/discord
    ca_file: %(ca)s
  - name: tg
    type: telegram
    url: %(b)s/tg
    ca_file: %(ca)s
    secret: 123:tg-token
    chat_id: "-1001"
  - name: flaky
    type: webhook
    url: %(b)s/flaky
    ca_file: %(ca)s
    retry_initial: 200ms
    retry_max: 400ms
  - name: untrusted
    type: webhook
    url: %(b)s/untrusted
    retry_initial: 200ms
    retry_max: 400ms
  - name: mail
    type: email
    url: smtp://127.0.0.1:%(smtp)d
    ca_file: %(ca)s
    from: picket@example.org
    to: ops@example.org, oncall@example.org
    username: picket
    secret_file: %(pw)s
  - name: fast
    type: webhook
    url: %(b)s/fast
    ca_file: %(ca)s
rules:
  - name: down
    type: incident
    checks: "n-*"
    receivers: [hook, slack, am, pd, og, teams, discord, tg, flaky, untrusted, mail]
    open_after: 3
    close_after: 2
    repeat_interval: 0s
  - name: delay
    type: incident
    checks: "d-*"
    receivers: [fast]
    open_after: 3
    close_after: 2
    repeat_interval: 0s
""" % {"b": base, "ca": ca, "proxy": proxy_port, "smtp": smtp_port, "pw": pw_file}
    with open(path, "w") as f:
        f.write(text)


def check_firing(svc, proxy):
    # webhook: the envelope, signed
    (_, _, h, raw), = svc.at("/hook")
    want = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert h.get("X-Picket-Signature") == want, (h, want)
    body = json.loads(raw)
    assert body["status"] == "firing" and body["alerts"][0]["labels"]["check"] == "n-1", body
    hook_alert = body["alerts"][0]  # the message line and the check's page, as the chat receivers get them
    assert hook_alert["text"].startswith("[FIRING] check n-1 (rule down)"), hook_alert
    assert hook_alert["text"].endswith(" https://picket.example.org/check/n-1"), hook_alert
    assert hook_alert["link"] == "https://picket.example.org/check/n-1", hook_alert
    assert h.get("Idempotency-Key", "").startswith("down|n-1|firing|"), h
    # Slack incoming webhook: text
    slack = svc.json_at("/slack")[0]["text"]
    assert slack.startswith("[FIRING] check n-1 (rule down)") and slack.endswith("/check/n-1"), slack
    # Alertmanager v2: a list of alerts with labels and annotations
    am = svc.json_at("/am/api/v2/alerts")[0]
    assert am[0]["labels"]["alertname"] == "down" and "startsAt" in am[0] and "endsAt" not in am[0], am
    assert am[0]["generatorURL"] == "https://picket.example.org/check/n-1", am
    # PagerDuty Events v2
    pd = svc.json_at("/pd/v2/enqueue")[0]
    assert pd["routing_key"] == "pd-routing-key" and pd["event_action"] == "trigger", pd
    assert pd["dedup_key"] == "down|n-1", pd
    assert pd["payload"]["source"] == "n-1" and pd["payload"]["severity"] == "critical", pd
    assert "n-1" in pd["payload"]["summary"] and pd["links"][0]["href"] == "https://picket.example.org/check/n-1", pd
    # Opsgenie: create with the GenieKey
    (_, path, h, raw), = svc.at("/og/")
    og = json.loads(raw)
    assert path == "/og/v2/alerts" and h.get("Authorization") == "GenieKey og-api-key", (path, h)
    assert og["alias"] == "down|n-1" and og["message"] and len(og["message"]) <= 130 and og["priority"] == "P1", og
    # Teams MessageCard, through the proxy
    teams = svc.json_at("/teams")[0]
    assert teams["@type"] == "MessageCard" and teams["@context"] == "https://schema.org/extensions", teams
    assert "n-1" in teams["sections"][0]["text"] and teams["potentialAction"][0]["@type"] == "OpenUri", teams
    assert any(t == "127.0.0.1:%d" % svc.port for t in proxy.tunnels), proxy.tunnels
    # Discord: content and embeds
    dc = svc.json_at("/discord")[0]
    assert dc["content"] and dc["embeds"][0]["title"] == "[FIRING] down: n-1", dc
    assert dc["embeds"][0]["url"] == "https://picket.example.org/check/n-1", dc
    # Telegram sendMessage
    (_, path, _, raw), = svc.at("/tg/")
    tg = json.loads(raw)
    assert path == "/tg/bot123:tg-token/sendMessage" and tg["chat_id"] == "-1001", (path, tg)
    assert tg["text"].startswith("[FIRING] check n-1 (rule down)") and " since " in tg["text"], tg


def main():
    tmp = tempfile.mkdtemp(prefix="picket-notify-")
    ca, ctx = make_pki(tmp)
    svc, proxy = Services(ctx), ConnectProxy()
    smtp = Smtp(ctx, "picket", "mail-pw")
    pw_file = os.path.join(tmp, "smtp-password")
    with open(pw_file, "w") as f:
        f.write("mail-pw\n")
    rules = os.path.join(tmp, "alerts.yml")
    alerts_file(rules, ca, svc.port, proxy.port, smtp.port, pw_file)
    os.environ["PICKET_TEST_HOOK_SECRET"] = SECRET
    for k in ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(k, None)
    checks = ["n-1"] + ["d-%02d" % i for i in range(N_DELAY)]
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=["--alerts", rules], logdir=tmp)
        probe = None
        try:
            probe = Probe(col.port, "main", checks)
            # 1. one incident: every receiver once, in its own shape
            probe.send(["n-1"], pb.OUTCOME_FAILED, 3)
            for path in ("/hook", "/slack", "/am/", "/pd/", "/og/", "/teams", "/discord", "/tg/", "/flaky"):
                wait_for("firing at " + path, lambda: len(svc.at(path)) == 1, 15)
            wait_for("the mail", lambda: len(smtp.mails) == 1, 15)
            check_firing(svc, proxy)
            m = smtp.mails[0]
            assert m["tls"] and m["from"] == "<picket@example.org>", m
            assert m["rcpt"] == ["<ops@example.org>", "<oncall@example.org>"], m
            assert "Subject: [Picket] FIRING: down n-1" in m["data"], m["data"]
            assert "https://picket.example.org/check/n-1" in m["data"], m["data"]
            wait_for("untrusted receiver failing on the certificate",
                     lambda: any("receiver=untrusted" in ln and "not delivered" in ln and "certificate" in ln
                                 for ln in col.output().splitlines()), 10)

            # 2. recovery: one resolve each
            probe.send(["n-1"], pb.OUTCOME_OK, 2)
            for path in ("/hook", "/slack", "/am/", "/pd/", "/og/", "/teams", "/discord", "/tg/", "/flaky"):
                wait_for("resolved at " + path, lambda: len(svc.at(path)) == 2, 15)
            wait_for("the resolve mail", lambda: len(smtp.mails) == 2, 15)
            pd = svc.json_at("/pd/")[1]
            assert pd["event_action"] == "resolve" and pd["dedup_key"] == "down|n-1", pd
            (_, path, h, raw) = svc.at("/og/")[1]
            assert path == "/og/v2/alerts/down|n-1/close?identifierType=alias", path
            assert h.get("Authorization") == "GenieKey og-api-key" and json.loads(raw)["source"] == "picket"
            assert json.loads(svc.at("/hook")[1][3])["status"] == "resolved"
            assert "Subject: [Picket] RESOLVED: down n-1" in smtp.mails[1]["data"]
            time.sleep(1.0)  # anything sent twice would show up now
            for path in ("/hook", "/slack", "/am/", "/pd/", "/og/", "/teams", "/discord", "/tg/", "/flaky"):
                assert len(svc.at(path)) == 2, (path, svc.at(path))
            assert len(smtp.mails) == 2 and not svc.at("/untrusted")
            # the flaky receiver answered 500 twice to the firing: it got it on the third
            # attempt, once, and the resolve once
            keys = [h.get("Idempotency-Key") for _, _, h, _ in svc.at("/flaky")]
            assert len(set(keys)) == 2 and svc.fail_left["/flaky"] == 0, keys

            # 3. delay from the commit of the opening round to HTTPS receipt
            delays = []
            for rnd in range(2):
                d = ["d-%02d" % i for i in range(N_DELAY)]
                seen = len(svc.at("/fast"))
                t0 = probe.send(d, pb.OUTCOME_FAILED, 3)
                wait_for("delay round %d" % rnd, lambda: len(svc.at("/fast")) >= seen + N_DELAY, 15)
                for t, _, _, raw in svc.at("/fast")[seen:]:
                    delays.append(t - t0)
                probe.send(d, pb.OUTCOME_OK, 2)
                wait_for("delay round %d resolved" % rnd, lambda: len(svc.at("/fast")) >= seen + 2 * N_DELAY, 15)
            delays.sort()
            p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
            print("notification delay over HTTPS, %d incidents: p50 %.3f s, p99 %.3f s, max %.3f s" %
                  (len(delays), delays[len(delays) // 2], p99, delays[-1]))
            assert len(delays) == 2 * N_DELAY and p99 < 2.0, delays
        finally:
            if probe:
                probe.close()
            col.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    print("test_notify: ok")


if __name__ == "__main__":
    main()
