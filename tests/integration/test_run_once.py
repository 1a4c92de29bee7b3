#!/usr/bin/python3
"""`picket-probe run --once` as a CI gate, against real HTTP targets on 127.0.0.1.

Exit codes 0 all ok / 1 degraded only / 2 something failed / 3 config error (and
then nothing runs); the table names each failure's reason; --junit parses with
xml.etree and has one testcase per check, <failure> for failed, a passing
testcase with a "degraded:" <system-out> for degraded, time in seconds; --tap
lines; exec plugins' 1 is degraded and 3 unknown (a JUnit <error>, fails the
gate); markup in messages survives JUnit escaping; --var and --region override
file vars; a flow's message names its step;
config errors name file:line:col, even when the bad file is the second one.
"""

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from picket_env import Target, binary, expect  # noqa: E402

TMP = tempfile.mkdtemp(prefix="picket-run-once-")


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_once(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binary("picket-probe"), "run", "--once"] + list(args), capture_output=True, text=True,
                          timeout=60, env=e)


def main():
    ok = Target()                       # 200 {"ok":true}
    slow = Target()
    slow.delay = 0.15                   # 150 ms: over a degraded-only 50 ms limit
    broken = Target()
    broken.status = 500
    broken.body = b'{"error":"boom"}'

    all_ok = write("ok.yaml", """
checks:
  - name: home
    type: http
    request: {url: "%s"}
    assert:
      - status: 200
  - name: api-json
    type: http
    request: {url: "%s"}
    assert:
      - json: '.ok == true'
""" % (ok.url("/"), ok.url("/api")))

    degraded = write("degraded.yaml", """
checks:
  - name: slow-page
    type: http
    request: {url: "%s"}
    assert:
      - status: 200
      - {time_under: 50ms, severity: degraded}
""" % slow.url("/"))

    failed = write("failed.yaml", """
checks:
  - name: broken-api
    type: http
    request: {url: "%s"}
    assert:
      - status: 200
  - name: order-flow
    type: flow
    steps:
      - name: list
        request: {url: "%s"}
        assert:
          - status: 200
      - name: detail
        request: {url: "%s"}
        assert:
          - status: 200
""" % (broken.url("/"), ok.url("/orders"), broken.url("/orders/1")))

    # 0: everything passes; the table lists both checks and the summary.
    out = run_once(all_ok)
    expect(out.returncode == 0, "all ok: exit %d, want 0" % out.returncode, out)
    expect(re.search(r"^home\s+http\s+ok\s+200\s", out.stdout, re.M), "table row for 'home'", out)
    expect("2 checks: 2 ok, 0 degraded, 0 failed" in out.stdout, "summary line", out)

    # 1: degraded only; the reason is printed on its own line.
    out = run_once(all_ok, degraded)
    expect(out.returncode == 1, "degraded: exit %d, want 1" % out.returncode, out)
    expect(re.search(r"^slow-page\s+http\s+degraded\s+200\s", out.stdout, re.M), "degraded row", out)
    expect(re.search(r"^\s+why: .*(time|ms)", out.stdout, re.M), "degraded reason line about time", out)

    # 2: something failed (degraded too: failed wins); JUnit and TAP.
    junit = os.path.join(TMP, "report.xml")
    out = run_once(all_ok, degraded, failed, "--junit", junit)
    expect(out.returncode == 2, "failed: exit %d, want 2" % out.returncode, out)
    expect(re.search(r"^\s+why: status 500", out.stdout, re.M), "failure reason names the status", out)
    root = ET.parse(junit).getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    expect(sorted(cases) == sorted(["home", "api-json", "slow-page", "broken-api", "order-flow"]),
           "junit testcases: %s" % sorted(cases))
    suite = root.find("testsuite")
    expect(suite is not None and suite.get("tests") == "5" and suite.get("failures") == "2",
           "junit suite counts: %r" % (suite.attrib if suite is not None else None))
    for name in ("home", "api-json"):
        expect(len(cases[name]) == 0 or cases[name].find("failure") is None, "%s passes in junit" % name)
    f = cases["broken-api"].find("failure")
    expect(f is not None and "500" in f.get("message"), "broken-api <failure message> names the status")
    f = cases["order-flow"].find("failure")
    expect(f is not None and "detail" in f.get("message") and "500" in f.get("message"),
           "order-flow failure names the step 'detail' and the status: %r" % (f.attrib if f is not None else None))
    sd = cases["slow-page"]
    expect(sd.find("failure") is None and sd.find("error") is None, "degraded is a pass in junit")
    so = sd.find("system-out")
    expect(so is not None and so.text.startswith("degraded: "), "degraded note in system-out")
    t = float(cases["slow-page"].get("time"))
    expect(0.14 <= t < 10, "slow-page time in seconds: %r" % t)

    out = run_once(all_ok, degraded, failed, "--tap")
    expect(out.returncode == 2, "tap: exit %d, want 2" % out.returncode, out)
    lines = out.stdout.splitlines()
    expect(lines[:2] == ["TAP version 13", "1..5"], "tap header: %r" % lines[:2], out)
    expect("ok 1 - home" in lines and "ok 2 - api-json" in lines, "tap ok lines", out)
    expect(any(re.fullmatch(r"ok 3 - slow-page # degraded: .+", l) for l in lines), "tap degraded line", out)
    expect(any(re.fullmatch(r"not ok 4 - broken-api # status 500.*", l) for l in lines), "tap failed line", out)
    expect(any(re.fullmatch(r'not ok 5 - order-flow # .*detail.*', l) for l in lines), "tap flow line", out)

    # exec plugins: 1 -> degraded, 3 -> unknown (fails the gate, <error> in JUnit).
    plugin = write("plugin.sh", "#!/bin/sh\necho \"PLUGIN $1 - said $1 | things=$2\"\nexit $2\n")
    os.chmod(plugin, 0o755)
    execs = write("exec.yaml", """
checks:
  - name: plugin-warns
    type: exec
    exec: {command: ["%s", WARNING, "1"]}
  - name: plugin-unknown
    type: exec
    exec: {command: ["%s", UNKNOWN, "3"]}
""" % (plugin, plugin))
    junit = os.path.join(TMP, "exec.xml")
    out = run_once(execs, "--junit", junit)
    expect(out.returncode == 2, "exec unknown fails the gate: exit %d, want 2" % out.returncode, out)
    expect(re.search(r"^plugin-warns\s+exec\s+degraded\s.*things=1", out.stdout, re.M), "exec degraded + perfdata", out)
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    e = cases["plugin-unknown"].find("error")
    expect(e is not None and e.get("type") == "unknown" and "UNKNOWN" in e.get("message"), "unknown is a junit <error>")
    out = run_once(execs, "--tap")
    expect("not ok 2 - plugin-unknown # unknown: PLUGIN UNKNOWN - said UNKNOWN" in out.stdout.splitlines(),
           "tap unknown line", out)

    # Messages with markup survive into JUnit intact (escaped, parseable).
    markup = write("markup.yaml", """
checks:
  - name: wants-markup
    type: http
    request: {url: "%s"}
    assert:
      - body_contains: '<b class="x">&amp; it''s</b>'
""" % ok.url("/"))
    junit = os.path.join(TMP, "markup.xml")
    out = run_once(markup, "--junit", junit)
    expect(out.returncode == 2, "markup: exit %d, want 2" % out.returncode, out)
    f = ET.parse(junit).getroot().find(".//failure")
    expect(f is not None and '<b class="x">&amp; it\'s</b>' in f.get("message"),
           "the failure message round-trips through XML: %r" % (f.attrib if f is not None else None))

    # A refused connection is a failure with curl's reason, not a crash.
    refused = write("refused.yaml", """
checks:
  - name: nobody-home
    type: http
    request: {url: "http://127.0.0.1:1/"}
""")
    out = run_once(refused)
    expect(out.returncode == 2, "refused: exit %d, want 2" % out.returncode, out)
    expect(re.search(r"why: .*(connect|refused)", out.stdout, re.I), "refused reason", out)

    # --var overrides a file var; --region is --var region=R.
    templated = write("templated.yaml", """
vars:
  base: http://127.0.0.1:1
  region: nowhere
checks:
  - name: via-var
    type: http
    request: {url: "{{base}}/{{region}}"}
    assert:
      - status: 200
""")
    out = run_once(templated)
    expect(out.returncode == 2, "without --var the file's base is used (port 1): exit %d" % out.returncode, out)
    before = ok.hits
    out = run_once(templated, "--var", "base=http://127.0.0.1:%d" % ok.port, "--region", "eu-west")
    expect(out.returncode == 0, "--var base=...: exit %d, want 0" % out.returncode, out)
    expect(ok.hits == before + 1, "the overridden URL was fetched")

    # 3: config errors name file:line:col; all or nothing across files.
    bad = write("bad.yaml", """checks:
  - name: typo
    type: http
    request: {url: "%s"}
    asert:
      - status: 200
""" % ok.url("/"))
    before = ok.hits
    out = run_once(all_ok, bad, "--junit", os.path.join(TMP, "never.xml"))
    expect(out.returncode == 3, "config error: exit %d, want 3" % out.returncode, out)
    expect(re.search(re.escape(bad) + r":5:5: .*asert", out.stderr), "stderr names bad.yaml:5:5 and the key", out)
    expect(ok.hits == before, "nothing ran when one file is bad")
    expect(not os.path.exists(os.path.join(TMP, "never.xml")), "no junit on a config error")

    unknown_var = write("unknown_var.yaml", """checks:
  - name: uses-missing
    type: http
    request: {url: "{{nope}}/x"}
""")
    out = run_once(unknown_var)
    expect(out.returncode == 3, "unknown variable: exit %d, want 3" % out.returncode, out)
    expect(re.search(re.escape(unknown_var) + r":4:23: .*nope", out.stderr), "unknown var named with line", out)

    out = run_once(all_ok, all_ok)
    expect(out.returncode == 3, "duplicate names across files: exit %d, want 3" % out.returncode, out)
    expect("home" in out.stderr and "already defined" in out.stderr, "duplicate name reported", out)

    out = run_once(os.path.join(TMP, "missing.yaml"))
    expect(out.returncode == 3, "missing file: exit %d, want 3" % out.returncode, out)

    # Usage errors are not config errors.
    out = run_once()
    expect(out.returncode == 2 and "check file" in out.stderr, "no files: usage error", out)

    # validate prints every file's error, not only the first.
    out = subprocess.run([binary("picket-probe"), "validate", bad, all_ok, unknown_var], capture_output=True,
                         text=True, timeout=30)
    expect(out.returncode == 3, "validate: exit %d, want 3" % out.returncode, out)
    expect(bad in out.stderr and unknown_var in out.stderr and all_ok + ": ok, 2 checks" in out.stdout,
           "validate reports each file", out)

    for t in (ok, slow, broken):
        t.close()
    print("test_run_once: ok")


if __name__ == "__main__":
    main()
