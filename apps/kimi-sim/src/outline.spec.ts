import { buildOutline, extractOutline, OUTLINE_SECTIONS, outlineTargetTokens } from './outline';
import { TokenCounter } from './token-counter';

const counter = new TokenCounter();

describe('outline mode', () => {
  it('renders the five sections in order with - none for empty ones', () => {
    const outline = buildOutline('[seq 1] user: Just say hello.', null, counter);
    expect(outline).toBe(
      ['# Outline', '## Goal', 'Just say hello.', '## Decisions', '- none', '## Facts and identifiers', '- none', '## Open items', '- none', '## Artifacts', '- none'].join('\n'),
    );
    expect(outline.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3))).toEqual([...OUTLINE_SECTIONS]);
  });

  it.each([
    ['a planted FACT marker', 'FACT 7: the cat is named Biscuit.'],
    ['a lower-case fact marker', 'one fact to keep: blue wins'],
    ['an identifier', 'The bug is tracked as PAY-1234 in the tracker'],
    ['a key=value pair', 'Set retries=5 for the exporter'],
    ['a key: value pair', 'Region: eu-west-3'],
    ['a number with a unit', 'The timeout should be 250 ms at most'],
    ['a version', 'We run on Node 20.11.1 in production'],
  ])('keeps a sentence with %s verbatim as a fact', (_kind, sentence) => {
    const content = extractOutline(`[seq 1] user: Start here.\n[seq 2] assistant: ${sentence}`);
    expect(content.facts).toEqual([sentence]);
  });

  it('keeps a multi-sentence FACT line whole', () => {
    const line = 'FACT 9: deploys happen at 17:00 UTC. Never on Fridays.';
    expect(extractOutline(`[seq 4] user: ${line}`).facts).toEqual([line]);
  });

  it('does not mistake words that merely contain "fact" for facts', () => {
    expect(extractOutline('[seq 1] user: The artifact factory is noisy.').facts).toEqual([]);
  });

  it('classifies decisions with their reason, open items and artifacts, deduplicated', () => {
    const transcript = [
      '[seq 1] user: Ship the importer. We decided to drop CSV support because nobody uses it.',
      '[seq 2] assistant: We will keep src/import/json.ts as the entry point.',
      '[seq 3] user: TODO add tests for parser.py',
      '[seq 4] assistant: Do we need a retry policy?',
      '[seq 5] user: Do we need a retry policy?',
    ].join('\n');
    const c = extractOutline(transcript);

    expect(c.goal).toBe('Ship the importer.');
    expect(c.decisions).toEqual([
      'We decided to drop CSV support because nobody uses it. (why: nobody uses it)',
      'We will keep src/import/json.ts as the entry point. (why: not stated)',
    ]);
    expect(c.openItems).toEqual(['TODO add tests for parser.py', 'Do we need a retry policy?']);
    expect(c.artifacts).toEqual(['src/import/json.ts', 'parser.py']);
  });

  it('reads the target length from the system prompt', () => {
    expect(outlineTargetTokens('OUTLINE_FORMAT v1. Target length: about 512 tokens.')).toBe(512);
    expect(outlineTargetTokens('OUTLINE_FORMAT v1.')).toBeNull();
  });

  it('trims decisions, open items and artifacts toward the target but never drops a fact', () => {
    const lines = ['[seq 1] user: Plan the migration.'];
    for (let i = 0; i < 40; i++) {
      lines.push(`[seq ${i + 2}] assistant: FACT ${i}: shard ${i} lives on host db${i}.internal.`);
      lines.push(`[seq ${i + 100}] assistant: We decided to move table t${i} first because it is small.`);
      lines.push(`[seq ${i + 200}] user: What about index ix_${i}?`);
      lines.push(`[seq ${i + 300}] user: See migrations/m${i}.sql for it.`);
    }
    const transcript = lines.join('\n');
    const full = buildOutline(transcript, null, counter);
    const trimmed = buildOutline(transcript, 900, counter);

    expect(counter.countText(trimmed)).toBeLessThan(counter.countText(full));
    for (let i = 0; i < 40; i++) expect(trimmed).toContain(`FACT ${i}: shard ${i} lives on host db${i}.internal.`);
    expect(counter.countText(trimmed)).toBeLessThanOrEqual(1000);
  });
});
