#!/usr/bin/env node
// check_approval_ui.mjs: the seed plan's browser test "should display draft for
// approval" (e2e/integrations/approval-workflow.spec.ts) as a Nagios plugin.
//
//   node check_approval_ui.mjs APPROVAL_APP_URL [DRAFT_ID]
//
// Without DRAFT_ID it first makes a draft the way the plan's previous test does
// (form POST /generate, no redirects, 303 to /drafts/draft_N). Then it opens
// /drafts/DRAFT_ID in headless Chromium and requires, visible: the h2 headings
// "Customer Message" and "AI Suggested Reply", and the buttons "Approve & Send"
// and "Edit & Send". Prints one line with perfdata load_ms=N (page load time).
// Exit 0 all visible, 2 something missing or the page failed, 3 the browser or
// playwright-core cannot start (unknown, not a verdict on the app).
// Needs: Node.js >= 20, Debian's chromium at /usr/bin/chromium (or $CHROMIUM_PATH) and
// playwright-core from this folder's package.json (`npm ci`).

const TIMEOUT_MS = Number(process.env.CHECK_TIMEOUT_MS || 15000);

function finish(code, text) {
  const word = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][code];
  process.stdout.write(`APPROVAL UI ${word} - ${text}\n`);
  process.exit(code);
}

async function makeDraft(base) {
  const res = await fetch(`${base}/generate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      conversation_id: 'test-conv-e2e',
      channel: 'email',
      incoming_text: 'How do I return a product?',
    }),
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const location = res.headers.get('location') || '';
  const m = location.match(/\/drafts\/(draft_\d+)/);
  if (res.status !== 303 || !m)
    finish(2, `POST /generate answered ${res.status} with Location '${location}', expected 303 to /drafts/draft_N`);
  return m[1];
}

async function main() {
  const [base0, draftArg] = process.argv.slice(2);
  if (!base0) finish(3, 'usage: check_approval_ui.mjs APPROVAL_APP_URL [DRAFT_ID]');
  const base = base0.replace(/\/+$/, '');

  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    finish(3, `playwright-core is not installed (run npm ci in ${new URL('.', import.meta.url).pathname}): ${e.message}`);
  }

  let draftId;
  try {
    draftId = draftArg || (await makeDraft(base));
  } catch (e) {
    finish(2, `cannot create a draft at ${base}/generate: ${e.message}`);
  }

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      timeout: TIMEOUT_MS,
    });
  } catch (e) {
    finish(3, `cannot start chromium: ${e.message.split('\n')[0]}`);
  }
  let code = 0;
  let text;
  try {
    const page = await browser.newPage();
    const started = Date.now();
    const res = await page.goto(`${base}/drafts/${draftId}`, { waitUntil: 'load', timeout: TIMEOUT_MS });
    const loadMs = Date.now() - started;
    const missing = [];
    if (!res || res.status() >= 400) missing.push(`page status ${res ? res.status() : 'none'}`);
    const wanted = [
      ['h2', 'Customer Message'],
      ['h2', 'AI Suggested Reply'],
      ['button', 'Approve & Send'],
      ['button', 'Edit & Send'],
    ];
    for (const [tag, label] of wanted) {
      const loc = page.locator(`${tag}:text("${label}")`);
      if (!(await loc.first().isVisible().catch(() => false))) missing.push(`${tag} "${label}"`);
    }
    if (missing.length) {
      code = 2;
      text = `draft ${draftId}: not visible: ${missing.join(', ')} | load_ms=${loadMs}`;
    } else {
      text = `draft ${draftId}: headings and both buttons visible | load_ms=${loadMs}`;
    }
  } catch (e) {
    code = 2;
    text = `draft ${draftId}: ${e.message.split('\n')[0]}`;
  } finally {
    await browser.close().catch(() => {});
  }
  finish(code, text);
}

main().catch((e) => finish(3, `unexpected: ${e.message}`));
