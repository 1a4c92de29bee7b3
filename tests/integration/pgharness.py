#!/usr/bin/python3
"""pgharness: a private, throw-away PostgreSQL 15 cluster for Picket's tests.

    with PrivatePostgres() as pg:
        pg.psql("SELECT 1")          # -> [["1"]]
        os.environ["PICKET_TEST_PG_URL"] = pg.url

CLI: python3 pgharness.py run -- CMD ARGS...   runs CMD with PICKET_TEST_PG_URL set
and exits with its status.

The cluster lives in a fresh directory under /tmp, listens on 127.0.0.1 only (plus a
Unix socket in that directory) and is deleted on exit. initdb and postgres refuse to
run as root, so as root the cluster belongs to the `postgres` user and every server
binary runs through `runuser -u postgres --`. Standard library only.
"""

import os
import re
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
PSQL = "/usr/bin/psql"
READY_TIMEOUT_S = 30.0


def find_pg_bin():
    for d in PG_BIN_CANDIDATES:
        if os.path.isfile(os.path.join(d, "initdb")):
            return d
    raise RuntimeError("PostgreSQL 15 server binaries not found in %s (install postgresql-15)"
                       % ", ".join(PG_BIN_CANDIDATES))


def free_port():
    # The port is free when chosen; a race with another process is possible but the
    # start-up then fails loudly rather than silently using someone else's server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n different free ports: all bound at once before any is released (two
    free_port() calls in a row may get the same port back from the kernel)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class PrivatePostgres:
    def __init__(self, dbname="picket", quiet=True):
        self.dbname = dbname
        self.quiet = quiet
        self.bin = find_pg_bin()
        self.as_root = os.geteuid() == 0
        self.dir = None
        self.port = None
        self.running = False

    # ------------------------------------------------------------ helpers
    def _cmd(self, argv):
        if self.as_root:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, **kw):
        out = subprocess.run(self._cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, **kw)
        if out.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (" ".join(argv), out.returncode, out.stdout))
        return out.stdout

    @property
    def datadir(self):
        return os.path.join(self.dir, "data")

    @property
    def url(self):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, self.dbname)

    def url_for(self, dbname):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    # --------------------------------------------------------- lifecycle
    def __enter__(self):
        try:
            self.create()
            self.start()
            self.psql("CREATE DATABASE %s" % self.dbname, dbname="postgres")
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False

    def create(self):
        # mkdtemp makes the directory 0700; the postgres user must be able to reach it.
        self.dir = tempfile.mkdtemp(prefix="picket-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self._run([os.path.join(self.bin, "initdb"), "-D", self.datadir, "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"])

    def start(self):
        log = os.path.join(self.dir, "server.log")
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s" % (self.port, self.dir)
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.datadir, "-l", log, "-o", opts,
                   "-w", "-t", str(int(READY_TIMEOUT_S)), "start"])
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            ready = subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
                                    "-p", str(self.port)])
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL on port %d not ready after %.0f s; log:\n%s"
                                   % (self.port, READY_TIMEOUT_S, self.server_log()))
            time.sleep(0.1)
        self.running = True

    def stop(self, mode="fast"):
        if not self.running:
            return
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.datadir, "-m", mode, "-w", "stop"])
        self.running = False

    def destroy(self):
        try:
            if self.running:
                self.stop("immediate")
        finally:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def server_log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ------------------------------------------------------------ queries
    def psql(self, sql, dbname=None):
        """Runs sql; returns the rows as lists of strings (NULL -> "")."""
        out = subprocess.run([PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t",
                              "-d", self.url_for(dbname or self.dbname), "-c", sql],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if out.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines()]


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or argv[2] != "--" or len(argv) < 4:
        sys.stderr.write("usage: %s run -- CMD [ARGS...]\n" % argv[0])
        return 2
    # ctest's timeout and CI cancellation send SIGTERM: unwind so the cluster is
    # stopped and its directory removed instead of left running.
    def unwind(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, unwind)
    signal.signal(signal.SIGHUP, unwind)
    with PrivatePostgres() as pg:
        env = dict(os.environ, PICKET_TEST_PG_URL=pg.url)
        try:
            return subprocess.call(argv[3:], env=env)
        except OSError as e:
            sys.stderr.write("pgharness: cannot run %s: %s\n" % (argv[3], e))
            return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))


def store_result_columns(repo):
    """The results table's column list the collector COPYs in (STORE_RESULT_COLUMNS in
    collector/store.h), read from the header so benches and tests never keep a copy."""
    with open(os.path.join(repo, "collector", "store.h")) as f:
        text = f.read()
    m = re.search(r"#define STORE_RESULT_COLUMNS((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        raise RuntimeError("collector/store.h has no STORE_RESULT_COLUMNS")
    return " ".join("".join(re.findall(r'"([^"]*)"', m.group(1))).split())
