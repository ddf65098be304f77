import OpenAI, {
  APIConnectionError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import {
  DEFAULT_OPTIONS,
  KIMI_MODELS,
  OUTLINE_MARKER,
  startKimiSim,
  SUMMARIZER_STYLES,
  type FaultPlan,
  type KimiSim,
  type RequestSummary,
  type SimStats,
} from '@so/kimi-sim';

const MODEL = 'kimi-k2-0905-preview';

describe('kimi-sim', () => {
  let sim: KimiSim;
  let simRoot: string;

  beforeAll(async () => {
    sim = await startKimiSim({ port: 0 });
    simRoot = sim.baseUrl.replace(/\/v1$/, '');
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    sim.reset();
    const { host: _host, port: _port, ...defaults } = DEFAULT_OPTIONS;
    sim.configure(defaults);
  });

  const client = (apiKey = 'key-a', options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ apiKey, baseURL: sim.baseUrl, maxRetries: 0, ...options });

  async function simGet<T>(path: string): Promise<T> {
    const res = await fetch(`${simRoot}${path}`);
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }

  async function simPost<T>(path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${simRoot}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }

  interface ChatAnswer {
    status: number;
    headers: Headers;
    body: {
      choices: { message: { content: string | null }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number; cache_write_tokens: number } };
      error?: { message: string; type: string; param?: string };
    };
  }

  /** A raw chat call, for Kimi fields the SDK types do not know (cache_ttl, partial). */
  async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}, key = 'key-raw'): Promise<ChatAnswer> {
    const res = await fetch(`${sim.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ model: MODEL, ...body }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as ChatAnswer['body'] };
  }

  async function until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise((r) => setTimeout(r, 5));
  }

  const ask = (text: string): ChatCompletionMessageParam[] => [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: text },
  ];

  it('answers the same request with the same reply, starting with Re: and the first words of the user message', async () => {
    const messages = ask('Tell me about the rolling policy of this session orchestrator, briefly');
    const first = await client().chat.completions.create({ model: MODEL, messages });
    const second = await client().chat.completions.create({ model: MODEL, messages });

    expect(first.choices[0].message.content).toBe(second.choices[0].message.content);
    expect(first.choices[0].message.content).toMatch(/^Re: Tell me about the rolling policy of this [a-z]/);
    expect(first.choices[0].finish_reason).toBe('stop');
    expect(first.usage?.completion_tokens).toBe(DEFAULT_OPTIONS.replyTokens);
    expect(first.id).toMatch(/^chatcmpl-/);
    expect(first.id).not.toBe(second.id);
  });

  it('caps the reply at max_tokens and reports finish_reason length', async () => {
    const messages = ask('Explain prefix caching');
    const full = await client().chat.completions.create({ model: MODEL, messages });
    const capped = await client().chat.completions.create({ model: MODEL, messages, max_tokens: 10 });

    expect(capped.usage?.completion_tokens).toBe(10);
    expect(capped.choices[0].finish_reason).toBe('length');
    expect(full.choices[0].message.content?.startsWith(capped.choices[0].message.content ?? '<none>')).toBe(true);
  });

  it('takes the natural reply length from the x-sim-reply-tokens header', async () => {
    const reply = await client().chat.completions.create(
      { model: MODEL, messages: ask('A long answer please') },
      { headers: { 'x-sim-reply-tokens': '300' } },
    );
    expect(reply.usage?.completion_tokens).toBe(300);
    expect(reply.choices[0].finish_reason).toBe('stop');
  });

  it('streams chunks that assemble to the non-streamed text and end with a usage chunk when include_usage is set', async () => {
    const messages = ask('Stream me a story about tokens');
    const whole = await client().chat.completions.create({ model: MODEL, messages, max_tokens: 40 });
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });

    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const contentChunks = chunks.filter((c) => c.choices[0]?.delta.content);
    const text = contentChunks.map((c) => c.choices[0].delta.content).join('');
    const usageChunk = chunks[chunks.length - 1];

    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks[0].object).toBe('chat.completion.chunk');
    expect(contentChunks.length).toBeGreaterThan(10);
    expect(text).toBe(whole.choices[0].message.content);
    expect(chunks[chunks.length - 2].choices[0].finish_reason).toBe('length');
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage?.prompt_tokens).toBe(whole.usage?.prompt_tokens);
    expect(usageChunk.usage?.completion_tokens).toBe(whole.usage?.completion_tokens);
  });

  it('reports cached_tokens equal to the shared prefix when a request extends an earlier one of the same key', async () => {
    const history = ask('First question about snapshots');
    const first = await client('key-cache').chat.completions.create({ model: MODEL, messages: history });
    const extended: ChatCompletionMessageParam[] = [
      ...history,
      { role: 'assistant', content: first.choices[0].message.content },
      { role: 'user', content: 'And a follow-up about forks' },
    ];
    const second = await client('key-cache').chat.completions.create({ model: MODEL, messages: extended });

    expect(first.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(second.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
    expect(second.usage?.prompt_tokens_details?.cached_tokens).toBe(first.usage?.prompt_tokens);
    expect(second.usage?.prompt_tokens).toBeGreaterThan(first.usage?.prompt_tokens ?? Infinity);
  });

  it('gives no cache hit to a different key with the same prefix', async () => {
    const messages = ask('Shared prompt across accounts');
    await client('key-one').chat.completions.create({ model: MODEL, messages });
    const other = await client('key-two').chat.completions.create({ model: MODEL, messages });
    const again = await client('key-one').chat.completions.create({ model: MODEL, messages });

    expect(other.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(again.usage?.prompt_tokens_details?.cached_tokens).toBe(again.usage?.prompt_tokens);
  });

  it('rejects a prompt that does not fit the context window with BadRequestError in Kimi wording', async () => {
    const err = await client()
      .chat.completions.create({ model: 'moonshot-v1-8k', messages: ask('word '.repeat(11000)) })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).message).toContain('Invalid request: Your request exceeded model token limit: 8192');
    expect((err as BadRequestError).code).toBe('context_length_exceeded');
    expect((err as BadRequestError).type).toBe('invalid_request_error');
  });

  it('counts max_tokens against the window, with the configured window in the message', async () => {
    sim.configure({ contextWindow: 4096 });
    const messages = ask('short question');
    await expect(client().chat.completions.create({ model: MODEL, messages, max_tokens: 4000 })).resolves.toBeDefined();
    const err = await client()
      .chat.completions.create({ model: MODEL, messages, max_tokens: 4090 })
      .catch((e: unknown) => e);
    expect((err as BadRequestError).message).toContain('exceeded model token limit: 4096');
  });

  it('answers 401 AuthenticationError when the request carries no API key', async () => {
    const anonymous = client('unused', { defaultHeaders: { Authorization: null } });
    const err = await anonymous.chat.completions.create({ model: MODEL, messages: ask('hi') }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).type).toBe('invalid_authentication_error');
    expect((err as AuthenticationError).code).toBe('unauthorized');
  });

  it('answers 404 model_not_found for an unknown model', async () => {
    const err = await client().chat.completions.create({ model: 'gpt-nope', messages: ask('hi') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('model_not_found');
  });

  it('lists the Kimi models with their context length', async () => {
    const ids: Record<string, number> = {};
    for await (const model of client().models.list()) {
      ids[model.id] = (model as unknown as { context_length: number }).context_length;
      expect(model.owned_by).toBe('moonshot');
    }
    expect(ids).toMatchObject({
      'kimi-k2.6': 262144,
      'kimi-k2.5': 262144,
      'kimi-k3': 262144,
      'kimi-k2-0905-preview': 262144,
      'kimi-k2-turbo-preview': 262144,
      'kimi-latest': 262144,
      'moonshot-v1-8k': 8192,
    });
  });

  it('answers 429 with Retry-After once a key has concurrencyPerKey requests in flight, and frees the slots on abort', async () => {
    sim.configure({ concurrencyPerKey: 2, firstTokenMs: 60_000, retryAfterSeconds: 3 });
    const abort = new AbortController();
    const held = [1, 2].map((i) =>
      client('key-busy')
        .chat.completions.create({ model: MODEL, messages: ask(`held ${i}`) }, { signal: abort.signal })
        .catch((e: unknown) => e),
    );
    await until(() => sim.stats().keys['key-busy']?.in_flight === 2);

    const err = await client('key-busy').chat.completions.create({ model: MODEL, messages: ask('one too many') }).catch((e: unknown) => e);
    const otherKey = client('key-idle').chat.completions.create({ model: MODEL, messages: ask('other account') }, { signal: abort.signal });
    await until(() => sim.stats().keys['key-idle']?.in_flight === 1);

    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).headers.get('retry-after')).toBe('3');
    expect((err as RateLimitError).type).toBe('rate_limit_reached_error');

    abort.abort();
    await Promise.all([...held, otherKey.catch(() => undefined)]);
    await until(() => sim.stats().total.in_flight === 0);
    expect(sim.stats().keys['key-busy'].peak_concurrency).toBe(2);
    expect(sim.stats().keys['key-busy'].errors['429']).toBe(1);
  });

  it('fails the next request with InternalServerError after an injected 500', async () => {
    await simPost('/sim/faults', { kind: '500', count: 1 } satisfies FaultPlan);
    const err = await client().chat.completions.create({ model: MODEL, messages: ask('will fail') }).catch((e: unknown) => e);
    const next = await client().chat.completions.create({ model: MODEL, messages: ask('will pass') });

    expect(err).toBeInstanceOf(InternalServerError);
    expect((err as InternalServerError).type).toBe('server_error');
    expect(next.choices[0].message.content).toMatch(/^Re: will pass/);
  });

  it('only fails requests of the key an injected fault names, and answers injected 429s with Retry-After', async () => {
    sim.injectFaults({ kind: '429', count: 1, key: 'key-target' });
    const bystander = await client('key-bystander').chat.completions.create({ model: MODEL, messages: ask('fine') });
    const err = await client('key-target').chat.completions.create({ model: MODEL, messages: ask('limited') }).catch((e: unknown) => e);

    expect(bystander.choices[0].finish_reason).toBe('stop');
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).headers.get('retry-after')).toBe('1');
  });

  it('cuts a stream after about after_tokens tokens so the SDK stream throws', async () => {
    await simPost('/sim/faults', { kind: 'cut', count: 1, after_tokens: 6 } satisfies FaultPlan);
    const stream = await client().chat.completions.create({ model: MODEL, messages: ask('cut me off'), stream: true });
    let received = '';
    let completed = false;
    const err = await (async () => {
      for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? '';
      completed = true;
    })().catch((e: unknown) => e);

    // undici's error comes from outside jest's realm, so `instanceof Error` cannot be used here.
    expect(err).toBeTruthy();
    expect(completed).toBe(false);
    expect(received.startsWith('Re: cut')).toBe(true);
    expect(sim.stats().total.errors.cut).toBe(1);
  });

  it('drops the connection of a non-streamed request with an injected cut', async () => {
    sim.injectFaults({ kind: 'cut', count: 1 });
    const err = await client().chat.completions.create({ model: MODEL, messages: ask('cut') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionError);
  });

  it('never answers a request with an injected hang, so the SDK times out and the slot is released', async () => {
    await simPost('/sim/faults', { kind: 'hang', count: 1 } satisfies FaultPlan);
    const err = await client('key-hang', { timeout: 300 })
      .chat.completions.create({ model: MODEL, messages: ask('hang') })
      .catch((e: unknown) => e);

    // Inside jest the abort DOMException is from another realm, so the SDK reports the timeout as its
    // base class APIConnectionError; outside jest it is APIConnectionTimeoutError.
    expect(err).toBeInstanceOf(APIConnectionError);
    await until(() => sim.stats().keys['key-hang'].in_flight === 0);
    expect(sim.stats().keys['key-hang'].errors.hang).toBe(1);
  });

  it('draws probabilistic faults from the seed, so a reset replays the same outcomes', async () => {
    sim.configure({ seed: 7, faultProbabilities: { rate500: 0.5 } });
    const outcomes = async () => {
      const seen: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await client().chat.completions.create({ model: MODEL, messages: ask(`n${i}`) }).catch((e: unknown) => e);
        seen.push(r instanceof InternalServerError ? '500' : 'ok');
      }
      return seen.join(',');
    };
    const first = await outcomes();
    sim.reset();
    const second = await outcomes();

    expect(first).toBe(second);
    expect(first).toContain('500');
    expect(first).toContain('ok');
  });

  const OUTLINE_FACTS = [
    'FACT-01: the staging database listens on port 6543.',
    'FACT 2: release train is called ORBIT-77. It ships on Thursdays.',
    'Remember this fact: the admin email is ops@example.test',
  ];
  const OUTLINE_TRANSCRIPT = (() => {
    const filler = Array.from({ length: 30 }, (_, i) => `[seq ${i * 2 + 3}] assistant: This is filler sentence number ${i} about nothing in particular`);
    return [
      '[seq 1] user: Build a billing export for the finance team. It must be reliable.',
      `[seq 2] assistant: ${OUTLINE_FACTS[0]}`,
      ...filler.slice(0, 10),
      `[seq 40] user: ${OUTLINE_FACTS[1]}`,
      '[seq 41] assistant: We decided to use Postgres because it is already deployed.',
      '[seq 42] user: TODO: write the migration for src/billing/export.ts',
      ...filler.slice(10),
      `[seq 80] user: ${OUTLINE_FACTS[2]}`,
      '[seq 81] assistant: Should we retry failed uploads?',
    ].join('\n');
  })();
  const outlineMessages = (target = 200): ChatCompletionMessageParam[] => [
    { role: 'system', content: `Compress the history. ${OUTLINE_MARKER}. Target length: about ${target} tokens.` },
    { role: 'user', content: `Transcript:\n${OUTLINE_TRANSCRIPT}` },
  ];

  it('answers an outline request in the exact style with all five sections in order and the planted facts verbatim', async () => {
    const { data: reply, response } = await client()
      .chat.completions.create({ model: MODEL, messages: outlineMessages() }, { headers: { 'x-sim-summarizer-style': 'exact' } })
      .withResponse();
    const outline = reply.choices[0].message.content ?? '';
    const headers = outline.split('\n').filter((l) => l.startsWith('#'));

    expect(response.headers.get('x-sim-summarizer-style')).toBe('exact');
    expect(headers).toEqual(['# Outline', '## Goal', '## Decisions', '## Facts and identifiers', '## Open items', '## Artifacts']);
    for (const fact of OUTLINE_FACTS) expect(outline).toContain(fact);
    expect(outline).toContain('## Goal\nBuild a billing export for the finance team. It must be reliable.\n');
    expect(outline).toContain('- Use Postgres (why: it is already deployed)');
    expect(outline).toContain('- Should we retry failed uploads?');
    expect(outline).toContain('- src/billing/export.ts');
    expect(reply.choices[0].finish_reason).toBe('stop');
  });

  it('writes outlines in the style the option or the header asks for, reports it, and counts it in the log and stats', async () => {
    const seen: Record<string, string> = {};
    for (const style of SUMMARIZER_STYLES) {
      const answer = await chat({ messages: outlineMessages(), max_tokens: 400 }, { 'x-sim-summarizer-style': style }, 'key-styles');
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-sim-summarizer-style')).toBe(style);
      seen[style] = answer.body.choices[0].message.content ?? '';
    }
    expect(seen.prose).not.toMatch(/^#/m);
    expect(seen.bold).toContain('**');
    expect(() => JSON.parse(seen.json.replace(/^```json\n/, '').replace(/\n```$/, ''))).not.toThrow();

    sim.configure({ summarizerStyle: 'bold' });
    const fromOption = await chat({ messages: outlineMessages() }, {}, 'key-styles');
    expect(fromOption.headers.get('x-sim-summarizer-style')).toBe('bold');

    const stats = await simGet<SimStats>('/sim/stats');
    expect(stats.keys['key-styles'].by_summarizer_style).toEqual({ ...Object.fromEntries(SUMMARIZER_STYLES.map((s) => [s, 1])), bold: 2 });
    const [last] = await simGet<RequestSummary[]>('/sim/requests?limit=1');
    expect(last.summarizer_style).toBe('bold');

    const bad = await chat({ messages: outlineMessages() }, { 'x-sim-summarizer-style': 'shouty' });
    expect(bad.status).toBe(400);
  });

  it('picks the same style for a repeated request under mix (the default)', async () => {
    const first = await chat({ messages: outlineMessages(300) });
    const again = await chat({ messages: outlineMessages(300) });
    expect(first.headers.get('x-sim-summarizer-style')).toBe(again.headers.get('x-sim-summarizer-style'));
    expect(first.body.choices[0].message.content).toBe(again.body.choices[0].message.content);
    expect(SUMMARIZER_STYLES).toContain(first.headers.get('x-sim-summarizer-style'));
  });

  it('answers JSON in JSON mode whatever the style', async () => {
    const answer = await chat({ messages: outlineMessages(), response_format: { type: 'json_object' } }, { 'x-sim-summarizer-style': 'bold' });
    const outline = JSON.parse(answer.body.choices[0].message.content ?? '') as Record<string, unknown>;
    expect(Object.keys(outline)).toEqual(['goal', 'decisions', 'facts', 'open_items', 'artifacts']);
  });

  it('stops a truncated outline exactly at max_tokens with finish_reason length, streamed too', async () => {
    const headers = { 'x-sim-summarizer-style': 'truncated' };
    const whole = await chat({ messages: outlineMessages(), max_tokens: 150 }, headers);
    expect(whole.body.choices[0].finish_reason).toBe('length');
    expect(whole.body.usage.completion_tokens).toBe(150);

    const stream = await client().chat.completions.create(
      { model: MODEL, messages: outlineMessages(), max_tokens: 150, stream: true, stream_options: { include_usage: true } },
      { headers },
    );
    let text = '';
    let finish: string | null = null;
    let completion = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      completion = chunk.usage?.completion_tokens ?? completion;
    }
    expect(text).toBe(whole.body.choices[0].message.content);
    expect(finish).toBe('length');
    expect(completion).toBe(150);
  });

  it('continues an outline from a partial assistant prefix, counting the prefix as prompt', async () => {
    const headers = { 'x-sim-summarizer-style': 'markdown-loose' };
    const whole = await chat({ messages: outlineMessages() }, headers);
    const full = whole.body.choices[0].message.content ?? '';
    const cut = await chat({ messages: outlineMessages(), max_tokens: 40 }, headers);
    const prefix = cut.body.choices[0].message.content ?? '';
    expect(cut.body.choices[0].finish_reason).toBe('length');

    const rest = await chat({ messages: [...outlineMessages(), { role: 'assistant', content: prefix, partial: true }] }, headers);
    expect(prefix + (rest.body.choices[0].message.content ?? '')).toBe(full);
    expect(rest.body.usage.prompt_tokens).toBeGreaterThan(whole.body.usage.prompt_tokens);
    expect(rest.body.usage.completion_tokens).toBeLessThan(whole.body.usage.completion_tokens);
  });

  describe('in-context compression', () => {
    const tools: ChatCompletionTool[] = [
      { type: 'function', function: { name: 'read_file', parameters: { type: 'object', properties: { path: { type: 'string' } } } } },
      { type: 'function', function: { name: 'search_docs', parameters: { type: 'object' } } },
    ];
    /** The session as the chat turns send it: pinned system messages, an earlier outline, then the range. */
    const conversation: ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a coding assistant for the billing team.' },
      { role: 'system', content: 'Fragment: the pinned deploy key is PIN-999.' },
      { role: 'system', content: '[outline of earlier conversation]\n## Goal\nMigrate billing to the queue\n## Facts\n- FACT 0: the build id is BLD-42' },
      { role: 'user', content: `Build a billing export for the finance team. ${OUTLINE_FACTS[0]}` },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"src/billing/export.ts"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'export function run() { return ledger.rows(); }' },
      { role: 'assistant', content: 'We decided to use Postgres because it is already deployed.' },
    ];
    const instruction = (mode: 'merge' | 'context only') =>
      `Summarize the conversation above. ${OUTLINE_MARKER}\n# Outline\n## Goal\n## Decisions\n## Facts and identifiers\n## Open items\n## Artifacts\nTarget length: about 300 tokens\nEarlier outlines: ${mode}`;

    it('shares the prefix cache with the chat turn it follows: cached_tokens cover the common messages', async () => {
      const turn = await chat({ messages: [...conversation, { role: 'user', content: 'Now search_docs for the retry policy, please.' }], tools }, {}, 'key-ctx');
      expect(turn.status).toBe(200);
      expect(turn.body.usage.prompt_tokens_details.cached_tokens).toBe(0);

      const estimate = await client('key-ctx').post<{ data: { total_tokens: number } }>('/tokenizers/estimate-token-count', {
        body: { model: MODEL, messages: conversation, tools },
      });
      const shared = estimate.data.total_tokens;

      const compression = await chat(
        { messages: [...conversation, { role: 'system', content: instruction('merge') }], tools, tool_choice: 'none' },
        { 'x-sim-summarizer-style': 'exact' },
        'key-ctx',
      );
      expect(compression.status).toBe(200);
      const { usage } = compression.body;
      expect(shared).toBeGreaterThan(0);
      expect(usage.prompt_tokens_details.cached_tokens).toBe(shared);
      expect(usage.prompt_tokens_details.cache_write_tokens).toBe(usage.prompt_tokens - shared);
      expect(usage.prompt_tokens).toBeGreaterThan(shared);

      // Another key has nothing cached.
      const otherKey = await chat({ messages: [...conversation, { role: 'system', content: instruction('merge') }], tools, tool_choice: 'none' }, {}, 'key-ctx-other');
      expect(otherKey.body.usage.prompt_tokens_details.cached_tokens).toBe(0);
    });

    it('answers with an outline of the range (never a tool call), merging or ignoring earlier outlines, and reports the style', async () => {
      const headers = { 'x-sim-summarizer-style': 'exact' };
      const merged = await chat({ messages: [...conversation, { role: 'system', content: instruction('merge') }], tools, tool_choice: 'none' }, headers, 'key-ctx2');
      const message = merged.body.choices[0].message as { content: string | null; tool_calls?: unknown[] };
      const outline = message.content ?? '';
      expect(message.tool_calls ?? []).toEqual([]);
      expect(merged.body.choices[0].finish_reason).toBe('stop');
      expect(merged.headers.get('x-sim-summarizer-style')).toBe('exact');
      expect(outline.split('\n').filter((l) => l.startsWith('#'))).toEqual(['# Outline', '## Goal', '## Decisions', '## Facts and identifiers', '## Open items', '## Artifacts']);
      expect(outline).toContain('## Goal\nMigrate billing to the queue\n');
      expect(outline).toContain('FACT 0: the build id is BLD-42');
      expect(outline).toContain(OUTLINE_FACTS[0]);
      expect(outline).toContain('- Use Postgres (why: it is already deployed)');
      expect(outline).toContain('- src/billing/export.ts');
      expect(outline).not.toContain('PIN-999');

      const contextOnly = await chat({ messages: [...conversation, { role: 'system', content: instruction('context only') }], tools }, headers, 'key-ctx2');
      const text = contextOnly.body.choices[0].message.content ?? '';
      expect(text).not.toContain('BLD-42');
      expect(text).toContain('## Goal\nBuild a billing export for the finance team.');

      const json = await chat(
        { messages: [...conversation, { role: 'system', content: instruction('merge') }], tools, tool_choice: 'none', response_format: { type: 'json_object' } },
        { 'x-sim-summarizer-style': 'bold' },
        'key-ctx2',
      );
      expect(Object.keys(JSON.parse(json.body.choices[0].message.content ?? '') as object)).toEqual(['goal', 'decisions', 'facts', 'open_items', 'artifacts']);

      const [last] = await simGet<RequestSummary[]>('/sim/requests?limit=1');
      expect(last.summarizer_style).toBe('bold');
      const stats = await simGet<SimStats>('/sim/stats');
      expect(stats.keys['key-ctx2'].by_summarizer_style).toEqual({ exact: 2, bold: 1 });
    });
  });

  it('calls the tool the user mentions, then answers the tool result in text', async () => {
    const tools: ChatCompletionTool[] = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { input: { type: 'string' } } } } },
    ];
    const question = 'Please use get_weather to check the weather in Paris tomorrow morning';
    const messages = ask(question);
    const call = await client().chat.completions.create({ model: MODEL, messages, tools });
    const toolCall = call.choices[0].message.tool_calls?.[0];

    expect(call.choices[0].finish_reason).toBe('tool_calls');
    expect(call.choices[0].message.content).toBeNull();
    expect(toolCall?.id).toMatch(/^call_/);
    expect(toolCall?.type === 'function' && toolCall.function.name).toBe('get_weather');
    expect(toolCall?.type === 'function' && JSON.parse(toolCall.function.arguments)).toEqual({ input: question.slice(0, 40) });

    const answer = await client().chat.completions.create({
      model: MODEL,
      tools,
      messages: [
        ...messages,
        call.choices[0].message,
        { role: 'tool', tool_call_id: toolCall?.id ?? '', content: '{"temp_c": 18}' },
      ],
    });
    expect(answer.choices[0].message.content).toMatch(/^Re: tool get_weather result/);

    const none = await client().chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'none' });
    expect(none.choices[0].message.tool_calls ?? []).toEqual([]);
  });

  it('streams a tool call as delta.tool_calls that assemble to the non-streamed call', async () => {
    const tools: ChatCompletionTool[] = [{ type: 'function', function: { name: 'lookup_order', parameters: { type: 'object' } } }];
    const messages = ask('lookup_order for order 1234 with all the details you have');
    const whole = await client().chat.completions.create({ model: MODEL, messages, tools });
    const stream = await client().chat.completions.create({ model: MODEL, messages, tools, stream: true });
    let id = '';
    let name = '';
    let args = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      id += call?.id ?? '';
      name += call?.function?.name ?? '';
      args += call?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const expected = whole.choices[0].message.tool_calls?.[0];

    expect(expected?.type === 'function' && { id: expected.id, name: expected.function.name, args: expected.function.arguments }).toEqual({ id, name, args });
    expect(finish).toBe('tool_calls');
  });

  it('returns a JSON object string when response_format is json_object', async () => {
    const reply = await client().chat.completions.create({ model: MODEL, messages: ask('json please'), response_format: { type: 'json_object' } });
    expect(JSON.parse(reply.choices[0].message.content ?? '')).toEqual({ reply: expect.stringMatching(/^Re: json please/) });
  });

  it('estimates the same token count as usage.prompt_tokens for the same messages', async () => {
    const messages: ChatCompletionMessageParam[] = [
      ...ask('How many tokens is this, including names and tools?'),
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'result text' },
      { role: 'user', content: 'and now?', name: 'alice' },
    ];
    const estimate = await client().post<{ code: number; data: { total_tokens: number }; scode: string; status: boolean }>(
      '/tokenizers/estimate-token-count',
      { body: { model: MODEL, messages } },
    );
    const reply = await client().chat.completions.create({ model: MODEL, messages });

    expect(estimate).toMatchObject({ code: 0, scode: '0x0', status: true });
    expect(estimate.data.total_tokens).toBe(reply.usage?.prompt_tokens);
  });

  it('adds up stats per key and in total at Kimi prices, and a reset clears them', async () => {
    const history = ask('Stats question one');
    const first = await client('key-stats').chat.completions.create({ model: MODEL, messages: history }, { headers: { 'x-purpose': 'chat' } });
    const second = await client('key-stats').chat.completions.create(
      { model: MODEL, messages: [...history, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'two' }] },
      { headers: { 'x-purpose': 'compress' } },
    );
    const turbo = await client('key-turbo').chat.completions.create({ model: 'kimi-k2-turbo-preview', messages: history });
    const stats = await simGet<SimStats>('/sim/stats');

    const usages = [first.usage!, second.usage!];
    const prompt = usages.reduce((n, u) => n + u.prompt_tokens, 0);
    const cached = usages.reduce((n, u) => n + (u.prompt_tokens_details?.cached_tokens ?? 0), 0);
    const completion = usages.reduce((n, u) => n + u.completion_tokens, 0);
    const k2 = KIMI_MODELS.find((m) => m.id === MODEL)!;
    expect([k2.inputCacheMissPerM, k2.inputCacheHitPerM, k2.outputPerM]).toEqual([0.6, 0.15, 2.5]);
    const keyStats = stats.keys['key-stats'];

    const writes = usages.reduce((n, u) => n + ((u.prompt_tokens_details as { cache_write_tokens?: number }).cache_write_tokens ?? 0), 0);
    expect(writes).toBe(prompt - cached);
    expect(keyStats).toMatchObject({ requests: 2, prompt_tokens: prompt, cached_tokens: cached, completion_tokens: completion, cache_write_tokens: writes, in_flight: 0 });
    // Cache writes (5m by default) cost 1x the miss price on top of it.
    expect(keyStats.cost_usd).toBeCloseTo(((prompt - cached) * 0.6 + cached * 0.15 + completion * 2.5 + writes * 0.6) / 1e6, 12);
    expect(keyStats.cache_write_cost_usd).toBeCloseTo((writes * 0.6) / 1e6, 12);
    expect(keyStats.cache_hit_share).toBeCloseTo(cached / prompt, 12);
    expect(keyStats.by_purpose).toEqual({ chat: 1, compress: 1 });
    const turboCost = (turbo.usage!.prompt_tokens * 2.4 * 2 + turbo.usage!.completion_tokens * 10) / 1e6;
    expect(stats.keys['key-turbo'].cost_usd).toBeCloseTo(turboCost, 12);
    expect(stats.total.requests).toBe(3);
    expect(stats.total.cost_usd).toBeCloseTo(keyStats.cost_usd + turboCost, 12);

    await simPost('/sim/reset');
    const cleared = await simGet<SimStats>('/sim/stats');
    expect(cleared.total).toMatchObject({ requests: 0, prompt_tokens: 0, cost_usd: 0 });
    expect(cleared.keys).toEqual({});
    const afterReset = await client('key-stats').chat.completions.create({ model: MODEL, messages: history });
    expect(afterReset.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
  });

  it('lists recent requests with what ran and how it ended', async () => {
    await client('key-log').chat.completions.create({ model: MODEL, messages: ask('logged one') }, { headers: { 'x-purpose': 'final' } });
    sim.injectFaults({ kind: '500', count: 1 });
    await client('key-log').chat.completions.create({ model: MODEL, messages: ask('logged two') }).catch(() => undefined);
    const [one, two] = await simGet<RequestSummary[]>('/sim/requests?limit=2');

    expect(one).toMatchObject({
      key: 'key-log',
      model: MODEL,
      stream: false,
      purpose: 'final',
      messages: 2,
      last_user: 'logged one',
      status: 200,
      fault: null,
      cache_ttl: null,
      summarizer_style: null,
    });
    expect(one.cache_write_tokens).toBe(one.prompt_tokens);
    expect(one.prompt_tokens).toBeGreaterThan(0);
    expect(one.completion_tokens).toBe(DEFAULT_OPTIONS.replyTokens);
    expect(two).toMatchObject({ last_user: 'logged two', status: 500, fault: '500', completion_tokens: 0 });
    expect(await simGet<RequestSummary[]>('/sim/requests?limit=1')).toEqual([two]);
  });

  it('merges options posted to /sim/config and rejects unknown ones', async () => {
    const merged = await simPost<{ replyTokens: number; faultProbabilities: { cut: number } }>('/sim/config', { replyTokens: 12 });
    expect(merged.replyTokens).toBe(12);
    const reply = await client().chat.completions.create({ model: MODEL, messages: ask('short') });
    expect(reply.usage?.completion_tokens).toBe(12);

    const bad = await fetch(`${simRoot}/sim/config`, { method: 'POST', body: JSON.stringify({ replyTokenz: 3 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('replyTokenz');
  });

  it('writes the uncached prompt to the cache for the requested TTL and bills writes at 1x (5m) or 2x (1h)', async () => {
    const k26 = { miss: 0.95, hit: 0.16, out: 4 };
    const messages = ask('A prompt to cache for a while');
    const short = await chat({ model: 'kimi-k2.6', messages, cache_ttl: '5m' }, {}, 'key-ttl-5m');
    const long = await chat({ model: 'kimi-k2.6', messages, cache_ttl: '1h' }, {}, 'key-ttl-1h');
    for (const a of [short, long]) {
      expect(a.body.usage.prompt_tokens_details).toEqual({ cached_tokens: 0, cache_write_tokens: a.body.usage.prompt_tokens });
    }
    const stats = sim.stats();
    const p = short.body.usage.prompt_tokens;
    const c = short.body.usage.completion_tokens;
    expect(stats.keys['key-ttl-5m'].cost_usd).toBeCloseTo((p * k26.miss + c * k26.out + p * k26.miss) / 1e6, 12);
    expect(stats.keys['key-ttl-1h'].cost_usd).toBeCloseTo((p * k26.miss + c * k26.out + 2 * p * k26.miss) / 1e6, 12);
    expect(stats.keys['key-ttl-1h'].cache_write_tokens).toBe(p);

    await simPost('/sim/clock', { advance_ms: 5 * 60_000 + 1000 });
    const shortAgain = await chat({ model: 'kimi-k2.6', messages, cache_ttl: '5m' }, {}, 'key-ttl-5m');
    const longAgain = await chat({ model: 'kimi-k2.6', messages, cache_ttl: '1h' }, {}, 'key-ttl-1h');
    expect(shortAgain.body.usage.prompt_tokens_details).toEqual({ cached_tokens: 0, cache_write_tokens: p });
    expect(longAgain.body.usage.prompt_tokens_details).toEqual({ cached_tokens: p, cache_write_tokens: 0 });
    expect(sim.stats().keys['key-ttl-1h'].cost_usd).toBeCloseTo((p * k26.miss + 2 * p * k26.miss + p * k26.hit + 2 * c * k26.out) / 1e6, 12);

    const [last] = await simGet<RequestSummary[]>('/sim/requests?limit=1');
    expect(last).toMatchObject({ cache_ttl: '1h', cached_tokens: p, cache_write_tokens: 0 });
  });

  it('rejects a cache_ttl other than 5m or 1h in the OpenAI error shape', async () => {
    const bad = await chat({ messages: ask('x'), cache_ttl: '10m' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', param: 'cache_ttl' });
    expect(bad.body.error?.message).toContain('cache_ttl');
  });

  it('counts tokens with a skew against o200k: within the bound, and the same message always the same', async () => {
    const messages = Array.from({ length: 12 }, (_, i) => ({ role: 'user', content: `Question ${i}: how does the rolling snapshot keep ${i * 17} tokens of headroom?` }));
    const count = async () =>
      Promise.all(
        messages.map(async (m) => {
          const r = await client().post<{ data: { total_tokens: number } }>('/tokenizers/estimate-token-count', { body: { model: MODEL, messages: [m] } });
          return r.data.total_tokens;
        }),
      );
    const skewed = await count();
    expect(await count()).toEqual(skewed);
    sim.configure({ tokenizerSkew: 0 });
    const plain = await count();
    skewed.forEach((n, i) => {
      expect(n).toBeGreaterThanOrEqual(Math.floor(plain[i] * (1 - DEFAULT_OPTIONS.tokenizerSkew)));
      expect(n).toBeLessThanOrEqual(Math.ceil(plain[i] * (1 + DEFAULT_OPTIONS.tokenizerSkew)));
    });
    expect(skewed.filter((n, i) => n !== plain[i]).length).toBeGreaterThan(0);
  });
});
