// dashboard.js: the overview (/ and /service/NAME): checks grouped by service,
// each with its status, the history bar of its last 60 rounds (or, with
// bars=days, of its last 60 UTC days from /api/day-bars), uptime over
// 24 h / 7 d / 30 d, p95 against budget, trend, open incident and SLO budget
// left; search and filters kept in the URL. Renders the collector's JSON; every
// figure is the collector's. The default view (no API argument in the URL)
// reads /api/board, one compact answer with two parts and their ages: the live
// part (last results, history bars, incidents; a second or two old) and the
// 24-hour figures (the report's, on their own cadence); it is read every 2 s.
// With any of the API's own arguments (since, until, service, region,
// open_after, close_after) in the page's query string, /api/report,
// /api/incidents and /api/overview are read with them, every 5 s.
'use strict';
const qs = location.search;
const API_KEYS = ['since', 'until', 'service', 'check', 'region', 'open_after', 'close_after', 'quorum'];
const pagePath = decodeURIComponent(location.pathname);
const serviceOfPath = pagePath.startsWith('/service/') ? pagePath.slice(9) : '';
const BOARD = !API_KEYS.some((k) => new URLSearchParams(qs).has(k));

function withQuery(path, extra) {
  const p = new URLSearchParams();
  const cur = new URLSearchParams(qs);
  for (const k of API_KEYS) if (cur.has(k)) p.set(k, cur.get(k));
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  const s = p.toString();
  return s ? path + '?' + s : path;
}

// The filters live in the URL (q, svc, reg, st, type, label, stale=hide, bars=days), so a view can be shared.
const F = { q: 'f-q', svc: 'f-service', reg: 'f-region', st: 'f-status', type: 'f-type', label: 'f-label', bars: 'f-bars' };
function readFilters() {
  const p = new URLSearchParams(location.search);
  for (const [k, id] of Object.entries(F)) {
    if (!p.has(k)) continue;
    const el = document.getElementById(id), v = p.get(k);
    // A select's options come with the data: keep the URL's choice as an option until then.
    if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === v)) el.insertAdjacentHTML('beforeend', '<option>' + esc(v) + '</option>');
    el.value = v;
  }
  $('#f-hide-stale').checked = p.get('stale') === 'hide';
}
function writeFilters() {
  const p = new URLSearchParams(location.search);
  for (const [k, id] of Object.entries(F)) {
    const v = document.getElementById(id).value;
    if (v) p.set(k, v); else p.delete(k);
  }
  if ($('#f-hide-stale').checked) p.set('stale', 'hide'); else p.delete('stale');
  const s = p.toString();
  history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
}

// incSum: per check {open: the first open incident's start (0: none), n: incidents in the window}.
let incSum = {}, extras = {}, lastRep = null;

function statusOf(c) {
  const x = extras[c.check];
  if (x && x.stale) return 'STALE'; // never a last FAIL forever
  return c.last_started_at_us ? E2E[c.last_outcome] || 'UNKNOWN' : 'UNKNOWN';
}

// The day bars (bars=days): /api/day-bars, recomputed by the collector every 5 minutes, so read once a minute.
let days = null, daysReadMs = 0;
const dayMode = () => $('#f-bars').value === 'days';
async function loadDays() {
  if (!dayMode() || (days && performance.now() - daysReadMs < 60000)) return;
  try {
    days = await get('/api/day-bars');
    daysReadMs = performance.now();
  } catch (e) { // not computed yet (503): the bars say so and the next refresh asks again
    if (e.status !== 503) throw e;
  }
}
function dayBars(check) {
  if (!days) return '<span class="hint">computing…</span>';
  const x = days.checks[check];
  return x ? barsHtml(x[0], 86400e6, { worst: x[1].length ? Math.min(...x[1]) : null }) : '–';
}
const barsKey = () => (dayMode() ? 'days' + (days ? days.at_us : '') : 'rounds');

function openIncident(s) {
  if (!s || !s.open) return (s && s.n ? s.n + ' closed' : '–');
  return '<span class="open">open since ' + when(s.open) + '</span>';
}

function checkRow(c) {
  const st = statusOf(c), x = extras[c.check] || {};
  const av = c.availability || {}, lat = c.latency || {};
  const over = lat.budget_p95_us > 0 && lat.p95_us > lat.budget_p95_us;
  const tr = c.trend && c.trend.p95_us;
  const trend = tr && tr.direction ? tr.direction + (tr.pct_per_day != null ? ' ' + tr.pct_per_day.toFixed(1) + '%/day' : '') : '–';
  const slo = c.slo ? budget(c.slo.budget_left) : '–';
  const msg = st === 'STALE' ? 'no result since ' + (x.last_us ? dur(Date.now() * 1000 - x.last_us) : 'over ' + dur(60 * (x.round_us || 60e6))) : c.last_message || '';
  return '<tr data-check="' + esc(c.check) + '" class="' + (st === 'STALE' ? 'stale' : '') + '">' +
    '<td data-label="check"><a href="/check/' + encodeURIComponent(c.check) + '">' + esc(c.check) + '</a>' +
    labelsOf(c).map((l) => ' <span class="label">' + esc(l) + '</span>').join('') + '</td>' +
    '<td data-label="status" class="e2e ' + st + '">' + st + '</td>' +
    (dayMode() ? '<td data-label="last 60 days">' + dayBars(c.check) : '<td data-label="last 60 rounds">' + barsHtml(x.bars, x.round_us)) + '</td>' +
    '<td data-label="uptime 24 h" class="num uptime">' + pct(av.global && av.global.uptime) + '</td>' +
    '<td data-label="7 d" class="num">' + (x.uptime_7d === undefined ? '…' : pct(x.uptime_7d)) + '</td>' +
    '<td data-label="30 d" class="num">' + (x.uptime_30d === undefined ? '…' : pct(x.uptime_30d)) + '</td>' +
    '<td data-label="p95 / budget" class="num' + (over ? ' over' : '') + '">' + ms(lat.p95_us) + ' / ' + ms(lat.budget_p95_us) + '</td>' +
    '<td data-label="trend p95">' + esc(trend) + '</td>' +
    '<td data-label="incident" class="incident">' + openIncident(incSum[c.check]) + '</td>' +
    '<td data-label="SLO budget left" class="num">' + slo + '</td>' +
    '<td data-label="figures" class="figures">' + figures(c.last_metrics) + '</td>' +
    '<td data-label="last message" class="msg" title="' + esc(msg) + '">' + esc(msg) + '</td></tr>';
}

// The check's numbers (extract:, exec perfdata: npm audit's vulnerabilities, ...).
function figures(list) {
  return (list || []).map((m) => esc(m.name) + '=' + esc(String(Math.round(m.value * 1000) / 1000))).join(' ') || '–';
}

// The check's labels as "key=value" (from the overview's extras: the check file's labels:).
function labelsOf(c) { return Object.entries((extras[c.check] || {}).labels || {}).map(([k, v]) => k + '=' + v); }

function regionsOf(c) { return ((c.availability || {}).regions || []).map((r) => r.region); }

function fillSelect(id, values) {
  const el = document.getElementById(id), cur = el.value;
  const opts = ['<option value="">all</option>'].concat([...values].sort().map((v) => '<option>' + esc(v) + '</option>'));
  if (el.dataset.opts !== opts.join('')) {
    el.innerHTML = opts.join('');
    el.dataset.opts = opts.join('');
    if (cur && values.has(cur)) el.value = cur;
    else if (cur) { el.insertAdjacentHTML('beforeend', '<option>' + esc(cur) + '</option>'); el.value = cur; }
  }
}

function passes(c) {
  const q = $('#f-q').value.trim().toLowerCase(), svc = $('#f-service').value, reg = $('#f-region').value;
  const st = $('#f-status').value, type = $('#f-type').value, label = $('#f-label').value, s = statusOf(c);
  if (serviceOfPath && c.service !== serviceOfPath) return false;
  if (svc && c.service !== svc) return false;
  if (reg && !regionsOf(c).includes(reg)) return false;
  if (st && s !== st) return false;
  if (type && c.check_type !== type) return false;
  if (label && !labelsOf(c).includes(label)) return false;
  if ($('#f-hide-stale').checked && s === 'STALE') return false;
  if (q && !(c.check + ' ' + c.service + ' ' + (c.last_message || '') + ' ' + c.check_type).toLowerCase().includes(q)) return false;
  return true;
}

// The rows of shown (sorted by service) from index i: each service's header and
// its checks, whole services until html holds at least max rows; the next index.
function serviceRows(shown, i, max, html) {
  while (i < shown.length && html.length < max) {
    const svc = shown[i].service;
    let k = i, bad = 0;
    for (; k < shown.length && shown[k].service === svc; k++) if (statusOf(shown[k]) === 'FAIL') bad++;
    html.push('<tr class="svc"><th colspan="12"><a href="/service/' + encodeURIComponent(svc) + '">' + esc(svc || '(no service)') +
      '</a> <span class="hint">' + plural(k - i, 'check') + (bad ? ', <span class="open">' + bad + ' failing</span>' : '') + '</span></th></tr>');
    for (; i < k; i++) html.push(checkRow(shown[i]));
  }
  return i;
}

function renderChecks(rep) {
  lastRep = rep;
  $('#window').innerHTML = when(rep.since_us) + ' – ' + when(rep.until_us);
  const services = new Set(), regions = new Set(), types = new Set(), labels = new Set();
  for (const c of rep.checks) {
    services.add(c.service);
    types.add(c.check_type);
    for (const r of regionsOf(c)) regions.add(r);
    for (const l of labelsOf(c)) labels.add(l);
  }
  fillSelect('f-service', services);
  fillSelect('f-region', regions);
  fillSelect('f-type', types);
  fillSelect('f-label', labels);
  $('#bars-head').textContent = dayMode() ? 'last 60 days' : 'last 60 rounds';
  const shown = rep.checks.filter(passes), html = [];
  // The first load builds and draws the first screens of rows at once and the rest
  // right after (the next frame), so a page of 1,000 checks shows without waiting for its last row.
  const FIRST_ROWS = 150, first = !window.picketAllRowsMs;
  const i = serviceRows(shown, 0, first ? FIRST_ROWS : Infinity, html);
  if (i < shown.length) {
    $('#checks tbody').innerHTML = html.join('');
    requestAnimationFrame(() => setTimeout(() => {
      const rest = [];
      serviceRows(shown, i, Infinity, rest);
      if (lastRep === rep) $('#checks tbody').insertAdjacentHTML('beforeend', rest.join(''));
      window.picketAllRowsMs = performance.now();
    }, 0));
  } else {
    $('#checks tbody').innerHTML = html.join('') || '<tr><td colspan="12">no check matches the filters</td></tr>';
    if (first) window.picketAllRowsMs = performance.now();
  }
  $('#shown').textContent = shown.length + ' of ' + rep.checks.length + ' checks';
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
    '</td><td class="num">' + g.good + ' / ' + g.bad + '</td><td class="num budget">' + budget(g.budget_left) +
    '</td><td class="num">' + burn(g, 0) + '</td><td class="num">' + burn(g, 1) + '</td></tr>').join('');
}

// Maintenance and depends_on marks (docs/ANALYTICS.md): such an incident does not page.
function mark(i) {
  if (i.maintenance) return ' <span class="mark">maintenance: ' + esc(i.maintenance_window) + '</span>';
  return i.caused_by ? ' <span class="mark">caused by ' + esc(i.caused_by) + '</span>' : '';
}

// rows: incidents with their check's service, open ones first, then the newest.
function renderIncidents(all) {
  const rows = all.filter((i) => !serviceOfPath || i.service === serviceOfPath);
  $('#incidents tbody').innerHTML = rows.slice(0, 200).map((i) => {
    const open = i.end_us < 0;
    return '<tr class="incident ' + (open ? 'open' : 'closed') + '" data-check="' + esc(i.check) + '"><td data-label="check"><a href="/check/' +
      encodeURIComponent(i.check) + '">' + esc(i.check) + '</a></td><td data-label="state" class="' + (open ? 'open' : '') + '">' + (open ? 'OPEN' : 'closed') +
      '</td><td data-label="start">' + when(i.start_us) + '</td><td data-label="duration">' + dur(i.duration_us) + '</td><td data-label="regions">' +
      esc(i.regions.join(', ')) + mark(i) + '</td></tr>';
  }).join('') || '<tr><td colspan="5">no incidents in the window</td></tr>';
}

function renderProbes(p) {
  $('#probes tbody').innerHTML = p.probes.map((x) =>
    '<tr><td data-label="probe">' + esc(x.name) + '</td><td data-label="region">' + esc(x.region) + '</td><td data-label="last contact">' +
    (x.last_seen_us ? dur(Math.max(0, p.now_us - x.last_seen_us)) + ' ago' : 'never') + '</td><td data-label="spool pending" class="num">' +
    x.pending + '</td><td data-label="dropped" class="num">' + x.dropped + '</td><td data-label="checks" class="checks">' + checksCell(x) + '</td></tr>').join('');
}

// The central checks version a probe runs, and the one it refused with why.
function checksCell(x) {
  const runs = x.checks_version ? 'v' + x.checks_version : 'local files';
  if (!x.checks_refused_version) return esc(runs);
  return esc(runs) + ' <span class="open">refused v' + x.checks_refused_version + ': ' +
    esc(x.checks_error || 'no reason given') + '</span>';
}

// The board's rows as the report's checks, the extras and the incidents (cols names each column).
function fromBoard(b) {
  const ix = {};
  b.cols.forEach((c, i) => { ix[c] = i; });
  const checks = [], svcOf = {};
  extras = {};
  incSum = {};
  for (const r of b.checks) {
    const g = (k) => r[ix[k]], check = g('check'), slo = g('slo_left');
    svcOf[check] = g('service');
    checks.push({
      check, service: g('service'), check_type: g('type'), last_started_at_us: g('last_at_us'), last_outcome: g('outcome'),
      last_message: g('message'), last_metrics: g('metrics').map(([name, value]) => ({ name, value })),
      availability: { global: { uptime: g('uptime_24h') }, regions: (g('regions') || '').split(',').filter(Boolean).map((region) => ({ region })) },
      latency: { p95_us: g('p95_us'), budget_p95_us: g('budget_p95_us') },
      trend: { p95_us: { direction: g('trend'), pct_per_day: g('trend_pct') } },
      slo: slo === false ? null : { budget_left: slo },
    });
    const labels = {};
    for (const l of (g('labels') || '').split('\n')) if (l.includes('=')) labels[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    // 7 and 30 days: '…' until the collector has computed them once.
    extras[check] = { bars: g('bars'), round_us: g('round_us'), last_us: g('last_us'), stale: g('stale'), labels,
      uptime_7d: b.long_at_us ? g('uptime_7d') : undefined, uptime_30d: b.long_at_us ? g('uptime_30d') : undefined };
    incSum[check] = { open: g('inc_open_us'), n: g('incidents') };
  }
  const incidents = b.incidents.map(([check, start_us, end_us, duration_us, regions, mw, caused_by]) =>
    ({ check, service: svcOf[check], start_us, end_us, duration_us, regions, maintenance: mw != null, maintenance_window: mw, caused_by }));
  return { rep: { checks, groups: b.groups, since_us: b.since_us, until_us: b.until_us }, incidents, liveAt: b.live_at_us, at: b.computed_at_us,
    key: [b.live_at_us, b.computed_at_us, b.long_at_us].join() };
}

// The answers of the view with arguments, in the same shape.
function fromFull(rep, inc, ov) {
  incSum = {};
  const incidents = [];
  for (const c of inc.checks) {
    const open = c.incidents.find((i) => i.end_us < 0);
    incSum[c.check] = { open: open ? open.start_us : 0, n: c.incidents.length };
    for (const i of c.incidents) incidents.push(Object.assign({ service: c.service }, i));
  }
  incidents.sort((a, b) => (b.end_us < 0) - (a.end_us < 0) || b.start_us - a.start_us);
  if (ov) {
    extras = {};
    for (const x of ov.checks) extras[x.check] = x;
  }
  return { rep, incidents, liveAt: inc.computed_at_us, at: rep.computed_at_us };
}

const ago = (us) => dur(Math.max(0, Date.now() * 1000 - us)) + ' ago';

async function load(first) {
  if (BOARD) {
    try {
      const [b, pr] = await Promise.all(first || [get('/api/board'), get('/api/probes')]);
      return [fromBoard(b), pr];
    } catch (e) { // not computed yet (a collector just started): the answers with figures of their own
      if (e.status !== 503) throw e;
      first = null;
    }
  }
  const [rep, inc, pr, ov] = await Promise.all(first || [get(withQuery('/api/report')), get(withQuery('/api/incidents')),
    get('/api/probes'), get('/api/overview').catch(() => null)]);
  return [fromFull(rep, inc, ov), pr];
}

let shownKey = null; // the board's parts last drawn: an unchanged board is not drawn again

async function refresh() {
  try {
    const first = window.picketFirst;
    window.picketFirst = null;
    const [[v, pr]] = await Promise.all([load(first ? first[1] : null), loadDays()]);
    if (!window.picketDataMs) window.picketDataMs = performance.now(); // the data arrived; drawing follows
    const key = v.key ? v.key + '/' + barsKey() : null;
    if (!key || key !== shownKey) {
      renderChecks(v.rep);
      renderGroups(v.rep);
      renderIncidents(v.incidents);
      shownKey = key;
    }
    renderProbes(pr);
    // Each part's own age: the last results, bars and incidents; the 24-hour figures.
    const st = $('#state');
    st.textContent = v.rep.checks.length + ' checks' +
      (v.liveAt ? ', live ' + ago(v.liveAt) : '') + (v.at ? ', 24 h figures ' + ago(v.at) : ', 24 h figures computing…');
    st.title = (v.liveAt ? 'last results, history bars and incidents computed ' + utc(v.liveAt) : '') +
      (v.at ? '; uptime, p95, trend and SLO computed ' + utc(v.at) : '');
    st.dataset.liveAt = v.liveAt || '';
    st.dataset.state = 'ready';
    if (!window.picketFirstRenderMs) window.picketFirstRenderMs = performance.now();
  } catch (e) {
    $('#state').textContent = 'error: ' + e.message;
    $('#state').dataset.state = 'error';
  }
}

if (serviceOfPath) {
  $('#title').textContent = 'Service ' + serviceOfPath;
  document.title = serviceOfPath + ' – Picket';
  $('#f-service').closest('label').hidden = true;
}
readFilters();
for (const id of Object.values(F).concat(['f-hide-stale']))
  document.getElementById(id).addEventListener('input', () => { writeFilters(); if (lastRep) renderChecks(lastRep); });
// The day bars are read when first chosen, then drawn at once.
$('#f-bars').addEventListener('input', () => loadDays().then(() => { if (lastRep) renderChecks(lastRep); }).catch(() => {}));
refresh();
setInterval(refresh, BOARD ? 2000 : 5000);
