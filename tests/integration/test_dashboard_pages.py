#!/usr/bin/python3
"""The dashboard's pages in a real browser (headless Chromium via playwright-core,
tests/integration/dashboard_pages.mjs) against real processes: PostgreSQL, the
collector, two probes (regions eu and us) checking the seed emulation
(deploy/emulation/seed_services.py), with the viewer's time zone set to
America/New_York.
1. Overview at 1,400 px: checks grouped by service, each with a history bar of
   rounds and uptime figures; search and the status filter narrow it and land in
   the URL, as the label filter (the checks' labels:) does; times show in the viewer's zone with UTC on hover; keyboard reaches
   the check links. Clicking a check opens /check/NAME; choosing 7 d puts
   range=7d in the URL; the page shows the plot, per-region lines and the last
   results.
2. A fault injected into the emulation (POST /_fault {"mode": "down"} on
   assistants): the overview shows FAIL with a down round in the bar and an
   open incident, the check page lists the failed results with their message,
   the incident and failure marks on the plot, the status page shows it down.
3. The same at 420 px: nothing wider than the screen (overview, search filter,
   status page, check page); the dark theme follows the system.
4. A maintenance window (picketctl maintenance add) over a fault of connectors:
   the check page shades it and names it, at 1,400 and 420 px, the SLO
   counts no bad round and its budget left (API and page) is the same before
   the outage and during it, where assistants' outage outside a window spent
   some of its budget.
5. The overview's history switched to days (the "history" select, bars=days in
   the URL, reached by Tab): every check's last 60 UTC days, no data before the
   test's first day, rag-health up and assistants-health's fault day down (the
   day's share of good results under 99 %), the same as /api/day-bars, at
   1,400 px (the default view, /api/board) and 420 px (a view with arguments),
   nothing cut off; back to rounds removes bars=days.
Status pages (--status-pages: title, logo, services, public) with 90 daily bars
and the ongoing and planned maintenance (picketctl's window, the --maintenance
file's),
and SVG badges at /badge/CHECK/KIND.svg, before and after the fault.
Screenshots of the fault, the README's three (overview.png, check.png,
status.png) and more, are written on every run into $PICKET_BUILD_DIR/screenshots
(build/screenshots; $PICKET_SCREENSHOT_DIR to choose), never into docs/img:
scripts/demo refreshes those from its own run (scripts/screenshots)."""

import datetime
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zoneinfo

from picket_env import (BUILD_DIR, SOURCE_DIR, PrivatePostgres, Proc, browse_steps, migrate, picketctl, start_collector,
                        start_probe, wait_for, write_checks)

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATION = os.path.join(SOURCE_DIR, "deploy", "emulation", "seed_services.py")
TMP = tempfile.mkdtemp(prefix="picket-dashboard-pages-")
SHOTS = os.environ.get("PICKET_SCREENSHOT_DIR") or os.path.join(BUILD_DIR, "screenshots")
README_SHOTS = ("overview.png", "check.png", "status.png")
TZ = "America/New_York"
# The day of the planned window's next occurrence (the --maintenance file): two days from today in Berlin.
PLANNED_DAY = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Berlin")).date() + datetime.timedelta(days=2)


def planned_window():
    """The planned window as /api/status answers it: its next occurrence, 03:00 to 05:00 in Berlin."""
    d = PLANNED_DAY
    start = int(datetime.datetime(d.year, d.month, d.day, 3, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).timestamp())
    return {"name": "db-upgrade", "reason": "database upgrade", "start_us": start * 1_000_000,
            "end_us": (start + 7200) * 1_000_000, "ongoing": False,
            "services": [{"service": "connectors", "checks": 1, "checks_total": 1}]}


def local_and_utc(us):
    """A time as the page shows it (the viewer's zone) and its hover title (UTC)."""
    t = datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc)
    return [t.astimezone(zoneinfo.ZoneInfo(TZ)).strftime("%Y-%m-%d %H:%M:%S"), t.strftime("%Y-%m-%d %H:%M:%S UTC")]


def browse(steps, name, headers=None):
    return browse_steps(steps, TMP, name, timezone=TZ, headers=headers)


def api(col, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (col.http_port, path), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def badge(col, check, kind):
    with urllib.request.urlopen("http://127.0.0.1:%d/badge/%s/%s.svg" % (col.http_port, check, kind),
                                timeout=30) as r:
        assert r.headers["Content-Type"] == "image/svg+xml", r.headers
        return r.read().decode()


def overview_of(col, check):
    code, j = api(col, "/api/overview")
    if code != 200:
        return None
    return next((c for c in j["checks"] if c["check"] == check), None)


LABELS = {"rag": {"labels": {"team": "ai", "tier": "1"}}, "assistants": {"labels": {"team": "ai"}},
          "sync": {"labels": {"team": "data", "spec": "integrations/webhook-processing.spec.ts"}}, "connectors": {"labels": {"tier": "edge"}}}
ROWS_JS = """(() => [...document.querySelectorAll('#checks tbody tr[data-check]')].map((tr) =>
  [...tr.children].map((td, i) => (i ? td : td.querySelector('a')).textContent)))()"""
NO_OVERFLOW_JS = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def cut_js(*tables):
    """What of the tables is cut off: each table wider than its box, or a cell of
    its rows outside the screen or drawn with no width (a column lost); [] when
    every column of every row can be read."""
    return """((sels) => sels.flatMap((sel) => {
  const t = document.querySelector(sel), bad = [];
  if (!t) return [sel + ' missing'];
  if (t.scrollWidth > t.clientWidth + 1) bad.push(sel + ' is ' + t.scrollWidth + ' px wide in ' + t.clientWidth);
  const rows = t.querySelectorAll('tbody tr');
  if (!rows.length) bad.push(sel + ' has no rows');
  for (const tr of rows) for (const td of tr.children) {
    const r = td.getBoundingClientRect(), what = sel + ' ' + (td.dataset.label || td.cellIndex);
    if (r.width < 1 || r.height < 1) bad.push(what + ' not shown');
    else if (r.left < -1 || r.right > window.innerWidth + 1) bad.push(what + ' at ' + r.left + '..' + r.right);
  }
  return bad;
}))(%s)""" % json.dumps(list(tables))


def rows_shown_js(n):
    return "document.querySelectorAll('#checks tr[data-check]').length === %d" % n


SHOWN_JS = ("[location.search, [...document.querySelectorAll('#checks tr[data-check]')].map((tr) => "
            "tr.dataset.check).sort()]")


# A report check's fields that tell its latest result, whatever the window.
LIVE_FIELDS = ("last_started_at_us", "last_outcome", "last_message", "last_metrics", "last_metrics_at_us")


def check_page_api(col):
    """/api/check-page: each part is what the separate endpoint answers for the
    same window (a window in the past, so both reads see the same rows), and
    each region's series since the check has two; errors as the parts give them."""
    # A window of whole minutes (the report's) that has results and is over: its rows no longer change.
    until = int(time.time()) // 60 * 60
    if not api(col, "/api/check-results?check=rag-health&limit=1&until=%d" % until)[1]["results"]:
        until += 60
    time.sleep(max(0, until + 3 - time.time()))  # every result started before until is stored
    q = "check=rag-health&since=%d&until=%d" % (until - 600, until)
    code, page = api(col, "/api/check-page?" + q)
    assert code == 200, (code, page)
    for part, path in (("report", "/api/report?" + q), ("incidents", "/api/incidents?" + q),
                       ("series", "/api/latency-series?" + q), ("results", "/api/check-results?" + q),
                       ("slo", "/api/slo?check=rag-health&until=%d" % until), ("marks", "/api/check-marks?" + q)):
        code, alone = api(col, path)
        for j in (page[part], alone):
            j.pop("now_us", None)  # when it was asked
        if part == "report":
            # Each check's latest result is live, not of the window: a result of
            # this 1 s check may land between the two reads, never go back.
            for pc, ac in zip(page[part]["checks"], alone["checks"]):
                assert pc["last_started_at_us"] <= ac["last_started_at_us"], (pc, ac)
                for c in (pc, ac):
                    for k in LIVE_FIELDS:
                        c.pop(k, None)
        assert code == 200 and page[part] == alone, (part, page[part], alone)
    assert sorted(page["regions"]) == ["eu", "us"], page["regions"].keys()
    for r in ("eu", "us"):
        assert page["regions"][r] == api(col, "/api/latency-series?%s&region=%s" % (q, r))[1], r
    assert page["results"]["results"] and page["report"]["checks"], page  # not empty parts compared
    code, j = api(col, "/api/check-page?check=nope&since=1h")
    assert code == 404 and "nope" in j["error"], (code, j)
    code, j = api(col, "/api/check-page?since=1h")
    assert code == 400 and "check" in j["error"], (code, j)
    code, j = api(col, "/api/check-page?check=rag-health&since=soon")
    assert code == 400 and "since" in j["error"], (code, j)
    code, j = api(col, "/api/check-page?check=rag-health&region=eu")
    assert code == 400 and "region" in j["error"], (code, j)


def main():
    ports_file = os.path.join(TMP, "ports.json")
    emu = Proc("emulation", ["/usr/bin/python3", EMULATION, "--rag-port", "0", "--sync-port", "0",
                             "--assistants-port", "0", "--connectors-port", "0", "--approval-port", "0",
                             "--ports-file", ports_file], env={"SHOPIFY_WEBHOOK_SECRET": "x"}, logdir=TMP)
    probes = []
    col = None
    try:
        wait_for("emulation ports", lambda: os.path.exists(ports_file), 20)
        with open(ports_file) as f:
            ports = json.load(f)
        checks = write_checks(os.path.join(TMP, "checks.yaml"), [{
            "name": svc + "-health", "type": "http", "service": svc, "interval": "1s", "timeout": "1s",
            "budgets": {"p50": "100ms", "p95": "200ms", "p99": "1s"}, "slo": {"target": 99, "window": "1d"},
            "request": {"url": "http://127.0.0.1:%d/health" % ports[svc]}, **LABELS.get(svc, {})}
            for svc in ("rag", "sync", "assistants", "connectors")])
        with PrivatePostgres() as pg:
            migrate(pg)
            logo = os.path.join(TMP, "logo.svg")
            with open(logo, "w") as f:
                f.write('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28">'
                        '<circle cx="14" cy="14" r="12" fill="#2a9d8f"/></svg>')
            pages = os.path.join(TMP, "status-pages.yaml")
            with open(pages, "w") as f:
                f.write("status_pages:\n  - name: seed\n    title: Seed services\n    logo: %s\n"
                        "    services: [rag, sync, assistants, connectors]\n    public: true\n" % logo)
            # A window planned two days from now (the --maintenance file), for the status page's planned maintenance.
            planned = os.path.join(TMP, "maintenance.yaml")
            with open(planned, "w") as f:
                f.write("windows:\n  - name: db-upgrade\n    for: [service:connectors]\n    every: \"%s 03:00\"\n"
                        "    duration: 2h\n    timezone: Europe/Berlin\n    reason: database upgrade\n"
                        % PLANNED_DAY.strftime("%a").lower())
            col = start_collector(pg, extra=["--compact-interval-s", "1", "--status-pages", pages,
                                             "--maintenance", planned], logdir=TMP)
            probes = [start_probe("pages-" + r, r, [col.port], checks, logdir=TMP) for r in ("eu", "us")]
            started = time.time()
            run(col, ports)
            for name in README_SHOTS:  # written by this run, as PNG
                path = os.path.join(SHOTS, name)
                with open(path, "rb") as f:
                    assert f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getmtime(path) >= started - 1, path
    finally:
        for p in probes:
            p.stop()
        if col:
            col.stop()
        emu.stop()
    print("test_dashboard_pages: OK (screenshots in %s)" % SHOTS)


def run(col, ports):
    base = "http://127.0.0.1:%d" % col.http_port
    first_day = int(time.time()) // 86400  # the UTC day of the test's first results
    # The overview's extras (bars, stale, 7/30-day uptime) come from the background snapshot.
    wait_for("rounds in the overview's history bars",
             lambda: all((overview_of(col, s + "-health") or {}).get("bars", "-").count("u") >= 1
                         for s in ("rag", "assistants")), 60, interval=1)
    # A round is up with its first result: the five asked for below, from both
    # regions' probes, may come a few seconds later on a loaded machine.
    wait_for("five results of rag-health from both regions",
             lambda: len(api(col, "/api/check-results?check=rag-health&limit=5")[1]["results"]) == 5 and
             {r["region"] for r in api(col, "/api/check-results?check=rag-health&limit=50")[1]["results"]} ==
             {"eu", "us"}, 60, interval=0.5)
    code, j = api(col, "/api/check-results?check=rag-health&limit=5")
    assert code == 200 and len(j["results"]) == 5 and j["results"][0]["outcome"] == "ok", j
    assert {r["region"] for r in api(col, "/api/check-results?check=rag-health&limit=50")[1]["results"]} == \
        {"eu", "us"}
    code, j = api(col, "/api/check-results?check=rag-health&limit=0")
    assert code == 400 and "limit" in j["error"], (code, j)
    # The uptime is of decided global rounds (every region reported, or the
    # quorum deadline passed), which may come a round after the bars show one.
    wait_for("rag-health's 24-hour uptime badge",
             lambda: "uptime 24h: 100.00%" in badge(col, "rag-health", "uptime-24h"), 60, interval=0.5)
    svg = badge(col, "rag-health", "uptime-24h")
    assert svg.startswith("<svg") and "uptime 24h: 100.00%" in svg, svg
    assert "status: up" in badge(col, "rag-health", "status") and "p95: " in badge(col, "rag-health", "p95")
    assert "uptime 7d" in badge(col, "rag-health", "uptime-7d")
    assert api(col, "/badge/nope/status.svg")[0] == 404 and api(col, "/badge/rag-health/nope.svg")[0] == 404
    # The history is recomputed every 30 s in the collector's first 10 minutes.
    wait_for("today in the status pages' history", lambda: all(
        s["days"][-1] is not None for s in api(col, "/api/status?group=seed")[1]["services"]), 90, interval=1)
    code, st = api(col, "/api/status?group=seed")
    assert code == 200 and st["title"] == "Seed services" and st["logo"] == "/status/seed/logo", st
    assert sorted(s["service"] for s in st["services"]) == ["assistants", "connectors", "rag", "sync"], st
    assert all(len(s["days"]) == 90 and s["days"][-1] == 1.0 for s in st["services"]), st
    # each day's state as the collector classes it (the overview's day bars' thresholds)
    assert all(s["day_states"] == "".join("-" if d is None else "u" if d >= 0.999 else "p" if d >= 0.99 else "d"
                                          for d in s["days"]) for s in st["services"]), st
    assert "rag-health" not in json.dumps(st)  # public: services only
    # Maintenance: the file's window two days ahead is planned on connectors; the group rag has none.
    assert st["maintenance"] == [planned_window()], st["maintenance"]
    code, rag = api(col, "/api/status?group=rag")
    assert code == 200 and rag["maintenance"] == [] and rag["maintenance_at_us"] > 0, rag
    assert overview_of(col, "rag-health")["labels"] == {"team": "ai", "tier": "1"}
    assert overview_of(col, "connectors-health")["labels"] == {"tier": "edge"}
    x = overview_of(col, "rag-health")
    assert x["stale"] is False and len(x["bars"]) == 60 and x["round_us"] == 1_000_000, x  # the tracker's rounds: the 1 s interval

    # 1. Overview, filters, keyboard, time zone, then a check page by clicking.
    v = browse([
        {"goto": base + "/?open_after=1&close_after=1&since=1h"},
        {"wait": "document.querySelectorAll('#checks tr[data-check] .bars').length === 4 && "
                 "document.querySelector('#checks td.e2e.OK') !== null"},
        {"eval": ROWS_JS, "as": "rows"},
        {"eval": "[...document.querySelectorAll('#checks tr.svc')].map((tr) => tr.textContent)", "as": "services"},
        {"eval": "document.querySelector('#checks .bars').dataset.bars", "as": "bars"},
        {"eval": "(() => { const t = document.querySelector('#window time'); return [t.textContent, t.title]; })()",
         "as": "time"},
        {"shot": os.path.join(TMP, "overview-healthy.png")},
        {"fill": ["#f-q", "rag"]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 1"},
        {"eval": "location.search", "as": "search_url"},
        {"fill": ["#f-q", ""]},
        {"select": ["#f-status", "FAIL"]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 0"},
        {"eval": "location.search", "as": "status_url"},
        {"select": ["#f-status", ""]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 4"},
        {"select": ["#f-label", "team=ai"]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 2"},
        {"eval": "[location.search, [...document.querySelectorAll('#checks tr[data-check]')].map((tr) => "
                 "tr.dataset.check).sort()]", "as": "label_filter"},
        {"goto": base + "/?open_after=1&close_after=1&since=1h&label=team%3Ddata"},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 1 && "
                 "document.querySelector(\"#checks tr[data-check='sync-health']\") !== null"},
        {"select": ["#f-label", ""]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 4"},
        {"select": ["#f-service", "sync"]},
        {"wait": rows_shown_js(1)},
        {"eval": SHOWN_JS, "as": "service_filter"},
        {"select": ["#f-service", ""]},
        {"select": ["#f-region", "us"]},
        {"wait": rows_shown_js(4) + " && location.search.includes('reg=us')"},
        {"eval": SHOWN_JS, "as": "region_filter"},
        {"select": ["#f-region", ""]},
        {"wait": rows_shown_js(4) + " && !location.search.includes('reg=')"},
        {"eval": cut_js("#checks", "#incidents", "#probes"), "as": "cut_1400"},
        {"click": "#f-q"},
        {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"},
        {"press": "Tab"}, {"press": "Tab"},
        {"eval": "document.activeElement.getAttribute('href')", "as": "focused"},
        {"click": "#checks a[href='/check/rag-health']"},
        {"wait": "location.pathname === '/check/rag-health' && document.querySelector('#plot canvas') !== null && "
                 "document.querySelectorAll('#results tbody tr.result').length > 0"},
        {"click": "#range a[href='?range=7d']"},
        {"wait": "location.search === '?range=7d' && document.querySelector('#plot canvas') !== null && "
                 "document.querySelector('#range a.cur').textContent === '7 d'"},
        {"eval": "[...document.querySelectorAll('.u-legend .u-series')].map((e) => e.textContent)", "as": "legend"},
        {"eval": "[...document.querySelectorAll('#results tbody tr.result')].map((tr) => tr.children[3].textContent)",
         "as": "outcomes"},
        {"eval": "document.querySelector('#slo tbody').textContent", "as": "slo"},
        {"goto": base + "/check/rag-health?range=1h"},
        {"wait": "document.querySelector('#plot canvas') !== null"},
        {"shot": os.path.join(TMP, "check-healthy.png")},
    ], "healthy")
    rows = {r[0]: r for r in v["rows"]}
    assert set(rows) == {"rag-health", "sync-health", "assistants-health", "connectors-health"}, v["rows"]
    assert len(v["services"]) == 4 and v["services"][0].startswith("assistants"), v["services"]
    assert all(r[1] == "OK" for r in rows.values()), v["rows"]
    assert rows["rag-health"][3].endswith("%") and " / 200 ms" in rows["rag-health"][6], rows["rag-health"]
    assert len(v["bars"]) == 60 and "u" in v["bars"], v["bars"]
    local, title = v["time"]
    assert title.endswith(" UTC") and local != title[:-4], v["time"]  # New York is never UTC
    assert "q=rag" in v["search_url"] and "st=FAIL" in v["status_url"], (v["search_url"], v["status_url"])
    assert "label=team%3Dai" in v["label_filter"][0], v["label_filter"]
    assert v["label_filter"][1] == ["assistants-health", "rag-health"], v["label_filter"]
    assert v["focused"] and v["focused"].startswith("/"), v["focused"]
    assert "svc=sync" in v["service_filter"][0] and v["service_filter"][1] == ["sync-health"], v["service_filter"]
    assert "reg=us" in v["region_filter"][0] and len(v["region_filter"][1]) == 4, v["region_filter"]
    assert v["cut_1400"] == [], v["cut_1400"]
    assert any("eu p95" in s for s in v["legend"]) and any("us p95" in s for s in v["legend"]), v["legend"]
    assert v["outcomes"] and set(v["outcomes"]) == {"OK"}, v["outcomes"]
    assert "99.00%" in v["slo"] and "24.0 h" in v["slo"], v["slo"]  # the SLO over its own window

    # 2. A fault in the emulation: assistants answers 503.
    post("http://127.0.0.1:%d/_fault" % ports["assistants"], {"mode": "down"})
    wait_for("a down round in assistants-health's bar",
             lambda: "d" in (overview_of(col, "assistants-health") or {}).get("bars", ""), 90, interval=1)
    os.environ["DASHBOARD_WAIT_MS"] = "150000"
    # A custom range typed into the check page's from/to fields, in the viewer's zone (New York).
    now_min = int(time.time()) // 60 * 60
    custom_s = (now_min - 7200, now_min)
    custom = [datetime.datetime.fromtimestamp(t, zoneinfo.ZoneInfo(TZ)).strftime("%Y-%m-%dT%H:%M") for t in custom_s]
    v = browse([
        {"goto": base + "/?open_after=1&close_after=1&since=1h"},
        {"wait": "(() => { const tr = document.querySelector(\"#checks tr[data-check='assistants-health']\"); "
                 "return tr && tr.querySelector('td.e2e.FAIL') && tr.querySelector('.bars').dataset.bars.includes('d') "
                 "&& tr.querySelector('.open'); })()"},
        {"eval": ROWS_JS, "as": "rows"},
        {"eval": "document.querySelector('#incidents tr.incident.open').textContent", "as": "incident"},
        {"eval": cut_js("#checks", "#incidents", "#probes"), "as": "cut_fault_1400"},
        {"shot": os.path.join(SHOTS, "overview.png")},
        {"goto": base + "/check/assistants-health?range=1h"},
        {"wait": "document.querySelector('#results tr.result.FAIL') !== null && "
                 "document.querySelector('#incidents tr.incident.open') !== null && "
                 "Number(document.querySelector('#plot').dataset.failedMarks) > 0"},
        {"eval": "document.querySelector('#results tr.result.FAIL').textContent", "as": "failed_result"},
        {"shot": os.path.join(SHOTS, "check.png")},
        {"goto": base + "/service/assistants?open_after=1&close_after=1&since=1h"},
        {"wait": "document.querySelector('#checks td.e2e.FAIL') !== null"},
        {"eval": "[document.querySelector('#title').textContent, "
                 "document.querySelectorAll('#checks tr[data-check]').length]", "as": "service_page"},
        {"goto": base + "/quality"},
        {"wait": "document.querySelector(\"#availability a[href='/service/assistants']\") !== null"},
        {"eval": "[...document.querySelectorAll('#availability tbody tr')].map((tr) => "
                 "[...tr.children].map((td) => td.textContent))", "as": "quality_availability"},
        {"eval": "document.querySelectorAll('#perf tbody tr[data-check]').length", "as": "quality_perf"},
        {"goto": base + "/status/seed"},
        {"wait": "document.querySelector(\"#services tr[data-service='assistants'] td.down\") !== null && "
                 "document.querySelector('#logo').complete && !document.querySelector('#logo').hidden"},
        {"eval": "document.querySelector('#title').textContent", "as": "status_title"},
        {"eval": "document.querySelector('#overall').textContent", "as": "overall"},
        {"eval": "document.querySelector(\"#services tr[data-service='rag'] .bars\").dataset.bars", "as": "days"},
        {"shot": os.path.join(SHOTS, "status.png")},
        # 3. 420 px wide and dark.
        {"viewport": [420, 900]}, {"dark": True},
        {"goto": base + "/?open_after=1&close_after=1&since=1h"},
        {"wait": "document.querySelector('#checks td.e2e.FAIL') !== null"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_overview"},
        {"eval": "getComputedStyle(document.body).backgroundColor", "as": "dark_bg"},
        {"eval": "getComputedStyle(document.querySelector(\"#checks tr[data-check='assistants-health'] .bars\")).width",
         "as": "bar_width"},
        {"eval": "document.querySelector(\"#checks tr[data-check='assistants-health'] .bars\").dataset.bars",
         "as": "bars_420"},
        {"shot": os.path.join(SHOTS, "overview-420.png"), "full": True},
        {"fill": ["#f-q", "rag"]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 1"},
        {"eval": "[location.search, document.querySelector('#checks tr[data-check]').dataset.check]",
         "as": "filter_420"},
        {"fill": ["#f-q", ""]},
        {"wait": "document.querySelectorAll('#checks tr[data-check]').length === 4"},
        {"select": ["#f-status", "FAIL"]},
        {"wait": rows_shown_js(1)},
        {"eval": SHOWN_JS, "as": "status_420"},
        {"select": ["#f-status", ""]},
        {"wait": rows_shown_js(4)},
        {"select": ["#f-label", "team=ai"]},
        {"wait": rows_shown_js(2)},
        {"eval": SHOWN_JS, "as": "label_420"},
        {"select": ["#f-label", ""]},
        {"wait": rows_shown_js(4)},
        {"select": ["#f-service", "assistants"]},
        {"wait": rows_shown_js(1)},
        {"eval": SHOWN_JS, "as": "service_420"},
        {"select": ["#f-service", ""]},
        {"wait": rows_shown_js(4) + " && location.search === '?open_after=1&close_after=1&since=1h'"},
        {"eval": cut_js("#checks", "#incidents", "#probes"), "as": "cut_overview_420"},
        {"eval": "(() => { const tr = document.querySelector('#incidents tr.incident.open'), r = tr.getBoundingClientRect(); "
                 "return [tr.textContent, r.left >= 0 && r.right <= window.innerWidth]; })()", "as": "incident_420"},
        {"goto": base + "/status/seed"},
        {"wait": "document.querySelector(\"#services tr[data-service='assistants'] td.down\") !== null"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_status"},
        {"eval": cut_js("#services"), "as": "cut_status_420"},
        {"goto": base + "/quality"},
        {"wait": "document.querySelector(\"#availability a[href='/service/assistants']\") !== null"},
        {"eval": cut_js("#availability", "#perf"), "as": "cut_quality_420"},
        {"goto": base + "/?open_after=1&close_after=1&since=1h"},
        {"wait": "document.querySelector('#checks td.e2e.FAIL') !== null"},
        {"click": "#checks a[href='/check/assistants-health']"},
        {"wait": "document.querySelector('#plot canvas') !== null && "
                 "document.querySelector('#results tr.result.FAIL') !== null && "
                 "document.querySelector('#incidents tr.incident.open') !== null"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_check"},
        {"eval": cut_js("#incidents", "#results", "#slo"), "as": "cut_check_420"},
        {"eval": "document.querySelector('#incidents tr.incident.open').textContent", "as": "check_incident_420"},
        {"shot": os.path.join(SHOTS, "check-420.png")},
        {"click": "#range a[href='?range=7d']"},
        {"wait": "location.search === '?range=7d' && document.querySelector('#plot canvas') !== null && "
                 "document.querySelector('#range a.cur').textContent === '7 d' && "
                 "document.querySelector('#results tr.result.FAIL') !== null"},
        {"eval": "[location.pathname + location.search, document.querySelector('#plot canvas').getBoundingClientRect()"
                 ".right <= window.innerWidth + 1]", "as": "range_420"},
        {"fill": ["#c-since", custom[0]]}, {"fill": ["#c-until", custom[1]]},
        {"click": "#custom button"},
        {"wait": "location.search.startsWith('?since=') && document.querySelector('#plot canvas') !== null && "
                 "document.querySelector('#range .hint').textContent === 'custom range'"},
        {"eval": "location.search", "as": "custom_420"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_custom"},
    ], "fault")
    os.environ["DASHBOARD_WAIT_MS"] = "20000"
    rows = {r[0]: r for r in v["rows"]}
    assert rows["assistants-health"][1] == "FAIL" and "open since" in rows["assistants-health"][8], rows
    assert rows["rag-health"][1] == "OK", rows
    assert "assistants-health" in v["incident"] and "OPEN" in v["incident"], v["incident"]
    assert v["cut_fault_1400"] == [], v["cut_fault_1400"]
    assert "503" in v["failed_result"] and "FAIL" in v["failed_result"], v["failed_result"]
    assert v["service_page"] == ["Service assistants", 1], v["service_page"]
    avail = {r[0]: r for r in v["quality_availability"]}
    assert avail["assistants"][3] == "1" and avail["rag"][3] == "0", avail  # failing now
    assert v["quality_perf"] == 4, v["quality_perf"]
    assert v["status_title"] == "Seed services" and "1 of 4 services down" in v["overall"], v
    assert len(v["days"]) == 90 and v["days"].endswith("u"), v["days"]
    # badges are of the background report, which may be a pass behind the live rows
    wait_for("assistants-health's status badge down", lambda: "status: down" in badge(col, "assistants-health",
                                                                                      "status"), 30, interval=0.5)
    assert v["fits_overview"] and v["fits_check"] and v["fits_status"], v
    assert "q=rag" in v["filter_420"][0] and v["filter_420"][1] == "rag-health", v["filter_420"]
    rgb = [int(x) for x in v["dark_bg"][v["dark_bg"].index("(") + 1:-1].split(",")[:3]]
    assert sum(rgb) < 150, v["dark_bg"]
    assert float(v["bar_width"].rstrip("px")) > 100, v["bar_width"]
    assert "d" in v["bars_420"], v["bars_420"]  # the down rounds in the history bar at 420 px too
    assert v["status_420"] == ["?open_after=1&close_after=1&since=1h&st=FAIL", ["assistants-health"]], v["status_420"]
    assert "label=team%3Dai" in v["label_420"][0] and v["label_420"][1] == ["assistants-health", "rag-health"], v
    assert "svc=assistants" in v["service_420"][0] and v["service_420"][1] == ["assistants-health"], v["service_420"]
    assert v["cut_overview_420"] == [] and v["cut_status_420"] == [] and v["cut_check_420"] == [], v
    assert v["cut_quality_420"] == [], v["cut_quality_420"]
    assert "assistants-health" in v["incident_420"][0] and "OPEN" in v["incident_420"][0] and v["incident_420"][1], v
    assert "OPEN" in v["check_incident_420"], v["check_incident_420"]
    assert v["range_420"] == ["/check/assistants-health?range=7d", True], v["range_420"]
    assert v["custom_420"] == "?since=%d&until=%d" % custom_s and v["fits_custom"], (v["custom_420"], custom_s)
    day_bars(col, base, first_day)
    post("http://127.0.0.1:%d/_fault" % ports["assistants"], {"mode": "ok"})
    maintenance(col, ports, base)
    check_page_api(col)


DAY_BARS_JS = """(() => Object.fromEntries([...document.querySelectorAll('#checks tr[data-check]')].map((tr) =>
  [tr.dataset.check, tr.querySelector('.bars') ? tr.querySelector('.bars').dataset.bars : null])))()"""
DAY_BARS_SHOWN_JS = ("document.querySelectorAll('#checks tr[data-check] .bars').length === 4 && "
                     "[...document.querySelectorAll('#checks tr[data-check] .bars')].every((b) => "
                     "b.getAttribute('aria-label').includes('UTC days'))")


def day_bars(col, base, first_day):
    """5. The overview's history of days (bars=days): the checks' last 60 UTC
    days from /api/day-bars, with the fault of part 2 as a down day."""
    def api_days():
        code, j = api(col, "/api/day-bars")
        return j if code == 200 else None
    # Recomputed with the status history (every 30 s in the collector's first 10 minutes).
    wait_for("assistants-health's fault day down in /api/day-bars", lambda: (api_days() or {}).get(
        "checks", {}).get("assistants-health", [""])[0].endswith("d"), 120, interval=1)
    j = api_days()
    k = int(time.time()) // 86400 - first_day + 1  # the UTC days with results (1, unless past midnight)
    up, down = "-" * (60 - k) + "u" * k, "-" * (60 - k) + "u" * (k - 1) + "d"
    want = {"rag-health": up, "sync-health": up, "connectors-health": up, "assistants-health": down}
    assert j["days"] == 60 and j["first_day_us"] == (int(time.time()) // 86400 - 59) * 86400_000_000, j
    assert {c: x[0] for c, x in j["checks"].items()} == want, j
    assert j["checks"]["assistants-health"][1][-1] < 0.99 and j["checks"]["rag-health"][1] == [1] * k, j
    v = browse([
        {"viewport": [1400, 900]},
        {"goto": base + "/"},
        {"wait": rows_shown_js(4) + " && document.querySelector('#checks td.e2e.FAIL') !== null"},
        {"click": "#f-q"},
        {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"}, {"press": "Tab"},
        {"press": "Tab"},
        {"eval": "document.activeElement.id", "as": "focused"},
        {"select": ["#f-bars", "days"]},
        {"wait": "location.search.includes('bars=days') && " + DAY_BARS_SHOWN_JS},
        {"eval": DAY_BARS_JS, "as": "days_1400"},
        {"eval": "[location.search, document.querySelector('#bars-head').textContent]", "as": "url_1400"},
        {"eval": "document.querySelector(\"#checks tr[data-check='assistants-health'] .bars\").title", "as": "title"},
        {"eval": cut_js("#checks", "#incidents", "#probes"), "as": "cut_1400"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_1400"},
        {"shot": os.path.join(SHOTS, "overview-days.png")},
        {"viewport": [420, 900]},
        {"goto": base + "/?open_after=1&close_after=1&since=1h&bars=days"},
        {"wait": DAY_BARS_SHOWN_JS},
        {"eval": "document.querySelector('#f-bars').value", "as": "select_420"},
        {"eval": DAY_BARS_JS, "as": "days_420"},
        {"eval": cut_js("#checks", "#incidents", "#probes"), "as": "cut_420"},
        {"eval": NO_OVERFLOW_JS, "as": "fits_420"},
        {"shot": os.path.join(SHOTS, "overview-days-420.png"), "full": True},
        {"select": ["#f-bars", ""]},
        {"wait": "!location.search.includes('bars=') && "
                 "document.querySelector('#checks .bars').getAttribute('aria-label').includes('rounds of')"},
        {"eval": "[location.search, document.querySelector('#bars-head').textContent]", "as": "url_rounds"},
    ], "day-bars")
    assert v["focused"] == "f-bars", v["focused"]  # the keyboard reaches the choice
    assert v["days_1400"] == want and v["days_420"] == want, (v["days_1400"], v["days_420"], want)
    assert v["url_1400"] == ["?bars=days", "last 60 days"], v["url_1400"]
    assert "60 UTC days" in v["title"] and "down (under 99%)" in v["title"], v["title"]
    assert v["cut_1400"] == [] and v["cut_420"] == [] and v["fits_1400"] and v["fits_420"], v
    assert v["select_420"] == "days", v["select_420"]
    assert v["url_rounds"] == ["?open_after=1&close_after=1&since=1h", "last 60 rounds"], v["url_rounds"]


def slo_of(col, check):
    code, j = api(col, "/api/slo?check=" + check)
    assert code == 200, (code, j)
    return j["checks"][0]


def maintenance(col, ports, base):
    """4. A maintenance window (picketctl maintenance add, for the checks
    labelled tier=edge) over a fault of connectors: the check page hatches it on the chart and names it, its
    failed results are listed, and the SLO stays whole (no bad round)."""
    # From now, mid-minute: the SLO leaves out exactly the rounds that start in
    # the window (the minute's earlier rounds, all good, stay counted).
    start = int(time.time())
    out = picketctl(col.port, "maintenance", "add", "upgrade", "--for", "label:tier=edge", "--start",
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), "--duration", "1h",
                    "--reason", "upgrade")
    assert out.returncode == 0 and "added" in out.stdout, (out.stdout, out.stderr)
    before = slo_of(col, "connectors-health")
    # The SLO budget left as the check page shows it (the card and the SLO table), before the outage.
    page_budget_js = ("[document.querySelector('#cards .budget').textContent, "
                      "document.querySelector('#slo tbody .budget').textContent]")
    v0 = browse([
        {"goto": base + "/check/connectors-health?range=1h"},
        {"wait": "Number(document.querySelector('#plot').dataset.maintenance) === 1 && "
                 "document.querySelector('#slo tbody .budget') !== null"},
        {"eval": page_budget_js, "as": "budget"},
    ], "maintenance-before")
    post("http://127.0.0.1:%d/_fault" % ports["connectors"], {"mode": "down"})
    try:
        wait_for("connectors failing in the window", lambda: sum(
            r["outcome"] == "failed" for r in api(col, "/api/check-results?check=connectors-health&limit=20")[1]
            ["results"]) >= 6, 30, interval=0.5)
        v = browse([
            {"goto": base + "/check/connectors-health?range=1h"},
            {"wait": "Number(document.querySelector('#plot').dataset.maintenance) === 1 && "
                     "document.querySelector('#results tr.result.FAIL') !== null"},
            # The SLO table's budget as the API gives it: a sanitized CI run once read "overspent 6.0x" here
            # while the failed results were seconds old, and 100 % from /api/slo right after: a result that
            # came between the edge minute's rollup read and its raw read made it look like a minute whose
            # raw results are gone, kept whole (fixed in maint_exact.c, tests/unit/collector/test_maint_exact.c).
            # The page reloads its data every 10 s; a budget still spent after the bounded wait fails.
            {"wait": "document.querySelector('#slo tbody .budget').textContent === '100.00%'"},
            {"eval": "document.querySelector('#maint').textContent", "as": "maint"},
            {"eval": "document.querySelector('#slo tbody').textContent", "as": "slo"},
            {"eval": page_budget_js, "as": "budget"},
            {"shot": os.path.join(SHOTS, "check-maintenance.png")},
            {"viewport": [420, 900]},
            {"goto": base + "/check/connectors-health?range=1h"},
            {"wait": "Number(document.querySelector('#plot').dataset.maintenance) === 1"},
            {"eval": NO_OVERFLOW_JS, "as": "fits"},
        ], "maintenance")
        after = slo_of(col, "connectors-health")
    finally:
        post("http://127.0.0.1:%d/_fault" % ports["connectors"], {"mode": "ok"})
    assert "upgrade" in v["maint"] and "left out of uptime and the SLO" in v["maint"], v["maint"]
    assert "99.00%" in v["slo"] and v["fits"], v
    assert before["bad"] == 0 and after["bad"] == 0, (before, after)  # the SLO is whole
    # SLO budget left unchanged across the window: the API's figure and the page's, before the outage and
    # with its failed results listed. The control: assistants' outage (part 2, no window) spent its budget.
    assert before["budget_left"] == after["budget_left"] == 1.0, (before, after)
    assert v0["budget"] == v["budget"] == ["100.00%", "100.00%"], (v0["budget"], v["budget"])
    spent = slo_of(col, "assistants-health")
    assert spent["bad"] > 0 and spent["budget_left"] < 1.0, spent
    status_maintenance(col, base, start)
    code, marks = api(col, "/api/check-marks?check=connectors-health&since=1h")
    assert code == 200 and [m["name"] for m in marks["maintenance"]] == ["upgrade"], marks
    assert marks["maintenance"][0]["start_us"] == start * 1_000_000, marks
    assert marks["maintenance"][0]["end_us"] == (start + 3600) * 1_000_000, marks  # where it will end, past the range


MAINT_ROWS_JS = """((sel) => { const s = document.querySelector(sel); return [s.hidden, [...s.querySelectorAll('tbody tr')].map((tr) =>
  [...tr.children].map((td) => td.textContent).concat([...tr.querySelectorAll('time')].map((t) => t.title)))]; })"""


def status_maintenance(col, base, start):
    """The status page's maintenance: the ongoing window (picketctl maintenance
    add, label:tier=edge: connectors) and the planned one (the --maintenance
    file, next occurrence), through the JSON and in the browser at 1,400 and
    420 px; the group rag (no window on its checks) shows neither."""
    ongoing = {"name": "upgrade", "reason": "upgrade", "start_us": start * 1_000_000,
               "end_us": (start + 3600) * 1_000_000, "ongoing": True,
               "services": [{"service": "connectors", "checks": 1, "checks_total": 1}]}
    wait_for("the ongoing window on the status page", lambda: len(
        api(col, "/api/status?group=seed")[1]["maintenance"]) == 2, 30, interval=0.5)
    code, st = api(col, "/api/status?group=seed")
    assert code == 200 and st["maintenance"] == [ongoing, planned_window()], st["maintenance"]
    code, rag = api(col, "/api/status?group=rag")
    assert code == 200 and rag["maintenance"] == [], rag["maintenance"]
    shown = "document.querySelector(\"#services tr[data-service='connectors']\") !== null && " \
            "!document.querySelector('#maint-ongoing').hidden"
    v = browse([
        {"goto": base + "/status/seed"},
        {"wait": shown},
        {"eval": MAINT_ROWS_JS + "('#maint-ongoing')", "as": "ongoing"},
        {"eval": MAINT_ROWS_JS + "('#maint-planned')", "as": "planned"},
        {"eval": "[...document.querySelectorAll('main h2')].map((h) => h.textContent)", "as": "headings"},
        {"shot": os.path.join(SHOTS, "status-maintenance.png")},
        {"viewport": [420, 900]},
        {"goto": base + "/status/seed"},
        {"wait": shown},
        {"eval": NO_OVERFLOW_JS, "as": "fits"},
        {"eval": cut_js("#maint-ongoing table", "#maint-planned table"), "as": "cut"},
        {"shot": os.path.join(SHOTS, "status-maintenance-420.png"), "full": True},
        {"goto": base + "/status/rag"},
        {"wait": "document.querySelector(\"#services tr[data-service='rag']\") !== null"},
        {"eval": "[document.querySelector('#maint-ongoing').hidden, document.querySelector('#maint-planned').hidden, "
                 "document.querySelectorAll('#maint-ongoing tbody tr, #maint-planned tbody tr').length]", "as": "rag"},
    ], "status-maintenance")
    p = planned_window()
    s0, e0 = local_and_utc(start * 1_000_000), local_and_utc((start + 3600) * 1_000_000)
    s1, e1 = local_and_utc(p["start_us"]), local_and_utc(p["end_us"])
    assert v["ongoing"] == [False, [["upgrade", "upgrade", "connectors", s0[0], e0[0], s0[1], e0[1]]]], v["ongoing"]
    assert v["planned"] == [False, [["db-upgrade", "database upgrade", "connectors", s1[0], e1[0], s1[1], e1[1]]]], \
        v["planned"]
    assert v["headings"] == ["Ongoing maintenance", "Planned maintenance", "Incidents"], v["headings"]
    assert v["fits"] and v["cut"] == [], (v["fits"], v["cut"])
    assert v["rag"] == [True, True, 0], v["rag"]


if __name__ == "__main__":
    main()
