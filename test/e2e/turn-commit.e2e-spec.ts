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
