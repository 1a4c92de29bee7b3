#!/usr/bin/python3
"""picketctl tells the truth, against a real collector, PostgreSQL and probe.

- apply/diff with a missing file or a directory: one sentence naming it, exit 2
  (no abort); a file that does not validate: exit 3; nothing is stored.
- apply --wait: exits 0 once the connected probe runs the version; a version
  the probe refuses (a secret it cannot read) exits 5 naming the probe and its
  reason, and `status`, `status --json` and /api/probes show the refused
  version and why, while the probe keeps running the version before.
- apply and diff say that a central set replaces the probe's local files.
- "not found" is one error with exit 2 for status, the analytics commands and
  probe revoke; --quorum above the known regions is refused naming them.
- a collector that is down, a port that is not gRPC and a TLS mismatch each give
  one sentence, exit 1, with no gRPC method path or gRPC core log line.
- every subcommand's --help lists that subcommand's own options.
- an always-failing check with an SLO: `slo` prints the budget as overspent,
  `incidents` its MTBF as none; JSON keeps numbers."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from picket_env import (PrivatePostgres, Proc, Target, binary, client_security_args, migrate, picketctl,
                        start_collector, wait_for, write_checks)

GRPC_NOISE = re.compile(r"/picket\.v1\.|status \d+:|\.cc:\d+\]|^E\d{4} |^I\d{4} |grpc_", re.M)


def expect(out, code, *fragments):
    assert out.returncode == code, (code, out.returncode, out.stdout, out.stderr)
    for f in fragments:
        assert f in out.stdout + out.stderr, (f, out.stdout, out.stderr)
    return out


def one_sentence(out):
    """Exit 1 and one line on stderr (after the plaintext warning lines), no gRPC internals."""
    lines = [l for l in out.stderr.splitlines()
             if not l.startswith("picketctl: WARNING: --insecure-plaintext") and "msg=\"insecure plaintext mode\"" not in l]
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("picketctl "), out.stderr
    assert not GRPC_NOISE.search(out.stderr), out.stderr
    return lines[0]


def api(col, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (col.http_port, path), timeout=30) as r:
        return json.loads(r.read())


def file_errors(col, tmp, good):
    for cmd in ("apply", "diff"):
        out = picketctl(col.port, cmd, os.path.join(tmp, "missing.yaml"))
        expect(out, 2, "missing.yaml: cannot open: No such file or directory")
        assert "free()" not in out.stderr and "Abort" not in out.stderr, out.stderr
        out = picketctl(col.port, cmd, good, tmp)
        expect(out, 2, "%s: is a directory, not a check file" % tmp)
    nul = os.path.join(tmp, "nul.yaml")
    with open(nul, "wb") as f:
        f.write(b"checks:\n\x00\n")
    expect(picketctl(col.port, "apply", nul), 3, "nul.yaml: contains a NUL byte")
    out = subprocess.run([binary("picketctl"), "--collector", "127.0.0.1:%d" % col.port, "--insecure-plaintext",
                          "apply", good], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PICKET_MAX_CHECK_FILE_BYTES="10"))
    expect(out, 3, "is over the 10-byte limit")
    # Many bad paths in a row: each refused with its name, never a crash.
    for p in ["", "/", "/proc/self/mem", "/dev/null/x", tmp + "/\x01", "-", "a" * 5000]:
        out = picketctl(col.port, "apply", "--", p) if p.startswith("-") else picketctl(col.port, "apply", p)
        assert out.returncode in (2, 3), (p[:40], out.returncode, out.stderr)
        assert out.returncode != 134 and out.stderr.strip(), (p[:40], out.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="picket-ctl-truth-")
    ok_target, down_target = Target(), Target()
    down_target.status = 500
    good = write_checks(tmp + "/good.yaml", [
        {"name": "runs", "type": "http", "url": ok_target.url("/ok"), "interval": "300ms", "timeout": "300ms"},
        {"name": "always-down", "type": "http", "url": down_target.url("/down"), "interval": "300ms",
         "timeout": "300ms", "slo": {"target": 99.9, "window": "1d"}},
    ])
    refused = tmp + "/refused.yaml"
    with open(refused, "w") as f:
        f.write("secrets:\n  api_key: {env: PICKET_TEST_NEVER_SET_SECRET}\n"
                "checks:\n  - name: needs-secret\n    type: http\n    url: %s\n"
                "    headers: {X-Key: \"{{api_key}}\"}\n" % ok_target.url("/s"))
    procs = []
    with PrivatePostgres() as pg:
        try:
            migrate(pg)
            col = start_collector(pg, logdir=tmp)
            procs.append(col)
            file_errors(col, tmp, good)
            assert pg.psql("SELECT count(*) FROM check_versions")[0][0] == "0", "a refused file was stored"

            # --wait with no probe connected: not a success.
            out = picketctl(col.port, "apply", "--wait", "2s", good)
            expect(out, 5, "no probe is connected", "set aside, not merged")
            probe = Proc("truth-eu", [binary("picket-probe"), "--name", "truth-eu", "--region", "eu",
                                      "--collector", "127.0.0.1:%d" % col.port,
                                      "--spool-dir", os.path.join(tmp, "spool")]
                         + client_security_args("probe:truth-eu"), logdir=tmp)
            procs.append(probe)
            wait_for("probe runs version 1", lambda: pg.psql(
                "SELECT checks_version FROM probes WHERE name = 'truth-eu'")[0][0] == "1", 30)
            out = picketctl(col.port, "apply", "--wait", "20s", good)
            expect(out, 0, "no change", "connected probes running checks version 1: 1 of 1")
            out = picketctl(col.port, "diff", refused)
            expect(out, 1, "+ needs-secret", "set aside, not merged")

            # A version the probe refuses: apply --wait says so and exits 5.
            t0 = time.monotonic()
            out = picketctl(col.port, "apply", "--wait=20s", refused)
            expect(out, 5, "stored: checks version 2",
                   "refused: probe truth-eu refused checks version 2:", "PICKET_TEST_NEVER_SET_SECRET",
                   "connected probes running checks version 2: 0 of 1")
            assert time.monotonic() - t0 < 15, "waited the whole timeout for a refusal"
            status = picketctl(col.port, "status")
            expect(status, 0)
            assert re.search(r"^truth-eu\s+eu\s+.*version 1$", status.stdout, re.M), status.stdout
            assert re.search(r"refused checks version 2: .*PICKET_TEST_NEVER_SET_SECRET", status.stdout), status.stdout
            js = json.loads(picketctl(col.port, "status", "--json").stdout)
            p = next(x for x in js["probes"] if x["probe"] == "truth-eu")
            assert p["checks_version"] == 1 and p["checks_refused_version"] == 2, p
            assert "PICKET_TEST_NEVER_SET_SECRET" in p["checks_error"], p
            ap = next(x for x in api(col, "/api/probes")["probes"] if x["name"] == "truth-eu")
            assert ap["checks_version"] == 1 and ap["checks_refused_version"] == 2, ap
            assert "PICKET_TEST_NEVER_SET_SECRET" in ap["checks_error"], ap
            # Accepting again clears the refusal.
            out = picketctl(col.port, "apply", "--wait", "20s", good)
            expect(out, 0, "stored: checks version 3", "connected probes running checks version 3: 1 of 1")
            js = json.loads(picketctl(col.port, "status", "--json").stdout)
            p = next(x for x in js["probes"] if x["probe"] == "truth-eu")
            assert p["checks_version"] == 3 and p["checks_refused_version"] == 0 and p["checks_error"] is None, p

            # One JSON shape: the API's words are picketctl's ("check", lowercase outcomes).
            wait_for("a result of runs", lambda: api(col, "/api/report?check=runs")["checks"][0]
                     ["last_started_at_us"] > 0, 20)
            rep_api = api(col, "/api/report?check=runs")["checks"][0]
            rep_cli = json.loads(picketctl(col.port, "report", "--json", "--check", "runs").stdout)
            cli = rep_cli["checks"][0]
            assert cli["last"]["outcome"] == "ok", cli
            assert rep_api["check"] == cli["check"] == "runs" and "check_name" not in rep_api, (rep_api, cli)
            assert rep_api["last_outcome"] == "ok", rep_api
            inc = api(col, "/api/incidents?check=always-down&since=10m")
            assert inc["checks"][0]["check"] == "always-down", inc

            # Not found: one error, exit 2, everywhere.
            expect(picketctl(col.port, "status", "--check", "nope"), 2, "check 'nope' is not known")
            expect(picketctl(col.port, "availability", "--check", "nope"), 2, "check 'nope' is not known")
            expect(picketctl(col.port, "latency", "--service", "nope"), 2, "no check has service 'nope'")
            expect(picketctl(col.port, "trend", "--region", "mars"), 2, "region 'mars' is not known")
            expect(picketctl(col.port, "probe", "revoke", "nobody"), 2, "probe 'nobody' has no live token")
            for out in (picketctl(col.port, "status", "--check", "nope"), picketctl(col.port, "probe", "revoke", "x")):
                assert not GRPC_NOISE.search(out.stderr), out.stderr
            # A quorum no set of known regions can reach.
            out = expect(picketctl(col.port, "availability", "--quorum", "9"), 2,
                         "quorum 9 is more than the 1 region the collector knows (eu)")
            expect(picketctl(col.port, "incidents", "--quorum", "2"), 2, "quorum 2 is more than the 1 region")
            expect(picketctl(col.port, "availability", "--quorum", "1"), 0)

            # Unreachable, not gRPC, TLS mismatch: one sentence each, exit 1.
            s = one_sentence(picketctl(1, "status"))
            assert "cannot reach the collector at 127.0.0.1:1: connection refused" in s, s
            s = one_sentence(picketctl(ok_target.port, "--timeout", "3000", "status"))
            assert "127.0.0.1:%d" % ok_target.port in s, s
            s = one_sentence(picketctl(col.port, "--insecure-plaintext", "status"))
            assert "127.0.0.1:%d" % col.port in s, s
            plain = start_collector(pg, plaintext=True, logdir=tmp)
            procs.append(plain)
            s = one_sentence(picketctl(plain.port, "status"))
            assert "TLS" in s, s

            # Each subcommand's --help shows its own options.
            helps = {"status": ["--check NAME", "--json"], "probe": ["--region R", "--id N"],
                     "apply": ["--wait [TIMEOUT]", "--json", "set aside"], "diff": ["--json"],
                     "availability": ["--quorum"], "incidents": ["--open-after"], "slo": ["--group"],
                     "latency": ["--since"], "trend": ["--since"], "report": ["--since"]}
            for cmd, want in helps.items():
                out = subprocess.run([binary("picketctl"), cmd, "--help"], capture_output=True, text=True, timeout=10)
                expect(out, 0, "picketctl", *want)
                assert "usage: picketctl [options] COMMAND" not in out.stdout, (cmd, out.stdout[:200])

            # An always-failing check with an SLO: overspent, and MTBF none.
            wait_for("always-down results and an open incident", lambda: "1 incident" in picketctl(
                col.port, "incidents", "--check", "always-down", "--since", "10m").stdout, 300, 2)
            out = expect(picketctl(col.port, "slo", "--check", "always-down"), 0)
            assert re.search(r"overspent \d+(\.\d)?x", out.stdout), out.stdout
            assert not re.search(r"-\d+\.\d%", out.stdout), out.stdout
            js = json.loads(picketctl(col.port, "slo", "--json", "--check", "always-down").stdout)
            assert js["checks"][0]["budget_left"] < 0, js
            out = expect(picketctl(col.port, "incidents", "--check", "always-down", "--since", "10m"), 0)
            assert "MTBF none" in out.stdout, out.stdout
            # The tracker stored it within N x interval + 2 s of its first down round (300 ms rounds).
            late = pg.psql("SELECT (extract(epoch FROM i.first_seen) * 1e6)::bigint - i.start_us, i.open_after, "
                           "i.interval_us FROM incidents i JOIN checks c ON c.id = i.check_id "
                           "WHERE c.name = 'always-down' AND i.scope = '*' ORDER BY i.start_round LIMIT 1")[0]
            assert int(late[2]) == 300_000 and int(late[0]) <= int(late[1]) * 300_000 + 2_000_000, late
            print("ok: picketctl tells the truth")
        except Exception:
            for p in procs:
                sys.stderr.write("---- %s\n%s\n" % (p.name, p.output()[-4000:]))
            raise
        finally:
            for p in procs:
                p.stop()
            ok_target.close()
            down_target.close()


if __name__ == "__main__":
    main()
