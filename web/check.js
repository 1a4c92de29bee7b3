// check.js: the page of one check, /check/NAME?range=24h (1h, 24h, 7d, 30d) or
// ?since=UNIX&until=UNIX (custom): latency p50/p95/p99 and each region's p95
// over the range with failures marked, incidents and maintenance shaded and
// the learned baseline band, its SLO and burn,
// its incidents and its last results with their messages (the failed
// assertion's message included). Reads /api/check-page (the answers of
// /api/report, /api/incidents, /api/latency-series per check and per region,
// /api/check-results, /api/slo and /api/check-marks in one); every figure is the collector's.
'use strict';
const check = decodeURIComponent(location.pathname.replace(/^\/check\//, ''));
const params = new URLSearchParams(location.search);
const RANGES = ['1h', '24h', '7d', '30d'];
const custom = params.has('since') && !params.has('range');
const range = custom ? 'custom' : RANGES.includes(params.get('range')) ? params.get('range') : '24h';
const win = custom ? { since: params.get('since'), until: params.get('until') || '' } : { since: range, until: '' };
const q = (extra) => {
  const p = new URLSearchParams({ check, since: win.since });
  if (win.until) p.set('until', win.until);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
};
document.title = check + ' – Picket';
$('#title').textContent = check;
$('#range').innerHTML = RANGES.map((r) => '<a href="?range=' + r + '" class="' + (r === range ? 'cur' : '') + '"' +
  (r === range ? ' aria-current="page"' : '') + '>' + r.replace('h', ' h').replace('d', ' d') + '</a>').join('') +
  '<span class="hint">' + (custom ? 'custom range' : '') + '</span>';
const toLocalInput = (us) => { const d = new Date(us / 1000 - new Date().getTimezoneOffset() * 60000); return d.toISOString().slice(0, 16); };
$('#custom').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const s = Math.floor(new Date($('#c-since').value).getTime() / 1000), u = Math.floor(new Date($('#c-until').value).getTime() / 1000);
  location.search = '?since=' + s + '&until=' + u;
});

function sloRow(s) {
  if (!s) return '<tr><td colspan="6">no slo: for this check</td></tr>';
  const burn = (i) => {
    const b = (s.burns || [])[i];
    if (!b) return '–';
    const f = (v) => (v == null ? '–' : v.toFixed(1) + '×');
    return '<span class="' + (b.firing ? 'open' : '') + '">' + f(b.burn_long) + ' / ' + f(b.burn_short) + (b.firing ? ' firing' : '') + '</span>';
  };
  return '<tr><td data-label="target">' + pct(s.target) + '</td><td data-label="window">' + dur(s.window_us) + '</td><td data-label="good / bad">' +
    s.good + ' / ' + s.bad + '</td><td data-label="budget left" class="budget">' + budget(s.budget_left) + '</td><td data-label="burn 1 h / 5 min">' +
    burn(0) + '</td><td data-label="burn 6 h / 30 min">' + burn(1) + '</td></tr>';
}

function renderCards(c) {
  const av = c.availability || {}, lat = c.latency || {}, b = c.baseline || {};
  const st = c.last_started_at_us ? E2E[c.last_outcome] || 'UNKNOWN' : 'UNKNOWN';
  const card = (k, v, cls) => '<div class="card"><span>' + k + '</span><b class="' + (cls || '') + '">' + v + '</b></div>';
  $('#cards').innerHTML = card('status', st, 'e2e ' + st) + card('uptime', pct(av.global && av.global.uptime), 'uptime') +
    card('p50', ms(lat.p50_us)) + card('p95', ms(lat.p95_us), lat.budget_p95_us > 0 && lat.p95_us > lat.budget_p95_us ? 'over' : '') +
    card('p99', ms(lat.p99_us)) + card('baseline', esc(b.state || 'no_history') + (b.expected_p95_us > 0 ? ' (expected p95 ' + ms(b.expected_p95_us) + ')' : '')) +
    card('SLO budget left', c.slo ? budget(c.slo.budget_left) : '–', 'budget');
  $('#summary').innerHTML = esc(c.service || '(no service)') + ' · ' + esc(c.check_type) + ' · last result ' + when(c.last_started_at_us) +
    (c.last_message ? ' · ' + esc(c.last_message) : '') + ' · <a href="/service/' + encodeURIComponent(c.service) + '">service page</a>';
}

// What the incident is put down to, as the collector stored it: a check it
// depends on that had an incident open when it started (a link to that check's
// page, the range kept), or the maintenance window it started in (it did not page).
function causeOf(i) {
  if (i.maintenance) return 'maintenance' + (i.maintenance_window ? ': ' + esc(i.maintenance_window) : '');
  if (i.caused_by) return 'caused by <a href="/check/' + encodeURIComponent(i.caused_by) + esc(location.search) + '">' + esc(i.caused_by) + '</a>';
  return '–';
}

function renderIncidents(list) {
  $('#incidents tbody').innerHTML = list.slice().sort((a, b) => b.start_us - a.start_us).map((i) => {
    const open = i.end_us < 0;
    return '<tr class="incident ' + (open ? 'open' : 'closed') + '"><td data-label="state" class="' + (open ? 'open' : '') + '">' + (open ? 'OPEN' : 'closed') +
      '</td><td data-label="start">' + when(i.start_us) + '</td><td data-label="end">' + (open ? '–' : when(i.end_us)) + '</td><td data-label="duration">' +
      dur(i.duration_us) + '</td><td data-label="regions">' + esc(i.regions.join(', ')) + '</td><td data-label="down rounds" class="num">' + i.down_rounds +
      '</td><td data-label="cause" class="cause">' + causeOf(i) + '</td></tr>';
  }).join('') || '<tr><td colspan="7">no incidents in the range</td></tr>';
}

function renderResults(rs) {
  $('#results tbody').innerHTML = rs.results.map((r) => {
    const o = E2E[r.outcome] || r.outcome;
    return '<tr class="result ' + o + '"><td data-label="time">' + when(r.started_at_us) + '</td><td data-label="probe">' + esc(r.probe) +
      '</td><td data-label="region">' + esc(r.region) + '</td><td data-label="outcome" class="' + o + '">' + o + '</td><td data-label="error">' +
      (r.error_class === 'none' ? '–' : esc(r.error_class)) + '</td><td data-label="status" class="num">' + (r.status_code || '–') +
      '</td><td data-label="latency" class="num">' + ms(r.total_us) + '</td><td data-label="message" class="msg" title="' + esc(r.message) + '">' + esc(r.message) + '</td></tr>';
  }).join('') || '<tr><td colspan="8">no results</td></tr>';
}

function renderMaint(list) {
  $('#maint').innerHTML = list.length ? 'Maintenance in the range (hatched; left out of uptime and the SLO): ' +
    list.map((m) => (m.name ? esc(m.name) + ' ' : '') + when(m.start_us) + ' – ' + when(m.end_us)).join(', ') : '';
}

const COLORS = ['#2a9d8f', '#8e44ad', '#e76f51', '#3a86ff', '#6a994e', '#b5838d'];
let plot = null;
// The band's hour at time t (seconds), or undefined.
const bandAt = (band, t) => band.get(Math.floor(t / 3600) * 3600);
function drawPlot(s, regional, incidents, marks) {
  const band = new Map((marks.band || []).map((b) => [b.t_us / 1e6, b]));
  const maint = marks.maintenance || [];
  const series = [{}, { label: 'p50 ms', stroke: '#36a' }, { label: 'p95 ms', stroke: '#d80', width: 2 }, { label: 'p99 ms', stroke: '#c22' }];
  const data = [s.t, s.p50_ms, s.p95_ms, s.p99_ms];
  regional.forEach(([region, r], i) => {
    const byT = new Map(r.t.map((t, k) => [t, r.p95_ms[k]]));
    series.push({ label: region + ' p95', stroke: COLORS[i % COLORS.length], dash: [2, 2] });
    data.push(s.t.map((t) => (byT.has(t) ? byT.get(t) : null)));
  });
  for (const [v, label] of [[s.budget_p95_us, 'p95 budget'], [s.budget_p99_us, 'p99 budget']])
    if (v > 0) { series.push({ label, stroke: '#999', dash: [6, 4] }); data.push(s.t.map(() => v / 1000)); }
  if (band.size) { // the learned baseline: its expected p95 and the band's top (above it the rule counts an hour deviant)
    const pick = (k) => s.t.map((t) => { const b = bandAt(band, t); return b ? b[k] / 1000 : null; });
    series.push({ label: 'baseline p95', stroke: '#6a994e', dash: [6, 4] }); data.push(pick('expected_us'));
    series.push({ label: 'baseline band top', stroke: 'rgba(106,153,78,0.5)', width: 1 }); data.push(pick('high_us'));
  }
  const failed = s.failed;
  const hooks = { draw: [(u) => {
    const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    ctx.fillStyle = 'rgba(220,40,40,0.13)';
    for (const i of incidents) { // incidents shaded
      const x0 = u.valToPos(i.start_us / 1e6, 'x', true), x1 = u.valToPos((i.end_us < 0 ? s.until_us : i.end_us) / 1e6, 'x', true);
      ctx.fillRect(Math.max(x0, u.bbox.left), top, Math.max(2, Math.min(x1, u.bbox.left + u.bbox.width) - Math.max(x0, u.bbox.left)), h);
    }
    const span = (a, b) => { // [a, b) in µs to clipped pixels
      const x0 = Math.max(u.valToPos(a / 1e6, 'x', true), u.bbox.left), x1 = Math.min(u.valToPos(b / 1e6, 'x', true), u.bbox.left + u.bbox.width);
      return [x0, Math.max(0, x1 - x0)];
    };
    ctx.fillStyle = 'rgba(106,153,78,0.16)'; // the baseline band, hour by hour
    for (const b of band.values()) {
      const [x, w] = span(b.t_us, b.t_us + 3600e6), y0 = u.valToPos(b.high_us / 1000, 'y', true), y1 = u.valToPos(b.low_us / 1000, 'y', true);
      if (w > 0) ctx.fillRect(x, Math.max(y0, top), w, Math.min(y1, top + h) - Math.max(y0, top));
    }
    for (const m of maint) { // maintenance windows: hatched grey
      const [x, w] = span(m.start_us, m.end_us);
      if (w <= 0) continue;
      ctx.fillStyle = 'rgba(120,120,140,0.22)';
      ctx.fillRect(x, top, Math.max(2, w), h);
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, top, Math.max(2, w), h);
      ctx.clip();
      ctx.strokeStyle = 'rgba(120,120,140,0.5)';
      ctx.beginPath();
      for (let d = x - h; d < x + w; d += 8) { ctx.moveTo(d, top + h); ctx.lineTo(d + h, top); }
      ctx.stroke();
      ctx.restore();
    }
    ctx.fillStyle = '#d22'; // failures marked
    for (let k = 0; k < s.t.length; k++)
      if (failed[k] > 0) { const x = u.valToPos(s.t[k], 'x', true); ctx.fillRect(x - 1.5, top + h - 10, 3, 10); }
    ctx.restore();
  }] };
  if (plot) plot.destroy();
  const el = $('#plot');
  const scales = { x: { time: true, range: () => [s.since_us / 1e6, s.until_us / 1e6] } };
  const css = getComputedStyle(document.documentElement), fg = css.getPropertyValue('--fg').trim(), line = css.getPropertyValue('--line').trim();
  const axes = [{ stroke: fg, grid: { stroke: line } }, { stroke: fg, grid: { stroke: line }, label: 'ms' }]; // readable in the dark theme too
  plot = new uPlot({ width: Math.max(300, Math.min(1300, el.clientWidth || 900)), height: 280, series, scales, hooks, axes }, data, el);
  el.dataset.failedMarks = failed.filter((f) => f > 0).length;
  el.dataset.incidents = incidents.length;
  el.dataset.maintenance = maint.filter((m) => m.end_us > s.since_us && m.start_us < s.until_us).length;
  el.dataset.bandHours = band.size;
}

// The first answer was asked by check.html's head as soon as the HTML was parsed
// (window.picketPage), beside the scripts; later refreshes ask it again.
function pageData() {
  const first = window.picketPage;
  window.picketPage = null;
  if (!first) return get('/api/check-page?' + q());
  return first.then(async (r) => { const j = await r.json(); if (!r.ok) throw new Error(j.error || r.status); return j; });
}

async function load() {
  try {
    const page = await pageData();
    const { report: rep, incidents: inc, series: ser, results: rs, slo } = page;
    const marks = page.marks || { maintenance: [], band: [] };
    const c = rep.checks[0];
    if (!c) throw new Error('check ' + check + ' has no data');
    $('#window').innerHTML = when(rep.since_us) + ' – ' + when(rep.until_us);
    if (!$('#c-since').value) { $('#c-since').value = toLocalInput(rep.since_us); $('#c-until').value = toLocalInput(rep.until_us); }
    renderCards(c);
    const incidents = (inc.checks[0] || { incidents: [] }).incidents;
    renderIncidents(incidents);
    $('#slo tbody').innerHTML = sloRow((slo.checks || [])[0]); // over the SLO's own window, not the range
    renderResults(rs);
    const regional = Object.entries(page.regions || {}); // each region's series when there are several
    drawPlot(ser, regional, incidents, marks);
    renderMaint(marks.maintenance || []);
    $('#state').textContent = 'updated ' + new Date().toLocaleTimeString();
    $('#state').dataset.state = 'ready';
    if (!window.picketFirstRenderMs) window.picketFirstRenderMs = performance.now();
  } catch (e) {
    $('#state').textContent = 'error: ' + e.message;
    $('#state').dataset.state = 'error';
  }
}
load();
setInterval(load, custom ? 60000 : 10000);
