// status.js: the public status page of one service group (/status/<group>):
// per service only up/down and uptime, from /api/status.
'use strict';
const group = decodeURIComponent(location.pathname.replace(/^\/status\//, ''));
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
document.getElementById('title').textContent = group + ' status';
document.title = group + ' status';
async function refresh() {
  const st = document.getElementById('state');
  try {
    const r = await fetch('/api/status?group=' + encodeURIComponent(group));
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || r.status);
    document.querySelector('#services tbody').innerHTML = j.services.map((s) =>
      '<tr><td>' + esc(s.service) + '</td><td class="' + s.state + '">' + s.state + '</td><td>' +
      (s.uptime == null ? 'no data' : (s.uptime * 100).toFixed(2) + '%') + '</td></tr>').join('');
    st.textContent = 'updated ' + new Date().toLocaleTimeString();
    st.dataset.state = 'ready';
  } catch (e) {
    st.textContent = 'error: ' + e.message;
    st.dataset.state = 'error';
  }
}
refresh();
setInterval(refresh, 5000);
