// common.js: formatting shared by the dashboard's pages. Every figure is the
// collector's; this only formats. Times show in the viewer's zone, UTC on hover.
'use strict';
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
const ms = (us) => (us == null || us <= 0 ? '–' : us >= 10000 ? (us / 1000).toFixed(0) + ' ms' : (us / 1000).toFixed(1) + ' ms');
const pct = (r) => (r == null ? 'no data' : (r * 100).toFixed(r >= 0.9995 && r < 1 ? 3 : 2) + '%');
// An error budget left: below 0 it is overspent N times (as picketctl prints it).
const budget = (b) => (b == null ? 'no data' : b < 0 ? 'overspent ' + (1 - b).toFixed(1) + '×' : pct(b));
const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
const utc = (us) => new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
const localTime = (us) => {
  const d = new Date(us / 1000), p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
};
// A time in the viewer's zone, with UTC in its title (hover).
const when = (us) => (us ? '<time datetime="' + new Date(us / 1000).toISOString() + '" title="' + utc(us) + '">' + localTime(us) + '</time>' : '–');
const dur = (us) => { const s = Math.round(us / 1e6); return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : s < 172800 ? (s / 3600).toFixed(1) + ' h' : (s / 86400).toFixed(1) + ' d'; };
const E2E = { ok: 'OK', degraded: 'DEGRADED', failed: 'FAIL', unknown: 'UNKNOWN' };
const get = (p) => (window.picketFetch ? window.picketFetch(p) : fetch(p).then(async (r) => { const j = await r.json(); if (!r.ok) throw Object.assign(new Error(p + ': ' + (j.error || r.status)), { status: r.status }); return j; }));
// The colours of a history bar: one character per round (dashboard_api.c).
const BAR = { u: 'var(--ok)', g: 'var(--warn)', p: '#e08a00', d: 'var(--bad)', '-': 'var(--none)' };
const BAR_WORD = { u: 'up', g: 'degraded', p: 'partly failed', d: 'down', '-': 'no result' };
// A day bar's words (bars=days: the share of good results of each UTC day, dashboard_int.h's thresholds).
const DAY_WORD = { u: 'up (99.9% or more good)', p: 'partial (99% to 99.9%)', d: 'down (under 99%)', '-': 'no data' };
// line: one character per round (or, with daily = {worst}, per UTC day, oldest first).
function barsHtml(line, roundUs, daily) {
  if (!line) return '–';
  const n = line.length, stops = [], count = {};
  // Runs of one state are one gradient stop each; a repeating gradient on top draws the gaps between rounds.
  for (let i = 0; i < n;) {
    let k = i;
    while (k < n && line[k] === line[i]) k++;
    count[line[i]] = (count[line[i]] || 0) + k - i;
    stops.push(BAR[line[i]] + ' ' + (i * 100 / n).toFixed(2) + '% ' + (k * 100 / n).toFixed(2) + '%');
    i = k;
  }
  const sum = Object.keys(count).map((c) => count[c] + ' ' + (daily ? DAY_WORD : BAR_WORD)[c]).join(', ');
  const label = daily ? 'last ' + n + ' UTC days: ' + sum + (daily.worst != null ? '; worst day ' + pct(daily.worst) : '')
    : 'last ' + n + ' rounds of ' + dur(roundUs || 60e6) + ': ' + sum;
  return '<span class="bars" role="img" aria-label="' + label + '" title="' + label + '" data-bars="' + esc(line) +
    '" style="--n:' + n + ';background-image:var(--gaps),linear-gradient(to right,' + stops.join(',') + ')"></span>';
}
