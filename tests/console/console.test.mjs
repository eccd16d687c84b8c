// The web console in a real browser: Debian's Chromium, headless, driven
// by playwright-core (the driver alone: it downloads no browser). Run by
// tests/e2e/test_console.py against its thawd, with a sandbox it made:
//   THAW_URL THAW_KEY THAW_SANDBOX THAW_FILE (a file in it) THAW_ARTIFACTS
//   [THAW_CHROMIUM, default /usr/bin/chromium]
// and by tests/e2e/test_fleet_control.py against thaw-control with
// THAW_HOSTS (the names its hosts page must list) instead of a sandbox.
// Every page must load without a console error, an uncaught exception, a
// failed request or an error answer the page did not ask for.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.THAW_URL;
const key = process.env.THAW_KEY;
const sid = process.env.THAW_SANDBOX;
const file = process.env.THAW_FILE;
const out = process.env.THAW_ARTIFACTS || 'build/test-artifacts/console';
const exe = process.env.THAW_CHROMIUM || '/usr/bin/chromium';
const hosts = (process.env.THAW_HOSTS || '').split(',').filter(Boolean);
assert.ok(base && key && (hosts.length || (sid && file)),
  'THAW_URL, THAW_KEY and THAW_SANDBOX with THAW_FILE (a host) or THAW_HOSTS (thaw-control)'
  + ' are needed');
mkdirSync(out, { recursive: true });

const check = (what) => console.log(`  ok: ${what}`);

// Wait (through the API) for the sandbox's first usage samples, so that
// the pages have data to draw when they load.
if (!hosts.length) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const r = await fetch(`${base}/v1/sandboxes/${sid}/metrics`,
      { headers: { Authorization: `Bearer ${key}` } });
    const m = r.ok ? await r.json() : null;
    if (m && m.points && m.points.length >= 2) break;
    assert.ok(Date.now() < deadline, `no usage samples of ${sid} within 60 s (${r.status})`);
    await new Promise((res) => { setTimeout(res, 2000); });
  }
}

const browser = await chromium.launch({ executablePath: exe, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const problems = [];
let allowed = () => false; // answers >= 400 the current step expects
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1500 } });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location().url || '';
    if (/Failed to load resource/.test(m.text()) && allowed(url)) return;
    problems.push(`console error: ${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Leaving a page closes its terminal's socket; that is no failure.
    if (!r.url().includes('/shell'))
      problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !allowed(r.url()))
      problems.push(`answer ${r.status()}: ${r.url()}`);
  });
  const shot = async (name) => {
    const p = join(out, `console-${name}.png`);
    // The viewport as it is: a full-page shot resizes it, and the terminal
    // would follow.
    const height = await page.evaluate(() => Math.min(document.body.scrollHeight, 1500));
    await page.screenshot({ path: p, clip: { x: 0, y: 0, width: 1280, height } });
    console.log(`  screenshot: ${p}`);
  };

  // thaw-control (THAW_HOSTS: its hosts' names): the hosts page.
  const hostsPage = async () => {
    await page.goto(`${base}/console/`);
    await page.fill('#key', key);
    await page.click('button[type=submit]');
    await page.locator('#nav-hosts').waitFor({ state: 'visible', timeout: 20000 });
    await page.goto(`${base}/console/#/hosts`);
    for (const name of hosts) {
      await page.locator('main td', { hasText: name }).first().waitFor({ timeout: 20000 });
    }
    await shot('hosts');
    check(`the hosts page of thaw-control lists ${hosts.join(', ')}`);
  };

  // A host's thawd: every page with the test's sandbox.
  const sandboxPages = async () => {
    // 1. A wrong key is refused, and the page says so.
    allowed = (url) => new URL(url).pathname === '/v1/info';
    await page.goto(`${base}/console/`);
    await page.fill('#key', 'thaw_not_a_key');
    await page.click('button[type=submit]');
    await page.getByText('That key was refused').waitFor({ timeout: 10000 });
    await shot('key-refused');
    check('a wrong key: "That key was refused" on the key page');
    allowed = () => false;

    // 2. The list shows the test's sandbox.
    await page.fill('#key', key);
    await page.click('button[type=submit]');
    const row = page.locator(`tr[data-id="${sid}"]`);
    await row.waitFor({ timeout: 20000 });
    assert.match(await row.innerText(), /running/);
    assert.equal(await page.locator('#nav-hosts').isHidden(), true, 'no hosts page on a host');
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] svg.spark`),
      sid, { timeout: 10000 });
    await shot('sandboxes');
    check(`the list shows ${sid} running with sparklines`);

    // Create and delete from the list (the delete asks first).
    const before = await page.locator('tr[data-id]').count();
    await page.click('#create');
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-id]').length === n + 1,
      before, { timeout: 60000 });
    const made = await page.evaluate((id) => [...document.querySelectorAll('tr[data-id]')]
      .map((tr) => tr.dataset.id).find((x) => x !== id), sid);
    page.once('dialog', (d) => d.accept());
    await page.locator(`tr[data-id="${made}"] button.danger`).click();
    await page.waitForFunction((id) => !document.querySelector(`tr[data-id="${id}"]`), made,
      { timeout: 60000 });
    const gone = await fetch(`${base}/v1/sandboxes/${made}`,
      { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(gone.status, 404, `${made} still answers ${gone.status} after its delete`);
    check(`"Create sandbox" made ${made}, "Delete" removed it (the API says 404)`);

    // 3. The detail page: a terminal that runs a command.
    await row.locator('a').first().click();
    await page.locator('#term-state', { hasText: 'connected' }).waitFor({ timeout: 30000 });
    const marker = `${process.pid}-${Date.now() % 100000}`;
    // Typed once the shell's prompt shows (else the keys echo before it).
    await page.waitForFunction(() => /[#$] $/m.test(document.querySelector('pre.term').textContent
      .split('\n').map((l) => l.trimEnd() + ' ').join('\n')), null, { timeout: 30000 });
    await page.locator('pre.term').click();
    await page.keyboard.type(`echo hello-$((20+22))-${marker}-marker`);
    await page.keyboard.press('Enter');
    await page.waitForFunction((m) => document.querySelector('pre.term').textContent
      .includes(`hello-42-${m}-marker`), marker, { timeout: 30000 });
    check('the terminal ran a typed command and showed its output');

    // 4. The files browser lists the test's file and opens it.
    const entry = page.locator(`#files tr[data-path="${file}"]`);
    await entry.waitFor({ timeout: 20000 });
    await entry.locator('a').click();
    await page.locator('#files .viewer pre.file').waitFor({ timeout: 20000 });
    assert.match(await page.locator('#files .viewer pre.file').innerText(), /console-test-content/);
    check(`the files browser lists ${file} and opens it`);

    // Upload: a file chosen in the page lands in the listed directory.
    const upName = `uploaded-${marker}.txt`;
    await page.setInputFiles('#files-upload',
      { name: upName, mimeType: 'text/plain', buffer: Buffer.from(`uploaded ${marker}\n`) });
    await page.locator(`#files tr[data-path="/root/${upName}"]`).waitFor({ timeout: 20000 });
    const back = await fetch(`${base}/v1/sandboxes/${sid}/files?path=/root/${upName}`,
      { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(await back.text(), `uploaded ${marker}\n`);
    check(`an upload from the page landed in /root/${upName}, byte for byte`);

    // 5. Processes: the terminal's shell is in the guest's table.
    await page.locator('#processes button', { hasText: 'Refresh' }).click();
    await page.waitForFunction(() => /bash/.test(document.querySelector('#processes').textContent),
      null, { timeout: 20000 });
    check('the processes table shows the terminal\'s shell');

    // 6. A chart has data (usage samples: one every few seconds).
    const cpu = page.locator('#usage svg.chartsvg').first();
    await cpu.waitFor({ timeout: 10000 });
    assert.ok(Number(await cpu.getAttribute('data-points')) >= 2, 'the CPU chart has no points');
    check('the CPU chart has data');
    await shot('sandbox');

    // 7. Templates.
    await page.goto(`${base}/console/#/templates`);
    const tpl = page.locator('tr[data-name="code-interpreter"]');
    await tpl.waitFor({ timeout: 20000 });
    assert.match(await tpl.innerText(), /ready/);
    await shot('templates');
    check('the templates page lists code-interpreter, ready');

    // 8. Create latency (an admin key; /metrics).
    await page.goto(`${base}/console/#/latency`);
    await page.locator('main figure.chart').waitFor({ timeout: 20000 });
    check('the create-latency histogram is drawn');
    await shot('latency');

    // 9. Forget key: back to the key page, nothing kept.
    await page.click('#forget');
    await page.locator('#key').waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    check('"Forget key" empties session storage');
  };

  await (hosts.length ? hostsPage() : sandboxPages());
} catch (e) {
  if (problems.length) console.log(`problems so far:\n${problems.join('\n')}`);
  throw e;
} finally {
  await browser.close();
}
assert.deepEqual(problems, [], `the console misbehaved:\n${problems.join('\n')}`);
check('no console errors, uncaught exceptions, failed requests or unexpected error answers');
