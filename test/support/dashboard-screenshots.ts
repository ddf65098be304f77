import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, TestHarness } from './harness';

// `npm run docs:screenshots`: the README's dashboard screenshots, taken from the real service the way
// test/e2e/dashboard.e2e-spec.ts starts it (scratch database on the machine's Postgres, Redis, kimi-sim
// over HTTP), with realistic data: a reviewed session with turns, a compaction, snapshots and a fork;
// a finished task and a running fan-out of a dozen children over a slow kimi-sim, so the pool is caught
// with slots in use. Last, the "Done when": the embedded default (no Postgres or Redis needed) on a
// fresh data directory with `code-review-fanout` run against it (fanout-pool.png). Waits are on what the page shows. Needs `npm run build` first (the page is served
// from dist/dashboard) and Chromium (`/usr/bin/chromium`, or CHROMIUM_PATH).
// Browser globals, used only inside page.evaluate callbacks (this project compiles without the DOM lib).
declare const location: { hash: string }, document: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = resolve(process.argv[2] ?? join(process.cwd(), 'docs/screenshots'));
const VIEWPORT = { width: 1280, height: 800 };

/** A page at the screenshot viewport whose console errors, warnings and page errors land in `errors`. */
async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return page;
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (t: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function check(res: { status: number; body: any }, what: string, status = [200, 201, 202]): any {
  if (!status.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body;
}

const FILES: Array<[string, string]> = [
  ['billing/invoice.ts', 'export function total(lines: Line[]) { return lines.reduce((s, l) => s + l.qty * l.price, 0); }'],
  ['billing/tax.ts', 'export const VAT = { DE: 0.19, FR: 0.2, NL: 0.21 }; export function tax(c: string, n: number) { return n * (VAT[c] ?? 0); }'],
  ['billing/refund.ts', 'export async function refund(id: string) { const inv = await repo.find(id); if (!inv.paid) throw new Error("unpaid"); return pay.reverse(inv); }'],
  ['auth/session.ts', 'export function issue(user: User) { return sign({ sub: user.id, exp: now() + 3600 }, SECRET); }'],
  ['auth/password.ts', 'export function check(pw: string, hash: string) { return bcrypt.compare(pw, hash); }'],
  ['auth/rate-limit.ts', 'const hits = new Map<string, number>(); export function allow(ip: string) { return (hits.get(ip) ?? 0) < 10; }'],
  ['api/orders.ts', 'router.post("/orders", async (req, res) => { const o = await orders.create(req.body); res.status(201).json(o); });'],
  ['api/users.ts', 'router.get("/users/:id", async (req, res) => res.json(await users.get(req.params.id)));'],
  ['db/pool.ts', 'export const pool = new Pool({ max: 20, idleTimeoutMillis: 30000 });'],
  ['db/migrate.ts', 'export async function migrate() { for (const m of list()) await run(m); }'],
  ['jobs/nightly.ts', 'cron("0 3 * * *", async () => { await invoices.closeMonth(); await mail.flush(); });'],
  ['util/money.ts', 'export const round = (n: number) => Math.round(n * 100) / 100;'],
];

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  // The slow sim below must stay within the upstream timeouts (the harness sets 3 s for its fault tests).
  const h = await TestHarness.start({ env: { UPSTREAM_TIMEOUT_MS: '30000', UPSTREAM_STREAM_IDLE_MS: '30000' } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  const consoleErrors: string[] = [];
  const taken: string[] = [];
  try {
    const acme = await h.createAccount('acme', { session_limit: 16 });
    const globex = await h.createAccount('globex', { session_limit: 4 });
    const page = await openPage(browser, consoleErrors);

    const shot = async (name: string, height = VIEWPORT.height): Promise<void> => {
      await page.locator('#view:not([aria-busy])').waitFor({ state: 'attached' });
      await page.evaluate(() => document.activeElement?.blur?.());
      const path = join(OUT, `${name}.png`);
      await page.screenshot({ path, type: 'png', clip: { x: 0, y: 0, width: VIEWPORT.width, height } }); // text-dense views cropped to stay small
      taken.push(path);
      console.log(`${path} (${Math.round(statSync(path).size / 1024)} KB)`);
    };
    const go = async (hash: string): Promise<void> => {
      await page.evaluate((hh) => (location.hash = hh), hash);
    };

    // 1. Sign-in.
    await page.goto(`${h.url}/dashboard`);
    await page.getByTestId('signin-form').waitFor();
    await shot('sign-in');

    // 2. A reviewed session: turns, a compaction, two snapshots and a fork.
    const s = check(await h.api(acme.apiKey, 'POST', '/v1/sessions', { system: 'You are a careful code reviewer. Be terse.', title: 'review: billing service' }), 'session');
    const turns = [
      'Review billing/invoice.ts: total() multiplies qty by price per line. Owner: team-payments.',
      'billing/tax.ts hard-codes VAT rates for DE 19%, FR 20%, NL 21%. Should they come from config?',
      'billing/refund.ts throws "unpaid" for unpaid invoices. Is a 409 better than a 500 there?',
      'The nightly job closes the month at 03:00 UTC and flushes mail. Any race with refunds?',
      'Summarize the risks so far in three bullets.',
    ];
    for (const [i, content] of turns.entries()) check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${s.id}/messages`, { messages: [{ role: 'user', content }] }, { 'idempotency-key': `shot-${i}` }), `turn ${i}`);
    const snap1 = check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${s.id}/snapshots`, { label: 'after first pass' }), 'snapshot 1');
    check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${s.id}/compress`, { keep_rounds: 2 }), 'compress');
    check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${s.id}/snapshots`, { label: 'compacted' }), 'snapshot 2');
    for (const [i, content] of ['Now review auth/session.ts: tokens expire after 3600 s.', 'And auth/rate-limit.ts: 10 hits per IP, never reset?'].entries()) {
      check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${s.id}/messages`, { messages: [{ role: 'user', content }] }), `later turn ${i}`);
    }
    const fork = check(await h.api(acme.apiKey, 'POST', `/v1/snapshots/${snap1.id}/fork`, {}), 'fork');
    check(await h.api(acme.apiKey, 'POST', `/v1/sessions/${fork.id}/messages`, { messages: [{ role: 'user', content: 'Take the other view: keep VAT in code.' }] }), 'fork turn');
    // Another account with some usage and sessions open, for the admin's pool and usage views.
    for (let i = 0; i < 2; i++) {
      const g = check(await h.api(globex.apiKey, 'POST', '/v1/sessions', { system: 'Support assistant.', title: `ticket ${4711 + i}` }), 'globex session');
      check(await h.api(globex.apiKey, 'POST', `/v1/sessions/${g.id}/messages`, { messages: [{ role: 'user', content: `Customer ${i} cannot log in since the password reset.` }] }), 'globex turn');
    }

    // 3. A finished task (fast sim).
    const done = check(await h.api(acme.apiKey, 'POST', '/v1/tasks', { goal: 'Summarize the owners of each module', inputs: FILES.slice(0, 4).map(([title, content]) => ({ title, content })), max_parallel: 4 }), 'task 1');
    await until('task 1 done', () => h.api(acme.apiKey, 'GET', `/v1/tasks/${done.id}`), (r) => r.body.status === 'succeeded');

    // 4. The pool mid-task: a slow sim, twelve children, six at a time. The page samples in-use while it is open.
    await page.goto(`${h.url}/dashboard#key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByTestId('signed-in-as').filter({ hasText: 'admin' }).waitFor();
    const gauge = page.locator(`[data-testid="pool-gauge"][data-account-id="${acme.id}"]`);
    await gauge.waitFor();
    const idle = Number(await gauge.getAttribute('data-in-use'));
    await page.waitForTimeout(3_000); // a few seconds of the idle line before the task starts
    h.sim.configure({ firstTokenMs: 3_000 }); // two waves of six children, several seconds each
    const running = check(
      await h.api(acme.apiKey, 'POST', '/v1/tasks', { goal: 'Review each file for bugs and risky patterns; merge into one prioritized list', inputs: FILES.map(([title, content]) => ({ title, content })), max_parallel: 6 }),
      'task 2',
    );
    await until('six children holding slots', async () => Number(await gauge.getAttribute('data-in-use')), (n) => n >= idle + 6, 120_000);
    await page.waitForTimeout(4_000); // the in-use line climbs and holds
    await shot('pool');

    // 5. Tasks: the running one with progress, the finished one below (account key: with cancel).
    await page.goto(`${h.url}/dashboard#key=${encodeURIComponent(acme.apiKey)}`);
    await page.getByTestId('signed-in-as').filter({ hasText: 'account acme' }).waitFor();
    await go('#tasks');
    const row = page.locator(`[data-testid="task-row"][data-task-id="${running.id}"]`);
    await row.waitFor();
    const progress = row.getByTestId('task-progress');
    const state = async () => ({ done: await progress.getAttribute('data-done'), succeeded: Number(await progress.getAttribute('data-succeeded')), running: Number(await progress.getAttribute('data-running')) });
    const mid = await until('a child done and others running', state, (p) => p.done === 'true' || (p.succeeded >= 1 && p.running >= 1), 120_000);
    if (mid.done === 'true') throw new Error('the task finished before the tasks view showed it running: slow the sim further');
    await page.locator(`[data-testid="task-row"][data-task-id="${done.id}"] [data-testid="task-progress"][data-done="true"]`).waitFor();
    await shot('tasks');

    h.sim.configure({ firstTokenMs: 0 });
    await until('task 2 done', () => h.api(acme.apiKey, 'GET', `/v1/tasks/${running.id}`), (r) => r.body.status === 'succeeded', 180_000);

    // 6. The finished task's page and its lineage tree.
    await go(`#task/${running.id}`);
    await page.getByTestId('task-result').waitFor();
    await page.locator('[data-testid="task-child"]').nth(FILES.length - 1).waitFor();
    await shot('task');
    await go(`#lineage/${running.master_session_id}`);
    await page.getByTestId('lineage-tree').waitFor();
    await page.locator('[data-testid="lineage-node"]').nth(FILES.length).waitFor();
    await shot('lineage', 660);

    // 7. The session inspector.
    await go(`#session/${s.id}`);
    await page.getByTestId('window-bar').waitFor();
    await page.getByTestId('compaction-row').first().waitFor();
    await page.getByTestId('snapshot-row').nth(1).waitFor();
    await shot('session');

    // 8. Usage (admin: every account, split by purpose).
    await page.goto(`${h.url}/dashboard#key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByTestId('signed-in-as').filter({ hasText: 'admin' }).waitFor();
    await go('#usage');
    await page.locator(`[data-testid="usage-account"][data-account-id="${acme.id}"] [data-testid="usage-row"][data-purpose="compress"]`).waitFor();
    await page.locator(`[data-testid="usage-account"][data-account-id="${globex.id}"] [data-testid="usage-row"]`).first().waitFor();
    await shot('usage');

    await page.context().close();
    taken.push(await fanoutInEmbeddedDefault(browser, consoleErrors));
    if (consoleErrors.length) throw new Error(`the page logged errors:\n${consoleErrors.join('\n')}`);
    const total = taken.reduce((n, p) => n + statSync(p).size, 0);
    console.log(`${taken.length} screenshots, ${Math.round(total / 1024)} KB in ${OUT}`);
  } finally {
    await browser.close();
    await h.stop();
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/**
 * The "Done when", as a picture: the embedded default (`npm start` without the build) on a fresh
 * data directory, the dashboard signed in with its development key, and `code-review-fanout` run
 * against it; the pool is shot when the task holds its eight slots.
 */
async function fanoutInEmbeddedDefault(browser: Browser, consoleErrors: string[]): Promise<string> {
  const root = process.cwd();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'so-screenshots-'));
  const env = { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const svc = spawn(process.execPath, [join(root, 'dist/apps/orchestrator/src/main.js')], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => svc.once('exit', r));
  try {
    const base = `http://127.0.0.1:${port}`;
    await until('the embedded default to answer /health', () => fetch(`${base}/health`).then((r) => r.status, () => 0), (s) => s === 200, 120_000);
    const devKey = (JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as { dev_api_key: string }).dev_api_key;
    const page = await openPage(browser, consoleErrors);
    await page.goto(`${base}/dashboard#key=${encodeURIComponent(devKey)}`);
    await page.getByTestId('signed-in-as').filter({ hasText: 'account development' }).waitFor();
    const gauge = page.getByTestId('pool-gauge');
    await gauge.waitFor();
    await page.waitForTimeout(3_000); // the idle line before the example starts
    const ex = spawn(process.execPath, [join(root, 'dist/examples/code-review-fanout.js')], { cwd: root, env: { ...env, SO_BASE_URL: `${base}/v1` }, stdio: ['ignore', 'ignore', 'inherit'] });
    const exDone = new Promise<number | null>((r) => ex.once('exit', r));
    await until('the task to hold eight slots', async () => Number(await gauge.getAttribute('data-in-use')), (n) => n >= 8, 120_000);
    await page.waitForTimeout(1_500);
    const path = join(OUT, 'fanout-pool.png');
    await page.screenshot({ path, type: 'png' });
    console.log(`${path} (${Math.round(statSync(path).size / 1024)} KB)`);
    const code = await exDone;
    if (code !== 0) throw new Error(`code-review-fanout exited with ${code}`);
    await page.locator('[data-testid="pool-gauge"][data-in-use="0"]').waitFor(); // drained
    await page.context().close();
    return path;
  } finally {
    svc.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
