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
- `cpack -G DEB` makes the three packages, each holding its binary, manual page
  and (probe, collector) unit and example configuration;
- the Kubernetes manifests and the compose file parse as YAML with the kinds,
  services and wiring docs/DEPLOY.md describes."""

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
                                 "incidents", "slo")}


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
        print(f"ok: {found[0]} holds {len(files)} expected files")


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
        if name.endswith(".yaml"):
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
        check_compose(tmp)
    print("test_deploy: all ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"test_deploy: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
