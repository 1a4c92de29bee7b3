#!/usr/bin/python3
"""Every command of the README's demo sections, run as written against a running demo.

The README marks each fenced ```sh block with an HTML comment just above it:

    <!-- readme-test -->                         run every line; each must exit 0
    <!-- readme-test exit="0,1,2" reason="..." -->   the exit codes allowed, and why
    <!-- readme-test skip="reason" -->           not run, with the reason

A ```sh block without a marker fails the test, so no command is left out
silently. The test starts `scripts/demo --dir` with a private state directory
(the binaries of $PICKET_BUILD_DIR, no build), then runs every marked line, in
order, in one bash session from the checkout (so `eval "$(scripts/demo env)"`
carries on to the next lines), with `build/` meaning $PICKET_BUILD_DIR and
`var/` the private directory, as they do in a fresh clone. A line continued
with a backslash is one command; lines of only a comment are skipped. Besides
the exit codes, the output of the commands the README promises something of
is checked (the dashboard's URL, the quality dashboard, rag-api found by
--service and by /api/status, the alert receiver's log). The last block is
`scripts/demo stop`; the test stops the demo itself if anything fails before.

The demo uses the seed services' fixed ports (8000-8004, 8009): this test
fails with the port named when a demo of the user's own is running.
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from picket_env import BUILD_DIR, SOURCE_DIR, expect  # noqa: E402

README = os.path.join(SOURCE_DIR, "README.md")
MARK = re.compile(r'^<!-- readme-test(?P<attrs>(?:\s+\w+="[^"]*")*)\s*-->\s*$')
ATTR = re.compile(r'(\w+)="([^"]*)"')
DEMO_UP_LIMIT_S = 120


def parse_readme(text):
    """[(line_no, attrs, [command, ...])] for every ```sh block; raises on an unmarked one."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        start = i + 1
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        m = MARK.match(lines[j].strip()) if j >= 0 else None
        if not m:
            raise AssertionError("README.md:%d: a ```sh block without a <!-- readme-test ... --> marker above it"
                                 % start)
        attrs = dict(ATTR.findall(m.group("attrs")))
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        expect(i < len(lines), "README.md:%d: unterminated ```sh block" % start)
        commands, cur = [], ""
        for raw in body:
            if not cur and re.match(r"^\s*#", raw):
                continue  # a comment line, also the indented "    # a table ..." notes
            if raw.rstrip().endswith("\\"):
                cur += raw.rstrip()[:-1] + " "
                continue
            cur += raw
            if cur.strip():
                commands.append(cur.strip())
            cur = ""
        expect(not cur, "README.md:%d: a block ends with a continued line" % start)
        blocks.append((start, attrs, commands))
        i += 1
    return blocks


def as_in_checkout(cmd, demo_dir):
    """build/ and var/ as a fresh clone has them: the build directory, the demo's state."""
    cmd = re.sub(r"(?<![\w/.$-])build/", BUILD_DIR.rstrip("/") + "/", cmd)
    return re.sub(r"(?<![\w/.$-])var/", demo_dir.rstrip("/") + "/", cmd)


def run_lines(steps, env, timeout):
    """Runs [(label, cmd)] in one bash; returns {index: (rc, output)}."""
    script = ["exec 2>&1"]
    for k, (_, cmd) in enumerate(steps):
        script.append("echo '@@begin %d'" % k)
        script.append(cmd)
        script.append("echo \"@@end %d $?\"" % k)
    out = subprocess.run(["/bin/bash", "-c", "\n".join(script)], cwd=SOURCE_DIR, env=env, capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    results, k, buf = {}, None, []
    for line in out.stdout.split("\n"):
        b = re.match(r"^@@begin (\d+)$", line)
        e = re.match(r"^(.*?)@@end (\d+) (\d+)$", line)
        if b:
            k, buf = int(b.group(1)), []
        elif e and k is not None and int(e.group(2)) == k:
            if e.group(1):
                buf.append(e.group(1))
            results[k] = (int(e.group(3)), "\n".join(buf))
            k = None
        else:
            buf.append(line)
    return results, out.stdout


def need(cond, what, text=""):
    if not cond:
        raise AssertionError(what + ("\n--- output\n" + text[-4000:] if text else ""))


def check_output(cmd, out):
    """What the README promises of a command's output, beyond its exit code."""
    if cmd.startswith("scripts/demo status"):
        need(re.search(r"dashboard http://127\.0\.0\.1:\d+/", out), "`scripts/demo status` names the dashboard", out)
        need("alert-receiver" in out and "running" in out, "status shows the alert receiver", out)
    elif re.search(r"picketctl status$", cmd):
        for name in ("rag-query-performance", "sync-webhook-processing", "security-npm-audit", "probe-eu"):
            need(name in out, "status lists %s (the seed plan runs)" % name, out)
    elif re.search(r"picketctl report$", cmd):
        need("== rag-api" in out and "== sync-api" in out, "the report is grouped by service", out)
        need(re.search(r"^E2E tests: +\d+ passed, \d+ failed", out, re.M), "the quality dashboard's E2E line", out)
        need(re.search(r"^Performance: +.*rag-query P95 .* \(baseline 8\.00s\)", out, re.M),
               "RAG p95 against its baseline", out)
        need(re.search(r"^Security: ", out, re.M) and re.search(r"^Availability: ", out, re.M),
               "security and availability lines", out)
    elif "latency --service rag-api" in cmd:
        need("rag-query" in out and "rag-health" in out, "latency --service rag-api finds the rag-api checks", out)
    elif "slo --group" in cmd:
        need("e2e-pass-rate" in out, "the group SLO is known", out)
    elif "/api/status?group=rag-api" in cmd:
        need('"service":"rag-api"' in out, "/api/status finds rag-api", out)
    elif "alert-receiver.log" in cmd:
        need("listening on http://127.0.0.1:8009/alerts" in out, "the receiver's log", out)
    elif "validate deploy/examples/seed-plan.yaml" in cmd:
        need(re.search(r"ok, \d+ checks", out), "validate says ok", out)
    elif "run --once" in cmd:
        need(re.search(r"^sync-webhook-processing\s+flow\s+ok", out, re.M), "the webhook flow passes", out)
        need(re.search(r"^rag-query-performance\s+http\s+ok.*samples=10", out, re.M), "ten samples", out)


def stop_demo(env):
    subprocess.run([os.path.join(SOURCE_DIR, "scripts", "demo"), "stop"], env=env, cwd=SOURCE_DIR,
                   capture_output=True, text=True, timeout=120)


def check_pictures():
    """Every picture README.md and docs/*.md show (docs/img) is one scripts/screenshots
    takes from the demo, so none goes stale, and each is in docs/img."""
    made = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "scripts", "screenshots"), "--list"],
                          capture_output=True, text=True, timeout=60).stdout.split()
    expect(len(made) >= 3, "scripts/screenshots --list: %r" % made)
    docs = [README] + [os.path.join(SOURCE_DIR, "docs", n) for n in sorted(os.listdir(os.path.join(SOURCE_DIR, "docs")))
                       if n.endswith(".md")]
    shown = set()
    for path in docs:
        with open(path) as f:
            shown |= set(re.findall(r"\]\((?:docs/)?img/([\w.-]+\.png)\)", f.read()))
    expect(shown, "no picture found in README.md or docs/")
    expect(shown <= set(made), "pictures not refreshed by scripts/screenshots: %s" % sorted(shown - set(made)))
    for name in made:
        expect(os.path.exists(os.path.join(SOURCE_DIR, "docs", "img", name)), "docs/img/%s is missing" % name)
    print("pictures: %s shown, all taken by scripts/screenshots" % ", ".join(sorted(shown)))


def main():
    check_pictures()
    with open(README) as f:
        blocks = parse_readme(f.read())
    expect(any(a.get("skip") is None for _, a, _ in blocks), "no README block to run")
    for start, attrs, _ in blocks:
        if "skip" in attrs:
            expect(attrs["skip"].strip(), "README.md:%d: skip without a reason" % start)
            print("skip README.md:%d: %s" % (start, attrs["skip"]))
        if "exit" in attrs:
            expect(attrs.get("reason", "").strip(), "README.md:%d: exit codes without a reason" % start)

    demo_dir = tempfile.mkdtemp(prefix="picket-readme-")
    os.chmod(demo_dir, 0o755)  # the postgres user must reach the cluster in it when we are root
    report_xml = os.path.join(SOURCE_DIR, "report.xml")
    had_report = os.path.exists(report_xml)
    env = dict(os.environ)
    for k in ("PICKET_COLLECTOR", "PICKET_TLS_CA", "PICKET_TLS_CERT", "PICKET_TLS_KEY", "PICKET_DB_URL",
              "SHOPIFY_WEBHOOK_SECRET"):
        env.pop(k, None)
    env.update({"PICKET_DEMO_DIR": demo_dir, "PICKET_DEMO_BUILD_DIR": BUILD_DIR, "PICKET_DEMO_NO_BUILD": "1",
                "PICKET_SKIP_DEPS": "1"})
    started = time.monotonic()
    try:
        up = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "demo")], env=env, cwd=SOURCE_DIR,
                            capture_output=True, text=True, timeout=DEMO_UP_LIMIT_S + 30)
        took = time.monotonic() - started
        expect(up.returncode == 0, "scripts/demo failed (exit %d)" % up.returncode, up)
        expect(took < DEMO_UP_LIMIT_S, "scripts/demo took %.0f s to show results" % took, up)
        print("demo up with results from both regions in %.1f s" % took)
        expect(re.search(r"^Dashboard: +http://127\.0\.0\.1:\d+/", up.stdout, re.M), "the start names the dashboard",
               up)
        expect("secrets/shopify-webhook-secret" in up.stdout, "the start says where the demo's secret is", up)

        steps = []
        for start, attrs, commands in blocks:
            if "skip" in attrs:
                continue
            allowed = {int(x) for x in attrs.get("exit", "0").split(",")}
            for cmd in commands:
                steps.append(("README.md:%d: %s" % (start, cmd), as_in_checkout(cmd, demo_dir), allowed, cmd))
        results, raw = run_lines([(s[0], s[1]) for s in steps], env, timeout=240)
        for k, (label, _, allowed, cmd) in enumerate(steps):
            need(k in results, "%s did not finish (the shell stopped before it)" % label, raw)
            rc, out = results[k]
            need(rc in allowed, "%s exited %d (allowed %s):\n%s" % (label, rc, sorted(allowed), out[-3000:]))
            check_output(cmd, out)
            print("ok %s" % label)
        status = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "demo"), "status"], env=env, cwd=SOURCE_DIR,
                                capture_output=True, text=True, timeout=60)
        expect(status.returncode != 0 and "stopped" in status.stdout,
               "after the README's `scripts/demo stop` nothing runs", status)
    finally:
        stop_demo(env)
        if not had_report and os.path.exists(report_xml):
            os.unlink(report_xml)
    print("test_readme: ok (%d commands, %.0f s)" % (len(steps), time.monotonic() - started))


if __name__ == "__main__":
    main()
