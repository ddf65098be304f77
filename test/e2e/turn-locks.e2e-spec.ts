import { TestHarness } from '../support/harness';
import { waitFor } from '../support/processes';

// Issue 11, item 5: the turn lock is a short lease renewed by the live turn. A stream that outlives the
// lease keeps its session (before: a second turn took it mid-stream and the paid reply was refused at
// commit); a dead holder's lock lapses within one lease (before: 409 "busy" for five minutes); and a
// stream is bounded in total.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('turn locks as renewed leases', () => {
  let h: TestHarness;
  beforeAll(async () => {
    // Replies of 60 tokens at 20 tokens/s: a stream takes about 3 s, three times the 1 s lease.
    h = await TestHarness.start({ sim: { replyTokens: 60, tokensPerSecond: 20 }, env: { TURN_LOCK_MS: '1000', STREAM_MAX_MS: '20000' } });
  });
  afterAll(async () => h?.stop());

  const newSession = async (key: string) => (await h.api(key, 'POST', '/v1/sessions', { title: 'locks' })).body.id as string;

  it('a stream longer than the lease keeps the session: a second turn gets 409, the first reply commits', async () => {
    const a = await h.createAccount('long-stream');
    const id = await newSession(a.apiKey);
    const first = h.apiStream(a.apiKey, `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'tell me a long story' }], stream: true });
    await sleep(1800); // past the lease: only renewal keeps the lock
    const second = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'me too' }], max_tokens: 5 });
    expect(second.status).toBe(409);
    expect(second.body.error.message).toMatch(/busy/);
    const r = await first;
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    const history = (await h.api(a.apiKey, 'GET', `/v1/sessions/${id}/messages`)).body.data as any[];
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(history[0].content).toBe('tell me a long story');
  });

  it("a dead holder's lock lapses within one lease: the session is usable again", async () => {
    const a = await h.createAccount('dead-holder');
    const id = await newSession(a.apiKey);
    // A turn that died mid-way: its lock row stays behind with the lease it had.
    await h.handle.dataSource.query(`UPDATE sessions SET turn_lock_id = gen_random_uuid(), turn_lock_until = now() + interval '1000 milliseconds' WHERE id = $1`, [id]);
    const busy = await h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hello?' }], generate: false });
    expect(busy.status).toBe(409);
    const ok = await waitFor(
      () => h.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hello?' }], generate: false }),
      (r) => r.status === 200,
      10_000,
      'the dead lock lapses',
      200,
    );
    expect(ok.body.seqs).toEqual([1]);
  });

  it('a stream over STREAM_MAX_MS ends with an error event and writes nothing', async () => {
    const t = await TestHarness.start({ sim: { replyTokens: 200, tokensPerSecond: 20 }, env: { STREAM_MAX_MS: '1500' } });
    try {
      const a = await t.createAccount('bounded');
      const id = (await t.api(a.apiKey, 'POST', '/v1/sessions', {})).body.id;
      const r = await t.apiStream(a.apiKey, `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'go on forever' }], stream: true });
      expect(r.status).toBe(200);
      expect(r.done).toBe(false);
      const last = r.events[r.events.length - 1];
      expect(last.error).toBeDefined();
      const s = (await t.api(a.apiKey, 'GET', `/v1/sessions/${id}`)).body;
      expect(s.last_seq).toBe(0);
      // The session is free again at once.
      expect((await t.api(a.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'short' }], generate: false })).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
