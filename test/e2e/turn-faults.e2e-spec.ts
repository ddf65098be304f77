import OpenAI from 'openai';
import { TestHarness, TestAccount } from '../support/harness';

/** The error a promise rejects with (fails the test if it resolves). */
const rejection = (p: PromiseLike<unknown>): Promise<any> =>
  Promise.resolve(p).then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );

/**
 * The "nothing lost" guarantees: an upstream failure of any kind leaves the session exactly as it was
 * (history, seqs, usage, turn lock), and the next append just works.
 */

const ATTEMPTS = 3; // UPSTREAM_MAX_ATTEMPTS in the harness

interface SessionState {
  session: any;
  messages: any[];
  turns: number;
  messageRows: number;
}

async function stateOf(h: TestHarness, acct: TestAccount, id: string): Promise<SessionState> {
  const s = await h.api(acct.apiKey, 'GET', `/v1/sessions/${id}`);
  expect(s.status).toBe(200);
  const m = await h.api(acct.apiKey, 'GET', `/v1/sessions/${id}/messages?limit=100`);
  expect(m.status).toBe(200);
  const [{ n: turns }] = await h.handle.dataSource.query('SELECT count(*)::int AS n FROM turns WHERE session_id = $1', [id]);
  const [{ n: messageRows }] = await h.handle.dataSource.query('SELECT count(*)::int AS n FROM messages WHERE session_id = $1', [id]);
  return { session: s.body, messages: m.body.data, turns, messageRows };
}

async function usageEvents(h: TestHarness, sessionId: string): Promise<any[]> {
  return h.handle.dataSource.query(
    `SELECT purpose, outcome, attempts, prompt_tokens, cached_tokens, completion_tokens, cost_usd::float8 AS cost_usd, turn_id, upstream_request_id
       FROM usage_events WHERE session_id = $1 ORDER BY id`,
    [sessionId],
  );
}

/** A session with one completed turn, so "unchanged" covers real history and usage. */
async function sessionWithHistory(h: TestHarness, acct: TestAccount): Promise<string> {
  // A given title keeps the background title job from changing the session under the comparison.
  const created = await h.api(acct.apiKey, 'POST', '/v1/sessions', { system: 'You are terse.', title: 'fault test' });
  expect(created.status).toBe(201);
  const r = await h.api(acct.apiKey, 'POST', `/v1/sessions/${created.body.id}/messages`, { messages: [{ role: 'user', content: 'first question' }] });
  expect(r.status).toBe(200);
  return created.body.id;
}

/** After a failure: the next append succeeds and its seqs follow on without a gap. */
async function expectRecovery(h: TestHarness, acct: TestAccount, id: string, before: SessionState, stream = false): Promise<void> {
  const body = { messages: [{ role: 'user', content: 'after the failure' }], ...(stream ? { stream: true } : {}) };
  let seqs: number[];
  if (stream) {
    const r = await h.apiStream(acct.apiKey, `/v1/sessions/${id}/messages`, body);
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    seqs = r.events[r.events.length - 1].seqs;
  } else {
    const r = await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, body);
    expect(r.status).toBe(200);
    seqs = r.body.seqs;
  }
  const last = before.session.last_seq;
  expect(seqs).toEqual([last + 1, last + 2]);
  const after = await stateOf(h, acct, id);
  expect(after.messages.map((m) => m.seq)).toEqual(Array.from({ length: last + 2 }, (_, i) => i + 1));
  expect(after.messages.slice(0, before.messages.length)).toEqual(before.messages);
  expect(after.messages[last].content).toBe('after the failure');
}

describe('turn faults', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());
  afterEach(() => h.sim.reset());

  it('answers 502 upstream_error when a 500 persists beyond the retries, and leaves the session unchanged', async () => {
    const acct = await h.createAccount('f500');
    const id = await sessionWithHistory(h, acct);
    const before = await stateOf(h, acct, id);
    const requestsBefore = h.simStatsFor(acct.simKey).requests;

    h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
    const r = await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'this one fails' }] });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatchObject({ code: 'upstream_error', type: expect.any(String) });
    expect(h.simStatsFor(acct.simKey).requests - requestsBefore).toBe(ATTEMPTS);

    expect(await stateOf(h, acct, id)).toEqual(before);
    await expectRecovery(h, acct, id, before);
  });

  it('raises the SDK\'s InternalServerError-family APIError with status 502 for an upstream failure', async () => {
    const acct = await h.createAccount('f500sdk');
    const id = await sessionWithHistory(h, acct);
    h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
    const err = await rejection(acct.openai.post(`/sessions/${id}/messages`, { body: { messages: [{ role: 'user', content: 'fails' }] } }));
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('upstream_error');
  });

  it('retries a transient 500 and persists exactly one reply', async () => {
    const acct = await h.createAccount('transient');
    const id = await sessionWithHistory(h, acct);
    const before = await stateOf(h, acct, id);

    h.sim.injectFaults({ kind: '500', count: 1, key: acct.simKey });
    const r = await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'retry me' }] });
    expect(r.status).toBe(200);
    expect(r.body.seqs).toEqual([3, 4]);
    const reqs = h.simRequestsFor(acct.simKey).filter((q) => q.last_user === 'retry me');
    expect(reqs.map((q) => q.status)).toEqual([500, 200]);

    const after = await stateOf(h, acct, id);
    expect(after.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(after.turns).toBe(before.turns + 1);
    expect(after.session.usage.prompt_tokens - before.session.usage.prompt_tokens).toBe(r.body.usage.prompt_tokens);

    const events = await usageEvents(h, id);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ outcome: 'ok', attempts: 2, purpose: 'chat', turn_id: r.body.id });
  });

  it('answers 429 rate_limited with Retry-After during a 429 storm, and leaves the session unchanged', async () => {
    const acct = await h.createAccount('storm');
    const id = await sessionWithHistory(h, acct);
    const before = await stateOf(h, acct, id);
    const requestsBefore = h.simStatsFor(acct.simKey).requests;

    h.sim.injectFaults({ kind: '429', count: 20, key: acct.simKey });
    const r = await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'rate limited' }] });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('rate_limited');
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(h.simStatsFor(acct.simKey).requests - requestsBefore).toBe(ATTEMPTS);

    expect(await stateOf(h, acct, id)).toEqual(before);
    h.sim.reset(); // drop the rest of the storm
    await expectRecovery(h, acct, id, before);
  });

  it('ends the stream with an error event when the upstream stream is cut mid-way, and leaves the session unchanged', async () => {
    const acct = await h.createAccount('cut');
    const id = await sessionWithHistory(h, acct);
    const before = await stateOf(h, acct, id);
    const requestsBefore = h.simStatsFor(acct.simKey).requests;

    h.sim.injectFaults({ kind: 'cut', count: 1, key: acct.simKey, after_tokens: 8 });
    const r = await h.apiStream(acct.apiKey, `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'cut me off' }], stream: true });
    if (r.status === 200) {
      // Chunks were already forwarded: the stream must end in an error, never in [DONE].
      expect(r.events.some((e) => e.object === 'chat.completion.chunk')).toBe(true);
      const last = r.events[r.events.length - 1];
      expect(last.error).toMatchObject({ code: 'upstream_error' });
      expect(r.done).toBe(false);
    } else {
      expect(r.status).toBe(502);
    }
    // A reply already partly sent is not retried (a retry would be a different reply).
    expect(h.simStatsFor(acct.simKey).requests - requestsBefore).toBe(1);

    // The upstream billed the prompt and what it streamed: the usage ledger says so (estimated), not 0 and $0.
    if (r.status === 200) {
      const [bill] = await h.handle.dataSource.query<any[]>(`SELECT outcome, usage_estimated, prompt_tokens, completion_tokens, cost_usd::float8 AS cost_usd FROM usage_events WHERE session_id = $1 AND outcome <> 'ok'`, [id]);
      expect(bill).toMatchObject({ outcome: 'upstream_error', usage_estimated: true });
      expect(bill.completion_tokens).toBeGreaterThan(0);
      expect(bill.prompt_tokens).toBeGreaterThan(0);
      expect(bill.cost_usd).toBeGreaterThan(0);
    }

    expect(await stateOf(h, acct, id)).toEqual(before);
    await expectRecovery(h, acct, id, before, true);
  });

  it('makes the SDK raise an APIError when the stream is cut', async () => {
    const acct = await h.createAccount('cutsdk');
    const id = await sessionWithHistory(h, acct);
    h.sim.injectFaults({ kind: 'cut', count: 1, key: acct.simKey, after_tokens: 6 });
    const stream = await acct.openai.post<AsyncIterable<any>>(`/sessions/${id}/messages`, { body: { messages: [{ role: 'user', content: 'cut again' }], stream: true }, stream: true });
    let chunks = 0;
    const err = await (async () => {
      for await (const _ of stream) chunks++;
    })().catch((e: any) => e);
    expect(chunks).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.code ?? err.error?.code).toBe('upstream_error');
  });

  it('retries a stream cut before any chunk was forwarded, and the turn succeeds', async () => {
    const acct = await h.createAccount('cut0');
    const id = await sessionWithHistory(h, acct);
    h.sim.injectFaults({ kind: 'cut', count: 1, key: acct.simKey, after_tokens: 0 });
    const r = await h.apiStream(acct.apiKey, `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'early cut' }], stream: true });
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    expect(r.events.some((e) => e.error)).toBe(false);
    const text = r.events.flatMap((e) => e.choices ?? []).map((c: any) => c.delta?.content ?? '').join('');
    expect(text).toMatch(/^Re: early cut/);
    const msgs = (await h.api(acct.apiKey, 'GET', `/v1/sessions/${id}/messages`)).body.data;
    expect(msgs.map((m: any) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(msgs[3].content).toBe(text);
  });

  it('records a usage_event for every upstream call, failed ones included, accounting for every attempt', async () => {
    const acct = await h.createAccount('ledger');
    const id = await sessionWithHistory(h, acct); // ok, 1 attempt
    h.sim.injectFaults({ kind: '500', count: ATTEMPTS, key: acct.simKey });
    await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'fail' }] }); // 3 attempts
    h.sim.injectFaults({ kind: '500', count: 1, key: acct.simKey });
    const ok = await h.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'ok after one retry' }] }); // 2 attempts
    expect(ok.status).toBe(200);

    const events = await usageEvents(h, id);
    expect(events.map((e) => [e.outcome, e.attempts])).toEqual([
      ['ok', 1],
      ['upstream_error', ATTEMPTS],
      ['ok', 2],
    ]);
    expect(events.every((e) => e.purpose === 'chat')).toBe(true);
    // Every HTTP request the upstream saw is accounted for.
    expect(events.reduce((n, e) => n + e.attempts, 0)).toBe(h.simStatsFor(acct.simKey).requests);
    // Successful calls carry the upstream's usage and request id; billed usage matches the session totals.
    const okEvents = events.filter((e) => e.outcome === 'ok');
    expect(okEvents.every((e) => e.prompt_tokens > 0 && e.completion_tokens > 0 && e.cost_usd > 0 && typeof e.upstream_request_id === 'string')).toBe(true);
    expect(events[1]).toMatchObject({ prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 });
    const session = (await h.api(acct.apiKey, 'GET', `/v1/sessions/${id}`)).body;
    expect(okEvents.reduce((n, e) => n + e.prompt_tokens, 0)).toBe(session.usage.prompt_tokens);
    expect(okEvents.reduce((n, e) => n + e.completion_tokens, 0)).toBe(session.usage.completion_tokens);
    expect(okEvents.reduce((n, e) => n + e.cost_usd, 0)).toBeCloseTo(session.usage.cost_usd, 8);
    expect(okEvents[okEvents.length - 1].turn_id).toBe(ok.body.id);
  });

  it('counts failed and successful calls in /metrics', async () => {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toMatch(/so_upstream_calls_total\{purpose="chat",outcome="upstream_error"\} [1-9]/);
    expect(text).toMatch(/so_upstream_calls_total\{purpose="chat",outcome="rate_limited"\} [1-9]/);
    expect(text).toMatch(/so_upstream_calls_total\{purpose="chat",outcome="ok"\} [1-9]/);
  });

  describe('with a short upstream timeout', () => {
    let t: TestHarness;

    beforeAll(async () => {
      t = await TestHarness.start({ env: { UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_STREAM_IDLE_MS: '300' } });
    });
    afterAll(async () => t?.stop());
    afterEach(() => t.sim.reset());

    it('answers 504 upstream_timeout when the upstream hangs, and leaves the session unchanged', async () => {
      const acct = await t.createAccount('hang');
      const id = await sessionWithHistory(t, acct);
      const before = await stateOf(t, acct, id);
      const requestsBefore = t.simStatsFor(acct.simKey).requests;

      t.sim.injectFaults({ kind: 'hang', count: ATTEMPTS, key: acct.simKey });
      const r = await t.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hang on' }] });
      expect({ status: r.status, error: r.body.error }).toMatchObject({ status: 504, error: { code: 'upstream_timeout' } });
      expect(t.simStatsFor(acct.simKey).requests - requestsBefore).toBe(ATTEMPTS);

      expect(await stateOf(t, acct, id)).toEqual(before);
      const events = await usageEvents(t, id);
      expect(events[events.length - 1]).toMatchObject({ outcome: 'upstream_timeout', attempts: ATTEMPTS });
      await expectRecovery(t, acct, id, before);
    });

    it('answers 504 as JSON when a streamed turn hangs before the first chunk, and leaves the session unchanged', async () => {
      const acct = await t.createAccount('hangstream');
      const id = await sessionWithHistory(t, acct);
      const before = await stateOf(t, acct, id);

      t.sim.injectFaults({ kind: 'hang', count: ATTEMPTS, key: acct.simKey });
      const r = await t.api(acct.apiKey, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hang while streaming' }], stream: true });
      expect(r.status).toBe(504);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.body.error.code).toBe('upstream_timeout');

      expect(await stateOf(t, acct, id)).toEqual(before);
      await expectRecovery(t, acct, id, before, true);
    });
  });
});
