// status.js: the status page of one group of services (/status/<group>): per
// service only up/down, uptime over 24 hours, 90 days of daily bars and its
// incidents, and the maintenance ongoing or planned on them, from /api/status (a
// page of --status-pages adds its title and logo).
'use strict';
const group = decodeURIComponent(location.pathname.replace(/^\/status\//, ''));
document.getElementById('title').textContent = group + ' status';
document.title = group + ' status';
// A maintenance window's services: those of the page it covers, with how many of their checks when not all.
const maintServices = (m) => m.services.map((s) => esc(s.service) +
  (s.checks < s.checks_total ? ' (' + s.checks + ' of ' + plural(s.checks_total, 'check') + ')' : '')).join(', ');
// The ongoing and planned maintenance (each window's current or next occurrence); a section without one is hidden.
function renderMaintenance(list) {
  for (const [id, ongoing, from, to] of [['#maint-ongoing', true, 'since', 'until'], ['#maint-planned', false, 'start', 'end']]) {
    const rows = list.filter((m) => m.ongoing === ongoing);
    $(id).hidden = !rows.length;
    $(id + ' tbody').innerHTML = rows.map((m) => '<tr class="maintenance" data-name="' + esc(m.name) + '"><td data-label="window">' +
      esc(m.name) + '</td><td data-label="reason">' + (m.reason == null ? '–' : esc(m.reason)) + '</td><td data-label="services">' +
      maintServices(m) + '</td><td data-label="' + from + '">' + when(m.start_us) + '</td><td data-label="' + to + '">' +
      when(m.end_us) + '</td></tr>').join('');
  }
}
async function refresh() {
  const st = document.getElementById('state');
  try {
    const r = await fetch('/api/status?group=' + encodeURIComponent(group));
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || r.status);
    if (j.title) { $('#title').textContent = j.title; document.title = j.title; }
    if (j.logo) { $('#logo').src = j.logo; $('#logo').hidden = false; }
    const down = j.services.filter((s) => s.state === 'down');
    $('#overall').innerHTML = down.length ? '<span class="down">' + down.length + ' of ' + j.services.length + ' services down</span>'
      : '<span class="up">All ' + j.services.length + ' services operational</span>';
    $('#services tbody').innerHTML = j.services.map((s) =>
      '<tr data-service="' + esc(s.service) + '"><td data-label="service">' + esc(s.service) + '</td><td data-label="now" class="' + s.state + '">' + s.state +
      '</td><td data-label="uptime (24 h)">' + (s.uptime == null ? 'no data' : (s.uptime * 100).toFixed(2) + '%') + '</td><td data-label="last 90 days">' +
      barsHtml(s.day_states || '', 86400e6).replace('rounds of 1.0 d', 'days') + '</td></tr>').join('');
    renderMaintenance(j.maintenance || []);
    const inc = [];
    for (const s of j.services) for (const i of s.incidents || []) inc.push([s.service, i]);
    inc.sort((a, b) => (b[1].end_us < 0) - (a[1].end_us < 0) || b[1].start_us - a[1].start_us);
    $('#history tbody').innerHTML = inc.slice(0, 100).map(([svc, i]) => '<tr class="incident ' + (i.end_us < 0 ? 'open' : 'closed') +
      '"><td data-label="service">' + esc(svc) + '</td><td data-label="state" class="' + (i.end_us < 0 ? 'open' : '') + '">' + (i.end_us < 0 ? 'ongoing' : 'resolved') +
      '</td><td data-label="start">' + when(i.start_us) + '</td><td data-label="end">' + (i.end_us < 0 ? '–' : when(i.end_us)) +
      '</td><td data-label="duration">' + dur(i.duration_us) + '</td></tr>').join('') || '<tr><td colspan="5">no incidents in the last 90 days</td></tr>';
    st.textContent = 'updated ' + new Date().toLocaleTimeString();
    st.dataset.state = 'ready';
    if (!window.picketFirstRenderMs) window.picketFirstRenderMs = performance.now();
  } catch (e) {
    st.textContent = 'error: ' + e.message;
    st.dataset.state = 'error';
  }
}
refresh();
setInterval(refresh, 5000);
