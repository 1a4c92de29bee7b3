#!/usr/bin/python3
"""Deployment artefacts (docs/DEPLOY.md) stay valid:

- the systemd units pass `systemd-analyze verify` with no warning at all (a copy
  whose ExecStart= points into the build directory, with MANPATH reaching the
  manual pages so Documentation=man: resolves) and keep their hardening;
- each manual page renders with `man --warnings` and `groff -ww` without a
  warning, names every flag and PICKET_* variable its binary's --help (and each
  picketctl command's --help) prints, and documents no option those do not list:
  --help is generated from the option tables the parser reads (common/options.c),
  so pages and parsers cannot drift apart;
- `cpack -G DEB` makes the three packages, each holding its binary, manual page,
  a DEP-5 copyright file and a changelog.Debian.gz, and (probe, collector) unit
  and example configuration; the probe's also every example check file and the
  exec plugins;
- `scripts/image --check` checks deploy/Dockerfile against those packages and
  runs what the image would hold;
- the kustomize base renders (scripts/kustomize) to every object of
  deploy/kubernetes, each valid against the Kubernetes schemas of
  kubernetes-models (a broken object is caught), and every non-root pod can
  read the Secret files it mounts (fsGroup);
- the Kubernetes manifests and the compose file parse as YAML with the kinds,
  services and wiring docs/DEPLOY.md describes."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC = os.environ.get("PICKET_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PICKET_BUILD_DIR") or os.path.join(SRC, "build")
BINARIES = ("picket-probe", "picket-collector", "picketctl")
UNITS = ("picket-probe.service", "picket-collector.service")
HARDENING = ("DynamicUser=yes", "CapabilityBoundingSet=\n", "NoNewPrivileges=yes", "ProtectSystem=strict",
             "ProtectHome=yes", "PrivateTmp=yes", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
             "Restart=always")


def check_units(tmp):
    mandir = os.path.join(tmp, "man")
    os.makedirs(os.path.join(mandir, "man1"))
    for b in BINARIES:
        shutil.copy(os.path.join(SRC, "man", b + ".1"), os.path.join(mandir, "man1"))
    copies = []
    for unit in UNITS:
        text = open(os.path.join(SRC, "deploy", "systemd", unit)).read()
        for h in HARDENING:
            assert h in text, f"deploy/systemd/{unit}: lost its hardening line {h.strip()!r}"
        assert text.count("ExecStart=/usr/bin/") == 1, f"deploy/systemd/{unit}: expected one ExecStart=/usr/bin/..."
        rewritten = text.replace("=/usr/bin/", "=" + BUILD + "/")
        path = os.path.join(tmp, unit)
        with open(path, "w") as f:
            f.write(rewritten)
        copies.append(path)
    assert "StateDirectory=picket-probe" in open(os.path.join(SRC, "deploy/systemd/picket-probe.service")).read()
    env = dict(os.environ, MANPATH=mandir, SYSTEMD_LOG_COLOR="0")
    r = subprocess.run(["systemd-analyze", "verify", "--man=yes"] + copies, capture_output=True, text=True,
                       env=env, cwd=tmp, timeout=60)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and not out, f"systemd-analyze verify {' '.join(UNITS)}: rc={r.returncode}\n{out}"
    print(f"ok: systemd-analyze verify {' '.join(UNITS)}: no warnings")


# Commands whose own --help lists options the binary's --help does not.
SUBCOMMAND_HELP = {"picketctl": ("status", "probe", "apply", "diff", "report", "availability", "latency", "trend",
                                 "incidents", "slo", "maintenance")}


def help_names(binary):
    """Flags and variables the binary's option tables print: its --help and each
    command's --help (generated from the same tables the parser reads)."""
    texts = []
    for args in [["--help"]] + [[c, "--help"] for c in SUBCOMMAND_HELP.get(binary, ())]:
        r = subprocess.run([os.path.join(BUILD, binary)] + args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{binary} {' '.join(args)}: rc={r.returncode} {r.stderr}"
        texts.append(r.stdout)
    text = "\n".join(texts)
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    flags |= set(re.findall(r"(?<![\w-])(-[a-zA-Z])\b", text))
    envs = set(re.findall(r"\b(PICKET_[A-Z_]+)\b", text)) | ({"STATE_DIRECTORY"} if "$STATE_DIRECTORY" in text else set())
    assert len(flags) >= 5, f"{binary} --help: found only {sorted(flags)}"
    return flags, envs


def man_option_tags(src):
    """The flags a page documents as options: those in the tag line of each .TP
    paragraph (the line after .TP) of its OPTIONS section and subsections."""
    section = src[src.index(".SH OPTIONS"):]
    section = section[:section.index("\n.SH ", 1)] if "\n.SH " in section[1:] else section
    lines = section.split("\n")
    tags = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tags |= set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", lines[i + 1]))
    return tags


def check_man_pages():
    for b in BINARIES:
        page = os.path.join(SRC, "man", b + ".1")
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), f"man/{b}.1: man --warnings: rc={r.returncode}\n{r.stderr}"
        assert b in r.stdout and "EXIT STATUS" in r.stdout, f"man/{b}.1: rendered page lacks its name or EXIT STATUS"
        r = subprocess.run(["groff", "-ww", "-z", "-man", page], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), f"man/{b}.1: groff -ww: {r.stderr}"
        src = open(page).read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
        flags, envs = help_names(b)
        missing = sorted(n for n in flags | envs if not re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", src))
        assert not missing, f"man/{b}.1: names missing that `{b} --help` prints: {missing}"
        # And the other way: an option the page documents must be one the binary has.
        tags = man_option_tags(src)
        assert len(tags) >= 5, f"man/{b}.1: found only {sorted(tags)} in OPTIONS"
        unknown = sorted(tags - flags)
        assert not unknown, f"man/{b}.1: documents options that `{b} --help` does not list: {unknown}"
        for section in ("SYNOPSIS", "OPTIONS", "ENVIRONMENT", "EXIT STATUS"):
            assert f".SH {section}" in src or (section == "ENVIRONMENT" and not envs), f"man/{b}.1: no {section}"
        print(f"ok: man/{b}.1 renders cleanly, names {len(flags)} flags and {len(envs)} variables of --help, "
              f"documents no option --help lacks ({len(tags)})")


def check_packages(tmp):
    out = os.path.join(tmp, "pkg")
    r = subprocess.run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(BUILD, "CPackConfig.cmake")],
                       capture_output=True, text=True, cwd=BUILD, timeout=120)
    assert r.returncode == 0, f"cpack -G DEB: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    want = {
        "picket-probe": ["./usr/bin/picket-probe", "./usr/share/man/man1/picket-probe.1",
                         "./usr/lib/systemd/system/picket-probe.service",
                         "./usr/share/doc/picket-probe/examples/picket-probe.env"],
        "picket-collector": ["./usr/bin/picket-collector", "./usr/share/man/man1/picket-collector.1",
                             "./usr/lib/systemd/system/picket-collector.service",
                             "./usr/share/doc/picket-collector/examples/picket-collector.env"],
        "picketctl": ["./usr/bin/picketctl", "./usr/share/man/man1/picketctl.1"],
    }
    want["picket-probe"] += ["./usr/lib/picket/plugins/" + f for f in
                             ("check_npm_audit", "check_approval_ui.mjs", "install", "package.json",
                              "package-lock.json")]
    want["picket-probe"] += ["./usr/share/doc/picket-probe/examples/" + f
                             for f in sorted(os.listdir(os.path.join(SRC, "deploy", "examples"))) if f.endswith(".yaml")]
    for pkg in want:
        want[pkg] += ["./usr/share/doc/%s/copyright" % pkg, "./usr/share/doc/%s/changelog.Debian.gz" % pkg]
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    for pkg, files in want.items():
        found = [f for f in debs if f.startswith(pkg + "_")]
        assert len(found) == 1, f"cpack made {debs}, expected one {pkg}_*.deb"
        deb = os.path.join(out, found[0])
        r = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True, timeout=60)
        listing = {line.split()[5] for line in r.stdout.splitlines() if len(line.split()) >= 6}
        lacking = [f for f in files if f not in listing]
        assert not lacking, f"{found[0]} lacks {lacking}; it holds {sorted(listing)}"
        r = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Depends"], capture_output=True, text=True,
                           check=True, timeout=60)
        assert f"Package: {pkg}" in r.stdout and "libc6" in r.stdout, f"{found[0]} control: {r.stdout}"
        check_doc_files(deb, pkg, tmp)
        print(f"ok: {found[0]} holds {len(files)} expected files")


def check_doc_files(deb, pkg, tmp):
    """The copyright file is DEP-5; the changelog is gzip'd, names the package's version."""
    root = os.path.join(tmp, "x-" + pkg)
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True, timeout=60)
    doc = os.path.join(root, "usr", "share", "doc", pkg)
    text = open(os.path.join(doc, "copyright")).read()
    assert text.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"), text[:200]
    paras = [p for p in text.split("\n\n") if p.strip()]
    files = [p for p in paras if p.startswith("Files:")]
    assert files and all(re.search(r"^Copyright: .+$", p, re.M) and re.search(r"^License: .+$", p, re.M)
                         for p in files), "copyright: a Files paragraph without Copyright or License"
    import gzip
    with gzip.open(os.path.join(doc, "changelog.Debian.gz"), "rt") as f:
        first = f.readline()
    version = re.search(r"^project\(picket VERSION ([0-9.]+)", open(os.path.join(SRC, "CMakeLists.txt")).read(),
                        re.M).group(1)
    assert first.startswith("picket (%s)" % version), first
    if pkg == "picket-probe":
        # alerts.yaml, slos.yaml and status-pages.yaml are the collector's files
        # (--alerts, --slos, --status-pages), not check files: the demo starts the
        # collector with them (test_readme).
        collector_files = {"alerts.yaml", "slos.yaml", "status-pages.yaml"}
        for ex in sorted(os.listdir(os.path.join(doc, "examples"))):
            if ex.endswith(".yaml") and ex not in collector_files:
                r = subprocess.run([os.path.join(BUILD, "picket-probe"), "validate", os.path.join(doc, "examples", ex)],
                                   capture_output=True, text=True, timeout=30,
                                   env=dict(os.environ, SHOPIFY_WEBHOOK_SECRET="test"))
                assert r.returncode == 0, f"packaged example {ex}: {r.stdout}{r.stderr}"


def check_image(tmp):
    r = subprocess.run([os.path.join(SRC, "scripts", "image"), "--check", "--build-dir", BUILD],
                       capture_output=True, text=True, timeout=300, cwd=SRC)
    assert r.returncode == 0, f"scripts/image --check: rc={r.returncode}\n{r.stdout}{r.stderr}"
    print("ok: " + r.stdout.strip().splitlines()[-1])


def secrets_readable(label, pod):
    """A non-root pod must be able to read each Secret file it mounts."""
    sc = pod.get("securityContext") or {}
    uid = sc.get("runAsUser")
    if uid == 0:
        return
    for v in pod.get("volumes", []):
        if "secret" not in v:
            continue
        mode = v["secret"].get("defaultMode", 0o644)
        others = mode & 0o004
        group = mode & 0o040 and sc.get("fsGroup") is not None
        assert others or group, \
            f"{label}: runs as user {uid} but Secret volume {v['name']} is mode {mode:o} without fsGroup: unreadable"


def check_kustomize(tmp):
    kdir = os.path.join(SRC, "deploy", "kubernetes")
    r = subprocess.run([os.path.join(SRC, "scripts", "kustomize"), "--json", kdir], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, f"scripts/kustomize: {r.stderr}"
    objs = json.loads(r.stdout)
    files = [d for n in sorted(os.listdir(kdir)) if n.endswith(".yaml") and n != "kustomization.yaml"
             for d in load_all(os.path.join(kdir, n))]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objs) == \
        sorted((d["kind"], d["metadata"]["name"]) for d in files), "the base does not list every manifest"
    for o in objs:
        assert o["kind"] == "Namespace" or o["metadata"]["namespace"] == "picket", o["metadata"]
        spec = (o.get("spec") or {}).get("template", {}).get("spec")
        if spec:
            secrets_readable(f"{o['kind']}/{o['metadata']['name']}", spec)
            assert all(c["image"] == "picket:0.1.0" for c in spec["containers"]), spec["containers"]
    vdir = os.path.join(kdir, "validate")
    subprocess.run([os.path.join(vdir, "install")], check=True, timeout=300)
    r = subprocess.run(["node", os.path.join(vdir, "validate.mjs")], input=json.dumps(objs), capture_output=True,
                       text=True, timeout=120, cwd=vdir)
    assert r.returncode == 0 and f"{len(objs)} of {len(objs)} objects valid" in r.stdout, r.stdout + r.stderr
    # The validator can fail: a port given as a word where the schema wants a number.
    broken = json.loads(json.dumps(objs))
    dep = next(o for o in broken if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "grpc"
    r = subprocess.run(["node", os.path.join(vdir, "validate.mjs")], input=json.dumps(broken), capture_output=True,
                       text=True, timeout=120, cwd=vdir)
    assert r.returncode == 1 and "invalid: Deployment/picket-collector" in r.stdout and "containerPort" in r.stdout, \
        r.stdout
    # And the fsGroup rule can fail: the collector without it cannot read its key.
    pod = json.loads(json.dumps(dep["spec"]["template"]["spec"]))
    pod["securityContext"].pop("fsGroup")
    try:
        secrets_readable("collector without fsGroup", pod)
        raise RuntimeError("a 0440 Secret without fsGroup passed as readable")
    except AssertionError:
        pass
    print(f"ok: kustomize base: {len(objs)} objects, schema-valid (kubernetes-models), Secrets readable")


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def validate_checks(label, text, tmp):
    path = os.path.join(tmp, "checks-" + re.sub(r"\W", "_", label) + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([os.path.join(BUILD, "picket-probe"), "validate", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, f"{label}: picket-probe validate: rc={r.returncode}\n{r.stdout}{r.stderr}"


def check_kubernetes(tmp):
    kdir = os.path.join(SRC, "deploy", "kubernetes")
    docs = []
    for name in sorted(os.listdir(kdir)):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            for d in load_all(os.path.join(kdir, name)):
                assert "apiVersion" in d and "kind" in d and d.get("metadata", {}).get("name"), \
                    f"deploy/kubernetes/{name}: a document without apiVersion, kind or metadata.name"
                if d["kind"] != "Namespace":
                    assert d["metadata"].get("namespace") == "picket", \
                        f"deploy/kubernetes/{name}: {d['kind']}/{d['metadata']['name']} not in namespace picket"
                docs.append(d)
    by = {}
    for d in docs:
        by.setdefault(d["kind"], []).append(d)
    for kind in ("Namespace", "Deployment", "Service", "DaemonSet", "ConfigMap", "Job", "Secret"):
        assert kind in by, f"deploy/kubernetes: no {kind}; kinds: {sorted(by)}"

    dep = next(d for d in by["Deployment"] if d["metadata"]["name"] == "picket-collector")
    assert dep["spec"]["replicas"] >= 2, "collector Deployment: fewer than 2 replicas"
    c = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    assert "secretKeyRef" in env["PICKET_DB_URL"]["valueFrom"], "collector: PICKET_DB_URL not from a Secret"
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz", "collector: readiness is not /healthz"
    assert env["PICKET_HTTP_LISTEN"]["value"].startswith("0.0.0.0:"), "collector: kubelet cannot reach /healthz"
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert any("secret" in v for v in vols.values()), "collector: TLS not from a Secret"
    # A non-root pod reads a mounted secret only through its group: fsGroup, and a mode with g+r.
    for workload in by["Deployment"] + by["DaemonSet"] + by["Job"]:
        pod = workload["spec"]["template"]["spec"]
        sc = pod.get("securityContext", {})
        uid = sc.get("runAsUser", 0)
        for v in pod.get("volumes", []):
            if "secret" not in v or uid == 0:
                continue
            mode = v["secret"].get("defaultMode", 0o644)
            ok = (sc.get("fsGroup") is not None and mode & 0o040) or mode & 0o004
            assert ok, (f"{workload['metadata']['name']}: runs as uid {uid} but secret volume {v['name']} is mode "
                        f"{mode:o} without fsGroup: the key cannot be read")

    ds = next(d for d in by["DaemonSet"] if d["metadata"]["name"] == "picket-probe")
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    assert env["PICKET_PROBE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName", "probe: name not the node"
    assert "PICKET_REGION" in env, "probe: no region"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    spool = env["PICKET_SPOOL_DIR"]["value"]
    assert any(spool.startswith(p) for p in mounts), f"probe: spool {spool} is not on a volume"
    vols = {v["name"]: v for v in pod["volumes"]}
    assert any("configMap" in v for v in vols.values()), "probe: checks ConfigMap not mounted"
    for cm in by["ConfigMap"]:
        for key, text in cm["data"].items():
            validate_checks(f"deploy/kubernetes ConfigMap {cm['metadata']['name']} {key}", text, tmp)

    job = by["Job"][0]
    args = job["spec"]["template"]["spec"]["containers"][0].get("args", [])
    assert "migrate" in args, "migration Job does not run migrate"
    svc = next(d for d in by["Service"] if d["metadata"]["name"] == "picket-collector")
    assert any(p["port"] == 7700 for p in svc["spec"]["ports"]), "Service: no gRPC port 7700"
    print(f"ok: deploy/kubernetes: {len(docs)} objects: {', '.join(sorted(by))}")


def check_compose(tmp):
    d = load_all(os.path.join(SRC, "deploy", "compose.yaml"))
    assert len(d) == 1, "deploy/compose.yaml: expected one document"
    services = d[0]["services"]
    for s in ("postgres", "collector", "probe"):
        assert s in services, f"deploy/compose.yaml: no service {s}"
    for vol in services["probe"].get("volumes", []):
        host = vol.split(":")[0]
        if host.endswith(".yaml"):
            validate_checks("deploy/compose.yaml probe " + host,
                            open(os.path.join(SRC, "deploy", host)).read(), tmp)
    dockerfile = open(os.path.join(SRC, "deploy", "Dockerfile")).read()
    assert ".deb" in dockerfile and "apt-get install" in dockerfile, "deploy/Dockerfile does not install the packages"
    print("ok: deploy/compose.yaml parses: services " + ", ".join(sorted(services)))


def main():
    with tempfile.TemporaryDirectory(prefix="picket-deploy-") as tmp:
        check_man_pages()
        check_units(tmp)
        check_packages(tmp)
        check_kubernetes(tmp)
        check_kustomize(tmp)
        check_image(tmp)
        check_compose(tmp)
    print("test_deploy: all ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"test_deploy: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
