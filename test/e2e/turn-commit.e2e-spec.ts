import { AccountsService } from '../../apps/orchestrator/src/accounts/accounts.service';
import { TurnService } from '../../apps/orchestrator/src/sessions/turn.service';
import { TestAccount, TestHarness } from '../support/harness';

describe('turn commit', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount();
  });
  afterAll(async () => h?.stop());

  it('still commits, after the outline, when a coordinator merge moved the session during the upstream call', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'master-like' });
    await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'first' }] });
    h.sim.configure({ firstTokenMs: 400 });
    try {
      const pending = h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'second' }] });
      for (let i = 0; i < 400 && !(h.simStatsFor(a.simKey) as any).in_flight; i++) await new Promise((r) => setTimeout(r, 5));
      // What a merge does: an outline message at the next seq, the window and version moved, under the row lock.
      await h.handle.dataSource.transaction(async (m) => {
        const [row] = await m.query('SELECT last_seq, "window", version FROM sessions WHERE id = $1 FOR UPDATE', [s.body.id]);
        const seq = row.last_seq + 1;
        await m.query(`INSERT INTO messages (session_id, seq, role, content, tokens, kind) VALUES ($1, $2, 'system', '# Outline (merged)', 10, 'outline')`, [s.body.id, seq]);
        const w = row.window;
        w.outlineSeqs.push(seq);
        await m.query('UPDATE sessions SET last_seq = $2, "window" = $3::jsonb, window_tokens = window_tokens + 10, version = version + 1 WHERE id = $1', [s.body.id, seq, JSON.stringify(w)]);
      });
      const r = await pending;
      expect(r.status).toBe(200);
      expect(r.body.seqs).toEqual([4, 5]);
    } finally {
      h.sim.configure({ firstTokenMs: 0 });
    }
    const msgs = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/messages?limit=100`);
    expect(msgs.body.data.map((m: { seq: number; kind: string }) => `${m.seq}:${m.kind}`)).toEqual(['1:message', '2:message', '3:outline', '4:message', '5:message']);
    const ctx = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}/context`);
    const session = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}`);
    expect(session.body.usage.window_tokens).toBe(ctx.body.tokens.total);
    expect(session.body.last_seq).toBe(5);
    const usage = await h.handle.dataSource.query('SELECT count(*)::int AS n FROM usage_events WHERE session_id = $1', [s.body.id]);
    expect(usage[0].n).toBe(2);
    // The next turn goes through normally.
    const third = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: 'third' }] });
    expect(third.body.seqs).toEqual([6, 7]);
  });

  it('writes the turn, its messages and its usage row together (one usage row per successful call)', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'ledger' });
    for (let i = 0; i < 3; i++) await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: `turn ${i}` }] });
    const [c] = await h.handle.dataSource.query(
      `SELECT (SELECT count(*)::int FROM turns WHERE session_id = $1) AS turns, (SELECT count(*)::int FROM messages WHERE session_id = $1) AS messages,
              (SELECT count(*)::int FROM usage_events WHERE session_id = $1 AND outcome = 'ok') AS usage`,
      [s.body.id],
    );
    expect(c).toEqual({ turns: 3, messages: 6, usage: 3 });
  });

  it('sends a long system prompt whole on every turn though the lock leaves it out once known, and notices one changed behind its back', async () => {
    const rules = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `Rule ${i + 1} (${tag}): name file ${i}.ts and its owner team-${i % 7} in every finding.`).join('\n');
    const system = rules(60, 'v1');
    expect(system.length).toBeGreaterThan(2048);
    const id = (await h.api(a.apiKey, 'POST', '/v1/sessions', { system, title: 'long system', policy: { auto_compact: false } })).body.id as string;
    type Usage = { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } };
    const turn = async (text: string): Promise<Usage> => {
      const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: text }] });
      expect(r.status).toBe(200);
      return r.body.usage as Usage;
    };
    const first = await turn('first question');
    // The system prompt is most of the first prompt; later turns resend it byte for byte (the upstream's prefix cache hits it).
    for (const text of ['second question', 'third question']) {
      const u = await turn(text);
      expect(u.prompt_tokens).toBeGreaterThan(first.prompt_tokens);
      expect(u.prompt_tokens_details?.cached_tokens ?? 0).toBeGreaterThanOrEqual(first.prompt_tokens * 0.9);
    }
    // Changed in the database behind the service's back (no route does this): the next turn sends the new one.
    const before = await turn('fourth question');
    await h.handle.dataSource.query('UPDATE sessions SET system = $2 WHERE id = $1', [id, rules(120, 'v2')]);
    const after = await turn('fifth question');
    expect(after.prompt_tokens - before.prompt_tokens).toBeGreaterThan((first.prompt_tokens * 2) / 3);
    expect(after.prompt_tokens_details?.cached_tokens ?? 0).toBeLessThan(first.prompt_tokens / 2);
  });

  it('keeps serving turns and pass-throughs when a migration adds a column while the service runs (prepared statements)', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'rolling deploy' });
    // Enough turns for every pooled connection to have prepared the turn's statements.
    for (let i = 0; i < 12; i++) expect((await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: `before ${i}` }] })).status).toBe(200);
    await h.handle.dataSource.query('ALTER TABLE sessions ADD COLUMN rolling_deploy_probe int');
    await h.handle.dataSource.query('ALTER TABLE usage_events ADD COLUMN rolling_deploy_probe int');
    try {
      for (let i = 0; i < 12; i++) {
        const r = await h.api(a.apiKey, 'POST', `/v1/sessions/${s.body.id}/messages`, { messages: [{ role: 'user', content: `after ${i}` }] });
        expect(r.status).toBe(200);
        const p = await h.api(a.apiKey, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: `stateless ${i}` }] });
        expect(p.status).toBe(200);
      }
    } finally {
      await h.handle.dataSource.query('ALTER TABLE sessions DROP COLUMN rolling_deploy_probe');
      await h.handle.dataSource.query('ALTER TABLE usage_events DROP COLUMN rolling_deploy_probe');
    }
    const session = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}`);
    expect(session.body.last_seq).toBe(48);
  });

  it('replays a keyed turn retried without the lock hold it first had (a coordinator run after a worker died)', async () => {
    const s = await h.api(a.apiKey, 'POST', '/v1/sessions', { title: 'retried child round' });
    const turns = h.handle.app.get(TurnService);
    const account = await h.handle.app.get(AccountsService).resolveById(a.id);
    const dto = { messages: [{ role: 'user' as const, content: 'round 1' }] };
    const first = await turns.appendTurn(account, s.body.id, dto, 'task:x:0:r1', null, { task: true, holdLock: true });
    expect(first.held).toBeDefined();
    // The run died holding the lock; its lease lapses (here: released) and a new run repeats the round.
    await h.handle.dataSource.query('UPDATE sessions SET turn_lock_id = NULL, turn_lock_until = NULL WHERE id = $1', [s.body.id]);
    const again = await turns.appendTurn(account, s.body.id, dto, 'task:x:0:r1', null, { task: true });
    expect(again.response).toMatchObject({ id: first.response.id, idempotent_replay: true, seqs: first.response.seqs });
    const session = await h.api(a.apiKey, 'GET', `/v1/sessions/${s.body.id}`);
    expect(session.body.last_seq).toBe(2);
  });
});
