// The dashboard end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): start `theater server` with the demo tree, open the page with the token, see
// the tree and each actor's node, crash the crasher from the page, see it flash and restart, use
// request, restart and stop, and save a screenshot. Skips (exit 77) only when Chromium cannot start.
//
//   node tests/browser/dashboard.test.mjs <theater binary> <examples dir> <artifact dir>
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [theater, examples, artifacts] = process.argv.slice(2);
if (!theater || !examples || !artifacts) {
  console.error('usage: dashboard.test.mjs <theater binary> <examples dir> <artifact dir>');
  process.exit(2);
}
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  // 77 = skipped (ctest shows it as such): install-deps.sh could not reach the npm registry.
  console.error(`SKIPPED: playwright-core is not installed (npm ci --prefix tests/browser; scripts/install-deps.sh does it): ${e.message}`);
  process.exit(77);
}

const step = (what) => console.log(`- ${what}`);
const dataDir = mkdtempSync(join(tmpdir(), 'theater-browser-'));
mkdirSync(artifacts, { recursive: true });

// ---- the server -------------------------------------------------------------------------------
const server = spawn(theater, ['server', '--data', dataDir, '--listen', '127.0.0.1:0', '--start', join(examples, 'demo.toml')],
  { stdio: ['ignore', 'pipe', 'pipe'] });
let serverOut = '';
server.stdout.on('data', (d) => { serverOut += d; });
server.stderr.on('data', (d) => { serverOut += d; });
const serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

async function waitFor(predicate, what, ms = 30000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = predicate();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}\n--- server output ---\n${serverOut}`);
}

let browser;
let page;
let failed = false;
try {
  const url = await waitFor(() => (serverOut.match(/dashboard\s+(http:\/\/\S+)/) || [])[1], 'the dashboard address');
  await waitFor(() => serverOut.includes('started supervisor-'), 'the demo tree', 240000);  // a cold cache compiles first
  step(`server up, dashboard at ${url.replace(/token=.*/, 'token=…')}`);

  // ---- the browser ----------------------------------------------------------------------------
  if (!existsSync(CHROMIUM)) {
    console.log(`SKIP: chromium cannot start: ${CHROMIUM} is not installed (apt-get install chromium)`);
    process.exitCode = 77;
  } else {
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60000 });
    } catch (e) {
      console.log(`SKIP: chromium cannot start: ${e.message.split('\n')[0]}`);
      process.exitCode = 77;
    }
  }
  if (browser) {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors = [];
    page.on('console', (m) => {
      // Chromium logs every non-2xx fetch as 'Failed to load resource'; the responses are listed below.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
    });
    page.on('dialog', (d) => d.accept());
    page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`); });

    await page.goto(url);
    if (page.url().includes('token=')) throw new Error(`the token stayed in the address bar: ${page.url()}`);
    for (const name of ['supervisor', 'counter', 'echo', 'crasher']) {
      await page.waitForSelector(`.node[data-name="${name}"][data-status="running"]`, { timeout: 20000 });
    }
    await page.waitForSelector('#live.on', { timeout: 10000 });
    step('the tree shows supervisor, counter, echo and crasher, running; the event stream is live');
    const nested = await page.locator('.node[data-name="supervisor"] + ul .node[data-name="crasher"]').count();
    if (nested !== 1) throw new Error('crasher is not drawn under its supervisor');
    // Each actor's node: a server without a cluster runs them all itself, as node "local".
    for (const name of ['supervisor', 'counter', 'echo', 'crasher']) {
      const where = await page.textContent(`.node[data-name="${name}"][data-node="local"] .where`);
      if (where !== '@local') throw new Error(`${name} does not show its node: ${where}`);
    }
    await page.waitForFunction(() => document.querySelector('#server-info').textContent.includes('node local'), null, { timeout: 10000 });
    step('each actor shows its node (@local), the header the server\'s');

    // Crash the crasher from the page.
    await page.click('.node[data-name="crasher"]');
    await page.waitForSelector('#detail:not([hidden])');
    if ((await page.textContent('#detail-title')) !== 'crasher') throw new Error('the detail panel does not show crasher');
    if ((await page.textContent('#d-node')) !== 'local') throw new Error('the detail panel does not show the node');
    await page.fill('#message', 'trap');
    await page.click('#send');
    await page.waitForSelector('.node.flash[data-name="crasher"]', { timeout: 10000 });
    step('sent "trap": the crasher flashes');
    await page.waitForSelector('.node[data-name="crasher"][data-restarts="1"][data-status="running"]', { timeout: 20000 });
    await page.waitForSelector('#log li.t-failed', { timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('#d-restarts').textContent === '1', null, { timeout: 10000 });
    step('it restarted: 1 restart on its node and in its detail, the failure in the event log');
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
    step(`screenshot: ${join(artifacts, 'dashboard.png')}`);

    // Request: the reply shows up; the state preview follows.
    await page.fill('#message', 'hello');
    await page.click('#request');
    await page.waitForFunction(() => document.querySelector('#reply').textContent === 'ok, handled 1', null, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('#d-state').textContent === '1', null, { timeout: 10000 });
    step('request "hello" replied "ok, handled 1"; the state preview shows 1');

    // Restart and stop buttons.
    await page.click('.node[data-name="counter"]');
    await page.waitForFunction(() => document.querySelector('#detail-title').textContent === 'counter');
    await page.click('#restart');
    await page.waitForSelector('.node[data-name="counter"][data-restarts="1"]', { timeout: 20000 });
    step('restart button: counter restarted');
    await page.click('.node[data-name="echo"]');
    await page.waitForFunction(() => document.querySelector('#detail-title').textContent === 'echo');
    await page.click('#stop');
    await page.waitForSelector('.node[data-name="echo"]', { state: 'detached', timeout: 20000 });
    step('stop button: echo is gone from the tree');
    await page.screenshot({ path: join(artifacts, 'dashboard-after.png'), fullPage: true });
    if (consoleErrors.length) throw new Error(`the page logged errors: ${consoleErrors.join(' | ')}`);
  }
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e.message}`);
  if (page) await page.screenshot({ path: join(artifacts, 'dashboard-failure.png'), fullPage: true }).catch(() => {});
} finally {
  if (browser) await browser.close().catch(() => {});
  server.kill('SIGTERM');
  const { code, signal } = await serverExit;
  if (code !== 0) {
    failed = true;
    console.error(`FAIL: the server did not stop cleanly on SIGTERM (code ${code}, signal ${signal})\n${serverOut}`);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
if (failed) process.exit(1);
if (process.exitCode !== 77) console.log('dashboard: 1 passed, 0 failed');
