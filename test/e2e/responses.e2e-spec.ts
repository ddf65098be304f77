import OpenAI from 'openai';
import { TestAccount, TestHarness } from '../support/harness';
import { expectSchema } from '../support/openai-schema';
import { userMsg } from '../support/session-api';

/**
 * OpenAI's stateful API (/v1/responses, /v1/conversations) on top of sessions, driven by the official
 * `openai` SDK as it is. Every body and stream event is validated against OpenAI's own schemas.
 */

const MODEL = 'kimi-k2.6'; // the accounts' default model: conversations are sessions of it

/** The session behind a conversation id (conv_ + the session id's hex). */
const sessionOf = (conv: string) => conv.slice(5).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

const rejection = (p: PromiseLike<unknown>): Promise<any> =>
  Promise.resolve(p).then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v).slice(0, 300)}`);
    },
    (e: unknown) => e,
  );

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

/** kimi-sim's summary of this account's last chat call: how many messages it carried, and the last user one. */
function lastUpstream(h: TestHarness, a: TestAccount): { messages: number; last_user: string | null } {
  const reqs = h.simRequestsFor(a.simKey);
  return reqs[reqs.length - 1];
}

/** What the session's next turn sends upstream after its pinned prefix (the service's assembled window), as contents. */
async function windowContents(client: OpenAI, sessionId: string): Promise<Array<string | null>> {
  const ctx = (await client.get(`/sessions/${sessionId}/context`)) as any;
  return ctx.messages.map((m: any) => m.content);
}

/** The SDK adds output_text (a convenience) to responses it returns from create and retrieve; streamed events lack it. */
function withoutOutputText(r: any) {
  const { output_text: _t, ...rest } = r;
  return rest;
}

function validResponse(r: unknown) {
  expectSchema('Response', r);
  return r as OpenAI.Responses.Response & { session_id: string };
}

async function allItems(client: OpenAI, conv: string): Promise<any[]> {
  const out: any[] = [];
  for await (const item of client.conversations.items.list(conv, { order: 'asc', limit: 100 })) out.push(item);
  return out;
}

describe('the Responses and Conversations APIs through the official openai SDK', () => {
  let h: TestHarness;
  let a: TestAccount;
  let other: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('resp');
    other = await h.createAccount('resp-other');
  });
  afterAll(async () => h?.stop());

  it('a conversation is a session: create with items and metadata, retrieve, update, list, add, get and delete items', async () => {
    const conv = await a.openai.conversations.create({
      metadata: { topic: 'billing' },
      items: [
        { type: 'message', role: 'developer', content: 'Answer tersely.' },
        { type: 'message', role: 'user', content: 'The invoice id is INV-77.' },
      ],
    });
    expectSchema('ConversationResource', conv);
    expect(conv.id).toMatch(/^conv_/);
    expect(conv.metadata).toEqual({ topic: 'billing' });
    expectSchema('ConversationResource', await a.openai.conversations.retrieve(conv.id));
    const updated = await a.openai.conversations.update(conv.id, { metadata: { topic: 'refunds' } });
    expect(updated.metadata).toEqual({ topic: 'refunds' });

    const page = await a.openai.conversations.items.list(conv.id, { order: 'asc' });
    expectSchema('ConversationItemList', (page as any).body ?? { object: 'list', data: page.data, has_more: page.has_more, first_id: page.data[0].id, last_id: page.data[page.data.length - 1].id });
    expect(page.data.map((i: any) => [i.type, i.role, i.content[0].text])).toEqual([
      ['message', 'system', 'Answer tersely.'],
      ['message', 'user', 'The invoice id is INV-77.'],
    ]);

    const added = await a.openai.conversations.items.create(conv.id, {
      items: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Check ' }, { type: 'input_text', text: 'the weather' }] },
        { type: 'function_call', call_id: 'call_a1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_a1', output: '{"temp_c": 3}' },
      ],
    });
    expect(added.data.map((i: any) => i.type)).toEqual(['message', 'function_call', 'function_call_output']);
    for (const item of added.data) expectSchema('ConversationItem', item);
    expect((added.data[0] as any).content[0].text).toBe('Check the weather');

    const got = await a.openai.conversations.items.retrieve(added.data[1].id!, { conversation_id: conv.id });
    expectSchema('ConversationItem', got);
    expect(got).toEqual(added.data[1]);

    // Deleting the function call moves it and its output out of the window; the session's history keeps both.
    const afterDelete = await a.openai.conversations.items.delete(added.data[1].id!, { conversation_id: conv.id });
    expectSchema('ConversationResource', afterDelete);
    expect((await allItems(a.openai, conv.id)).map((i) => i.type)).toEqual(['message', 'message', 'message']);
    const sessionId = sessionOf(conv.id);
    const history = (await a.openai.get(`/sessions/${sessionId}/messages`, { query: { limit: 100 } })) as any;
    expect(history.data.map((m: any) => [m.role, m.in_window])).toEqual([
      ['system', true],
      ['user', true],
      ['user', true],
      ['assistant', false],
      ['tool', false],
    ]);
    const err = await rejection(a.openai.conversations.items.retrieve(added.data[1].id!, { conversation_id: conv.id }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);

    const deleted = await a.openai.conversations.delete(conv.id);
    expectSchema('DeletedConversationResource', deleted);
    expect(deleted).toEqual({ id: conv.id, object: 'conversation.deleted', deleted: true });
    expect(await rejection(a.openai.conversations.retrieve(conv.id))).toBeInstanceOf(OpenAI.NotFoundError);
    // The session is closed, its history kept.
    expect(((await a.openai.get(`/sessions/${sessionId}`)) as any).status).toBe('closed');
  });

  it('holds a multi-turn conversation whose earlier turns the upstream sees', async () => {
    const conv = await a.openai.conversations.create({});
    const r1 = validResponse(await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'My favourite colour is teal. Remember it.', instructions: 'Be brief.' }));
    expect(r1.status).toBe('completed');
    expect(r1.conversation).toEqual({ id: conv.id });
    expect(r1.output_text.length).toBeGreaterThan(0);
    const r2 = validResponse(await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'What is my favourite colour?', instructions: 'Be brief.' }));
    // The upstream got the instructions, both earlier messages and the new one; the same instructions keep the prefix cached.
    expect(lastUpstream(h, a)).toMatchObject({ messages: 4, last_user: 'What is my favourite colour?' });
    expect(await windowContents(a.openai, sessionOf(conv.id))).toEqual(['My favourite colour is teal. Remember it.', r1.output_text, 'What is my favourite colour?', r2.output_text]);
    expect(r2.usage!.input_tokens).toBeGreaterThan(r1.usage!.input_tokens);
    expect(r2.usage!.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    const items = await allItems(a.openai, conv.id);
    for (const item of items) expectSchema('ConversationItem', item);
    expect(items.map((i) => [i.role, i.content[0].type])).toEqual([
      ['user', 'input_text'],
      ['assistant', 'output_text'],
      ['user', 'input_text'],
      ['assistant', 'output_text'],
    ]);
    // The output items are the conversation's items (same ids).
    expect(items[3].id).toBe(r2.output[0].id);
    const again = await a.openai.responses.retrieve(r2.id);
    validResponse(again);
    expect(again.output).toEqual(r2.output);
  });

  it('continues a chain with previous_response_id, and branches from an earlier response', async () => {
    const r1 = validResponse(await a.openai.responses.create({ model: MODEL, input: 'Project codename is HERON.', metadata: { run: 'chain' } }));
    expect(r1.previous_response_id).toBeNull();
    expect(r1.metadata).toEqual({ run: 'chain' });
    const r2 = validResponse(await a.openai.responses.create({ model: MODEL, previous_response_id: r1.id, input: 'The deadline is Friday.' }));
    expect(r2.previous_response_id).toBe(r1.id);
    expect(r2.session_id).toBe(r1.session_id); // the chain's latest: continued in place
    expect(lastUpstream(h, a)).toMatchObject({ messages: 3, last_user: 'The deadline is Friday.' });
    // A branch from r1: a new session forked at r1's point; it sees r1 but not r2.
    const r3 = validResponse(await a.openai.responses.create({ model: MODEL, previous_response_id: r1.id, input: 'The deadline is Monday.' }));
    expect(r3.session_id).not.toBe(r1.session_id);
    expect(lastUpstream(h, a)).toMatchObject({ messages: 3, last_user: 'The deadline is Monday.' });
    expect(await windowContents(a.openai, r3.session_id)).toEqual(['Project codename is HERON.', r1.output_text, 'The deadline is Monday.', r3.output_text]);
    // Both branches go on independently.
    const r4 = validResponse(await a.openai.responses.create({ model: MODEL, previous_response_id: r2.id, input: 'Who owns it?' }));
    expect(r4.session_id).toBe(r1.session_id);
    expect(lastUpstream(h, a)).toMatchObject({ messages: 5, last_user: 'Who owns it?' });
    expect(await windowContents(a.openai, r1.session_id)).toEqual(['Project codename is HERON.', r1.output_text, 'The deadline is Friday.', r2.output_text, 'Who owns it?', r4.output_text]);

    const input = await a.openai.responses.inputItems.list(r2.id);
    expect(input.data.map((i: any) => i.content[0].text)).toEqual(['The deadline is Friday.']);
    expectSchema('ResponseItemList', { object: 'list', data: input.data, has_more: false, first_id: input.data[0].id, last_id: input.data[0].id });
  });

  it('streams Responses events in order, each valid, with increasing sequence numbers', async () => {
    const conv = await a.openai.conversations.create({});
    const stream = await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'Tell me a short story about a lighthouse.', stream: true });
    const events: any[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expectSchema('ResponseStreamEvent', e);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = [...new Set(events.map((e) => e.type))];
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(1);
    const done = events[events.length - 1].response;
    expect(deltas.map((d) => d.delta).join('')).toBe(done.output[0].content[0].text);
    expect(done.usage.input_tokens).toBeGreaterThan(0);
    expect(withoutOutputText(await a.openai.responses.retrieve(done.id))).toEqual(done);
    const items = await allItems(a.openai, conv.id);
    expect(items[1].id).toBe(done.output[0].id);

    // The SDK's stream helper, continuing the chain.
    const helper = a.openai.responses.stream({ model: MODEL, previous_response_id: done.id, input: 'And another one.' });
    const final = await helper.finalResponse();
    validResponse(final);
    expect(final.output_text.length).toBeGreaterThan(0);
  });

  it('round-trips a function tool call, streamed and not', async () => {
    const r1 = validResponse(await a.openai.responses.create({ model: MODEL, input: 'use get_weather for Oslo', tools: [WEATHER] }));
    const call = r1.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather' });
    expect(r1.tools).toEqual([WEATHER]);
    const r2 = validResponse(
      await a.openai.responses.create({ model: MODEL, previous_response_id: r1.id, tools: [WEATHER], input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp_c": 21}' }] }),
    );
    expect(r2.output_text).toMatch(/^Re: tool get_weather result/);

    const conv = await a.openai.conversations.create({});
    const stream = await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'use get_weather for Rome', tools: [WEATHER], tool_choice: 'required', stream: true });
    const events: any[] = [];
    for await (const e of stream) events.push(e);
    for (const e of events) expectSchema('ResponseStreamEvent', e);
    const types = events.map((e) => e.type);
    expect(types).toContain('response.function_call_arguments.delta');
    const argsDone = events.find((e) => e.type === 'response.function_call_arguments.done');
    const final = events[events.length - 1].response;
    const fc = final.output.find((o: any) => o.type === 'function_call');
    expect(argsDone.arguments).toBe(fc.arguments);
    expect(JSON.parse(fc.arguments)).toEqual(expect.any(Object));
    const r3 = validResponse(await a.openai.responses.create({ model: MODEL, conversation: conv.id, tools: [WEATHER], input: [{ type: 'function_call_output', call_id: fc.call_id, output: 'sunny' }] }));
    expect(r3.output_text).toMatch(/^Re: tool get_weather result/);
    expect((await allItems(a.openai, conv.id)).map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message']);
  });

  it('retrieves, lists input items of, and deletes a response; deleted is 404', async () => {
    const r = validResponse(await a.openai.responses.create({ model: MODEL, input: [{ role: 'user', content: 'first' }, { role: 'user', content: 'second' }] }));
    const items = await a.openai.responses.inputItems.list(r.id, { order: 'asc' });
    expect(items.data.map((i: any) => i.content[0].text)).toEqual(['first', 'second']);
    await a.openai.responses.delete(r.id);
    expect(await rejection(a.openai.responses.retrieve(r.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await rejection(a.openai.responses.create({ model: MODEL, previous_response_id: r.id, input: 'x' }))).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("another account's responses and conversations are 404", async () => {
    const conv = await a.openai.conversations.create({});
    const r = await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'private' });
    const before = h.simRequestsFor(other.simKey).length;
    for (const p of [
      other.openai.responses.retrieve(r.id),
      other.openai.responses.inputItems.list(r.id),
      other.openai.responses.delete(r.id),
      other.openai.conversations.retrieve(conv.id),
      other.openai.conversations.items.list(conv.id),
      other.openai.conversations.items.retrieve(r.output[0].id!, { conversation_id: conv.id }),
      other.openai.conversations.delete(conv.id),
      other.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'x' }),
      other.openai.responses.create({ model: MODEL, previous_response_id: r.id, input: 'x' }),
    ]) {
      const err = await rejection(p);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expectSchema('ErrorResponse', err.error ? { error: err.error } : err);
    }
    expect(h.simRequestsFor(other.simKey).length).toBe(before);
    expect((await a.openai.responses.retrieve(r.id)).id).toBe(r.id);
  });

  it('refuses bad input with 400 in OpenAI shape, before any model call and without changing the conversation', async () => {
    const conv = await a.openai.conversations.create({ items: [{ type: 'message', role: 'user', content: 'hello' }] });
    const prior = await a.openai.responses.create({ model: MODEL, input: 'x' });
    const before = h.simRequestsFor(a.simKey).length;
    const cases: Array<[any, string]> = [
      [{ model: MODEL, conversation: conv.id, previous_response_id: prior.id, input: 'x' }, 'previous_response_id'],
      [{ model: MODEL, conversation: conv.id, input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x/y.png' }] }] }, 'input[0].content[0].type'],
      [{ model: MODEL, conversation: conv.id, input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      [{ model: MODEL, conversation: conv.id, input: [] }, 'input'],
      [{ model: MODEL, conversation: conv.id, input: 'x', tool_choice: { type: 'function', name: 'nope' } }, 'tool_choice'],
      [{ model: 'gpt-4o', conversation: conv.id, input: 'x' }, 'model'],
      [{ model: MODEL, conversation: conv.id, input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
      [{ model: MODEL, conversation: conv.id, input: 'x', bogus_field: 1 }, 'bogus_field'],
      [{ model: MODEL, conversation: conv.id, input: [{ type: 'function_call_output', call_id: 'call_unknown', output: 'x' }] }, 'messages[0].tool_call_id'],
    ];
    for (const [body, param] of cases) {
      const err = await rejection(a.openai.responses.create(body));
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect([err.code, err.param]).toEqual(['invalid_request', param]);
      expectSchema('ErrorResponse', { error: err.error });
    }
    expect(h.simRequestsFor(a.simKey).length).toBe(before);
    expect((await allItems(a.openai, conv.id)).map((i) => i.content[0].text)).toEqual(['hello']);
    expect(await rejection(a.openai.conversations.retrieve('conv_nope'))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await rejection(a.openai.responses.retrieve('resp_nope'))).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('Idempotency-Key: a repeat returns the stored response without a model call; another body with the key is 409', async () => {
    const conv = await a.openai.conversations.create({});
    const body = { model: MODEL, conversation: conv.id, input: 'Count to three.' };
    const r1 = await a.openai.responses.create(body, { headers: { 'Idempotency-Key': 'resp-key-1' } });
    const calls = h.simRequestsFor(a.simKey).length;
    const r2 = await a.openai.responses.create(body, { headers: { 'Idempotency-Key': 'resp-key-1' } });
    expect(withoutOutputText(r2)).toEqual(withoutOutputText(r1));
    // Streamed replay of the same key: the stored response as events.
    const events: any[] = [];
    for await (const e of await a.openai.responses.create({ ...body, stream: true }, { headers: { 'Idempotency-Key': 'resp-key-1' } })) events.push(e);
    for (const e of events) expectSchema('ResponseStreamEvent', e);
    expect(events[events.length - 1].response).toEqual(withoutOutputText(r1));
    expect(h.simRequestsFor(a.simKey).length).toBe(calls);
    expect((await allItems(a.openai, conv.id)).length).toBe(2);
    const err = await rejection(a.openai.responses.create({ ...body, input: 'Count to four.' }, { headers: { 'Idempotency-Key': 'resp-key-1' } }));
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
  });

  it('two requests on one conversation at once: the second waits for the first; both land in order', async () => {
    const conv = await a.openai.conversations.create({});
    const [x, y] = await Promise.all([
      a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'first question' }),
      a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'second question' }),
    ]);
    const items = await allItems(a.openai, conv.id);
    expect(items.map((i) => i.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(new Set([items[1].id, items[3].id])).toEqual(new Set([x.output[0].id, y.output[0].id]));
  });

  it('context_management compaction: a 50-turn conversation compacts as the session would, with readable outline items', async () => {
    const conv = await a.openai.conversations.create({});
    const compactions: any[] = [];
    for (let n = 1; n <= 50; n++) {
      const r = validResponse(
        await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: userMsg(n, 150), max_output_tokens: 64, context_management: [{ type: 'compaction', compact_threshold: 4000 }] }),
      );
      const c = r.output.filter((o: any) => o.type === 'compaction');
      if (c.length) compactions.push({ n, item: c[0] });
      // The reply is always the last output item.
      expect(r.output[r.output.length - 1].type).toBe('message');
    }
    console.log(`[responses 50 turns] compactions at turns ${compactions.map((c) => c.n).join(',')}`);
    expect(compactions.length).toBeGreaterThanOrEqual(3);
    // Each compaction item is the readable outline (not encrypted), with the compacted turns' facts in it.
    for (const c of compactions) expect(c.item.encrypted_content).toMatch(/Facts/i);
    // The session's policy took the threshold (a conversation is a session).
    const session = (await a.openai.get(`/sessions/${sessionOf(conv.id)}`)) as any;
    expect(session.policy.trigger_tokens).toBe(4000);
    // No fact of a compacted turn is lost: each is verbatim in the window or in its outline.
    const items = await allItems(a.openai, conv.id);
    expect(items[0].type).toBe('compaction');
    const text = items.map((i) => (i.type === 'compaction' ? i.encrypted_content : i.content[0].text)).join('\n');
    const lost = Array.from({ length: 50 }, (_, i) => i + 1).filter((n) => !text.includes(`Z${n}`));
    expect(lost).toEqual([]);
    // The explicit compaction route: compaction items first, then what stayed verbatim.
    const compacted: any = await a.openai.post('/responses/compact', { body: { conversation: conv.id, keep_rounds: 1 } });
    expectSchema('CompactResource', compacted);
    expect(compacted.output[0].type).toBe('compaction');
    expect(compacted.output.filter((i: any) => i.type !== 'compaction').map((i: any) => i.role)).toEqual(['user', 'assistant']);
    expect(compacted.output).toEqual(await allItems(a.openai, conv.id));
  });

  it('/v1/responses/compact on a given input returns the compacted items without keeping a session', async () => {
    const input = [1, 2, 3, 4].flatMap((n) => [
      { role: 'user' as const, content: userMsg(n, 120) },
      { role: 'assistant' as const, content: `Noted item ${n}.` },
    ]);
    const compacted: any = await a.openai.post('/responses/compact', { body: { model: MODEL, input } });
    expectSchema('CompactResource', compacted);
    expect(compacted.output.map((i: any) => i.type)).toEqual(['compaction']);
    for (const n of [1, 2, 3, 4]) expect(compacted.output[0].encrypted_content).toContain(`Z${n}`);
    expect(compacted.usage.input_tokens).toBeGreaterThan(compacted.usage.output_tokens);
  });

  it('truncation: "disabled" answers 400 when the window would overflow; "auto" compacts instead', async () => {
    const run = async (truncation: 'auto' | 'disabled') => {
      let prev: string | undefined;
      for (let n = 1; n <= 6; n++) {
        const r: any = await a.openai.responses.create({ model: 'moonshot-v1-8k', previous_response_id: prev, input: userMsg(n, 1500), max_output_tokens: 256, truncation });
        prev = r.id;
      }
      return prev!;
    };
    const last = await run('auto');
    expect((await a.openai.responses.retrieve(last)).truncation).toBe('auto');
    const err = await rejection(run('disabled'));
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe('max_tokens');
    expectSchema('ErrorResponse', { error: err.error });
  });

  it('a stream cut by the upstream ends with an error event and response.failed; the conversation is unchanged and the retry works', async () => {
    const conv = await a.openai.conversations.create({ items: [{ type: 'message', role: 'user', content: 'earlier' }] });
    h.sim.injectFaults({ kind: 'cut', count: 1, key: a.simKey, after_tokens: 8 });
    const events: any[] = [];
    for await (const e of await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'cut me off', stream: true })) events.push(e);
    for (const e of events) expectSchema('ResponseStreamEvent', e);
    expect(events.some((e) => e.type === 'response.output_text.delta')).toBe(true);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed']);
    expect(events[events.length - 2].code).toBe('upstream_error');
    expect((await allItems(a.openai, conv.id)).map((i) => i.content[0].text)).toEqual(['earlier']);
    const r = validResponse(await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'cut me off' }));
    expect(r.output_text).toMatch(/^Re: cut me off/);
    expect((await allItems(a.openai, conv.id)).length).toBe(3);
  });

  it('a new chain may start with a history longer than one append (a client resending it all): it goes in piece by piece', async () => {
    const input = [1, 2, 3, 4].flatMap((n) => [
      { role: 'user' as const, content: userMsg(n, 2300) },
      { role: 'assistant' as const, content: `Noted part ${n}.` },
    ]);
    const r = validResponse(await a.openai.responses.create({ model: MODEL, input: [...input, { role: 'user', content: 'Which codes did I give?' }] }));
    expect(r.output_text).toMatch(/^Re: Which codes did I give\?/);
    expect(lastUpstream(h, a)).toMatchObject({ messages: 9, last_user: 'Which codes did I give?' });
    expect(r.usage!.input_tokens).toBeGreaterThan(8192);
    // The response's own input is the last round; the history before it is the session's.
    const own = await a.openai.responses.inputItems.list(r.id);
    expect(own.data.map((i: any) => i.content[0].text)).toEqual(['Which codes did I give?']);
    // In a conversation the same input is one append, refused as too large, and the conversation is unchanged.
    const conv = await a.openai.conversations.create({});
    const err = await rejection(a.openai.responses.create({ model: MODEL, conversation: conv.id, input: [...input, { role: 'user', content: 'x' }] }));
    expect(err.status).toBe(413);
    expect((await allItems(a.openai, conv.id)).length).toBe(0);
    // A new conversation's initial items are stored the same way.
    const big = await a.openai.conversations.create({ items: input });
    expect((await allItems(a.openai, big.id)).map((i) => i.content[0].text)).toEqual(input.map((m) => m.content));
  });

  it('every route\'s raw body validates against OpenAI\'s schema for it', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await h.api(a.apiKey, method, path, body);
      expect([method, path, r.status]).toEqual([method, path, 200]);
      return r.body;
    };
    const conv = await call('POST', '/v1/conversations', { items: [{ type: 'message', role: 'user', content: 'hi' }], metadata: { k: 'v' } });
    expectSchema('ConversationResource', conv);
    expectSchema('ConversationResource', await call('GET', `/v1/conversations/${conv.id}`));
    expectSchema('ConversationResource', await call('POST', `/v1/conversations/${conv.id}`, { metadata: { k: 'w' } }));
    const added = await call('POST', `/v1/conversations/${conv.id}/items`, { items: [{ type: 'message', role: 'user', content: 'more' }] });
    expectSchema('ConversationItemList', added);
    const resp = await call('POST', '/v1/responses', { model: MODEL, conversation: conv.id, input: 'answer me' });
    expectSchema('Response', resp);
    expectSchema('Response', await call('GET', `/v1/responses/${resp.id}`));
    expectSchema('ResponseItemList', await call('GET', `/v1/responses/${resp.id}/input_items`));
    expectSchema('ConversationItemList', await call('GET', `/v1/conversations/${conv.id}/items?order=asc&limit=2`));
    expectSchema('ConversationItem', await call('GET', `/v1/conversations/${conv.id}/items/${resp.output[0].id}`));
    expectSchema('ConversationResource', await call('DELETE', `/v1/conversations/${conv.id}/items/${added.data[0].id}`));
    const sse = await h.apiStream(a.apiKey, '/v1/responses', { model: MODEL, conversation: conv.id, input: 'stream it', stream: true });
    expect(sse.status).toBe(200);
    for (const e of sse.events) expectSchema('ResponseStreamEvent', e);
    expectSchema('CompactResource', await call('POST', '/v1/responses/compact', { conversation: conv.id, keep_rounds: 0 }));
    expectSchema('DeletedConversationResource', await call('DELETE', `/v1/conversations/${conv.id}`));
    const missing = await h.api(a.apiKey, 'GET', `/v1/conversations/${conv.id}`);
    expect(missing.status).toBe(404);
    expectSchema('ErrorResponse', missing.body);
  });

  it('/v1/chat/completions bodies and stream chunks validate against OpenAI\'s schemas too', async () => {
    const c = await a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }] });
    expectSchema('CreateChatCompletionResponse', c);
    const s = await a.openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }], stream: true, stream_options: { include_usage: true } });
    let chunks = 0;
    for await (const chunk of s) {
      expectSchema('CreateChatCompletionStreamResponse', chunk);
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    // Session mode: the service's extra fields (session_id, session_usage, compaction, ...) keep the bodies valid.
    const session = (await a.openai.post('/sessions', { body: { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] } })) as { id: string };
    const inSession = { model: MODEL, session_id: session.id } as unknown as { model: string };
    const t = await a.openai.chat.completions.create({ ...inSession, messages: [{ role: 'user', content: 'use get_weather for Oslo' }] });
    expectSchema('CreateChatCompletionResponse', t);
    expect(t.choices[0].finish_reason).toBe('tool_calls');
    const call = t.choices[0].message.tool_calls![0];
    const s2 = await a.openai.chat.completions.create({ ...inSession, messages: [{ role: 'tool', tool_call_id: call.id, content: 'sunny' }], stream: true, stream_options: { include_usage: true } });
    let last: any;
    for await (const chunk of s2) {
      expectSchema('CreateChatCompletionStreamResponse', chunk);
      last = chunk;
    }
    expect(last.session_id).toBe(session.id);
  });
});

describe('pool slots', () => {
  let h: TestHarness;
  beforeAll(async () => {
    h = await TestHarness.start();
  });
  afterAll(async () => h?.stop());

  it('a conversation holds its slot; a previous_response_id chain holds one only during its turn', async () => {
    const a = await h.createAccount('pool2', { session_limit: 2 });
    // Five independent chains on a pool of two: each is parked after its turn.
    const first = await a.openai.responses.create({ model: MODEL, input: 'chain 1' });
    for (let n = 2; n <= 5; n++) await a.openai.responses.create({ model: MODEL, input: `chain ${n}` });
    // An old chain goes on (its session takes a slot again for the turn) and stays in place.
    const next = (await a.openai.responses.create({ model: MODEL, previous_response_id: first.id, input: 'chain 1 again' })) as any;
    expect(next.session_id).toBe((first as any).session_id);
    expect(((await a.openai.get(`/sessions/${next.session_id}`)) as any).status).toBe('parked');
    // Conversations keep their slots: two fill the pool, a third is refused with 429.
    await a.openai.conversations.create({});
    await a.openai.conversations.create({});
    const err = await rejection(a.openai.conversations.create({}));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('session_pool_exhausted');
    // ... and a new chain cannot start while they hold the pool.
    expect(await rejection(a.openai.responses.create({ model: MODEL, input: 'chain 6' }))).toBeInstanceOf(OpenAI.RateLimitError);
  });
});

describe('conversation_locked when waiting is off', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start({ env: { RESPONSES_LOCK_WAIT_MS: '0' }, sim: { tokensPerSecond: 20 } });
    a = await h.createAccount('locked');
  });
  afterAll(async () => h?.stop());

  it('a second request while a turn streams gets 409 conversation_locked, and the conversation is unchanged by it', async () => {
    const conv = await a.openai.conversations.create({});
    const stream = await a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'Tell me a long story about ships.', stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // the turn holds the conversation now
    const err = await rejection(a.openai.responses.create({ model: MODEL, conversation: conv.id, input: 'interrupt' }));
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect(err.code).toBe('conversation_locked');
    expectSchema('ErrorResponse', { error: err.error });
    for (;;) if ((await it.next()).done) break;
    expect((await allItems(a.openai, conv.id)).map((i) => i.role)).toEqual(['user', 'assistant']);
  });
});
