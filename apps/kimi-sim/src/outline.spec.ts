import { gatherMaterial, outlineTargetTokens, paraphrase, parseTranscript, readPreviousOutline, selectContent, splitCompressionInput, systemAsksForJson } from './outline';

describe('reading a compression request', () => {
  it('reads the target length and whether the system prompt asks for JSON', () => {
    expect(outlineTargetTokens('OUTLINE_FORMAT v1. Target length: about 512 tokens.')).toBe(512);
    expect(outlineTargetTokens('OUTLINE_FORMAT v1.')).toBeNull();
    expect(systemAsksForJson('OUTLINE_FORMAT v1\nAnswer with a JSON object matching this JSON schema: {"type": "object"}')).toBe(true);
    expect(systemAsksForJson('OUTLINE_FORMAT v1\n# Outline\n## Goal')).toBe(false);
  });

  it('splits the previous outline from the transcript', () => {
    const input = 'Previous outline:\n# Outline\n## Goal\nShip it\n\nTranscript:\n[seq 5] user: hi there';
    expect(splitCompressionInput(input)).toEqual({ previousOutline: '# Outline\n## Goal\nShip it', transcript: '[seq 5] user: hi there' });
    expect(splitCompressionInput('[seq 1] user: x')).toEqual({ previousOutline: null, transcript: '[seq 1] user: x' });
  });

  it('parses message lines, continuation lines and tool-call lines', () => {
    const entries = parseTranscript('[seq 1] user: first line\nsecond line\n[seq 2] assistant -> tool read_file({"path":"a/b.ts"})\n[seq 3] tool: ok');
    expect(entries).toEqual([
      { seq: 1, role: 'user', text: 'first line\nsecond line' },
      { seq: 2, role: 'assistant', text: '', tool: { name: 'read_file', args: '{"path":"a/b.ts"}' } },
      { seq: 3, role: 'tool', text: 'ok' },
    ]);
  });

  it('reads a previous outline written in any of the styles', () => {
    const md = readPreviousOutline('## Goal\nShip the importer\n## Key decisions\n* Use JSON (reason: simpler)\n## Key facts\n* Port 6543\n## Files\n* src/a.ts');
    expect(md.goal).toBe('Ship the importer');
    expect(md.items).toEqual([
      { kind: 'decision', text: 'Use JSON', why: 'simpler' },
      { kind: 'fact', text: 'Port 6543', why: null },
    ]);
    expect(md.artifacts).toEqual(['src/a.ts']);
    const json = readPreviousOutline('```json\n{"goal":"G","decisions":[{"decision":"D","why":"W"}],"key_facts":["F"],"next_steps":["N"],"files":["x.ts"]}\n```');
    expect(json).toEqual({
      goal: 'G',
      items: [
        { kind: 'decision', text: 'D', why: 'W' },
        { kind: 'fact', text: 'F', why: null },
        { kind: 'open', text: 'N', why: null },
      ],
      artifacts: ['x.ts'],
    });
  });
});

describe('choosing what to keep', () => {
  const transcript = [
    '[seq 1] user: Ship the importer. We decided to drop CSV support because nobody uses it.',
    '[seq 2] assistant: Okay, so basically we will keep src/import/json.ts as the entry point.',
    '[seq 3] user: TODO add tests for parser.py',
    '[seq 4] assistant: The staging database listens on port 6543 and holds 3.47 GB.',
    '[seq 5] user: Do we need a retry policy?',
    ...Array.from({ length: 20 }, (_, i) => `[seq ${i + 6}] assistant: This is filler sentence number ${i} about nothing in particular.`),
  ].join('\n');

  it('classifies facts (verbatim), decisions with their reason, open items and artifacts', () => {
    const c = selectContent(gatherMaterial(transcript, null), 10_000);
    expect(c.goal).toBe('Ship the importer. We decided to drop CSV support because nobody uses it.');
    expect(c.facts).toEqual(['The staging database listens on port 6543 and holds 3.47 GB.']);
    expect(c.decisions).toEqual([
      { text: 'Drop CSV support', why: 'nobody uses it' },
      { text: 'Keep src/import/json.ts as the entry point', why: null },
    ]);
    expect(c.openItems).toEqual(['TODO add tests for parser.py.', 'Do we need a retry policy?']);
    expect(c.artifacts).toEqual(['src/import/json.ts', 'parser.py']);
  });

  it('keeps the most salient items first when the budget is small: facts and decisions before boilerplate', () => {
    const small = selectContent(gatherMaterial(transcript, null), 60);
    expect(small.facts).toHaveLength(1);
    expect(small.context).toEqual([]);
    const large = selectContent(gatherMaterial(transcript, null), 10_000);
    expect(large.context.length).toBeGreaterThan(0);
  });

  it('keeps items of a previous outline ahead of new material', () => {
    const c = selectContent(gatherMaterial(transcript, '## Goal\nOld goal\n## Facts\n- FACT 0: the build id is BLD-42'), 80);
    expect(c.goal).toBe('Old goal');
    expect(c.facts[0]).toBe('FACT 0: the build id is BLD-42');
  });

  it('paraphrases lightly: fillers out, long sentences cut at a clause', () => {
    expect(paraphrase('Okay, so basically we really just need the exporter')).toBe('We need the exporter.');
    const long = `${'word '.repeat(20)}clause, ${'more '.repeat(20)}end`;
    expect(paraphrase(long).split(' ').length).toBeLessThanOrEqual(28);
  });
});
