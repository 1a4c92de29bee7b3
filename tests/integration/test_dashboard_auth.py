#!/usr/bin/python3
"""The dashboard's optional login (picket-collector --dashboard-auth FILE):
a bearer token (by its SHA-256) and users with crypt(3) hashes (sha512-crypt
from `openssl passwd -6`, yescrypt from libcrypt). Without a good Authorization
header every page, asset and API answers 401 with a Basic challenge; the public
status pages and their assets stay open, a page with public: false does not; a query argument cannot stand in for
the header; a malformed file stops the collector naming the file and line.
Pages and assets carry an ETag (304 when the browser has them, after the login)."""

import base64
import ctypes
import hashlib
import os
import subprocess
import tempfile
import urllib.error
import urllib.request

from picket_env import PrivatePostgres, binary, migrate, start_collector, wait_for

TMP = tempfile.mkdtemp(prefix="picket-dashboard-auth-")
TOKEN = "pkt_" + "ab" * 32


def get(port, path, auth=None, etag=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if auth:
        req.add_header("Authorization", auth)
    if etag:
        req.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def main():
    sha512 = subprocess.run(["openssl", "passwd", "-6", "-salt", "saltsalt", "s3cret pass"], capture_output=True,
                            text=True, check=True).stdout.strip()
    libcrypt = ctypes.CDLL("libcrypt.so.1")  # libxcrypt: yescrypt is Debian's default hash
    libcrypt.crypt.restype = ctypes.c_char_p
    yes = (libcrypt.crypt(b"bob-pw", b"$y$j9T$abcdefghijklmnopqrstu.$") or b"").decode()
    assert yes and yes.startswith("$y$"), yes
    good = os.path.join(TMP, "auth")
    with open(good, "w") as f:
        f.write("# the dashboard's logins\ntoken %s\nuser alice %s\nuser bob %s  # yescrypt\n"
                % (hashlib.sha256(TOKEN.encode()).hexdigest(), sha512, yes))
    bad = os.path.join(TMP, "bad")
    with open(bad, "w") as f:
        f.write("token %s\nuser carol plaintext\n" % hashlib.sha256(b"x").hexdigest())
    with PrivatePostgres() as pg:
        migrate(pg)
        out = subprocess.run([binary("picket-collector"), "serve", "--db", pg.url, "--listen", "127.0.0.1:0",
                              "--http-listen", "127.0.0.1:0", "--insecure-plaintext", "--dashboard-auth", bad],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and bad + ":2:" in out.stderr and "carol" in out.stderr, (out.returncode,
                                                                                             out.stderr)
        pages = os.path.join(TMP, "status-pages.yaml")
        with open(pages, "w") as f:
            f.write("status_pages:\n  - name: shop\n    services: [shop]\n"
                    "  - name: internal\n    services: [ops]\n    public: false\n")
        col = start_collector(pg, extra=["--dashboard-auth", good, "--status-pages", pages], logdir=TMP)
        try:
            port = col.http_port
            for path in ("/", "/api/report", "/assets/dashboard.js", "/check/x", "/quality", "/api/overview"):
                code, headers, body = get(port, path)
                assert code == 401 and headers.get("WWW-Authenticate", "").startswith("Basic realm="), (path, code,
                                                                                                      headers)
            code, _, _ = get(port, "/api/report?%3Aheader%3AAuthorization=Bearer%20" + TOKEN)
            assert code == 401, code
            for auth in ("Bearer " + TOKEN, basic("alice", "s3cret pass"), basic("bob", "bob-pw")):
                code, _, body = get(port, "/api/probes", auth)
                assert code == 200 and b"probes" in body, (auth[:12], code, body)
                assert get(port, "/", auth)[0] == 200
            for auth in ("Bearer pkt_" + "cd" * 32, basic("alice", "wrong"), basic("mallory", "s3cret pass"),
                         basic("alice", ""), "Basic !!!", "Digest x"):
                assert get(port, "/api/probes", auth)[0] == 401, auth
            # Pages and assets carry an ETag: a browser that has them gets a 304 without a body.
            for path in ("/assets/uplot.js", "/assets/check.js", "/check/x"):
                code, headers, body = get(port, path, "Bearer " + TOKEN)
                tag = headers.get("ETag", "")
                assert code == 200 and body and tag.startswith('"') and headers.get("Cache-Control") == "no-cache", \
                    (path, code, headers)
                code, headers, body = get(port, path, "Bearer " + TOKEN, etag=tag)
                assert code == 304 and body == b"" and headers.get("ETag") == tag, (path, code, headers, body[:80])
                assert get(port, path, "Bearer " + TOKEN, etag='"0000000000000000"')[0] == 200, path
                assert get(port, path, etag=tag)[0] == 401, path  # never a 304 without a login
            assert get(port, "/assets/check.js", "Bearer " + TOKEN)[1]["ETag"] != tag
            # Public: the status pages and what they load.
            for path in ("/status/shop", "/assets/status.js", "/assets/dashboard.css"):
                assert get(port, path)[0] == 200, path
            # (no probe has registered a check: the page's services have no status yet, 404)
            wait_for("the status snapshot", lambda: get(port, "/api/status?group=shop")[0] == 404, 30)
            # A page with public: false waits for a login like the rest, its page and its data.
            for path, logged_in in (("/status/internal", 200), ("/api/status?group=internal", 404)):
                code, headers, _ = get(port, path)
                assert code == 401 and headers.get("WWW-Authenticate", "").startswith("Basic realm="), (path, code)
                assert get(port, path, "Bearer " + TOKEN)[0] == logged_in, path
        finally:
            col.stop()
    print("test_dashboard_auth: OK")


if __name__ == "__main__":
    main()
