#!/usr/bin/env node
// dashboard_browser.mjs: one look at a Picket dashboard page in headless Chromium,
// for tests/integration/test_dashboard.py.
//
//   node dashboard_browser.mjs URL SCREENSHOT WAIT_JS [CLICK_SELECTOR WAIT_AFTER_CLICK_JS]
//   node dashboard_browser.mjs --loads N URL SCREENSHOT WAIT_JS
//
// --loads N: N first loads of URL in one running browser, each in a new browser
// context (an empty cache and no cookies: every file and answer fetched again, as
// a viewer's first visit), after the browser has started and settled, so that
// Chromium's own start is not counted in the page's load; prints {"loads": [...]}
// with one object per load as above (the screenshot of the last one only).
//
// Loads URL, waits (bounded) until the page expression WAIT_JS is true, optionally
// clicks CLICK_SELECTOR and waits for WAIT_AFTER_CLICK_JS, saves a full-page
// screenshot and prints one JSON line: the navigation timing of the first load
// (ms from navigation start: responseEnd, domContentLoaded, loadEventEnd), the
// page's own first-render time (window.picketFirstRenderMs: data fetched and the
// tables drawn), and the text of the page's tables. Exit 1 on timeout or a page
// error, with the page's text in the message.
// playwright-core comes from deploy/plugins (scripts/deps runs its npm ci); the
// browser is Debian's /usr/bin/chromium (or $CHROMIUM_PATH).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../deploy/plugins/package.json'));
const { chromium } = require('playwright-core');
const TIMEOUT_MS = Number(process.env.DASHBOARD_WAIT_MS || 20000);

let args = process.argv.slice(2), loads = 0;
if (args[0] === '--loads') { loads = Number(args[1]); args = args.slice(2); }
const [url, shot, waitJs, clickSel, afterJs] = args;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout: 30000,
});
let code = 0;
try {
  if (loads > 0) {
    const warm = await browser.newPage(); // the browser's processes up before the first measured load
    await warm.goto('about:blank');
    await warm.close();
    const all = [];
    for (let k = 0; k < loads && code === 0; k++) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const r = await look(await ctx.newPage(), k === loads - 1 ? shot : null);
      await ctx.close();
      code = r.code;
      all.push(r.out);
    }
    process.stdout.write(JSON.stringify({ loads: all }) + '\n');
  } else {
    const r = await look(await browser.newPage({ viewport: { width: 1400, height: 900 } }), shot);
    code = r.code;
    process.stdout.write(JSON.stringify(r.out) + '\n');
  }
} finally {
  await browser.close();
}
process.exit(code);

// One load of url in page: wait, click, screenshot (when shot), the page's figures and tables.
async function look(page, shot) {
  let code = 0;
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT_MS });
  try {
    await page.waitForFunction(waitJs, null, { timeout: TIMEOUT_MS, polling: 100 });
    if (clickSel) {
      await page.click(clickSel, { timeout: TIMEOUT_MS });
      await page.waitForFunction(afterJs, null, { timeout: TIMEOUT_MS, polling: 100 });
    }
  } catch (e) {
    code = 1;
    errors.push('waiting for ' + (clickSel ? afterJs : waitJs) + ': ' + e.message.split('\n')[0]);
  }
  // A page of 1,000 rows is shot as its first screen: a full-page shot of it can take over 30 s on a busy machine.
  const tall = await page.evaluate(() => document.documentElement.scrollHeight > 8000);
  if (shot) await page.screenshot({ path: shot, fullPage: !tall });
  const out = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    const rows = (sel) => [...document.querySelectorAll(sel + (sel === '#checks' ? ' tbody tr[data-check]' : ' tbody tr'))].map((tr) =>
      [...tr.children].map((td) => td.textContent));
    return {
      nav: { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd, loadEventEnd: n.loadEventEnd },
      firstRenderMs: window.picketFirstRenderMs || null, allRowsMs: window.picketAllRowsMs || null, dataMs: window.picketDataMs || null,
      state: (document.querySelector('#state') || {}).textContent,
      checks: rows('#checks'), incidents: rows('#incidents'), probes: rows('#probes'), services: rows('#services'),
      groups: rows('#groups'), groupsShown: !(document.querySelector('#slos') || { hidden: true }).hidden,
      plotCanvas: !!document.querySelector('#plot canvas'),
    };
  });
  out.errors = errors;
  out.screenshot = shot;
  return { code, out };
}
