import Ajv from 'ajv';
import {
  buildInContextOutlineRequest,
  EARLIER_OUTLINES_CONTEXT,
  EARLIER_OUTLINES_MERGE,
  buildOutlineRequest,
  extractiveOutline,
  type Outline,
  OUTLINE_JSON_SCHEMA,
  OUTLINE_MARKER,
  parseOutline,
  readOutlineRequest,
  renderOutline,
  renderOutlineJson,
  validateOutline,
  withProvenance,
} from './outline';
import { readOutlineTolerant } from './outline-reader';
import { conversation, countChars4 } from './testing/conversation-builder';
import type { StoredMessage } from './types';

const sample: Outline = {
  goal: 'Move billing onto the new ledger',
  decisions: [
    { text: 'Use Postgres for the ledger', why: 'it is already deployed' },
    { text: 'Keep the v1 endpoints', why: 'not stated' },
  ],
  facts: ['ledger id is LED-4471', 'timeout=250ms'],
  openItems: ['migrate invoices'],
  artifacts: ['src/billing/ledger.ts'],
};

const SAMPLE_TEXT = [
  '# Outline',
  '## Goal',
  'Move billing onto the new ledger',
  '## Decisions',
  '- Use Postgres for the ledger (why: it is already deployed)',
  '- Keep the v1 endpoints (why: not stated)',
  '## Facts and identifiers',
  '- ledger id is LED-4471',
  '- timeout=250ms',
  '## Open items',
  '- migrate invoices',
  '## Artifacts',
  '- src/billing/ledger.ts',
].join('\n');

const msg = (seq: number, role: StoredMessage['role'], content: string | null, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  seq, role, content, tokens: 10, kind: 'message', ...extra,
});

describe('outline request', () => {
  const messages = [
    msg(7, 'user', 'Refactor billing.'),
    msg(8, 'assistant', null, { toolCalls: [{ id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{"path":"a.ts"}' } }] }),
    msg(9, 'tool', 'export const a = 1;', { toolCallId: 'c1' }),
  ];

  it('has a fixed system prompt with the marker, the exact format, the rules and the target length', () => {
    const [system] = buildOutlineRequest({ messages, ratio: 4, inputTokens: 1001 });
    expect(system.role).toBe('system');
    expect(system.content).toContain(`\n${OUTLINE_MARKER}\n`);
    expect(system.content).toContain(
      "# Outline\n## Goal\n<one line>\n## Decisions\n- <decision> (why: <reason or 'not stated'>)\n## Facts and identifiers\n- <fact>\n## Open items\n- <item>\n## Artifacts\n- <artifact>",
    );
    expect(system.content).toContain('Keep every fact, identifier, number and file name verbatim.');
    expect(system.content!.endsWith('\nTarget length: about 251 tokens')).toBe(true);
  });

  it('keeps the system prompt identical across transcripts apart from the target line', () => {
    const a = buildOutlineRequest({ messages, ratio: 4, inputTokens: 4000 })[0].content;
    const b = buildOutlineRequest({ messages: messages.slice(0, 1), ratio: 4, inputTokens: 4000, previousOutline: sample })[0].content;
    expect(a).toBe(b);
  });

  it('renders one transcript line per message and one per tool call', () => {
    const [, user] = buildOutlineRequest({ messages, ratio: 4, inputTokens: 100 });
    expect(user).toEqual({
      role: 'user',
      content: 'Transcript:\n[seq 7] user: Refactor billing.\n[seq 8] assistant -> tool read_file({"path":"a.ts"})\n[seq 9] tool: export const a = 1;',
    });
  });

  it('is read back by the simulated upstream: target, previous outline and messages', () => {
    const request = buildOutlineRequest({ messages, ratio: 2, inputTokens: 100, previousOutline: sample });
    const reading = readOutlineRequest(request);
    expect(reading?.targetTokens).toBe(50);
    expect(reading?.previousOutline).toBe(SAMPLE_TEXT);
    expect(reading?.messages.map((m) => [m.seq, m.role, m.content, m.toolCalls?.[0]?.function.name ?? null])).toEqual([
      [7, 'user', 'Refactor billing.', null],
      [8, 'assistant', null, 'read_file'],
      [9, 'tool', 'export const a = 1;', null],
    ]);
    expect(readOutlineRequest([{ role: 'user', content: 'hello' }])).toBeNull();
  });
});

describe('outline format', () => {
  it('renders the canonical text: five sections in order', () => {
    expect(renderOutline(sample)).toBe(SAMPLE_TEXT);
  });

  it.each<{ case: string; outline: Outline }>([
    { case: 'a full outline', outline: sample },
    { case: 'empty lists (rendered as "- none")', outline: { goal: 'g', decisions: [], facts: [], openItems: [], artifacts: [] } },
    {
      case: 'an outline with sources',
      outline: { ...sample, provenance: [{ sessionId: 'sess_1', snapshotId: 'snap_9', fromSeq: 1, toSeq: 40 }, { sessionId: 'sess_2', snapshotId: null, fromSeq: 3, toSeq: 8 }] },
    },
  ])('parse(render(x)) round-trips $case', ({ outline }) => {
    expect(parseOutline(renderOutline(outline))).toEqual(outline);
  });

  it('tolerates CRLF line ends, trailing whitespace and a wrapping code fence', () => {
    const noisy = '```markdown\r\n' + SAMPLE_TEXT.split('\n').map((l) => `${l}  `).join('\r\n') + '\r\n```\r\n';
    expect(parseOutline(noisy)).toEqual(sample);
  });

  it('reads a decision without a why as (why: not stated)', () => {
    const text = SAMPLE_TEXT.replace('- Keep the v1 endpoints (why: not stated)', '- Keep the v1 endpoints');
    expect(parseOutline(text)?.decisions[1]).toEqual({ text: 'Keep the v1 endpoints', why: 'not stated' });
  });

  const without = (section: string) => SAMPLE_TEXT.replace(new RegExp(`## ${section}\\n(- [^\\n]*\\n?)+`), '');
  it.each([
    { case: 'a missing section', text: without('Open items'), reason: 'missing section "## Open items"' },
    { case: 'sections out of order', text: SAMPLE_TEXT.replace('## Decisions', '## TEMP').replace('## Facts and identifiers', '## Decisions').replace('## TEMP', '## Facts and identifiers'), reason: 'out of order' },
    { case: 'an unknown section', text: `${SAMPLE_TEXT}\n## Notes\n- x`, reason: 'unknown section "## Notes"' },
    { case: 'a duplicated section', text: `${SAMPLE_TEXT}\n## Artifacts\n- b.ts`, reason: 'appears 2 times' },
    { case: 'prose before the outline', text: `Here is the outline:\n${SAMPLE_TEXT}`, reason: 'the first line must be "# Outline"' },
    { case: 'an empty goal', text: SAMPLE_TEXT.replace('Move billing onto the new ledger\n', ''), reason: 'section "## Goal" is empty' },
    { case: 'a two-line goal', text: SAMPLE_TEXT.replace('new ledger\n', 'new ledger\nand more\n'), reason: 'must be one line' },
    { case: 'an empty list section', text: SAMPLE_TEXT.replace('- migrate invoices\n', ''), reason: 'section "## Open items" is empty (write "- none")' },
    { case: 'a line that is not a list item', text: SAMPLE_TEXT.replace('- migrate invoices', 'migrate invoices'), reason: 'not a "- " list item' },
    { case: '"- none" mixed with items', text: SAMPLE_TEXT.replace('- migrate invoices', '- none\n- migrate invoices'), reason: 'mixed with items' },
    { case: 'an unreadable source', text: `${SAMPLE_TEXT}\n## Sources\n- child one`, reason: 'unreadable source' },
    { case: 'an empty text', text: ' \n ', reason: 'the outline is empty' },
  ])('rejects $case with a reason', ({ text, reason }) => {
    expect(parseOutline(text)).toBeNull();
    expect(validateOutline(text).join('\n')).toContain(reason);
  });

  it('reports no problems for a valid outline', () => {
    expect(validateOutline(SAMPLE_TEXT)).toEqual([]);
  });
});

describe('extractive fallback outline', () => {
  const planted = [
    'FACT: the deploy window opens at 02:00 UTC.',
    'The failing invoice is INV-20931.',
    'Set retry_limit=7 for the importer.',
    'max_connections: 240',
    'The p99 latency was 340 ms after the change.',
    'Disk usage reached 93% on db-2.',
  ];
  const chatter = Array.from({ length: 40 }, (_, i) => `We decided to try approach ${i} because option ${i} looked simpler. Should we also check case ${i}?`);
  const messages = [
    msg(1, 'user', 'Audit the importer logs and find the cause of the failed invoices. Report back.'),
    ...planted.map((fact, i) => msg(2 + i, i % 2 ? 'tool' : 'assistant', `Looking at importer.log now.\n${fact}\nNothing else here.`)),
    ...chatter.map((text, i) => msg(20 + i, 'assistant', text)),
  ];

  it.each([{ targetTokens: 5000 }, { targetTokens: 200 }, { targetTokens: 1 }])(
    'keeps every planted fact verbatim, even with a target of $targetTokens tokens',
    ({ targetTokens }) => {
      const outline = extractiveOutline(messages, { targetTokens, countTokens: countChars4 });
      for (const fact of planted) expect(outline.facts).toContain(fact);
    },
  );

  it('takes the goal from the first user message, decisions with why, open items and file names', () => {
    const outline = extractiveOutline(messages, { targetTokens: 100000, countTokens: countChars4 });
    expect(outline.goal).toBe('Audit the importer logs and find the cause of the failed invoices.');
    expect(outline.decisions[0]).toEqual({ text: 'We decided to try approach 0', why: 'option 0 looked simpler' });
    expect(outline.openItems[0]).toBe('Should we also check case 0?');
    expect(outline.artifacts).toEqual(['importer.log']);
  });

  it('reads facts from tool call arguments too', () => {
    const toolUse = conversation().user(10, 'Deploy it.').toolCalls(10).build();
    toolUse[1].toolCalls![0].function.arguments = '{"region":"eu-west-1","replicas":3}';
    expect(extractiveOutline(toolUse, { targetTokens: 1000, countTokens: countChars4 }).facts).toEqual(['read_file({"region":"eu-west-1","replicas":3})']);
  });

  it('trims decisions and open items (oldest first) toward the target, and renders a valid outline', () => {
    const full = extractiveOutline(messages, { targetTokens: 100000, countTokens: countChars4 });
    const trimmed = extractiveOutline(messages, { targetTokens: 600, countTokens: countChars4 });
    expect(trimmed.decisions.length).toBeLessThan(full.decisions.length);
    expect(trimmed.decisions.at(-1)).toEqual(full.decisions.at(-1));
    expect(countChars4(renderOutline(trimmed))).toBeLessThanOrEqual(600);
    expect(validateOutline(renderOutline(trimmed))).toEqual([]);
  });

  it('is deterministic', () => {
    const a = renderOutline(extractiveOutline(messages, { targetTokens: 700, countTokens: countChars4 }));
    expect(renderOutline(extractiveOutline(messages, { targetTokens: 700, countTokens: countChars4 }))).toBe(a);
  });
});

describe('outline provenance (coordinator)', () => {
  it('renders every source as a trailing Sources section that parses back', () => {
    const outline = withProvenance(
      withProvenance(
        { goal: 'Review module A', decisions: [{ text: 'Rename Foo', why: 'clarity' }], facts: ['owner=alice'], openItems: [], artifacts: ['a.ts'] },
        { sessionId: 'child_a', snapshotId: 'snap_a', fromSeq: 1, toSeq: 30 },
      ),
      { sessionId: 'child_b', snapshotId: null, fromSeq: 5, toSeq: 12 },
    );
    const text = renderOutline(outline);
    expect(text.endsWith('## Sources\n- session=child_a snapshot=snap_a seqs=1-30\n- session=child_b snapshot=none seqs=5-12')).toBe(true);
    expect(parseOutline(text)).toEqual(outline);
  });
});

describe('outline request, JSON format', () => {
  const messages = [msg(7, 'user', 'Refactor billing.'), msg(8, 'assistant', 'Done, see LED-4471.')];

  it('keeps the markdown prompt byte for byte by default', () => {
    const expected = [
      'You compress a conversation transcript into a structured outline.',
      'OUTLINE_FORMAT v1',
      'Answer with exactly this format and nothing else:',
      "# Outline\n## Goal\n<one line>\n## Decisions\n- <decision> (why: <reason or 'not stated'>)\n## Facts and identifiers\n- <fact>\n## Open items\n- <item>\n## Artifacts\n- <artifact>",
      'Rules:',
      '- Write all five ## sections, in this order. A list section with nothing to list holds "- none".',
      '- Keep every fact, identifier, number and file name verbatim.',
      "- Keep every decision with why it was taken; write (why: not stated) when the transcript does not say.",
      '- One item per line. No prose, no code fences, nothing outside the format.',
      '- When a previous outline is given, merge it in and keep all of its items.',
      'Target length: about 25 tokens',
    ].join('\n');
    expect(buildOutlineRequest({ messages, ratio: 4, inputTokens: 100 })[0].content).toBe(expected);
    expect(buildOutlineRequest({ messages, ratio: 4, inputTokens: 100, format: 'markdown' })).toEqual(buildOutlineRequest({ messages, ratio: 4, inputTokens: 100 }));
  });

  it('asks for one JSON object following the printed schema, with the marker, the rules and the target as last line', () => {
    const [system, user] = buildOutlineRequest({ messages, ratio: 4, inputTokens: 100, format: 'json' });
    expect(system.content).toContain(`\n${OUTLINE_MARKER}\n`);
    expect(system.content).toContain(JSON.stringify(OUTLINE_JSON_SCHEMA));
    expect(system.content).toContain('single JSON object');
    expect(system.content).toContain('Keep every fact, identifier, number, date, name and file path verbatim.');
    expect(system.content!.endsWith('\nTarget length: about 25 tokens')).toBe(true);
    expect(user.content).toBe('Transcript:\n[seq 7] user: Refactor billing.\n[seq 8] assistant: Done, see LED-4471.');
    const b = buildOutlineRequest({ messages: messages.slice(0, 1), ratio: 4, inputTokens: 100, format: 'json', previousOutline: sample })[0].content;
    expect(b).toBe(system.content);
  });

  it('is read back in both forms: format, target, previous outline and transcript', () => {
    const json = readOutlineRequest(buildOutlineRequest({ messages, ratio: 2, inputTokens: 100, format: 'json', previousOutline: sample }));
    expect(json).toMatchObject({ format: 'json', targetTokens: 50 });
    expect(JSON.parse(json!.previousOutline!)).toMatchObject({ goal: sample.goal, facts: sample.facts, open_items: sample.openItems });
    expect(json!.messages.map((m) => [m.seq, m.content])).toEqual([[7, 'Refactor billing.'], [8, 'Done, see LED-4471.']]);
    expect(readOutlineRequest(buildOutlineRequest({ messages, ratio: 2, inputTokens: 100 }))).toMatchObject({ format: 'markdown', targetTokens: 50 });
  });

  it('the schema validates a rendered JSON outline, and the tolerant reader reads it back', () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(OUTLINE_JSON_SCHEMA);
    const text = renderOutlineJson(withProvenance(sample, { sessionId: 's1', snapshotId: null, fromSeq: 1, toSeq: 9 }));
    expect(validate(JSON.parse(text))).toBe(true);
    expect(readOutlineTolerant(text)).toMatchObject({ form: 'json', problems: [], outline: withProvenance(sample, { sessionId: 's1', snapshotId: null, fromSeq: 1, toSeq: 9 }) });
  });
});

describe('in-context outline request', () => {
  const conversation = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'system' as const, content: '[outline of earlier conversation]\n# Outline' },
    { role: 'user' as const, content: 'FACT-1: the code is Z1.' },
    { role: 'assistant' as const, content: 'Noted.' },
  ];

  it('keeps the conversation as the chat turns sent it (the cached prefix) and adds one trailing instruction', () => {
    const req = buildInContextOutlineRequest({ conversation, ratio: 4, inputTokens: 400, mergeOutlines: false });
    expect(req.slice(0, conversation.length)).toEqual(conversation);
    expect(req).toHaveLength(conversation.length + 1);
    const last = req[req.length - 1];
    expect(last.role).toBe('system');
    expect(last.content).toContain(OUTLINE_MARKER);
    expect(last.content).toMatch(/^Target length: about 100 tokens$/m);
    expect(last.content!.split('\n')).toContain(EARLIER_OUTLINES_CONTEXT);
  });

  it('says whether earlier outlines are merged (a fold) or context only, and asks for JSON in JSON mode', () => {
    const req = buildInContextOutlineRequest({ conversation, ratio: 4, inputTokens: 400, mergeOutlines: true, format: 'json' });
    const last = req[req.length - 1].content!;
    expect(last.split('\n')).toContain(EARLIER_OUTLINES_MERGE);
    expect(last).toContain('JSON Schema');
  });
});
