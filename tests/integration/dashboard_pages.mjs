#!/usr/bin/env node
// dashboard_pages.mjs: drives Picket's dashboard pages in headless Chromium
// through a list of steps, for tests/integration/test_dashboard_pages.py.
//
//   node dashboard_pages.mjs STEPS.json
//
// STEPS.json: {"timezone": "America/New_York", "steps": [...]}, each step one of
//   {"viewport": [W, H]}   {"dark": true|false}   {"goto": URL}   {"wait": JS}
//   {"click": SELECTOR}    {"fill": [SELECTOR, TEXT]}   {"select": [SELECTOR, VALUE]}
//   {"press": KEY}         {"eval": JS, "as": NAME}     {"shot": PATH}
// Every wait is bounded (DASHBOARD_WAIT_MS, default 20 s). Prints one JSON line:
// {"values": {NAME: value, ...}, "errors": [...], "failed_step": N or null}; exit 1
// when a step failed or the page threw, after a screenshot (PATH of the failed
// step's "shot", or STEPS.json + ".fail.png").
// playwright-core comes from deploy/plugins; the browser is Debian's /usr/bin/chromium.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../deploy/plugins/package.json'));
const { chromium } = require('playwright-core');
const TIMEOUT_MS = Number(process.env.DASHBOARD_WAIT_MS || 20000);

const file = process.argv[2];
const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout: 30000,
});
const out = { values: {}, errors: [], failed_step: null };
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: spec.timezone || 'UTC',
    extraHTTPHeaders: spec.headers || {} });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => out.errors.push('page error: ' + e.message));
  for (let i = 0; i < spec.steps.length; i++) {
    const s = spec.steps[i];
    try {
      if (s.viewport) await page.setViewportSize({ width: s.viewport[0], height: s.viewport[1] });
      else if ('dark' in s) await page.emulateMedia({ colorScheme: s.dark ? 'dark' : 'light' });
      else if (s.goto) await page.goto(s.goto, { waitUntil: 'load', timeout: TIMEOUT_MS });
      else if (s.wait) await page.waitForFunction(s.wait, null, { timeout: s.timeout_ms || TIMEOUT_MS, polling: 200 });
      else if (s.click) await page.click(s.click, { timeout: TIMEOUT_MS });
      else if (s.fill) await page.fill(s.fill[0], s.fill[1], { timeout: TIMEOUT_MS });
      else if (s.select) await page.selectOption(s.select[0], s.select[1], { timeout: TIMEOUT_MS });
      else if (s.press) await page.keyboard.press(s.press);
      else if (s.eval) out.values[s.as] = await page.evaluate(s.eval);
      else if (s.shot) { fs.mkdirSync(path.dirname(s.shot), { recursive: true }); await page.screenshot({ path: s.shot, fullPage: !!s.full }); }
      else throw new Error('unknown step ' + JSON.stringify(s));
    } catch (e) {
      out.failed_step = i;
      out.errors.push('step ' + i + ' ' + JSON.stringify(s).slice(0, 300) + ': ' + e.message.split('\n')[0]);
      out.errors.push('url: ' + page.url() + ' text: ' + (await page.evaluate(() => document.body.innerText).catch(() => '')).slice(0, 1500));
      await page.screenshot({ path: file + '.fail.png', fullPage: true }).catch(() => {});
      break;
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.failed_step !== null || out.errors.length ? 1 : 0);
