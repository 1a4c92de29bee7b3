#!/usr/bin/python3
"""The seed's plan (deploy/examples/seed-plan.yaml) run with `picket-probe run
--once` against the emulation (deploy/emulation/seed_services.py): everything
passes; then, with faults injected through /_fault (and /_ratelimit), exactly
the checks that depend on the broken part fail, each with a message that says
why:

  assistants down          -> assistants-health, inter-service-health (step
                              "assistants"), assistants-draft-create; approval
                              keeps answering (approval-home passes) and its
                              workflow falls back to local storage
  rag slow (10.5 s)        -> rag-query (its time_under 10s), rag-health and
                              rag-no-context (cut off by their 10 s timeout),
                              rag-query-performance (p95/p99 of ten samples
                              lost after the first: stops early); the burst
                              still sees its 429s (the limiter answers before
                              any work)
  rag slow (3.1 s)         -> rag-query-performance alone (p50 of ten samples
                              over 3 s; each query is under its 10 s)
  rag missing_field        -> rag-query (names '.answer | length > 0'),
                              rag-no-context (its contains(...) assertion)
  no rate limit            -> rag-rate-limit
  wrong webhook secret     -> sync-shopify-webhook (401), sync-webhook-processing
                              (step "signed", 401), and the secret's value
                              appears nowhere in the output
  sync lost_write          -> sync-webhook-processing alone, step "propagated"
                              (the accepted event is not on the sync service)
  sync no_auth             -> sync-webhook-processing alone, step "unsigned"
                              (an unsigned webhook answered 200, not 401)

The emulation binds free ports (port 0 + --ports-file) so a running demo does
not collide; the plan's URL variables point the checks at them. `npm audit`
needs the registry's audit service, which a test must not depend on: a stand-in
`npm` on PATH answers `npm audit --json` with a recorded report (the plugin's
parsing and exit codes are tested on its own below). The browser check needs
Debian's chromium and deploy/plugins/install (playwright-core).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from picket_env import SOURCE_DIR, Proc, binary, expect, wait_for  # noqa: E402

PLAN = os.path.join(SOURCE_DIR, "deploy", "examples", "seed-plan.yaml")
PLUGINS = os.path.join(SOURCE_DIR, "deploy", "plugins")
EMULATION = os.path.join(SOURCE_DIR, "deploy", "emulation", "seed_services.py")
SECRET = "shpss_test_5ecret_value"
TMP = tempfile.mkdtemp(prefix="picket-seed-plan-")

ALL_CHECKS = {
    "rag-health", "sync-health", "assistants-health", "connectors-health", "approval-health",
    "rag-query", "rag-no-context", "approval-workflow", "inter-service-health", "approval-home",
    "assistants-draft-create", "sync-shopify-webhook", "connectors-list", "rag-rate-limit",
    "rag-query-performance", "sync-webhook-processing",
    "security-npm-audit", "approval-ui-browser",
}

AUDIT_CLEAN = {"auditReportVersion": 2, "vulnerabilities": {},
               "metadata": {"vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0,
                                                "total": 0}}}


def fake_npm(report):
    """A directory with an `npm` that answers `npm audit --json` with report."""
    d = tempfile.mkdtemp(prefix="fake-npm-", dir=TMP)
    with open(os.path.join(d, "report.json"), "w") as f:
        json.dump(report, f)
    path = os.path.join(d, "npm")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n[ \"$1 $2\" = \"audit --json\" ] || exit 64\ncat '%s'\n"
                "grep -q '\"total\": 0' '%s' && exit 0 || exit 1\n"
                % (os.path.join(d, "report.json"), os.path.join(d, "report.json")))
    os.chmod(path, 0o755)
    return d


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Plan:
    def __init__(self, ports):
        self.ports = ports
        self.env = {
            "RAG_API_URL": "http://127.0.0.1:%d" % ports["rag"],
            "SYNC_API_URL": "http://127.0.0.1:%d" % ports["sync"],
            "ASSISTANTS_API_URL": "http://127.0.0.1:%d" % ports["assistants"],
            "CONNECTORS_API_URL": "http://127.0.0.1:%d" % ports["connectors"],
            "APPROVAL_APP_URL": "http://127.0.0.1:%d" % ports["approval"],
            "SHOPIFY_WEBHOOK_SECRET": SECRET,
            "PICKET_PLUGINS_DIR": PLUGINS,
            "NPM_PROJECT_DIR": PLUGINS,
            "PATH": fake_npm(AUDIT_CLEAN) + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        }
        self.runs = 0

    def fault(self, service, mode, delay_ms=None):
        body = {"mode": mode}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        post("http://127.0.0.1:%d/_fault" % self.ports[service], body)

    def run(self, env=None):
        """Runs the plan once; returns (process, {check: (outcome, message)})."""
        self.runs += 1
        junit = os.path.join(TMP, "plan-%d.xml" % self.runs)
        e = dict(os.environ)
        e.update(self.env)
        e.update(env or {})
        out = subprocess.run([binary("picket-probe"), "run", "--once", PLAN, "--junit", junit], capture_output=True,
                             text=True, timeout=180, env=e, cwd=SOURCE_DIR)
        expect(os.path.exists(junit), "run %d wrote no junit (exit %d)" % (self.runs, out.returncode), out)
        cases = {}
        for tc in ET.parse(junit).getroot().iter("testcase"):
            bad = tc.find("failure")
            if bad is None:
                bad = tc.find("error")
            so = tc.find("system-out")
            if bad is not None:
                cases[tc.get("name")] = (bad.get("type"), bad.get("message"))
            elif so is not None and (so.text or "").startswith("degraded: "):
                cases[tc.get("name")] = ("degraded", so.text)
            else:
                cases[tc.get("name")] = ("ok", "")
        expect(set(cases) == ALL_CHECKS, "junit testcases differ: missing %s, extra %s"
               % (sorted(ALL_CHECKS - set(cases)), sorted(set(cases) - ALL_CHECKS)), out)
        return out, cases

    @staticmethod
    def not_ok(cases):
        return {name for name, (outcome, _) in cases.items() if outcome != "ok"}


def check_npm_audit_plugin():
    """The plugin alone: Nagios exit codes and perfdata from npm's JSON."""
    plugin = os.path.join(PLUGINS, "check_npm_audit")

    def run(report, path=None):
        env = dict(os.environ)
        env["PATH"] = path if path is not None else fake_npm(report) + os.pathsep + "/usr/bin:/bin"
        return subprocess.run([sys.executable, plugin, PLUGINS], capture_output=True, text=True, timeout=30, env=env)

    def report(**levels):
        counts = {k: 0 for k in ("info", "low", "moderate", "high", "critical")}
        counts.update(levels)
        counts["total"] = sum(counts.values())
        return {"metadata": {"vulnerabilities": counts}}

    out = run(AUDIT_CLEAN)
    expect(out.returncode == 0 and "vulnerabilities=0" in out.stdout, "clean audit: 0, perfdata", out)
    out = run(report(low=2, moderate=1))
    expect(out.returncode == 1 and "vulnerabilities=3" in out.stdout, "moderate -> 1", out)
    out = run(report(high=1))
    expect(out.returncode == 2 and "high=1" in out.stdout, "high -> 2", out)
    out = run(report(critical=1, low=1))
    expect(out.returncode == 2 and "vulnerabilities=2" in out.stdout, "critical -> 2", out)
    out = run({"error": {"code": "ENOAUDIT", "summary": "no audit service"}})
    expect(out.returncode == 3 and "UNKNOWN" in out.stdout, "audit error -> 3 (unknown)", out)
    empty = tempfile.mkdtemp(prefix="no-npm-", dir=TMP)
    out = run(None, path=empty)
    expect(out.returncode == 3 and "npm" in out.stdout, "no npm -> 3", out)


def main():
    check_npm_audit_plugin()
    if not os.path.isfile(os.path.join(PLUGINS, "node_modules", "playwright-core", "package.json")):
        subprocess.run([os.path.join(PLUGINS, "install")], check=True, timeout=300)

    ports_file = os.path.join(TMP, "ports.json")
    emu = Proc("emulation", ["/usr/bin/python3", EMULATION, "--rag-port", "0", "--sync-port", "0",
                             "--assistants-port", "0", "--connectors-port", "0", "--approval-port", "0",
                             "--ports-file", ports_file],
               env={"SHOPIFY_WEBHOOK_SECRET": SECRET}, logdir=TMP)
    try:
        wait_for("emulation ports (log: %s)" % emu.log_path, lambda: os.path.exists(ports_file), 20)
        with open(ports_file) as f:
            plan = Plan(json.load(f))

        # Everything passes.
        out, cases = plan.run()
        expect(out.returncode == 0 and not plan.not_ok(cases),
               "healthy emulation: exit %d, not ok: %s" % (out.returncode, plan.not_ok(cases)), out)
        expect(re.search(r"^rag-query\s.*sources=2", out.stdout, re.M), "rag-query keeps sources=2", out)
        expect(re.search(r"^rag-rate-limit\s.*\s429\s", out.stdout, re.M), "the burst saw 429s", out)
        expect(re.search(r"^rag-query-performance\s.*samples=10 samples_p50_ms=", out.stdout, re.M),
               "ten samples and their percentiles", out)

        # (1) assistants down: exactly its dependants fail; approval keeps answering.
        plan.fault("assistants", "down")
        out, cases = plan.run()
        plan.fault("assistants", "ok")
        want = {"assistants-health", "inter-service-health", "assistants-draft-create"}
        expect(out.returncode == 2 and plan.not_ok(cases) == want,
               "assistants down: exit %d, not ok %s, want %s" % (out.returncode, sorted(plan.not_ok(cases)),
                                                                 sorted(want)), out)
        for name in want:
            expect(cases[name][0] == "failed" and "503" in cases[name][1], "%s says 503: %r" % (name, cases[name]))
        expect('"assistants"' in cases["inter-service-health"][1], "the flow names its step 'assistants': %r"
               % (cases["inter-service-health"],))
        expect(cases["approval-home"][0] == "ok" and cases["approval-workflow"][0] == "ok",
               "approval still answers while assistants is down")

        # (2) rag slow past its 10 s limit.
        plan.fault("rag", "slow", 10500)
        out, cases = plan.run()
        plan.fault("rag", "ok")
        want = {"rag-health", "rag-query", "rag-no-context", "rag-query-performance"}
        expect(out.returncode == 2 and plan.not_ok(cases) == want,
               "rag slow: exit %d, not ok %s, want %s" % (out.returncode, sorted(plan.not_ok(cases)), sorted(want)),
               out)
        msg = cases["rag-query"][1]
        expect(cases["rag-query"][0] == "failed" and re.search(r"took|time", msg, re.I)
               and re.search(r"\b10(\.0)? ?s\b|\b10000 ?ms\b", msg),
               "rag-query fails on its time_under 10s: %r" % msg)
        for name in ("rag-health", "rag-no-context"):
            expect(re.search(r"time|took", cases[name][1], re.I), "%s says it timed out: %r" % (name, cases[name]))
        expect(re.search(r"p95 cannot be under 8000ms after 1 of them", cases["rag-query-performance"][1]),
               "the samples stop after the first: %r" % (cases["rag-query-performance"],))

        # (2b) rag slow at 3.1 s: each query is fine, the ten's p50 is not (the seed's
        # performance test, which only a run of several samples can fail).
        plan.fault("rag", "slow", 3100)
        out, cases = plan.run()
        plan.fault("rag", "ok")
        expect(out.returncode == 2 and plan.not_ok(cases) == {"rag-query-performance"},
               "rag at 3.1 s: exit %d, not ok %s" % (out.returncode, sorted(plan.not_ok(cases))), out)
        expect(re.search(r"p50 cannot be under 3000ms after 5 of them", cases["rag-query-performance"][1]),
               "p50 named: %r" % (cases["rag-query-performance"],))

        # (3) rag answers JSON without "answer" and "sources".
        plan.fault("rag", "missing_field")
        out, cases = plan.run()
        plan.fault("rag", "ok")
        want = {"rag-query", "rag-no-context"}
        expect(out.returncode == 2 and plan.not_ok(cases) == want,
               "rag missing_field: exit %d, not ok %s, want %s" % (out.returncode, sorted(plan.not_ok(cases)),
                                                                   sorted(want)), out)
        expect(".answer | length > 0" in cases["rag-query"][1], "rag-query names its json assertion: %r"
               % (cases["rag-query"],))
        expect('contains("I don\'t have information")' in cases["rag-no-context"][1],
               "rag-no-context names its json assertion: %r" % (cases["rag-no-context"],))

        # No rate limit deployed: the burst check says so.
        post("http://127.0.0.1:%d/_ratelimit" % plan.ports["rag"], {"per_second": 0})
        out, cases = plan.run()
        post("http://127.0.0.1:%d/_ratelimit" % plan.ports["rag"], {"per_second": 20})
        expect(out.returncode == 2 and plan.not_ok(cases) == {"rag-rate-limit"},
               "no rate limit: exit %d, not ok %s" % (out.returncode, sorted(plan.not_ok(cases))), out)
        expect(re.search(r"burst of 25: 0 .*429.*at least 1", cases["rag-rate-limit"][1]),
               "the burst message: %r" % (cases["rag-rate-limit"],))

        # A wrong webhook secret: sync rejects the signature; the secret stays secret.
        wrong = "wrong-" + SECRET
        out, cases = plan.run(env={"SHOPIFY_WEBHOOK_SECRET": wrong})
        expect(out.returncode == 2 and plan.not_ok(cases) == {"sync-shopify-webhook", "sync-webhook-processing"},
               "wrong secret: exit %d, not ok %s" % (out.returncode, sorted(plan.not_ok(cases))), out)
        expect("401" in cases["sync-shopify-webhook"][1], "401 named: %r" % (cases["sync-shopify-webhook"],))
        expect('"signed"' in cases["sync-webhook-processing"][1] and "401" in cases["sync-webhook-processing"][1],
               "the flow's signed step: %r" % (cases["sync-webhook-processing"],))
        with open(os.path.join(TMP, "plan-%d.xml" % plan.runs)) as f:
            junit_text = f.read()
        expect(wrong not in out.stdout + out.stderr + junit_text, "the secret's value leaked into the output")

        # The webhook answered 200 but had no effect on the sync service.
        plan.fault("sync", "lost_write")
        out, cases = plan.run()
        plan.fault("sync", "ok")
        expect(out.returncode == 2 and plan.not_ok(cases) == {"sync-webhook-processing"},
               "lost write: exit %d, not ok %s" % (out.returncode, sorted(plan.not_ok(cases))), out)
        expect('"propagated"' in cases["sync-webhook-processing"][1] and "404" in cases["sync-webhook-processing"][1],
               "the propagation step fails: %r" % (cases["sync-webhook-processing"],))

        # The seed's "silent fail": sync accepts unsigned webhooks.
        plan.fault("sync", "no_auth")
        out, cases = plan.run()
        plan.fault("sync", "ok")
        expect(out.returncode == 2 and plan.not_ok(cases) == {"sync-webhook-processing"},
               "no auth: exit %d, not ok %s" % (out.returncode, sorted(plan.not_ok(cases))), out)
        expect('"unsigned"' in cases["sync-webhook-processing"][1] and "401" in cases["sync-webhook-processing"][1],
               "the unsigned step expects 401: %r" % (cases["sync-webhook-processing"],))

        # Healthy again.
        out, cases = plan.run()
        expect(out.returncode == 0, "after the faults: exit %d, not ok %s" % (out.returncode,
                                                                              sorted(plan.not_ok(cases))), out)
    finally:
        emu.stop()
    print("test_seed_plan: ok")


if __name__ == "__main__":
    main()
