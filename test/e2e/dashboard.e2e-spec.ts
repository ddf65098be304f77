import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_KEY, TestAccount, TestHarness } from '../support/harness';
import { waitFor } from '../support/processes';

// The dashboard in a real browser: Debian's chromium driven by playwright-core, against the real
// service (Postgres, Redis, kimi-sim over HTTP). Waits are on what the page shows, never on time.
// Browser globals, used only inside page.evaluate callbacks (this project compiles without the DOM lib).
declare const location: { hash: string }, sessionStorage: { getItem(k: string): string | null }, document: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('dashboard (headless Chromium)', () => {
  let h: TestHarness;
  let a: TestAccount;
  let b: TestAccount;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let consoleErrors: string[];

  const open = async (hash: string, key = a.apiKey) => {
    await page.goto(`${h.url}/dashboard#key=${encodeURIComponent(key)}`);
    await page.getByTestId('signed-in-as').waitFor();
    await page.evaluate((hh) => (location.hash = hh), hash);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (Debian), or set CHROMIUM_PATH`);
    // The page is built from apps/dashboard (npm run build does the same); build it so this suite tests the sources.
    execFileSync(process.execPath, [join(__dirname, '../../apps/dashboard/build.js')], { stdio: 'inherit' });
    h = await TestHarness.start();
    a = await h.createAccount('dash-a', { session_limit: 4 });
    b = await h.createAccount('dash-b', { session_limit: 2 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  });
  afterEach(async () => {
    await context?.close();
  });

  it('serves the page without auth, leaves the JSON-only body rule alone, and documents its read-only routes', async () => {
    const html = await fetch(`${h.url}/dashboard`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).toContain('data-testid="signin-form"');
    const js = await fetch(`${h.url}/dashboard/main.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    const missing = await fetch(`${h.url}/dashboard/nope.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).error.code).toBe('not_found');
    // A non-JSON body anywhere is still refused with 415, under /dashboard too.
    const form = await fetch(`${h.url}/dashboard`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x=1' });
    expect(form.status).toBe(415);
    const form2 = await fetch(`${h.url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'text/plain' }, body: 'hi' });
    expect(form2.status).toBe(415);

    expect((await h.api(ADMIN_KEY, 'GET', '/v1/whoami')).body).toEqual({ kind: 'admin', account_id: null, name: null, session_limit: null });
    expect((await h.api(a.apiKey, 'GET', '/v1/whoami')).body).toEqual({ kind: 'account', account_id: a.id, name: 'dash-a', session_limit: 4 });
    const bad = await h.api('sk-nope', 'GET', '/v1/whoami');
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('unauthorized');

    // Tenant scoping: an account key sees its own pool and usage only; the admin timeline refuses it.
    const pool = await h.api(a.apiKey, 'GET', '/v1/pool');
    expect(pool.body.data.map((d: any) => d.account_id)).toEqual([a.id]);
    expect(pool.body.data[0]).toMatchObject({ limit: 4, in_use: 0, waiting: 0 });
    const sb = await h.api(b.apiKey, 'POST', '/v1/sessions', { system: 'b' });
    await h.api(b.apiKey, 'POST', `/v1/sessions/${sb.body.id}/messages`, { messages: [{ role: 'user', content: 'hello from b' }] });
    expect((await h.api(a.apiKey, 'GET', '/v1/usage/timeline?hours=1&bucket_minutes=5')).body.data).toEqual([]);
    const bUsage = await h.api(b.apiKey, 'GET', '/v1/usage/timeline?hours=1&bucket_minutes=5');
    expect(bUsage.body.data).toEqual([expect.objectContaining({ account_id: b.id, purpose: 'chat', calls: 1 })]);
    expect(bUsage.body.data[0].total_tokens).toBeGreaterThan(0);
    expect((await h.api(a.apiKey, 'GET', '/admin/usage/timeline')).status).toBe(403);
    const all = await h.api(ADMIN_KEY, 'GET', '/admin/usage/timeline?hours=1&bucket_minutes=5');
    expect(all.body.data.map((d: any) => d.account_id)).toContain(b.id);
    expect((await h.api(a.apiKey, 'GET', '/v1/usage/timeline?bucket_minutes=0')).status).toBe(400);
    await h.api(b.apiKey, 'DELETE', `/v1/sessions/${sb.body.id}`);

    // The admin's read-only view into one account: that account's objects only, and admin only.
    const sa = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'a', title: 'admin can read me' });
    const viaAdmin = await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}/sessions/${sa.body.id}`);
    expect(viaAdmin.status).toBe(200);
    expect(viaAdmin.body).toEqual((await h.api(a.apiKey, 'GET', `/v1/sessions/${sa.body.id}`)).body);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}/sessions/${sa.body.id}/context`)).body.tokens).toEqual((await h.api(a.apiKey, 'GET', `/v1/sessions/${sa.body.id}/context`)).body.tokens);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}/sessions/${sa.body.id}/lineage`)).body.total_sessions).toBe(1);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${b.id}/sessions/${sa.body.id}`)).status).toBe(404);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${b.id}/sessions`)).body.data.map((x: any) => x.id)).not.toContain(sa.body.id);
    expect((await h.api(ADMIN_KEY, 'GET', '/admin/accounts/not-an-id/sessions')).status).toBe(404);
    expect((await h.api(a.apiKey, 'GET', `/admin/accounts/${a.id}/sessions`)).status).toBe(403);
    expect((await h.api(ADMIN_KEY, 'GET', `/admin/accounts/${a.id}/tasks`)).body).toMatchObject({ object: 'list', data: [] });
    await h.api(a.apiKey, 'DELETE', `/v1/sessions/${sa.body.id}`);

    const doc = (await fetch(`${h.url}/docs-json`).then((r) => r.json())) as any;
    for (const p of ['/v1/whoami', '/v1/pool', '/v1/usage/timeline', '/admin/usage/timeline', '/admin/accounts/{account_id}/sessions', '/admin/accounts/{account_id}/sessions/{id}/lineage', '/admin/accounts/{account_id}/sessions/{id}/context', '/v1/sessions/{id}/lineage']) {
      expect(doc.paths[p].get.responses['200'].content['application/json'].schema.$ref).toMatch(/^#\/components\/schemas\//);
    }
  });

  it('signs in with an account key through the form and shows the pool gauge move as sessions open and close', async () => {
    await page.goto(`${h.url}/dashboard`);
    await page.getByTestId('signin-key').fill(a.apiKey);
    await page.getByTestId('signin-key').press('Enter');
    await page.getByTestId('signed-in-as').filter({ hasText: 'account dash-a' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('so.dashboard.key'))).toBe(a.apiKey);
    const gauge = page.getByTestId('pool-gauge');
    await page.locator('[data-testid="pool-gauge"][data-in-use="0"]').waitFor();
    expect(await gauge.count()).toBe(1); // only this account's pool
    expect(await gauge.getAttribute('data-limit')).toBe('4');

    const s1 = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'one' });
    const s2 = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'two' });
    await page.locator('[data-testid="pool-gauge"][data-in-use="2"]').waitFor();
    expect(await page.getByTestId('pool-in-use').textContent()).toBe('2 / 4 in use');
    expect(await gauge.getAttribute('aria-valuenow')).toBe('2');

    await h.api(a.apiKey, 'DELETE', `/v1/sessions/${s1.body.id}`);
    await page.locator('[data-testid="pool-gauge"][data-in-use="1"]').waitFor();
    await h.api(a.apiKey, 'DELETE', `/v1/sessions/${s2.body.id}`);
    await page.locator('[data-testid="pool-gauge"][data-in-use="0"]').waitFor();

    // A reload keeps the key (sessionStorage); sign-out forgets it.
    await page.reload();
    await page.getByTestId('pool-gauge').waitFor();
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-form').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('so.dashboard.key'))).toBeNull();
    expect(consoleErrors).toEqual([]);
  });

  it('signs in directly with #key=<admin key>, drops the key from the address bar and shows every account', async () => {
    await open('#pool');
    await page.getByTestId('signed-in-as').filter({ hasText: 'account dash-a' }).waitFor();
    // A #key= link opened in a tab already signed in switches to that key.
    await page.goto(`${h.url}/dashboard#key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByTestId('signed-in-as').filter({ hasText: 'admin (every account)' }).waitFor();
    await page.locator(`[data-testid="pool-gauge"][data-account-id="${b.id}"]`).waitFor();
    await page.locator(`[data-testid="pool-gauge"][data-account-id="${a.id}"]`).waitFor();
    expect(page.url()).not.toContain(ADMIN_KEY);
    await page.getByTestId('nav-usage').click();
    await page.locator(`[data-testid="usage-account"][data-account-id="${b.id}"] [data-testid="usage-row"][data-purpose="chat"]`).waitFor();
    // Tasks and sessions belong to an account: the admin picks one, and reads it without the actions.
    await page.getByTestId('nav-tasks').click();
    await page.getByTestId('account-only').waitFor();
    await page.getByTestId('nav-pool').click();
    await page.locator(`[data-testid="pool-account"][data-account-id="${a.id}"] [data-testid="pool-open-account"]`).click();
    await page.waitForURL((u) => u.hash === '#sessions');
    expect(await page.getByTestId('account-picker').inputValue()).toBe(a.id);
    const own = (await h.api(a.apiKey, 'GET', '/v1/sessions?limit=100')).body.data.map((x: any) => x.id).sort();
    expect(own.length).toBeGreaterThan(0);
    await page.locator(`[data-testid="session-row"][data-session-id="${own[0]}"]`).waitFor();
    expect((await page.getByTestId('session-row').evaluateAll((rows) => rows.map((r: any) => r.dataset.sessionId))).sort()).toEqual(own);
    await page.locator(`[data-testid="session-row"][data-session-id="${own[0]}"] [data-testid="session-open"]`).click();
    await page.getByTestId('window-bar').waitFor();
    expect(await page.getByTestId('snapshot-create').isVisible()).toBe(false);
    // Switching the account in the picker shows the other account's sessions.
    await page.getByTestId('nav-sessions').click();
    await page.getByTestId('account-picker').selectOption(b.id);
    const bs = (await h.api(b.apiKey, 'GET', '/v1/sessions?limit=100')).body.data.map((x: any) => x.id);
    await page.locator(`[data-testid="session-row"][data-session-id="${bs[0]}"]`).waitFor();
    expect(await page.locator(`[data-testid="session-row"][data-session-id="${own[0]}"]`).count()).toBe(0);
    expect(consoleErrors).toEqual([]);
  });

  it('a wrong key is refused with a message and nothing is stored', async () => {
    await page.goto(`${h.url}/dashboard#key=sk-wrong`);
    await page.getByTestId('signin-error').filter({ hasText: 'That key is not valid here.' }).waitFor();
    expect(await page.getByTestId('signed-in-as').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.getItem('so.dashboard.key'))).toBeNull();
    // The browser logs the refused request (401) itself; nothing else.
    expect(consoleErrors.filter((e) => !/401/.test(e))).toEqual([]);
  });

  it("watches a task's progress bar reach done, shows its children and answer, opens the lineage tree and clicks through to a session", async () => {
    await open('#tasks');
    const inputs = Array.from({ length: 5 }, (_, i) => ({ title: `part${i}.md`, content: `Section ${i}: the owner of module-${i} is team-${i}.` }));
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Summarize the parts', inputs, max_parallel: 2 });
    expect(created.status).toBe(202);
    const row = page.locator(`[data-testid="task-row"][data-task-id="${created.body.id}"]`);
    await row.waitFor();
    await row.locator('[data-testid="task-progress"][data-done="true"]').waitFor({ timeout: 45_000 });
    const bar = row.getByTestId('task-progress');
    expect(await bar.getAttribute('data-status')).toBe('succeeded');
    expect(await bar.getAttribute('data-succeeded')).toBe('5');
    expect(await bar.getAttribute('aria-valuenow')).toBe('5');
    expect(await row.getByTestId('task-cancel').count()).toBe(0);

    await row.getByTestId('task-open').click();
    await page.getByTestId('task-result').waitFor();
    const answer = (await h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`)).body.result;
    expect(await page.getByTestId('task-result').textContent()).toBe(answer);
    await page.locator('[data-testid="task-child"]').nth(4).waitFor();
    expect(await page.locator('[data-testid="task-child"][data-status="closed"]').count()).toBe(5);

    await page.getByTestId('task-lineage-link').click();
    const tree = page.getByTestId('lineage-tree');
    await tree.waitFor();
    expect(await tree.locator('[data-testid="lineage-node"]').count()).toBe(6);
    expect(await tree.locator(`[data-testid="lineage-node"][data-session-id="${created.body.master_session_id}"]`).getAttribute('data-role')).toBe('master');
    expect(await tree.locator('[data-testid="lineage-merge"]').count()).toBe(5);
    // Lineage nodes carry tokens, cost and timing (what the tree shows beside each node).
    const lineage = (await h.api(a.apiKey, 'GET', `/v1/sessions/${created.body.master_session_id}/lineage`)).body;
    for (const c of lineage.root.children) {
      expect(c.usage.total_tokens).toBeGreaterThan(0);
      expect(c.usage.cost_usd).toBeGreaterThan(0);
      expect(c.closed_at).toBeGreaterThanOrEqual(c.created_at);
    }
    const child = tree.locator('[data-testid="lineage-node"][data-role="child"]').first();
    const childId = await child.getAttribute('data-session-id');
    await child.getByTestId('lineage-open').first().click();
    await page.getByTestId('window-bar').waitFor();
    expect(page.url()).toContain(`#session/${childId}`);
    expect(consoleErrors).toEqual([]);
  });

  it('cancels a running task from the dashboard', async () => {
    await open('#tasks');
    const inputs = Array.from({ length: 30 }, (_, i) => ({ title: `f${i}`, content: `file ${i}` }));
    // Slow children (at least 30 x 300 ms): the task is still running when the row shows up, however loaded the machine.
    h.sim.configure({ firstTokenMs: 300 });
    const created = await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'Long task to cancel', inputs, max_parallel: 1 });
    const row = page.locator(`[data-testid="task-row"][data-task-id="${created.body.id}"]`);
    try {
      await row.getByTestId('task-cancel').click();
      await row.locator('[data-testid="task-progress"][data-status="cancelled"]').waitFor();
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
    const t = await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${created.body.id}`), (r) => r.body.status === 'cancelled');
    expect(t.body.progress.succeeded).toBeLessThan(30);
    expect(consoleErrors).toEqual([]);
  });

  it('opens a session in the inspector: window bar, compaction timeline, messages in window, and restores a snapshot', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'You are terse.', title: 'inspect me' });
    const id = s.body.id as string;
    for (let i = 0; i < 4; i++) expect((await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: `Fact ${i}: the code is K-${i}00.` }] })).status).toBe(200);
    const comp = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/compress`, { keep_rounds: 1 });
    expect(comp.status).toBe(200);
    const snap = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/snapshots`, { label: 'before more' });
    expect(snap.status).toBe(201);
    for (let i = 4; i < 6; i++) await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: `Later ${i}.` }] });
    const lastSeq = (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}`)).body.last_seq as number;

    await open(`#session/${id}`);
    const bar = page.getByTestId('window-bar');
    await bar.waitFor();
    const ctx = (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/context`)).body.tokens;
    expect(Number(await bar.getAttribute('data-recent'))).toBe(ctx.recent);
    expect(Number(await bar.getAttribute('data-outlines'))).toBe(ctx.outlines);
    expect(ctx.outlines).toBeGreaterThan(0);
    expect(Number(await bar.getAttribute('data-context-window'))).toBe(ctx.context_window);
    const rows = page.getByTestId('compaction-row');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(comp.body.method);
    expect(await page.locator(`[data-testid="message-row"][data-seq="${lastSeq}"]`).getAttribute('data-in-window')).toBe('true');
    expect(await page.getByTestId('cache-hit').textContent()).toMatch(/%|–/);

    await page.locator(`[data-testid="snapshot-row"][data-snapshot-id="${snap.body.id}"] [data-testid="snapshot-restore"]`).click();
    await page.locator('#notice [data-kind="ok"]').waitFor();
    expect(await page.locator('#notice').textContent()).toContain('Restored');
    // The messages after the snapshot stay in the history, out of the window.
    await page.locator(`[data-testid="message-row"][data-seq="${lastSeq}"][data-in-window="false"]`).waitFor();
    const after = await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/messages?limit=100`);
    expect(after.body.data.length).toBe(lastSeq);
    expect(after.body.data.filter((m: any) => m.seq > snap.body.at_seq).every((m: any) => m.in_window === false)).toBe(true);
    const restoredCtx = (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/context`)).body.tokens;
    await page.locator(`[data-testid="window-bar"][data-recent="${restoredCtx.recent}"]`).waitFor();

    // Fork from the inspector opens the new session.
    await page.locator(`[data-testid="snapshot-row"][data-snapshot-id="${snap.body.id}"] [data-testid="snapshot-fork"]`).click();
    await page.waitForURL((u) => /#session\//.test(u.hash) && !u.hash.includes(id));
    const forkId = new URL(page.url()).hash.split('/')[1];
    expect((await h.api(a.apiKey, 'GET', `/v1/sessions/${forkId}`)).body.parent_id).toBe(id);
    await page.getByTestId('window-bar').waitFor();
    // The fork hangs under its source in the lineage tree.
    await page.getByTestId('session-lineage-link').click();
    await page.locator(`[data-testid="lineage-node"][data-session-id="${id}"] [data-testid="lineage-node"][data-session-id="${forkId}"]`).waitFor();
    await h.api(a.apiKey, 'DELETE', `/v1/sessions/${forkId}`);
    await h.api(a.apiKey, 'DELETE', `/v1/sessions/${id}`);
    expect(consoleErrors).toEqual([]);
  });

  it('is usable by keyboard and readable at 1280x800 and on a narrow window', async () => {
    await page.goto(`${h.url}/dashboard`);
    await page.getByTestId('signin-key').focus();
    await page.keyboard.type(a.apiKey);
    await page.keyboard.press('Enter');
    await page.getByTestId('pool-gauge').waitFor();
    // Tab from the top of the page reaches the navigation; Enter follows the link.
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'nav-sessions');
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash === '#sessions');
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { system: 'narrow', title: 'a session with a rather long title to wrap on a phone screen' });
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'x'.repeat(300) }] });
    const task = (await h.api(a.apiKey, 'POST', '/v1/tasks', { goal: 'A goal long enough to wrap on a narrow window, twice over, with words', inputs: [{ title: 'one', content: 'first' }, { title: 'two', content: 'second' }] })).body;
    await waitFor(() => h.api(a.apiKey, 'GET', `/v1/tasks/${task.id}`), (r) => r.body.status === 'succeeded');
    for (const [width, height] of [[1280, 800], [390, 800]]) {
      await page.setViewportSize({ width, height });
      for (const view of ['#pool', '#sessions', '#tasks', '#usage', `#session/${s.body.id}`, `#lineage/${task.master_session_id}`, `#task/${task.id}`]) {
        await page.evaluate((hh) => (location.hash = hh), view);
        await page.locator('#view:not([aria-busy])').waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect({ width, view, overflow }).toEqual({ width, view, overflow: 0 });
      }
    }
    expect(consoleErrors).toEqual([]);
  });
});
