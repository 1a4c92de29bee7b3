#!/usr/bin/python3
"""A local webhook receiver for Picket's alerts (docs/ALERTS.md), for the demo.

    alert_receiver.py [--port 8009] [--host 127.0.0.1]

Accepts POST /alerts (any path) with the collector's JSON webhook body and logs
one line per alert on stdout: time, status (firing/resolved), alertname, check
or SLO, severity and the summary; answers 204. GET / answers with the count of
alerts received. Python 3 standard library only; SIGTERM/SIGINT stop it.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
received = 0
lock = threading.Lock()


def log(line):
    sys.stdout.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line + "\n")
    sys.stdout.flush()


def describe(alert):
    labels = alert.get("labels") or {}
    subject = labels.get("check") or (("slo:" + labels["slo"]) if labels.get("slo") else "") \
        or labels.get("probe") or "-"
    return "%s %s %s severity=%s %s" % (
        (alert.get("status") or "?").upper(), labels.get("alertname", "?"), subject,
        labels.get("severity", "-"), alert.get("summary") or (alert.get("annotations") or {}).get("summary", ""))


class Handler(BaseHTTPRequestHandler):
    server_version = "picket-demo-alert-receiver"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with lock:
            body = json.dumps({"alerts_received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global received
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.send_error(413)
            return
        raw = self.rfile.read(n)
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log("BAD body is not JSON (%d bytes)" % len(raw))
            self.send_error(400)
            return
        alerts = doc.get("alerts") if isinstance(doc, dict) and isinstance(doc.get("alerts"), list) else [doc]
        for a in alerts:
            if isinstance(a, dict):
                log(describe(a))
        with lock:
            received += len(alerts)
        self.send_response(204)
        self.end_headers()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Log Picket's alert webhooks (demo receiver).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8009)
    args = ap.parse_args(argv)
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    log("listening on http://%s:%d/alerts" % (args.host, srv.server_address[1]))
    while not stop.wait(1.0):
        pass
    srv.shutdown()
    srv.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
