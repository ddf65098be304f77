import { earlierOutlinesMode, isInContextCompression, OUTLINE_MESSAGE_PREFIX, readInContextCompression } from './in-context';
import { OUTLINE_MARKER } from './outline';
import { isOutlineRequest, planReply, type ReplyPlan } from './reply';
import { SUMMARIZER_STYLES, writeSummary, type SummarizerStyle } from './summarizer';
import { TokenCounter } from './token-counter';
import type { ChatCompletionRequest, SimMessage, SimTool } from './wire';

const counter = new TokenCounter();
const ctx = { counter, seed: 5, replyTokens: 48 };

const PINNED: SimMessage[] = [
  { role: 'system', content: 'You are a coding assistant. When the user asks for data, answer with a JSON object.' },
  { role: 'system', content: 'Fragment: FACT the pinned deploy key is PIN-999.' },
];
const OUTLINE_1 = '## Goal\nMigrate the billing service to the new queue\n## Facts\n- FACT 0: the build id is BLD-42';
const OUTLINE_2 = '## Goal\nSomething later\n## Decisions\n- Keep the old exporter (why: finance depends on it)\n## Facts\n- FACT 9: the staging port is 6543';
const outlineMessage = (text: string): SimMessage => ({ role: 'system', content: `${OUTLINE_MESSAGE_PREFIX}\n${text}` });
const RANGE: SimMessage[] = [
  { role: 'user', content: 'Move the exporter to the queue. FACT 1: the queue is named billing-q and holds 1,234 rows.' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"src/billing/queue.ts"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: "export const QUEUE = 'billing-q';\nexport const RETRIES = 3;" },
  {
    role: 'assistant',
    content: 'We decided to use Postgres because it is already deployed.',
    tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'search_docs', arguments: '{"q":"retry policy"}' } }],
  },
  { role: 'tool', tool_call_id: 'call_2', content: 'No results.' },
  { role: 'user', content: 'Should we retry failed uploads?' },
];
const TOOLS: SimTool[] = [
  { type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } },
  { type: 'function', function: { name: 'search_docs' } },
];

const instruction = (mode: 'merge' | 'context only' | null, target = 400, format = '# Outline\n## Goal\n## Decisions\n## Facts and identifiers\n## Open items\n## Artifacts') =>
  [`Summarize the conversation above. ${OUTLINE_MARKER}`, format, `Target length: about ${target} tokens`, ...(mode ? [`Earlier outlines: ${mode}`] : [])].join('\n');

const conversation = (outlines: string[] = [OUTLINE_1]): SimMessage[] => [...PINNED, ...outlines.map(outlineMessage), ...RANGE];

const inContextRequest = (over: Partial<ChatCompletionRequest> & { mode?: 'merge' | 'context only' | null; outlines?: string[]; target?: number } = {}): ChatCompletionRequest => {
  const { mode = 'merge', outlines, target, ...rest } = over;
  return {
    model: 'kimi-k2.6',
    tools: TOOLS,
    tool_choice: 'none',
    messages: [...conversation(outlines), { role: 'system', content: instruction(mode, target) }],
    ...rest,
  };
};

const EXPECTED_TRANSCRIPT = [
  '[seq 1] user: Move the exporter to the queue. FACT 1: the queue is named billing-q and holds 1,234 rows.',
  '[seq 2] assistant -> tool read_file({"path":"src/billing/queue.ts"})',
  "[seq 3] tool: export const QUEUE = 'billing-q';\nexport const RETRIES = 3;",
  '[seq 4] assistant: We decided to use Postgres because it is already deployed.',
  '[seq 4] assistant -> tool search_docs({"q":"retry policy"})',
  '[seq 5] tool: No results.',
  '[seq 6] user: Should we retry failed uploads?',
].join('\n');

const text = (plan: ReplyPlan): string => (plan.kind === 'text' ? plan.content : '');

describe('reading an in-context compression request', () => {
  it('skips the pinned system messages, takes outline messages apart and numbers the rest from 1, tool calls included', () => {
    const read = readInContextCompression(inContextRequest().messages)!;
    expect(read.pinnedMessages).toBe(2);
    expect(read.outlineMessages).toBe(1);
    expect(read.earlierOutlines).toBe('merge');
    expect(read.previousOutlines).toEqual([OUTLINE_1]);
    expect(read.instruction).toContain('Target length: about 400 tokens');
    expect(read.transcript.text).toBe(EXPECTED_TRANSCRIPT);
    expect(read.transcript.entries[1]).toEqual({ seq: 2, role: 'assistant', text: '', tool: { name: 'read_file', args: '{"path":"src/billing/queue.ts"}' } });
  });

  it('ignores the outline messages in context only mode, and merges them when the line is absent', () => {
    const contextOnly = readInContextCompression(inContextRequest({ mode: 'context only', outlines: [OUTLINE_1, OUTLINE_2] }).messages)!;
    expect([contextOnly.earlierOutlines, contextOnly.outlineMessages, contextOnly.previousOutlines]).toEqual(['context only', 2, []]);
    expect(contextOnly.transcript.text).toBe(EXPECTED_TRANSCRIPT);
    const unsaid = readInContextCompression(inContextRequest({ mode: null, outlines: [OUTLINE_1, OUTLINE_2] }).messages)!;
    expect([unsaid.earlierOutlines, unsaid.previousOutlines]).toEqual(['merge', [OUTLINE_1, OUTLINE_2]]);
    expect(earlierOutlinesMode('x\nEarlier outlines: Context-only.\n')).toBe('context only');
    expect(earlierOutlinesMode('x\nEarlier outlines: merge')).toBe('merge');
  });

  it('keeps a message whose text looks like a transcript line inside that message', () => {
    const messages: SimMessage[] = [
      ...PINNED,
      { role: 'user', content: 'Check the login.' },
      { role: 'tool', tool_call_id: 'c', content: 'status: ok\nuser: admin\n[seq 9] assistant: not a message' },
      { role: 'system', content: `${OUTLINE_MARKER}\nTarget length: about 100 tokens` },
    ];
    const read = readInContextCompression(messages)!;
    expect(read.transcript.entries).toEqual([
      { seq: 1, role: 'user', text: 'Check the login.' },
      { seq: 2, role: 'tool', text: 'status: ok\nuser: admin\n[seq 9] assistant: not a message' },
    ]);
  });

  it('recognises a trailing system or user instruction, and leaves transcript requests and chat requests alone', () => {
    const base = conversation();
    expect(isInContextCompression([...base, { role: 'system', content: instruction('merge') }])).toBe(true);
    expect(isInContextCompression([...base, { role: 'user', content: instruction('merge') }])).toBe(true);
    expect(isOutlineRequest([...base, { role: 'user', content: instruction('merge') }])).toBe(true);
    // Transcript form: the marker is in the system prompt; a transcript quoting the marker stays a transcript.
    const transcriptForm: SimMessage[] = [
      { role: 'system', content: instruction(null) },
      { role: 'user', content: `Transcript:\n[seq 1] user: what does ${OUTLINE_MARKER} mean?` },
    ];
    expect(isInContextCompression(transcriptForm)).toBe(false);
    expect(readInContextCompression(transcriptForm)).toBeNull();
    expect(isOutlineRequest(transcriptForm)).toBe(true);
    expect(isOutlineRequest(base)).toBe(false);
    expect(isInContextCompression([...base, { role: 'assistant', content: OUTLINE_MARKER }])).toBe(false);
  });
});

describe('answering an in-context compression request', () => {
  it('writes the same outline as the equivalent transcript request, in every style and in JSON mode', () => {
    const read = readInContextCompression(inContextRequest().messages)!;
    for (const style of SUMMARIZER_STYLES) {
      for (const jsonMode of [false, true]) {
        const common = { systemText: read.instruction, jsonMode, maxTokens: 300, style, variantSeed: 11, lossyDropShare: 0.3, counter };
        const inContext = writeSummary({ ...common, userText: '', conversation: { transcript: read.transcript, previousOutlines: read.previousOutlines } });
        const transcript = writeSummary({ ...common, userText: `Previous outline:\n${OUTLINE_1}\n\nTranscript:\n${EXPECTED_TRANSCRIPT}` });
        expect(inContext).toEqual(transcript);
      }
    }
  });

  const families: [SummarizerStyle, (t: string) => void][] = [
    ['exact', (t) => expect(t).toMatch(/^# Outline\n## Goal\n/)],
    ['markdown-loose', (t) => expect(t).toMatch(/^#{1,3} Goal$/m)],
    ['bold', (t) => expect(t).toContain('**Goal:**')],
    ['prose', (t) => expect(t).not.toMatch(/^\s*(#|[-*•] |\*\*)/m)],
    ['json', (t) => expect(typeof (JSON.parse(t.replace(/^```json\n/, '').replace(/\n```$/, '')) as { goal: unknown }).goal).toBe('string')],
    ['verbose', (t) => expect(counter.countText(t)).toBeGreaterThan(300)],
    ['lossy', (t) => expect(t).toMatch(/Goal/)],
  ];

  it.each(families)('answers in the %s style with text, never a tool call, though tools are present', (style, check) => {
    for (const tool_choice of ['none', 'required', undefined] as const) {
      const plan = planReply(inContextRequest({ tool_choice, target: 150 }), { ...ctx, summarizerStyle: style });
      expect(plan.kind).toBe('text');
      expect(plan.summarizerStyle).toBe(style);
      expect(plan.finishReason).toBe('stop');
      check(text(plan));
    }
  });

  it('answers plain JSON in JSON mode, and follows a JSON schema in the instruction but not a pinned prompt that mentions JSON', () => {
    const jsonMode = planReply(inContextRequest({ response_format: { type: 'json_object' } }), { ...ctx, summarizerStyle: 'bold' });
    expect(Object.keys(JSON.parse(text(jsonMode)) as object)).toEqual(['goal', 'decisions', 'facts', 'open_items', 'artifacts']);
    const markdown = planReply(inContextRequest(), { ...ctx, summarizerStyle: 'bold' });
    expect(text(markdown)).toContain('**Goal:**');
    const schema = inContextRequest();
    schema.messages[schema.messages.length - 1] = {
      role: 'system',
      content: instruction('merge', 400, 'Answer with a JSON object matching this JSON schema: {"type":"object","properties":{"goal":{"type":"string"}}}'),
    };
    expect(() => JSON.parse(text(planReply(schema, { ...ctx, summarizerStyle: 'prose' })).replace(/^```json\n/, '').replace(/\n```$/, ''))).not.toThrow();
  });

  it('merges the outline messages in merge mode and leaves them out in context only mode; pinned messages are never summarized', () => {
    const merged = text(planReply(inContextRequest({ outlines: [OUTLINE_1, OUTLINE_2], target: 600 }), { ...ctx, summarizerStyle: 'exact' }));
    expect(merged).toContain('## Goal\nMigrate the billing service to the new queue\n');
    expect(merged).toContain('FACT 0: the build id is BLD-42');
    expect(merged).toContain('FACT 9: the staging port is 6543');
    expect(merged).toContain('- Keep the old exporter (why: finance depends on it)');
    const contextOnly = text(planReply(inContextRequest({ mode: 'context only', outlines: [OUTLINE_1, OUTLINE_2], target: 600 }), { ...ctx, summarizerStyle: 'exact' }));
    expect(contextOnly).not.toContain('BLD-42');
    expect(contextOnly).not.toContain('6543');
    expect(contextOnly).toContain('## Goal\nMove the exporter to the queue. FACT 1: the queue is named billing-q and holds 1,234 rows.\n');
    for (const outline of [merged, contextOnly]) {
      expect(outline).not.toContain('PIN-999');
      expect(outline).not.toContain('coding assistant');
      expect(outline).toContain('FACT 1: the queue is named billing-q and holds 1,234 rows.');
      expect(outline).toContain('- Use Postgres (why: it is already deployed)');
      expect(outline).toContain('- Should we retry failed uploads?');
      expect(outline).toContain('- src/billing/queue.ts');
    }
  });

  it('cuts at max_tokens with finish_reason length (truncated and any other style)', () => {
    const truncated = planReply(inContextRequest({ max_tokens: 60 }), { ...ctx, summarizerStyle: 'truncated' });
    expect([truncated.kind, truncated.finishReason, truncated.completionTokens, truncated.summarizerStyle]).toEqual(['text', 'length', 60, 'truncated']);
    const exact = planReply(inContextRequest({ max_tokens: 30 }), { ...ctx, summarizerStyle: 'exact' });
    expect([exact.finishReason, exact.completionTokens]).toEqual(['length', 30]);
  });

  it('continues from a trailing partial assistant message after the instruction without repeating it', () => {
    const full = text(planReply(inContextRequest(), { ...ctx, summarizerStyle: 'markdown-loose' }));
    const prefix = full.slice(0, 120);
    const base = inContextRequest();
    const rest = planReply({ ...base, messages: [...base.messages, { role: 'assistant', content: prefix, partial: true }] }, { ...ctx, summarizerStyle: 'markdown-loose' });
    expect(rest.kind).toBe('text');
    expect(prefix + text(rest)).toBe(full);
  });

  it('under mix picks the same style and text for the same request, several styles over different requests', () => {
    const first = planReply(inContextRequest(), ctx);
    expect(planReply(inContextRequest(), ctx)).toEqual(first);
    const styles = new Set(Array.from({ length: 40 }, (_, i) => planReply(inContextRequest({ target: 100 + i }), ctx).summarizerStyle));
    expect(styles.size).toBeGreaterThanOrEqual(4);
    expect(styles.has(null)).toBe(false);
  });
});
