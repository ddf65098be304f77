import { createOpenAI } from '@ai-sdk/openai';
import { HumanMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText } from 'ai';
import { TestAccount, TestHarness } from '../support/harness';

/**
 * Real clients of OpenAI's Responses API, as they are, against the service: the Vercel AI SDK (`ai` with
 * `@ai-sdk/openai`, whose provider speaks Responses) and LangChain's ChatOpenAI with useResponsesApi.
 * Each holds a multi-turn conversation whose earlier turns the upstream sees.
 */

const MODEL = 'kimi-k2.6';
const sessionOf = (conv: string) => conv.slice(5).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

describe('AI SDK and LangChain over /v1/responses and /v1/conversations', () => {
  let h: TestHarness;
  let a: TestAccount;
  beforeAll(async () => {
    h = await TestHarness.start();
    a = await h.createAccount('clients');
  });
  afterAll(async () => h?.stop());

  /** What the upstream's last call for this account carried: message count and the last user message. */
  const lastUpstream = () => {
    const r = h.simRequestsFor(a.simKey);
    return r[r.length - 1];
  };
  const windowContents = async (conv: string) => ((await a.openai.get(`/sessions/${sessionOf(conv)}/context`)) as any).messages.map((m: any) => m.content);

  it('the AI SDK: generateText and streamText over one conversation', async () => {
    const conv = await a.openai.conversations.create({});
    const openai = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: a.apiKey });
    const opts = { openai: { conversation: conv.id } };

    const t1 = await generateText({ model: openai.responses(MODEL), prompt: 'The release is v2.4.1.', providerOptions: opts });
    expect(t1.text).toMatch(/^Re: The release is v2.4.1./);
    expect(t1.usage.inputTokens).toBeGreaterThan(0);
    expect(t1.providerMetadata?.openai?.responseId).toMatch(/^resp_/);

    const s2 = streamText({ model: openai.responses(MODEL), prompt: 'Which release?', providerOptions: opts });
    let streamed = '';
    for await (const delta of s2.textStream) streamed += delta;
    expect(streamed).toMatch(/^Re: Which release\?/);
    expect(await s2.text).toBe(streamed);

    const t3 = await generateText({ model: openai.responses(MODEL), prompt: 'Thanks.', providerOptions: opts });
    // The upstream saw every earlier turn of the conversation.
    expect(lastUpstream()).toMatchObject({ messages: 5, last_user: 'Thanks.' });
    expect(await windowContents(conv.id)).toEqual(['The release is v2.4.1.', t1.text, 'Which release?', streamed, 'Thanks.', t3.text]);
  });

  it('the AI SDK: a chain by previousResponseId, and a function tool round trip', async () => {
    const openai = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: a.apiKey });
    const t1 = await generateText({ model: openai.responses(MODEL), prompt: 'Codename HERON.' });
    const t2 = await generateText({ model: openai.responses(MODEL), prompt: 'And the deadline is Friday.', providerOptions: { openai: { previousResponseId: t1.providerMetadata!.openai.responseId } } });
    expect(t2.text).toMatch(/^Re: And the deadline is Friday./);
    expect(lastUpstream()).toMatchObject({ messages: 3, last_user: 'And the deadline is Friday.' });

    const { jsonSchema, tool } = await import('ai');
    const weather = tool({
      description: 'Current weather for a city',
      inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
      execute: ({ city }) => Promise.resolve({ city, temp_c: 21 }),
    });
    const conv = await a.openai.conversations.create({});
    const first = await generateText({ model: openai.responses(MODEL), prompt: 'use get_weather for Oslo', tools: { get_weather: weather }, providerOptions: { openai: { conversation: conv.id } } });
    expect(first.toolCalls.map((c) => c.toolName)).toEqual(['get_weather']);
    // (kimi-sim's arguments are its own: the tool ran with what the model sent.)
    expect(first.toolResults.map((r: any) => r.output.temp_c)).toEqual([21]);
    // The tool result goes back into the conversation; the model answers from it.
    const second = await generateText({
      model: openai.responses(MODEL),
      messages: [{ role: 'tool', content: first.toolResults.map((r: any) => ({ type: 'tool-result' as const, toolCallId: r.toolCallId, toolName: r.toolName, output: { type: 'json' as const, value: r.output } })) }],
      tools: { get_weather: weather },
      providerOptions: { openai: { conversation: conv.id } },
    });
    expect(second.text).toMatch(/^Re: tool get_weather result/);
    const items: any[] = [];
    for await (const i of a.openai.conversations.items.list(conv.id, { order: 'asc' })) items.push(i);
    expect(items.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message']);
  });

  it('the AI SDK: resending the whole history (earlier output by item_reference) works without conversation or previousResponseId', async () => {
    const openai = createOpenAI({ baseURL: `${h.url}/v1`, apiKey: a.apiKey });
    const messages: any[] = [{ role: 'user', content: 'The port is 8443.' }];
    const t1 = await generateText({ model: openai.responses(MODEL), messages });
    // The SDK resends its earlier output as {type: 'item_reference', id} (store is on): the id must resolve here.
    expect((t1.response.messages[0] as any).content[0].providerOptions.openai.itemId).toMatch(/^msg_/);
    messages.push(...t1.response.messages, { role: 'user', content: 'Which port?' });
    const t2 = await generateText({ model: openai.responses(MODEL), messages });
    expect(t2.text).toMatch(/^Re: Which port\?/);
    expect(lastUpstream()).toMatchObject({ messages: 3, last_user: 'Which port?' });
    // A reference to an item the account does not have is a 404, before any model call.
    const before = h.simRequestsFor(a.simKey).length;
    const r = await h.api(a.apiKey, 'POST', '/v1/responses', { model: MODEL, input: [{ type: 'item_reference', id: 'msg_0123456789abcdef0123456789abcdef_1' }, { role: 'user', content: 'x' }] });
    expect([r.status, r.body.error.param]).toEqual([404, 'input[0].id']);
    expect(h.simRequestsFor(a.simKey).length).toBe(before);
  });

  it("LangChain's ChatOpenAI with useResponsesApi: invoke and stream over one conversation", async () => {
    const conv = await a.openai.conversations.create({});
    const chat = new ChatOpenAI({ model: MODEL, apiKey: a.apiKey, configuration: { baseURL: `${h.url}/v1` }, useResponsesApi: true, modelKwargs: { conversation: conv.id }, maxRetries: 0 });
    const text = (c: unknown) => (typeof c === 'string' ? c : (c as any[]).map((p) => p.text ?? '').join(''));
    const m1 = await chat.invoke([new HumanMessage('The budget is 40k EUR.')]);
    expect(text(m1.content)).toMatch(/^Re: The budget is 40k EUR./);
    let streamed = '';
    for await (const chunk of await chat.stream([new HumanMessage('What is the budget?')])) streamed += text(chunk.content);
    expect(streamed).toMatch(/^Re: What is the budget\?/);
    const m3 = await chat.invoke([new HumanMessage('Good.')]);
    expect(lastUpstream()).toMatchObject({ messages: 5, last_user: 'Good.' });
    expect(await windowContents(conv.id)).toEqual(['The budget is 40k EUR.', text(m1.content), 'What is the budget?', streamed, 'Good.', text(m3.content)]);
  });
});
