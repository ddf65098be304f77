import { ADMIN_KEY, TestHarness } from '../support/harness';
import { http } from '../support/test-env';
import { sessionApi, userMsg } from '../support/session-api';

// Issue 13, item 8: housekeeping runs (and is paid for) only for turns that will run, and a refused
// compression leaves nothing behind.

describe('housekeeping only for turns that will run', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  const { path, createSession, turn, context } = sessionApi(() => h, { system: 'You are terse.', title: 'housekeeping' });

  it('an append whose max_tokens cannot fit is refused before the rolling policy compacts, snapshots or pays; again on retry', async () => {
    const a = await h.createAccount('nofit');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 1 } });
    for (let n = 1; n <= 6; n++) await turn(a, id, userMsg(n, 500), { max_tokens: 128 });
    const before = await context(a, id);
    const events = (await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data.length;
    const snapshots = (await h.api(a.apiKey, 'GET', path(id, '/snapshots'))).body.data.length;
    const calls = h.simRequestsFor(a.simKey).length;
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'user', content: userMsg(99, 500) }], max_tokens: 8000 });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param: 'max_tokens' });
    }
    expect(h.simRequestsFor(a.simKey).length).toBe(calls);
    expect((await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data.length).toBe(events);
    expect((await h.api(a.apiKey, 'GET', path(id, '/snapshots'))).body.data.length).toBe(snapshots);
    expect(await context(a, id)).toEqual(before);
    const s = (await h.api(a.apiKey, 'GET', path(id))).body;
    expect(s.usage.window_tokens).toBe(before.tokens.total);
  });

  it('a compression refused with 409 (it would not shrink the window) leaves no snapshot and no event', async () => {
    const a = await h.createAccount('noshrink');
    const id = await createSession(a, { policy: { auto_compact: false } });
    // Three short messages stored without replies: no outline can be smaller than they are.
    for (const content of ['hi', 'ok', 'yes']) expect((await h.api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'user', content }], generate: false })).status).toBe(200);
    const events = (await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data;
    const snapshots = (await h.api(a.apiKey, 'GET', path(id, '/snapshots'))).body.data;
    const before = await context(a, id);
    const r = await h.api(a.apiKey, 'POST', path(id, '/compress'), { keep_rounds: 0 });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('conflict');
    expect(r.body.error.message).toMatch(/would not be smaller/);
    expect((await h.api(a.apiKey, 'GET', path(id, '/snapshots'))).body.data).toEqual(snapshots);
    expect((await h.api(a.apiKey, 'GET', path(id, '/events'))).body.data).toEqual(events);
    expect(await context(a, id)).toEqual(before);
    // The summarizer call it made was paid for: its usage row is written although the compaction was not.
    const usage = await http(h.url, ADMIN_KEY, 'GET', `/admin/usage?account_id=${a.id}`);
    const compress = usage.body.data.find((u: { purpose: string }) => u.purpose === 'compress');
    expect(compress?.calls).toBe(h.simRequestsFor(a.simKey).length);
    expect(compress?.calls).toBeGreaterThanOrEqual(1);
  });

  it('compressing a session with no messages says so (409), without pointing at keep_rounds', async () => {
    const a = await h.createAccount('empty');
    const id = await createSession(a, {});
    const r = await h.api(a.apiKey, 'POST', path(id, '/compress'), { keep_rounds: 0 });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'conflict', param: null });
    expect(r.body.error.message).toMatch(/holds no verbatim messages/);
    expect(h.simRequestsFor(a.simKey)).toHaveLength(0);
  });

  it('the snapshot a rolling compaction takes commits with it: one snapshot per compaction, at the window before it', async () => {
    const a = await h.createAccount('snapcommit');
    const id = await createSession(a, { model: 'moonshot-v1-8k', policy: { trigger_tokens: 6000, preserve_len: 4096, keep_rounds: 2 } });
    const compactions: any[] = [];
    for (let n = 1; n <= 24; n++) {
      const r = await turn(a, id, userMsg(n, 400), { max_tokens: 128 });
      if (r.compaction) compactions.push(r.compaction);
    }
    expect(compactions.length).toBeGreaterThanOrEqual(2);
    const snaps = (await h.api(a.apiKey, 'GET', `${path(id, '/snapshots')}?limit=100`)).body.data as any[];
    const rolling = snaps.filter((s) => s.reason === 'rolling');
    expect(rolling.map((s) => s.id).sort()).toEqual(compactions.map((c) => c.snapshot_id).sort());
    for (const c of compactions) expect(rolling.find((s) => s.id === c.snapshot_id)!.window_tokens).toBe(c.window_tokens_before);
  });
});
