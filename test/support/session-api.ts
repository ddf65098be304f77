import type { TestAccount, TestHarness } from './harness';

/**
 * Session calls that suites repeat, bound to a harness (read lazily: it is set in beforeAll) and to the
 * defaults every session of the suite is created with.
 */
export function sessionApi(harness: () => TestHarness, defaults: Record<string, unknown>) {
  const path = (id: string, rest = '') => `/v1/sessions/${id}${rest}`;

  async function createSession(a: TestAccount, body: Record<string, unknown> = {}): Promise<string> {
    const r = await harness().api(a.apiKey, 'POST', '/v1/sessions', { ...defaults, ...body });
    expect(r.status).toBe(201);
    return r.body.id;
  }

  async function turn(a: TestAccount, id: string, content: string, extra: Record<string, unknown> = {}) {
    const r = await harness().api(a.apiKey, 'POST', path(id, '/messages'), { messages: [{ role: 'user', content }], ...extra });
    if (r.status !== 200) throw new Error(`turn failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async function context<T = any>(a: TestAccount, id: string): Promise<T> {
    const r = await harness().api(a.apiKey, 'GET', path(id, '/context'));
    expect(r.status).toBe(200);
    return r.body;
  }

  /** Every message of the session, paging through `after_seq`. */
  async function allMessages(a: TestAccount, id: string): Promise<any[]> {
    const out: any[] = [];
    let after = 0;
    for (;;) {
      const r = await harness().api(a.apiKey, 'GET', path(id, `/messages?limit=100&after_seq=${after}`));
      expect(r.status).toBe(200);
      out.push(...r.body.data);
      if (!r.body.has_more) return out;
      after = r.body.data[r.body.data.length - 1].seq;
    }
  }

  return { path, createSession, turn, context, allMessages };
}
