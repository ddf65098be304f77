import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { getMetadataStorage } from 'class-validator';
import { isDeepStrictEqual } from 'node:util';
import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { ApiError } from '../common/api-error';
import { NOPE } from '../common/fast-validation';
import { apiValidationPipe } from '../common/validation';
import { AppendMessagesDto, FunctionDto, InputMessageDto, ToolCallDto, ToolCallFunctionDto, ToolDto } from '../sessions/sessions.dto';
import { HOT_BODY_CHECKS } from './hot-body-checks';
import { ChatCompletionDto, ChatInputMessageDto, StreamOptionsDto } from './chat-completions.dto';

const slow = apiValidationPipe();
const fast = apiValidationPipe(HOT_BODY_CHECKS);
const meta = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'body', metatype, data: undefined });

type Outcome = { ok: true; value: unknown } | { ok: false; status: number; body: unknown };
async function run(pipe: typeof slow, dto: ArgumentMetadata['metatype'], body: unknown): Promise<Outcome> {
  try {
    return { ok: true, value: await pipe.transform(JSON.parse(JSON.stringify(body)), meta(dto)) };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { ok: false, status: err.status, body: err.body() };
  }
}

/** Same prototypes, values and key order at every level. */
function sameShape(a: unknown, b: unknown): boolean {
  if (!isDeepStrictEqual(a, b)) return false;
  if (typeof a !== 'object' || a === null) return true;
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b as object);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameShape((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k]));
}

async function expectSame(dto: ArgumentMetadata['metatype'], body: unknown): Promise<Outcome> {
  const [s, f] = await Promise.all([run(slow, dto, body), run(fast, dto, body)]);
  if (s.ok && f.ok) {
    expect(sameShape(f.value, s.value)).toBe(true);
    expect(Object.getPrototypeOf(f.value)).toBe((dto as { prototype: object }).prototype);
  } else {
    expect(f).toEqual(s);
  }
  return s;
}

const toolCall = { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } };
const tool = { type: 'function', function: { name: 'lookup', description: 'd', parameters: { type: 'object', properties: { q: { type: 'number' } } }, strict: true } };

const validChat: unknown[] = [
  { model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }] },
  { messages: [{ role: 'user', content: 'hi' }], session_id: 'sess_1', stream: true, stream_options: { include_usage: true } },
  { messages: [{ role: 'system', content: null }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b', extra: 1 }] }] },
  {
    model: 'm',
    messages: [
      { role: 'assistant', content: null, tool_calls: [toolCall], refusal: null, annotations: [{ a: 1 }], audio: null, function_call: { name: 'x' } },
      { role: 'tool', tool_call_id: 'call_1', content: 'r', name: 'lookup' },
    ],
    max_tokens: 16, max_completion_tokens: 32, temperature: 0.5, top_p: 1, n: 1, stop: ['a', 'b'], presence_penalty: -2, frequency_penalty: 2,
    tools: [tool], tool_choice: { type: 'function', function: { name: 'lookup' } }, parallel_tool_calls: false,
    response_format: { type: 'json_schema', json_schema: { name: 'x_1', schema: { type: 'object' }, strict: null } },
    seed: -3, user: 'u', metadata: { a: 'b' }, store: false,
  },
  { model: null, messages: [{ role: 'user', content: 'x', name: null, tool_calls: null }], stream_options: null, stop: 'END', tool_choice: 'auto', response_format: { type: 'text' }, tools: [] },
];

const invalidChat: unknown[] = [
  {},
  { messages: [] },
  { messages: 'hi' },
  { messages: [{ role: 'robot', content: 'x' }] },
  { messages: [{ content: 'x' }] },
  { messages: [null] },
  { messages: [['a']] },
  { messages: [{ role: 'user', content: 3 }] },
  { messages: [{ role: 'user', content: [{ type: 'image', text: 'x' }] }] },
  { messages: [{ role: 'user', content: 'x', extra: 1 }] },
  { messages: [{ role: 'user', content: 'x' }], unknown_field: 1 },
  { messages: [{ role: 'user', content: 'x' }], model: '' },
  { messages: [{ role: 'user', content: 'x' }], model: 123 },
  { messages: [{ role: 'user', content: 'x' }], model: 'm'.repeat(201) },
  { messages: [{ role: 'user', content: 'x' }], max_tokens: 0 },
  { messages: [{ role: 'user', content: 'x' }], max_tokens: 1.5 },
  { messages: [{ role: 'user', content: 'x' }], max_tokens: '16' },
  { messages: [{ role: 'user', content: 'x' }], temperature: 3 },
  { messages: [{ role: 'user', content: 'x' }], n: 2 },
  { messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] },
  { messages: [{ role: 'user', content: 'x' }], stream: 'yes' },
  { messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true, other: 1 } },
  { messages: [{ role: 'user', content: 'x' }], stream_options: [] },
  { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: '' } }] },
  { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'other', function: { name: 'a' } }] },
  { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] },
  { messages: [{ role: 'user', content: 'x' }], tool_choice: 'sometimes' },
  { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'xml' } },
  { messages: [{ role: 'user', content: 'x' }], metadata: { a: 1 } },
  { messages: [{ role: 'assistant', content: null, tool_calls: [{ ...toolCall, id: '' }] }] },
  { messages: [{ role: 'assistant', content: null, tool_calls: [{ ...toolCall, function: { name: 'a' } }] }] },
  { messages: [{ role: 'tool', content: 'x', tool_call_id: '' }] },
  { messages: [{ role: 'user', content: 'x', audio: [] }] },
  { messages: [{ role: 'user', content: 'x', annotations: {} }] },
];

// Keys the ValidationPipe strips or class-transformer skips: the fast checks leave such bodies to them.
const specialKeys: unknown[] = [
  JSON.parse('{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a","parameters":{"__proto__":{"x":1},"properties":{"constructor":{"type":"string"},"prototype":{},"toString":1}}}}]}'),
  JSON.parse('{"messages":[{"role":"user","content":"x"}],"metadata":{"constructor":"x"}}'),
  JSON.parse('{"messages":[{"role":"user","content":"x","constructor":"y"}]}'),
  JSON.parse('{"__proto__":{"stream":true},"messages":[{"role":"user","content":"x"}]}'),
];

describe('hot body checks', () => {
  it.each(validChat.map((b, i) => [i, b]))('chat completion body %i: same instance as class-transformer builds', async (_i, body) => {
    const s = await expectSame(ChatCompletionDto, body);
    expect(s.ok).toBe(true);
  });

  it('accepts a valid chat completion body without class-validator', () => {
    const check = HOT_BODY_CHECKS.get(ChatCompletionDto)!;
    expect(validChat.map((body) => check(JSON.parse(JSON.stringify(body))) instanceof ChatCompletionDto)).toEqual(validChat.map(() => true));
  });

  it.each(invalidChat.map((b, i) => [i, b]))('chat completion body %i: the same error', async (_i, body) => {
    const s = await expectSame(ChatCompletionDto, body);
    expect(s.ok).toBe(false);
  });

  it.each(specialKeys.map((b, i) => [i, b]))('body %i with special keys: the same result', async (_i, body) => {
    await expectSame(ChatCompletionDto, body);
  });

  it('append bodies: the same instance or error', async () => {
    const bodies: unknown[] = [
      { messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 },
      { messages: [{ role: 'user', content: 'x' }], generate: false, temperature: 0, top_p: 0.5, tool_choice: 'none', response_format: { type: 'json_object' }, stream: true },
      { messages: [{ role: 'assistant', content: null, tool_calls: [toolCall] }, { role: 'tool', tool_call_id: 'call_1', content: 'r' }] },
      { messages: Array.from({ length: 257 }, () => ({ role: 'user', content: 'x' })) },
      { messages: [{ role: 'user', content: 'x', refusal: null }] },
      { messages: [{ role: 'user', content: 'x' }], model: 'm' },
      { messages: [{ role: 'user', content: 'x' }], max_tokens: -1 },
      { messages: [] },
      {},
    ];
    const oks = [];
    for (const body of bodies) oks.push((await expectSame(AppendMessagesDto, body)).ok);
    expect(oks).toEqual([true, true, true, false, false, false, false, false, false]);
  });

  it('a string longer than MaxLength counts by .length goes to class-validator (which counts a surrogate pair as one)', async () => {
    const name = '😀'.repeat(40); // 80 UTF-16 units, 40 characters for validator.js
    expect(HOT_BODY_CHECKS.get(AppendMessagesDto)!({ messages: [{ role: 'user', content: 'x', name }] })).toBe(NOPE);
    const s = await expectSame(AppendMessagesDto, { messages: [{ role: 'user', content: 'x', name }] });
    expect(s.ok).toBe(true);
  });

  it('random mutations of valid bodies: the same instance or error', async () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const junk = [null, 0, -1, 1.5, 3, '', 'x', 'function', 'user', true, [], {}, [1], { type: 'text', text: 'a' }, 'a'.repeat(300)];
    const mutate = (v: unknown, depth: number): unknown => {
      if (typeof v !== 'object' || v === null || depth > 4 || rnd(4) === 0) return rnd(3) === 0 ? junk[rnd(junk.length)] : v;
      if (Array.isArray(v)) return v.map((x) => mutate(x, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (rnd(10) !== 0) out[k] = mutate(x, depth + 1);
      if (rnd(12) === 0) out[['extra', 'role', 'content', 'name', 'type'][rnd(5)]] = junk[rnd(junk.length)];
      return out;
    };
    let taken = 0;
    for (let i = 0; i < 400; i++) {
      const base = validChat[rnd(validChat.length)];
      for (const [dto, body] of [
        [ChatCompletionDto, mutate(base, 0)],
        [AppendMessagesDto, mutate({ messages: (base as { messages: unknown[] }).messages, max_tokens: 4 }, 0)],
      ] as const) {
        if (HOT_BODY_CHECKS.get(dto)!(JSON.parse(JSON.stringify(body))) !== NOPE) taken++;
        await expectSame(dto, body);
      }
    }
    expect(taken).toBeGreaterThan(50);
  });

  it('custom and string route parameters: the value ValidationPipe returns', async () => {
    const account = { id: 'a1' };
    const params: Array<[unknown, ArgumentMetadata]> = [
      [account, { type: 'custom', metatype: Object, data: undefined }],
      ['key-1', { type: 'custom', metatype: String, data: 'idempotency-key' }],
      [undefined, { type: 'custom', metatype: String, data: 'idempotency-key' }],
      ['sess_1', { type: 'param', metatype: String, data: 'id' }],
      ['7', { type: 'param', metatype: Number, data: 'n' }],
    ];
    for (const [value, m] of params) expect(await fast.transform(value, m)).toBe(await ValidationPipe.prototype.transform.call(slow, value, m));
  });

  it('the DTO rules are the ones the checks were written for (after changing a hot DTO, update hot-body-checks.ts, then this fingerprint)', () => {
    const classes = [ChatCompletionDto, ChatInputMessageDto, InputMessageDto, AppendMessagesDto, ToolCallDto, ToolCallFunctionDto, ToolDto, FunctionDto, StreamOptionsDto];
    const rules = classes.map((c) => [
      c.name,
      getMetadataStorage()
        .getTargetValidationMetadatas(c, '', true, false)
        .map((m) => [m.propertyName, m.type, m.name ?? '', JSON.stringify(m.constraints ?? []), m.each ?? false])
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ]);
    expect(createHash('sha256').update(JSON.stringify(rules)).digest('hex').slice(0, 16)).toBe('b24d3e3833d3ad83');
  });
});
