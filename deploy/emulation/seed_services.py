#!/usr/bin/python3
"""Local emulation of the seed plan's five services (docs: ../../README.md).

One process, Python 3 standard library only, serving on 127.0.0.1:

    service      default port  endpoints
    rag          8000          GET /health, POST /query
    sync         8001          GET /health, POST /webhooks/shopify (HMAC-SHA256, base64),
                               GET /webhooks/events/ID (what an accepted webhook did)
    assistants   8002          GET /health, POST /drafts, GET /drafts, GET /drafts/ID
    connectors   8003          GET /health, GET /connectors, GET /connectors/NAME
    approval     8004          GET /health, GET /, POST /generate, GET /drafts/ID,
                               POST /drafts/ID/approve, POST /drafts/ID/edit,
                               GET /learning, GET /metrics

Fault injection, on every service:

    POST /_fault {"mode": "down"|"slow"|"missing_field"|"lost_write"|"no_auth"|"ok",
                  "delay_ms": N}
    GET  /_fault                       current mode
    --fault SERVICE=MODE[:DELAY_MS]    the same at start (repeatable)

  down           503 to everything except /_fault
  slow           every answer waits delay_ms more (default 2000)
  missing_field  JSON answers lose their "answer" and "sources" keys
  lost_write     sync: a webhook is answered 200 but has no effect (nothing recorded)
  no_auth        sync: webhooks are accepted whatever their signature (the plan's
                 "HMAC validation: silent fail if secret missing")
  ok             back to normal

Rate limiting (the plan's "Rate limiting behavior (when implemented)"; the plan
runs after the critical fixes, rate limiting among them, so it is on by default):

    --rate-limit SERVICE=N     at most N requests per client in any one second on SERVICE
                               (default rag=20; N=0 turns it off), answered 429
                               with Retry-After: 1 beyond that; /health is exempt
    POST /_ratelimit {"per_second": N}   the same at run time; GET /_ratelimit

  A client is its X-Client-Id header when it sends one, else its address, so a
  monitoring burst sent under its own id does not starve the other checks.

Every request is logged as one key=value line on stderr. SIGTERM/SIGINT stop cleanly.
A port of 0 picks a free port; --ports-file writes the bound ports as JSON.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import html
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20  # 1 MiB: larger bodies get 413 and the connection is closed
FAULT_MODES = ("ok", "down", "slow", "missing_field", "lost_write", "no_auth")
DEFAULT_SLOW_MS = 2000

# short key -> (display name, default port, base latency range in ms)
SERVICES = {
    "rag": ("rag-api", 8000, (20, 60)),
    "sync": ("sync-api", 8001, (2, 8)),
    "assistants": ("assistants-api", 8002, (5, 15)),
    "connectors": ("connectors-api", 8003, (3, 10)),
    "approval": ("approval-app", 8004, (5, 20)),
}
ALIASES = {name: key for key, (name, _, _) in SERVICES.items()}
ALIASES.update({"approval-app": "approval", "rag-api": "rag"})

_log_lock = threading.Lock()


def _q(value):
    s = str(value)
    if s == "" or any(c in s for c in ' "=\\') or not s.isprintable():
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
            .replace("\r", "\\r").replace("\t", "\\t") + '"'
    return s


def log(msg, **kv):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
    parts = ["ts=" + ts, "comp=emulation", "msg=" + _q(msg)]
    parts += ["%s=%s" % (k, _q(v)) for k, v in kv.items()]
    with _log_lock:
        sys.stderr.write(" ".join(parts) + "\n")
        sys.stderr.flush()


# ---------------------------------------------------------------- shared state


class Fault:
    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "ok"
        self.delay_ms = 0

    def set(self, mode, delay_ms=None):
        if mode not in FAULT_MODES:
            raise ValueError("mode must be one of " + ", ".join(FAULT_MODES))
        if delay_ms is None:
            delay_ms = DEFAULT_SLOW_MS if mode == "slow" else 0
        if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) \
                or delay_ms < 0 or delay_ms > 600000:
            raise ValueError("delay_ms must be an integer in 0..600000")
        with self.lock:
            self.mode = mode
            self.delay_ms = delay_ms if mode == "slow" else 0

    def get(self):
        with self.lock:
            return self.mode, self.delay_ms


class RateLimit:
    """At most per_second requests per client in any sliding one-second window;
    0 = no limit. Sliding, so a burst that straddles a second boundary is still
    seen as one burst."""

    def __init__(self, per_second=0):
        self.lock = threading.Lock()
        self.per_second = per_second
        self.seen = {}  # client -> deque of monotonic times of allowed requests

    def set(self, per_second):
        if not isinstance(per_second, int) or isinstance(per_second, bool) \
                or per_second < 0 or per_second > 100000:
            raise ValueError("per_second must be an integer in 0..100000")
        with self.lock:
            self.per_second = per_second
            self.seen.clear()

    def get(self):
        with self.lock:
            return self.per_second

    def allow(self, client):
        with self.lock:
            if not self.per_second:
                return True
            now = time.monotonic()
            q = self.seen.get(client)
            if q is None:
                if len(self.seen) > 10000:
                    self.seen.clear()
                q = self.seen[client] = collections.deque()
            while q and q[0] <= now - 1.0:
                q.popleft()
            if len(q) >= self.per_second:
                return False
            q.append(now)
            return True


class Store:
    """Drafts (owned by assistants, used by approval) and the learning loop."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 1
        self.drafts = {}
        self.learning = []
        self.next_event = 1
        self.events = {}  # sync's processed webhooks, oldest first

    def create_draft(self, conversation_id, channel, incoming_text, draft_text, origin):
        with self.lock:
            draft_id = "draft_%d" % self.next_id
            self.next_id += 1
            d = {
                "id": draft_id,
                "conversation_id": conversation_id,
                "channel": channel,
                "incoming_text": incoming_text,
                "draft_text": draft_text,
                "status": "pending",
                "created_by": origin,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self.drafts[draft_id] = d
            return dict(d)

    def get_draft(self, draft_id):
        with self.lock:
            d = self.drafts.get(draft_id)
            return dict(d) if d else None

    def list_drafts(self):
        with self.lock:
            return [dict(d) for d in self.drafts.values()]

    def decide(self, draft_id, action, approver, rating, final_text):
        with self.lock:
            d = self.drafts.get(draft_id)
            if d is None:
                return None
            dist = 0.0 if action == "approve" else edit_distance(d["draft_text"], final_text)
            d["status"] = "approved" if action == "approve" else "edited"
            d["final_text"] = final_text
            rec = {
                "draft_id": draft_id,
                "conversation_id": d["conversation_id"],
                "action": action,
                "edit_distance": dist,
                "approver_user_id": approver,
                "feedback_rating": rating,
                "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self.learning.append(rec)
            return dict(rec)

    def record_event(self, topic, payload):
        """An accepted webhook, as the sync service processed it (the last 1000 kept)."""
        with self.lock:
            event_id = "evt_%d" % self.next_event
            self.next_event += 1
            order = payload if isinstance(payload, dict) else {}
            self.events[event_id] = {
                "id": event_id,
                "topic": topic,
                "status": "processed",
                "order_id": order.get("id"),
                "email": order.get("email"),
                "total_price": order.get("total_price"),
                "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            while len(self.events) > 1000:
                del self.events[next(iter(self.events))]
            return event_id

    def get_event(self, event_id):
        with self.lock:
            e = self.events.get(event_id)
            return dict(e) if e else None

    def learning_records(self):
        with self.lock:
            return [dict(r) for r in self.learning]

    def metrics(self):
        with self.lock:
            total = len(self.drafts)
            approved = sum(1 for d in self.drafts.values() if d["status"] == "approved")
            edited = sum(1 for d in self.drafts.values() if d["status"] == "edited")
        return {
            "total_drafts": total,
            "approved": approved,
            "edited": edited,
            "pending": total - approved - edited,
            "approval_rate": (approved / total) if total else 0.0,
        }


def edit_distance(a, b):
    """Levenshtein distance normalised to 0..1 by the longer string."""
    a, b = a or "", b or ""
    if a == b:
        return 0.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return round(prev[-1] / max(len(a), len(b)), 4)


# ---------------------------------------------------------------- "RAG"

KNOWLEDGE = [
    (("return", "refund"),
     "You can return any unused product within 30 days of delivery for a full refund. "
     "Start the return from your order page; we email a prepaid label and refund to the "
     "original payment method within 5 business days of receiving the item.",
     [{"title": "Return & Refund Policy", "url": "kb://policies/returns", "score": 0.91},
      {"title": "How to start a return", "url": "kb://help/start-a-return", "score": 0.84}]),
    (("shipping", "delivery", "ship"),
     "Standard shipping takes 3-5 business days; express shipping takes 1-2 business days. "
     "Orders over $50 ship free.",
     [{"title": "Shipping Options", "url": "kb://policies/shipping", "score": 0.88}]),
    (("warranty", "broken", "defect"),
     "All products carry a 12-month warranty against manufacturing defects.",
     [{"title": "Warranty", "url": "kb://policies/warranty", "score": 0.86}]),
]
FALLBACK = ("I don't have information about that in our knowledge base. "
            "A support agent will follow up if you need more help.")


def rag_answer(question):
    q = question.lower()
    for words, answer, sources in KNOWLEDGE:
        if any(w in q for w in words):
            return answer, [dict(s) for s in sources]
    return FALLBACK, []


# ---------------------------------------------------------------- HTTP


class HTTPError(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "seed-emulation/1"

    def version_string(self):
        return self.server_version

    # set per server class
    service = "?"
    fault = None
    ratelimit = None
    store = None
    latency = (0, 0)
    latency_scale = 1.0

    def log_message(self, fmt, *args):  # replaced by our one-line log
        pass

    # -- plumbing
    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te and te.lower() != "identity":
            self.close_connection = True
            raise HTTPError(411, "chunked bodies are not supported; send Content-Length")
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise HTTPError(400, "bad Content-Length")
        if n < 0:
            self.close_connection = True
            raise HTTPError(400, "bad Content-Length")
        if n > MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, "body larger than %d bytes" % MAX_BODY)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body=b"", ctype="application/json", headers=None):
        self._status = status
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status, obj, headers=None):
        mode, _ = self.fault.get()
        if mode == "missing_field" and isinstance(obj, dict) and not self._is_control:
            obj = {k: v for k, v in obj.items() if k not in ("answer", "sources")}
        self._send(status, (json.dumps(obj) + "\n").encode(), "application/json", headers)

    def _html(self, status, text):
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def _redirect(self, location):
        self._send(303, b"", "text/plain", {"Location": location})

    def _json_body(self, raw):
        if not raw:
            raise HTTPError(422, "JSON body required")
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HTTPError(400, "body is not valid JSON")
        if not isinstance(obj, dict):
            raise HTTPError(422, "JSON body must be an object")
        return obj

    def _form(self, raw):
        try:
            pairs = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True,
                                          strict_parsing=False)
        except UnicodeDecodeError:
            raise HTTPError(400, "form is not UTF-8")
        return {k: v[-1] for k, v in pairs.items()}

    def _handle(self):
        t0 = time.monotonic()
        self._status = 0
        self._is_control = False
        path = urllib.parse.urlsplit(self.path).path
        mode = self.fault.get()[0]
        try:
            raw = self._read_body()
            if path == "/_fault":
                self._is_control = True
                self._fault_endpoint(raw)
                return
            if path == "/_ratelimit":
                self._is_control = True
                self._ratelimit_endpoint(raw)
                return
            # A rate limiter answers at the edge, before any work (or injected delay).
            client = self.headers.get("X-Client-Id") or self.client_address[0]
            if path != "/health" and self.ratelimit is not None and not self.ratelimit.allow(client):
                self._json(429, {"detail": "rate limit exceeded: %d requests per second"
                                 % self.ratelimit.get(), "service": self.service},
                           {"Retry-After": "1"})
                return
            mode, delay_ms = self.fault.get()
            lo, hi = self.latency
            wait = random.uniform(lo, hi) * self.latency_scale / 1000.0
            if mode == "slow":
                wait += delay_ms / 1000.0
            if wait > 0:
                time.sleep(wait)
            if mode == "down":
                raise HTTPError(503, "%s unavailable (fault injected)" % self.service)
            self.route(self.command, path, raw)
        except HTTPError as e:
            self._json(e.status, {"detail": e.detail, "service": self.service})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug here must not kill the server
            log("handler error", service=self.service, error=repr(e))
            self.close_connection = True
            try:
                self._json(500, {"detail": "internal error", "service": self.service})
            except OSError:
                pass
        finally:
            log("request", service=self.service, method=self.command, path=path,
                status=self._status, dur_ms="%.1f" % ((time.monotonic() - t0) * 1000),
                fault=mode, client=self.client_address[0])

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def _fault_endpoint(self, raw):
        if self.command == "GET":
            mode, delay = self.fault.get()
            self._json(200, {"service": self.service, "mode": mode, "delay_ms": delay})
            return
        if self.command != "POST":
            raise HTTPError(405, "use GET or POST")
        obj = self._json_body(raw)
        try:
            self.fault.set(obj.get("mode"), obj.get("delay_ms"))
        except ValueError as e:
            raise HTTPError(400, str(e))
        mode, delay = self.fault.get()
        log("fault set", service=self.service, mode=mode, delay_ms=delay)
        self._json(200, {"service": self.service, "mode": mode, "delay_ms": delay})

    def _ratelimit_endpoint(self, raw):
        if self.command == "POST":
            obj = self._json_body(raw)
            try:
                self.ratelimit.set(obj.get("per_second"))
            except ValueError as e:
                raise HTTPError(400, str(e))
            log("rate limit set", service=self.service, per_second=self.ratelimit.get())
        elif self.command != "GET":
            raise HTTPError(405, "use GET or POST")
        self._json(200, {"service": self.service, "per_second": self.ratelimit.get()})

    # -- routing shared by every service
    def route(self, method, path, raw):
        if path == "/health":
            self._only(method, "GET", "HEAD")
            self._json(200, {"status": "ok", "service": self.service})
            return
        self.route_service(method, path, raw)

    def route_service(self, method, path, raw):
        raise HTTPError(404, "Not Found")

    @staticmethod
    def _only(method, *allowed):
        if method not in allowed:
            raise HTTPError(405, "Method Not Allowed")


class RagHandler(Handler):
    def route_service(self, method, path, raw):
        if path != "/query":
            raise HTTPError(404, "Not Found")
        self._only(method, "POST")
        req = self._json_body(raw)
        question = req.get("question")
        if not isinstance(question, str) or not question.strip():
            raise HTTPError(422, "field 'question' (non-empty string) is required")
        conv = req.get("conversation_id")
        answer, sources = rag_answer(question)
        self._json(200, {"answer": answer, "sources": sources, "conversation_id": conv,
                         "model": "emulated"})


class SyncHandler(Handler):
    def route_service(self, method, path, raw):
        if path.startswith("/webhooks/events/") and path.count("/") == 3:
            self._only(method, "GET")
            e = self.store.get_event(path.split("/")[3])
            if e is None:
                raise HTTPError(404, "event not found")
            self._json(200, e)
            return
        if path != "/webhooks/shopify":
            raise HTTPError(404, "Not Found")
        self._only(method, "POST")
        secret = os.environ.get("SHOPIFY_WEBHOOK_SECRET", "demo-secret").encode()
        expected = base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest()).decode()
        got = self.headers.get("X-Shopify-Hmac-Sha256", "")
        mode = self.fault.get()[0]
        if mode != "no_auth" and (not got or not hmac.compare_digest(expected.encode(), got.strip().encode())):
            raise HTTPError(401, "invalid or missing X-Shopify-Hmac-Sha256")
        topic = self.headers.get("X-Shopify-Topic", "")
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            raise HTTPError(400, "body is not JSON")
        if mode == "lost_write":
            event_id = "evt_lost_%d" % len(raw)  # answered as if stored; nothing was
        else:
            event_id = self.store.record_event(topic, payload)
        self._json(200, {"status": "accepted", "topic": topic, "bytes": len(raw),
                         "event_id": event_id},
                   {"Location": "/webhooks/events/" + event_id})


class AssistantsHandler(Handler):
    def route_service(self, method, path, raw):
        if path == "/drafts":
            self._only(method, "GET", "POST")
            if method == "GET":
                self._json(200, {"drafts": self.store.list_drafts()})
                return
            req = self._json_body(raw)
            text = req.get("incoming_text")
            if not isinstance(text, str) or not text.strip():
                raise HTTPError(422, "field 'incoming_text' (non-empty string) is required")
            draft_text = req.get("draft_text")
            if not isinstance(draft_text, str) or not draft_text:
                draft_text, _ = rag_answer(text)
            d = self.store.create_draft(str(req.get("conversation_id") or ""),
                                        str(req.get("channel") or "email"), text,
                                        draft_text, "assistants")
            self._json(201, d, {"Location": "/drafts/" + d["id"]})
            return
        if path.startswith("/drafts/") and path.count("/") == 2:
            self._only(method, "GET")
            d = self.store.get_draft(path.split("/")[2])
            if d is None:
                raise HTTPError(404, "draft not found")
            self._json(200, d)
            return
        raise HTTPError(404, "Not Found")


class ConnectorsHandler(Handler):
    CONNECTORS = [
        {"name": "shopify", "status": "connected", "last_sync": "2025-09-29T08:00:00Z"},
        {"name": "zoho", "status": "connected", "last_sync": "2025-09-29T07:55:00Z"},
        {"name": "ga4", "status": "connected", "last_sync": "2025-09-29T07:30:00Z"},
    ]

    def route_service(self, method, path, raw):
        if path == "/connectors":
            self._only(method, "GET", "HEAD")
            self._json(200, {"connectors": [dict(c) for c in self.CONNECTORS]})
            return
        if path.startswith("/connectors/") and path.count("/") == 2:
            self._only(method, "GET", "HEAD")
            name = path.split("/")[2]
            for c in self.CONNECTORS:
                if c["name"] == name:
                    self._json(200, dict(c))
                    return
            raise HTTPError(404, "connector not found")
        raise HTTPError(404, "Not Found")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
{body}
</body></html>
"""


class ApprovalHandler(Handler):
    assistants_fault = None  # the approval app calls assistants; honour its faults

    def _create_draft(self, conv, channel, text):
        draft_text, _ = rag_answer(text)
        # approval-app -> assistants:8002; when assistants is down, keep working on
        # local storage (the seed's expected fallback).
        mode, _ = self.assistants_fault.get() if self.assistants_fault else ("ok", 0)
        origin = "approval-local" if mode == "down" else "assistants"
        return self.store.create_draft(conv, channel, text, draft_text, origin)

    def route_service(self, method, path, raw):
        esc = html.escape
        if path == "/":
            self._only(method, "GET", "HEAD")
            rows = "".join('<li><a href="/drafts/%s">%s</a> %s</li>'
                           % (esc(d["id"]), esc(d["id"]), esc(d["status"]))
                           for d in self.store.list_drafts())
            body = ('<form method="post" action="/generate">'
                    '<input name="conversation_id" placeholder="conversation id">'
                    '<select name="channel"><option>email</option><option>chat</option></select>'
                    '<textarea name="incoming_text"></textarea>'
                    '<button type="submit">Generate Draft</button></form>'
                    "<h2>Drafts</h2><ul>%s</ul>" % rows)
            self._html(200, PAGE.format(title="Approval Queue", body=body))
            return
        if path == "/generate":
            self._only(method, "POST")
            form = self._form(raw)
            text = form.get("incoming_text", "")
            if not text.strip():
                raise HTTPError(400, "incoming_text is required")
            d = self._create_draft(form.get("conversation_id", ""),
                                   form.get("channel", "email") or "email", text)
            self._redirect("/drafts/" + d["id"])
            return
        if path == "/learning":
            self._only(method, "GET", "HEAD")
            self._json(200, {"learning_records": self.store.learning_records()})
            return
        if path == "/metrics":
            self._only(method, "GET", "HEAD")
            self._json(200, self.store.metrics())
            return
        parts = path.split("/")
        if len(parts) >= 3 and parts[1] == "drafts" and parts[2]:
            draft_id = parts[2]
            if len(parts) == 3:
                self._only(method, "GET", "HEAD")
                d = self.store.get_draft(draft_id)
                if d is None:
                    raise HTTPError(404, "draft not found")
                body = ("<p>Draft <code>{id}</code> ({status}), conversation "
                        "<code>{conv}</code> via {ch}</p>"
                        "<h2>Customer Message</h2><blockquote>{inc}</blockquote>"
                        "<h2>AI Suggested Reply</h2>"
                        '<form method="post" action="/drafts/{id}/approve">'
                        '<input type="hidden" name="approver_user_id" value="">'
                        '<input type="number" name="feedback_rating" min="1" max="5" value="5">'
                        "<p>{draft}</p><button>Approve &amp; Send</button></form>"
                        '<form method="post" action="/drafts/{id}/edit">'
                        '<textarea name="edited_text">{draft}</textarea>'
                        "<button>Edit &amp; Send</button></form>").format(
                    id=esc(d["id"]), status=esc(d["status"]), conv=esc(d["conversation_id"]),
                    ch=esc(d["channel"]), inc=esc(d["incoming_text"]), draft=esc(d["draft_text"]))
                self._html(200, PAGE.format(title="Draft " + esc(d["id"]), body=body))
                return
            if len(parts) == 4 and parts[3] in ("approve", "edit"):
                self._only(method, "POST")
                form = self._form(raw)
                rating = form.get("feedback_rating", "")
                try:
                    rating_v = int(rating) if rating != "" else None
                except ValueError:
                    raise HTTPError(400, "feedback_rating must be an integer")
                if rating_v is not None and not 1 <= rating_v <= 5:
                    raise HTTPError(400, "feedback_rating must be 1..5")
                d = self.store.get_draft(draft_id)
                if d is None:
                    raise HTTPError(404, "draft not found")
                if parts[3] == "approve":
                    final = d["draft_text"]
                else:
                    final = form.get("edited_text", "")
                    if not final.strip():
                        raise HTTPError(400, "edited_text is required")
                self.store.decide(draft_id, parts[3], form.get("approver_user_id", ""),
                                  rating_v, final)
                self._redirect("/drafts/" + draft_id)
                return
        raise HTTPError(404, "Not Found")


HANDLERS = {
    "rag": RagHandler,
    "sync": SyncHandler,
    "assistants": AssistantsHandler,
    "connectors": ConnectorsHandler,
    "approval": ApprovalHandler,
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_fault(spec):
    """SERVICE=MODE[:DELAY_MS] -> (key, mode, delay_ms or None)."""
    if "=" not in spec:
        raise argparse.ArgumentTypeError("expected SERVICE=MODE[:DELAY_MS], got %r" % spec)
    svc, mode = spec.split("=", 1)
    key = ALIASES.get(svc, svc)
    if key not in SERVICES:
        raise argparse.ArgumentTypeError("unknown service %r (one of %s)"
                                         % (svc, ", ".join(SERVICES)))
    delay = None
    if ":" in mode:
        mode, d = mode.split(":", 1)
        try:
            delay = int(d)
        except ValueError:
            raise argparse.ArgumentTypeError("bad delay in %r" % spec)
    if mode not in FAULT_MODES:
        raise argparse.ArgumentTypeError("unknown mode %r (one of %s)"
                                         % (mode, ", ".join(FAULT_MODES)))
    return key, mode, delay


def parse_rate_limit(spec):
    """SERVICE=N -> (key, N)."""
    svc, sep, n = spec.partition("=")
    key = ALIASES.get(svc, svc)
    if not sep or key not in SERVICES:
        raise argparse.ArgumentTypeError("expected SERVICE=N with SERVICE one of %s, got %r"
                                         % (", ".join(SERVICES), spec))
    try:
        per_second = int(n)
    except ValueError:
        raise argparse.ArgumentTypeError("bad N in %r" % spec)
    if per_second < 0:
        raise argparse.ArgumentTypeError("N must be >= 0 in %r" % spec)
    return key, per_second


DEFAULT_RATE_LIMITS = {"rag": 20}


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Emulate the seed plan's five services on 127.0.0.1.",
        epilog="Fault control: POST /_fault {\"mode\": \"down|slow|missing_field|lost_write|no_auth|ok\", "
               "\"delay_ms\": N} on any service.")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for key, (name, port, _) in SERVICES.items():
        ap.add_argument("--%s-port" % key, type=int, default=port, metavar="PORT",
                        help="%s port (default %d; 0 = any free port)" % (name, port))
    ap.add_argument("--fault", action="append", default=[], type=parse_fault,
                    metavar="SERVICE=MODE[:DELAY_MS]",
                    help="start SERVICE (rag, sync, assistants, connectors, approval) in MODE")
    ap.add_argument("--rate-limit", action="append", default=[], type=parse_rate_limit,
                    metavar="SERVICE=N",
                    help="at most N requests per second per client on SERVICE, 429 beyond "
                         "(default rag=20; 0 = off; repeatable)")
    ap.add_argument("--latency-scale", type=float, default=1.0, metavar="X",
                    help="multiply the built-in latencies (rag 20-60 ms ...) by X; 0 = none")
    ap.add_argument("--ports-file", metavar="PATH",
                    help="write {service: port} as JSON here once every port is bound")
    ap.add_argument("--seed", type=int, help="random seed for latencies")
    args = ap.parse_args(argv)
    if args.latency_scale < 0:
        ap.error("--latency-scale must be >= 0")
    if args.seed is not None:
        random.seed(args.seed)

    store = Store()
    faults = {key: Fault() for key in SERVICES}
    for key, mode, delay in args.fault:
        try:
            faults[key].set(mode, delay)
        except ValueError as e:
            ap.error("--fault %s: %s" % (key, e))

    limits = dict(DEFAULT_RATE_LIMITS)
    limits.update(dict(args.rate_limit))
    ratelimits = {key: RateLimit(limits.get(key, 0)) for key in SERVICES}

    servers = {}
    for key, (name, _, latency) in SERVICES.items():
        port = getattr(args, "%s_port" % key)
        attrs = {"service": name, "fault": faults[key], "ratelimit": ratelimits[key], "store": store,
                 "latency": latency, "latency_scale": args.latency_scale}
        if key == "approval":
            attrs["assistants_fault"] = faults["assistants"]
        handler = type(HANDLERS[key].__name__, (HANDLERS[key],), attrs)
        try:
            servers[key] = Server((args.host, port), handler)
        except OSError as e:
            log("cannot bind", service=name, host=args.host, port=port, error=e.strerror or str(e))
            sys.stderr.write("seed_services: cannot listen on %s:%d for %s: %s\n"
                             % (args.host, port, name, e.strerror or e))
            for s in servers.values():
                s.server_close()
            return 2

    ports = {key: s.server_address[1] for key, s in servers.items()}
    if args.ports_file:
        tmp = args.ports_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ports, f)
        os.replace(tmp, args.ports_file)

    stop = threading.Event()

    def on_signal(signum, frame):
        log("signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = []
    for key, s in servers.items():
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                             name="serve-" + key, daemon=True)
        t.start()
        threads.append(t)
        mode, delay = faults[key].get()
        log("listening", service=SERVICES[key][0], addr="%s:%d" % (args.host, ports[key]),
            fault=mode, delay_ms=delay, rate_limit=ratelimits[key].get())
    log("ready", pid=os.getpid())

    while not stop.wait(1.0):
        pass
    for s in servers.values():
        s.shutdown()
    for s in servers.values():
        s.server_close()
    for t in threads:
        t.join(timeout=5)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
