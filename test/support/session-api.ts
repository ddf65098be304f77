import type { TestAccount, TestHarness } from './harness';

export const OUTLINE_HEADER = '[outline of earlier conversation]\n';

export const WORDS = [
  'river', 'stone', 'garden', 'window', 'ladder', 'candle', 'meadow', 'harbor', 'silver', 'forest',
  'pencil', 'orange', 'bridge', 'castle', 'pillow', 'rocket', 'basket', 'marble', 'violet', 'thunder',
  'copper', 'falcon', 'lantern', 'mirror', 'pepper', 'saddle', 'timber', 'walnut', 'yellow', 'anchor',
  'blanket', 'canyon', 'dragon', 'engine', 'feather', 'glacier', 'hammer', 'island', 'jacket', 'kettle',
];

/** Deterministic plain prose with no facts, identifiers, colons, digits or questions (nothing the sim keeps). */
export function filler(seed: number, words: number): string {
  let x = seed * 2654435761 + 12345;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(WORDS[x % WORDS.length]);
    if (i % 10 === 9) out[out.length - 1] += '.';
  }
  const text = out.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1) + '.';
}

export const factLine = (n: number) => `FACT-${n}: the code for item ${n} is Z${n}.`;
/** ~300 tokens; filler first so kimi-sim's "Re: <first 8 words>" reply never echoes the fact. */
export const userMsg = (n: number, words = 270) => `${filler(n, words)}\n${factLine(n)}`;

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
