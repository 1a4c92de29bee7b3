// dashboard.js: renders the collector's JSON (/api/report, /api/incidents,
// /api/probes, /api/latency-series). Every figure is computed by the collector;
// this only formats. The page's own query string (since, until, service,
// region, open_after, close_after) is passed to the API as is.
'use strict';
const qs = location.search;
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
const ms = (us) => (us == null || us <= 0 ? '–' : us >= 10000 ? (us / 1000).toFixed(0) + ' ms' : (us / 1000).toFixed(1) + ' ms');
const pct = (r) => (r == null ? 'no data' : (r * 100).toFixed(r >= 0.9995 && r < 1 ? 3 : 2) + '%');
const when = (us) => (us ? new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19) : '–');
const dur = (us) => { const s = Math.round(us / 1e6); return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h'; };
const E2E = { ok: 'OK', degraded: 'DEGRADED', failed: 'FAIL', unknown: 'UNKNOWN' };

const get = window.picketFetch;

// uPlot is loaded only when a plot is first asked for: it is not on the first load's path.
let uplotLoading = null;
function loadUplot() {
  if (!uplotLoading)
    uplotLoading = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = '/assets/uplot.css';
      document.head.appendChild(css);
      const s = document.createElement('script');
      s.src = '/assets/uplot.js';
      s.onload = resolve;
      s.onerror = () => reject(new Error('cannot load /assets/uplot.js'));
      document.head.appendChild(s);
    });
  return uplotLoading;
}

function withQuery(path, extra) {
  const p = new URLSearchParams(qs);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  const s = p.toString();
  return s ? path + '?' + s : path;
}

// Incidents per check from /api/incidents (its open_after/close_after), so the
// column and the incidents table always agree.
let incByCheck = {};

function checkRow(c) {
  const e2e = c.last_started_at_us ? E2E[c.last_outcome] || c.last_outcome : 'UNKNOWN';
  const av = c.availability || {}, lat = c.latency || {};
  const regions = (av.regions || []).map((r) => esc(r.region) + ' ' + pct(r.uptime)).join(', ');
  const over = (v, b) => (b > 0 && v > b ? ' over' : '');
  const tr = c.trend && c.trend.p95_us;
  const trend = tr && tr.direction ? tr.direction + (tr.pct_per_day != null ? ' ' + tr.pct_per_day.toFixed(1) + '%/day' : '') : '–';
  const slo = c.slo ? pct(c.slo.budget_left) : '–';
  return '<tr data-check="' + esc(c.check) + '"><td>' + esc(c.service) + '</td><td>' + esc(c.check) +
    '</td><td class="e2e ' + e2e + '">' + e2e + '</td><td class="num uptime">' + pct(av.global && av.global.uptime) +
    '</td><td>' + regions + '</td><td class="num' + over(lat.p50_us, lat.budget_p50_us) + '">' + ms(lat.p50_us) +
    '</td><td class="num' + over(lat.p95_us, lat.budget_p95_us) + '">' + ms(lat.p95_us) +
    '</td><td class="num' + over(lat.p99_us, lat.budget_p99_us) + '">' + ms(lat.p99_us) + '</td><td>' +
    [lat.budget_p50_us, lat.budget_p95_us, lat.budget_p99_us].map(ms).join(' / ') + '</td><td>' + esc(trend) +
    '</td><td class="num">' + incCell(incByCheck[c.check]) + '</td><td class="num">' + slo + '</td><td class="figures">' +
    figures(c.last_metrics) + '</td><td class="msg">' + esc(c.last_message || '') + '</td></tr>';
}

// The check's numbers (extract:, exec perfdata: npm audit's vulnerabilities, ...).
function figures(list) {
  return (list || []).map((m) => esc(m.name) + '=' + esc(String(Math.round(m.value * 1000) / 1000))).join(' ') || '–';
}

function incCell(list) {
  if (!list) return '–';
  const open = list.filter((i) => i.end_us < 0).length;
  return (open ? '<span class="open">' + open + ' open</span> / ' : '') + list.length;
}

function renderChecks(rep) {
  $('#window').textContent = when(rep.since_us) + ' – ' + when(rep.until_us) + ' UTC';
  $('#checks tbody').innerHTML = rep.checks.map(checkRow).join('');
}

// Group SLOs (picket-collector --slos): shown only when the collector has some.
function renderGroups(rep) {
  const groups = rep.groups || [];
  $('#slos').hidden = groups.length === 0;
  const burn = (g, i) => {
    const b = (g.burns || [])[i];
    if (!b) return '–';
    const f = (v) => (v == null ? '–' : v.toFixed(1) + '×');
    return '<span class="' + (b.firing ? 'open' : '') + '">' + f(b.burn_long) + ' / ' + f(b.burn_short) + '</span>';
  };
  $('#groups tbody').innerHTML = groups.map((g) =>
    '<tr data-slo="' + esc(g.name) + '"><td title="' + esc(g.description || '') + '">' + esc(g.name) + '</td><td>' +
    esc((g.members || []).join(', ')) + '</td><td class="num">' + pct(g.target) + '</td><td>' + dur(g.window_us) +
    '</td><td class="num">' + g.good + ' / ' + g.bad + '</td><td class="num budget">' + pct(g.budget_left) +
    '</td><td class="num">' + burn(g, 0) + '</td><td class="num">' + burn(g, 1) + '</td></tr>').join('');
}

// Maintenance and depends_on marks (docs/ANALYTICS.md): such an incident does not page.
function mark(i) {
  if (i.maintenance) return ' <span class="mark">maintenance: ' + esc(i.maintenance_window) + '</span>';
  return i.caused_by ? ' <span class="mark">caused by ' + esc(i.caused_by) + '</span>' : '';
}

function renderIncidents(inc) {
  const rows = [];
  for (const c of inc.checks)
    for (const i of c.incidents) rows.push(i);
  rows.sort((a, b) => (b.end_us < 0) - (a.end_us < 0) || b.start_us - a.start_us);
  $('#incidents tbody').innerHTML = rows.slice(0, 200).map((i) => {
    const open = i.end_us < 0;
    return '<tr class="incident ' + (open ? 'open' : 'closed') + '" data-check="' + esc(i.check) + '"><td>' +
      esc(i.check) + '</td><td class="' + (open ? 'open' : '') + '">' + (open ? 'OPEN' : 'closed') + '</td><td>' +
      when(i.start_us) + '</td><td>' + dur(i.duration_us) + '</td><td>' + esc(i.regions.join(', ')) + mark(i) +
      '</td></tr>';
  }).join('') || '<tr><td colspan="5">no incidents in the window</td></tr>';
}

function renderProbes(p) {
  $('#probes tbody').innerHTML = p.probes.map((x) =>
    '<tr><td>' + esc(x.name) + '</td><td>' + esc(x.region) + '</td><td>' +
    (x.last_seen_us ? dur(Math.max(0, p.now_us - x.last_seen_us)) + ' ago' : 'never') + '</td><td class="num">' +
    x.pending + '</td><td class="num">' + x.dropped + '</td><td class="checks">' + checksCell(x) + '</td></tr>').join('');
}

// The central checks version a probe runs, and the one it refused with why.
function checksCell(x) {
  const runs = x.checks_version ? 'v' + x.checks_version : 'local files';
  if (!x.checks_refused_version) return esc(runs);
  return esc(runs) + ' <span class="open">refused v' + x.checks_refused_version + ': ' +
    esc(x.checks_error || 'no reason given') + '</span>';
}

let plot = null;
async function showPlot(check) {
  for (const tr of document.querySelectorAll('#checks tr.sel')) tr.classList.remove('sel');
  const row = document.querySelector('#checks tr[data-check="' + CSS.escape(check) + '"]');
  if (row) row.classList.add('sel');
  const [s] = await Promise.all([get(withQuery('/api/latency-series', { check })), loadUplot()]);
  const series = [{}, { label: 'p50 ms', stroke: '#36a' }, { label: 'p95 ms', stroke: '#d80' }, { label: 'p99 ms', stroke: '#c22' }];
  const data = [s.t, s.p50_ms, s.p95_ms, s.p99_ms];
  for (const [k, label] of [['budget_p95_us', 'p95 budget'], ['budget_p99_us', 'p99 budget']])
    if (s[k] > 0) {
      series.push({ label, stroke: '#999', dash: [4, 4] });
      data.push(s.t.map(() => s[k] / 1000));
    }
  if (plot) plot.destroy();
  const el = $('#plot');
  el.dataset.check = check;
  // The x axis spans the whole window, even with few points.
  const scales = { x: { time: true, range: () => [s.since_us / 1e6, s.until_us / 1e6] } };
  plot = new uPlot({ title: check + ' latency', width: Math.min(1100, el.clientWidth || 900), height: 260, series, scales },
    data, el);
}

async function refresh() {
  try {
    const first = window.picketFirst;
    window.picketFirst = null;
    const [rep, inc, pr] = await Promise.all(first ? first[1]
      : [get(withQuery('/api/report')), get(withQuery('/api/incidents')), get('/api/probes')]);
    incByCheck = {};
    for (const c of inc.checks) incByCheck[c.check] = c.incidents;
    renderChecks(rep);
    renderGroups(rep);
    renderIncidents(inc);
    renderProbes(pr);
    $('#state').textContent = rep.checks.length + ' checks, ' + (rep.computed_at_us
      ? 'computed ' + dur(Math.max(0, Date.now() * 1000 - rep.computed_at_us)) + ' ago'
      : 'updated ' + new Date().toLocaleTimeString());
    $('#state').dataset.state = 'ready';
    if (!window.picketFirstRenderMs) window.picketFirstRenderMs = performance.now();
  } catch (e) {
    $('#state').textContent = 'error: ' + e.message;
    $('#state').dataset.state = 'error';
  }
}

$('#checks tbody').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr[data-check]');
  if (tr) showPlot(tr.dataset.check).catch((e) => { $('#plot').textContent = e.message; });
});
refresh();
setInterval(refresh, 5000);
