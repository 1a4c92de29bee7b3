#!/usr/bin/python3
"""citus_cluster: a throw-away Citus cluster (a coordinator and two workers on
127.0.0.1) made by scripts/citus --dir in a fresh directory, removed on exit.

    with CitusCluster() as cl:
        cl.url                      # the coordinator's picket database (role picket)
        cl.psql("SELECT 1")         # -> [["1"]]

Used by tests/integration/test_citus.py and bench/run_citus. Builds Citus on first
use (scripts/citus build: minutes, once per tarball). Standard library only.
"""

import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CITUS = os.path.join(HERE, "..", "..", "scripts", "citus")
PSQL = "/usr/bin/psql"


class CitusCluster:
    """scripts/citus in a throw-away directory; .url is the coordinator's picket database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="picket-citus-")
        os.chmod(self.dir, 0o755)
        self.url = None

    def run(self, *args, timeout=900):
        out = subprocess.run([CITUS, "--dir", self.dir] + list(args), capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode != 0:
            raise AssertionError("scripts/citus %s failed:\n%s\n%s" % (" ".join(args), out.stdout, out.stderr))
        return out

    def __enter__(self):
        self.run("start")
        with open(os.path.join(self.dir, "db.url")) as f:
            self.url = f.read().strip()
        return self

    def __exit__(self, *exc):
        try:
            self.run("stop", timeout=120)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql):
        out = subprocess.run([PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-d", self.url, "-c", sql],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines()]


# Fields of an answer that depend on the moment it is asked, not on the data.
VOLATILE = {"generated_at_us", "now_us", "last_seen_us", "first_seen_us", "elapsed_us", "query_us", "took_us",
            "last_heartbeat_us", "connected_us", "first_seen", "last_seen", "generated_at", "uptime_s",
            "checks_answered_at_us", "age_s", "age_us", "last_seen_ago_s",
            "last_hour"}  # status: relative to the moment asked


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def diff(a, b, path=""):
    """First difference between two JSON values, as text, or None."""
    if type(a) is not type(b):
        return "%s: %r vs %r" % (path, a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: only on %s" % (path, k, "plain" if k in a else "citus")
            d = diff(a[k], b[k], path + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d vs %d items" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r vs %r" % (path, a, b)
