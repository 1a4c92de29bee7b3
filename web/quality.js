// quality.js: the live quality dashboard (/quality), the seed plan's view of
// the same figures: end-to-end flows passed/failed (checks of type flow or
// browser), performance against the learned baselines and budgets (RAG p95 and
// the rest), the security findings of exec checks' vulnerability metrics (npm
// audit's vulnerabilities=N), availability per service and incidents. Reads the
// default view (/api/report, /api/incidents); every figure is the collector's.
'use strict';
const FLOW_TYPES = new Set(['flow', 'browser']);
const isFinding = (m) => /vulnerab|finding|critical|high/i.test(m.name);

function render(rep, inc) {
  const flows = rep.checks.filter((c) => FLOW_TYPES.has(c.check_type));
  const st = (c) => (c.last_started_at_us ? E2E[c.last_outcome] || 'UNKNOWN' : 'UNKNOWN');
  const passed = flows.filter((c) => st(c) === 'OK' || st(c) === 'DEGRADED').length;
  const link = (c) => '<a href="/check/' + encodeURIComponent(c.check) + '">' + esc(c.check) + '</a>';
  $('#flows tbody').innerHTML = flows.map((c) => '<tr data-check="' + esc(c.check) + '"><td data-label="flow">' + link(c) + '</td><td data-label="service">' +
    esc(c.service) + '</td><td data-label="last run">' + when(c.last_started_at_us) + '</td><td data-label="result" class="e2e ' + st(c) + '">' + st(c) +
    '</td><td data-label="uptime" class="num">' + pct(c.availability && c.availability.global && c.availability.global.uptime) +
    '</td><td data-label="message" class="msg">' + esc(c.last_message || '') + '</td></tr>').join('') || '<tr><td colspan="6">no flow checks</td></tr>';
  const perf = rep.checks.filter((c) => (c.latency || {}).p95_us > 0);
  $('#perf tbody').innerHTML = perf.map((c) => {
    const lat = c.latency, b = c.baseline || {}, tr = c.trend && c.trend.p95_us;
    const over = lat.budget_p95_us > 0 && lat.p95_us > lat.budget_p95_us;
    return '<tr data-check="' + esc(c.check) + '"><td data-label="check">' + link(c) + '</td><td data-label="p95" class="num' + (over ? ' over' : '') + '">' + ms(lat.p95_us) +
      '</td><td data-label="budget" class="num">' + ms(lat.budget_p95_us) + '</td><td data-label="baseline p95" class="num">' + ms(b.expected_p95_us) +
      '</td><td data-label="baseline" class="' + (b.state === 'regression' ? 'open' : '') + '">' + esc(b.state || 'no_history') + '</td><td data-label="trend">' +
      esc(tr && tr.direction ? tr.direction : '–') + '</td></tr>';
  }).join('') || '<tr><td colspan="6">no latency yet</td></tr>';
  const findings = [];
  for (const c of rep.checks) for (const m of c.last_metrics || []) if (isFinding(m)) findings.push([c, m]);
  $('#security tbody').innerHTML = findings.map(([c, m]) => '<tr><td data-label="check">' + link(c) + '</td><td data-label="metric">' + esc(m.name) +
    '</td><td data-label="value" class="num' + (m.value > 0 ? ' over' : '') + '">' + m.value + '</td><td data-label="last run">' + when(c.last_started_at_us) + '</td></tr>').join('') ||
    '<tr><td colspan="4">no security metric reported</td></tr>';
  const svcs = new Map();
  for (const c of rep.checks) {
    const s = svcs.get(c.service) || { n: 0, worst: null, failing: 0 };
    const u = c.availability && c.availability.global && c.availability.global.uptime;
    s.n++;
    if (u != null && (s.worst == null || u < s.worst)) s.worst = u;
    if (st(c) === 'FAIL') s.failing++;
    svcs.set(c.service, s);
  }
  $('#availability tbody').innerHTML = [...svcs].map(([name, s]) => '<tr><td data-label="service"><a href="/service/' + encodeURIComponent(name) + '">' +
    esc(name) + '</a></td><td data-label="checks" class="num">' + s.n + '</td><td data-label="worst uptime" class="num">' + pct(s.worst) +
    '</td><td data-label="failing now" class="num' + (s.failing ? ' open' : '') + '">' + s.failing + '</td></tr>').join('');
  const rows = [];
  for (const c of inc.checks) for (const i of c.incidents) rows.push(i);
  rows.sort((a, b) => (b.end_us < 0) - (a.end_us < 0) || b.start_us - a.start_us);
  const open = rows.filter((i) => i.end_us < 0).length;
  $('#incidents tbody').innerHTML = rows.slice(0, 50).map((i) => '<tr class="incident ' + (i.end_us < 0 ? 'open' : 'closed') + '"><td data-label="check">' +
    esc(i.check) + '</td><td data-label="state" class="' + (i.end_us < 0 ? 'open' : '') + '">' + (i.end_us < 0 ? 'OPEN' : 'closed') + '</td><td data-label="start">' +
    when(i.start_us) + '</td><td data-label="duration">' + dur(i.duration_us) + '</td><td data-label="regions">' + esc(i.regions.join(', ')) + '</td></tr>').join('') ||
    '<tr><td colspan="5">no incidents in the last 24 hours</td></tr>';
  const total = findings.reduce((a, [, m]) => a + (/^vulnerabilities$/i.test(m.name) ? m.value : 0), 0);
  const card = (k, v, cls) => '<div class="card"><span>' + k + '</span><b class="' + (cls || '') + '">' + v + '</b></div>';
  $('#cards').innerHTML = card('E2E flows passed', passed + ' / ' + flows.length, passed < flows.length ? 'FAIL' : 'OK') +
    card('regressions', perf.filter((c) => (c.baseline || {}).state === 'regression').length) +
    card('security findings', total, total ? 'over' : 'OK') + card('open incidents', open, open ? 'open' : 'OK');
  $('#window').innerHTML = when(rep.since_us) + ' – ' + when(rep.until_us);
}

async function refresh() {
  try {
    const [rep, inc] = await Promise.all([get('/api/report'), get('/api/incidents')]);
    render(rep, inc);
    $('#state').textContent = 'updated ' + new Date().toLocaleTimeString();
    $('#state').dataset.state = 'ready';
  } catch (e) {
    $('#state').textContent = 'error: ' + e.message;
    $('#state').dataset.state = 'error';
  }
}
refresh();
setInterval(refresh, 5000);
