#!/usr/bin/python3
"""The dashboard's login by TLS client certificate, the third kind of line of
--dashboard-auth ("cert CN"): the collector's HTTP listener serves HTTPS
(--http-tls-cert/--http-tls-key, a private CA made by scripts/pki) and verifies
client certificates against --http-client-ca. A certificate of a listed CN from
that CA logs in; no certificate, another CN of the same CA, and the listed CN
from another CA get 401; a bearer token still logs in over HTTPS; /healthz and
the public status pages need no login; the dashboard stays read-only (POST is
405). Refused at start: "cert" lines without --http-client-ca, a CA without a
server certificate, and a certificate file that is not there."""

import hashlib
import os
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

from picket_env import PrivatePostgres, Pki, binary, migrate, pki, start_collector

TMP = tempfile.mkdtemp(prefix="picket-dashboard-certs-")
TOKEN = "pkt_" + "cd" * 32


def https(port, path, cert=None, auth=None, method="GET"):
    """(status, body) of an HTTPS request trusting the test CA, with a client certificate when given."""
    ctx = ssl.create_default_context(cafile=pki().ca)
    if cert:
        ctx.load_cert_chain(*cert)
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=b"{}" if method == "POST" else None)
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def refused(pg, extra, want):
    out = subprocess.run([binary("picket-collector"), "serve", "--db", pg.url, "--listen", "127.0.0.1:0",
                          "--http-listen", "127.0.0.1:0", "--tls-ca", pki().ca, "--tls-cert", pki().server_cert,
                          "--tls-key", pki().server_key] + extra, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and want in out.stderr, (extra, out.returncode, out.stderr)


def main():
    viewer, other = pki().cert("read:viewer"), pki().cert("read:other")
    stranger = Pki().cert("read:viewer")  # the right CN from another CA
    auth = os.path.join(TMP, "auth")
    with open(auth, "w") as f:
        f.write("# who may look\ncert read:viewer\ntoken %s\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
    pages = os.path.join(TMP, "pages.yaml")
    with open(pages, "w") as f:
        f.write("status_pages:\n  - name: pub\n    title: Public\n    services: [web]\n    public: true\n")
    tls = ["--http-tls-cert", pki().server_cert, "--http-tls-key", pki().server_key]
    with PrivatePostgres() as pg:
        migrate(pg)
        col = start_collector(pg, extra=tls + ["--http-client-ca", pki().ca, "--dashboard-auth", auth,
                                               "--status-pages", pages])
        try:
            port = col.http_port
            assert https(port, "/healthz")[0] == 200
            code, body = https(port, "/api/probes")
            assert code == 401 and b"client certificate" in body, (code, body)
            code, body = https(port, "/api/probes", cert=viewer)
            assert code == 200 and b"probes" in body, (code, body)
            assert https(port, "/", cert=viewer)[0] == 200
            assert https(port, "/api/probes", cert=other)[0] == 401  # a CN not listed
            try:
                code = https(port, "/api/probes", cert=stranger)[0]
            except (ssl.SSLError, urllib.error.URLError) as e:  # a server may also end the handshake
                code = str(e)
            assert code != 200, code
            assert https(port, "/api/probes", auth="Bearer " + TOKEN)[0] == 200  # a token over HTTPS
            assert https(port, "/api/probes", auth="Bearer pkt_wrong")[0] == 401
            assert https(port, "/status/pub")[0] == 200  # public, no login
            assert https(port, "/api/report", cert=viewer, method="POST")[0] == 405  # read-only
            try:  # plain HTTP on the HTTPS port gets no page
                urllib.request.urlopen("http://127.0.0.1:%d/api/probes" % port, timeout=10).read()
                raise AssertionError("plain HTTP answered")
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                assert "answered" not in str(e), e
        finally:
            col.stop()
        refused(pg, tls + ["--dashboard-auth", auth], "--http-client-ca")
        refused(pg, ["--http-client-ca", pki().ca], "HTTPS needs both a certificate and a key")
        refused(pg, ["--http-tls-cert", os.path.join(TMP, "nope.crt"), "--http-tls-key", pki().server_key],
                "nope.crt")
    print("test_dashboard_certs: OK")


if __name__ == "__main__":
    main()
