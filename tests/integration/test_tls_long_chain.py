#!/usr/bin/python3
"""The collector's TLS with a long certificate chain (collector/tls_buffers.c).

The collector cuts the ring buffers gRPC puts between each connection's TLS
state and its socket from 17 kB to 4 kB (socket to OpenSSL: one TCP read, at
most 4 kB) and 2 kB (OpenSSL to socket: two of its 1 kB records): a handshake
flight or a record larger than the ring must pass through in parts. This test
makes a private PKI with a root and two intermediates and a collector leaf with
400 subject alternative names, so that the server's flight (leaf,
intermediates, the CA name it asks for) is over 10 kB; a client certificate
with 100 names and the same chain (a client flight of about 6 kB, which fails
the handshake if the collector's TCP reads are not bounded by its ring: gRPC's
handshaker drops what does not fit); and requires that picketctl connects over
it, that a status call answers and that a 1,000-check apply (a large message)
goes through and reads back unchanged.
A client with a certificate from a foreign CA must still be refused."""

import os
import shutil
import subprocess
import sys
import tempfile

from picket_env import PrivatePostgres, binary, expect, free_port, migrate, start_collector, write_checks


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args[:2]), r.stderr))


def make_pki(d):
    """root -> int1 -> int2 -> {collector, write:test}; and a foreign CA's write:test."""
    ext = os.path.join(d, "ext.cnf")
    pad = lambda n, what: ",".join("DNS:%s-%03d.padding.picket.test" % (what, i) for i in range(n))  # noqa: E731
    with open(ext, "w") as f:
        f.write("[ca]\nbasicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"
                "[server]\nsubjectAltName=IP:127.0.0.1,DNS:localhost,%s\nextendedKeyUsage=serverAuth\n"
                "[client]\nsubjectAltName=%s\nextendedKeyUsage=clientAuth\n" % (pad(400, "s"), pad(100, "c")))

    def key(name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                os.path.join(d, name + ".key"))

    def cert(name, cn, issuer, section):
        key(name)
        p = os.path.join(d, name)
        if issuer is None:
            openssl("req", "-x509", "-new", "-key", p + ".key", "-sha256", "-days", "30", "-subj",
                    "/O=Picket test/CN=" + cn, "-extensions", section, "-config", ext, "-out", p + ".crt")
            return
        i = os.path.join(d, issuer)
        openssl("req", "-new", "-key", p + ".key", "-subj", "/O=Picket test/CN=" + cn, "-out", p + ".csr")
        openssl("x509", "-req", "-in", p + ".csr", "-CA", i + ".crt", "-CAkey", i + ".key", "-CAcreateserial",
                "-days", "30", "-sha256", "-extfile", ext, "-extensions", section, "-out", p + ".crt")

    cert("root", "Long chain root", None, "ca")
    cert("int1", "Long chain intermediate one", "root", "ca")
    cert("int2", "Long chain intermediate two", "int1", "ca")
    cert("collector", "collector", "int2", "server")
    cert("client", "write:test", "int2", "client")
    cert("foreign_root", "Foreign root", None, "ca")
    cert("foreign", "write:test", "foreign_root", "client")

    def chain(name, *parts):
        with open(os.path.join(d, name), "w") as out:
            for p in parts:
                with open(os.path.join(d, p + ".crt")) as f:
                    out.write(f.read())

    chain("collector-chain.crt", "collector", "int2", "int1")
    chain("client-chain.crt", "client", "int2", "int1")
    return d


def ctl(port, d, cert, key, *args):
    return subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:%d" % port, "--tls-ca",
                           os.path.join(d, "root.crt"), "--tls-cert", os.path.join(d, cert), "--tls-key",
                           os.path.join(d, key)] + list(args), capture_output=True, text=True, timeout=60)


def main():
    d = tempfile.mkdtemp(prefix="picket-longchain-")
    try:
        make_pki(d)
        der = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "collector.crt"), "-outform", "DER"],
                             capture_output=True, timeout=30).stdout
        expect(len(der) > 9000, "the collector's leaf alone is over 9 kB on the wire (%d bytes)" % len(der))
        size = os.path.getsize(os.path.join(d, "collector-chain.crt"))
        with PrivatePostgres() as pg:
            run(d, pg, size)
    finally:
        shutil.rmtree(d, True)


def run(d, pg, size):
    col = None
    try:
        migrate(pg)
        col = start_collector(pg, extra=["--tls-ca", os.path.join(d, "root.crt"),
                                         "--tls-cert", os.path.join(d, "collector-chain.crt"),
                                         "--tls-key", os.path.join(d, "collector.key")])
        out = ctl(col.port, d, "client-chain.crt", "client.key", "status")
        expect(out.returncode == 0, "picketctl status over the long chain", out)
        checks = os.path.join(d, "checks.yaml")
        port = free_port()
        write_checks(checks, [{"name": "lc-%04d" % i, "type": "tcp",
                               "tcp": {"host": "127.0.0.1", "port": port}, "interval": "60s", "timeout": "1s"} for i in range(1000)])
        out = ctl(col.port, d, "client-chain.crt", "client.key", "apply", checks)
        expect(out.returncode == 0, "a 1,000-check apply over the long chain", out)
        out = ctl(col.port, d, "client-chain.crt", "client.key", "diff", "--json", checks)
        expect(out.returncode == 0 and "lc-0999" not in out.stdout, "the 1,000 checks read back: no change", out)
        out = ctl(col.port, d, "foreign.crt", "foreign.key", "status")
        expect(out.returncode != 0, "a certificate from a foreign CA is refused", out)
        expect(col.alive(), "the collector is still running")
        print("test_tls_long_chain: OK (collector chain %d bytes of PEM)" % size)
    finally:
        if col:
            col.stop()


if __name__ == "__main__":
    sys.exit(main())
