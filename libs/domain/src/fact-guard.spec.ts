import { guardOutline } from './fact-guard';
import { extractHardFacts, factPresent, type HardFact } from './facts';
import { extractiveOutline, type Outline, renderOutline, trimOutline } from './outline';
import { readOutlineTolerant } from './outline-reader';
import { countChars4, seededRandom } from './testing/conversation-builder';
import { peopleChat } from './testing/people-chat';
import type { StoredMessage } from './types';

const kept = (outline: Outline, facts: readonly HardFact[]): number => {
  const text = renderOutline(outline);
  return facts.filter((f) => factPresent(f, text)).length;
};

// What a model returned for the people chat: the gist, with amounts rounded and most identifiers lost.
const LOSSY: Outline = {
  goal: 'Plan the Acme Corp offsite in Lisbon and fix the billing export',
  decisions: [{ text: 'Lisbon rather than Porto', why: 'cheaper flights' }],
  facts: ['Dates: 14 March 2026 to 17 March 2026', 'Deposit about €1.2k', 'Worker memory ~3.5GB', 'Dinner for 9 people'],
  openItems: ['Ask Tom Becker who presents the roadmap'],
  artifacts: ['src/billing/export.ts'],
};

describe('guardOutline', () => {
  const chat = peopleChat();
  const facts = extractHardFacts(chat);

  it('restores every lost fact as its verbatim sentence, once per sentence, in seq order', () => {
    const { outline, report } = guardOutline(LOSSY, facts, { budgetTokens: 100000, countTokens: countChars4 });
    expect(report.dropped).toEqual([]);
    expect(report.facts_in).toBe(facts.length);
    expect(report.kept_by_model).toBe(kept(LOSSY, facts));
    expect(report.restored).toBe(facts.length - report.kept_by_model);
    expect(kept(outline, facts)).toBe(facts.length);

    const restored = outline.facts.slice(LOSSY.facts.length);
    expect(outline.facts.slice(0, LOSSY.facts.length)).toEqual(LOSSY.facts);
    // The deposit (rounded by the model) comes back with the venue, from one sentence.
    expect(restored).toContain('[seq 7] Maria found a venue: Casa do Rio, and the deposit is €1,200.');
    expect(restored.filter((l) => l.includes('Casa do Rio'))).toHaveLength(1);
    // "3.5GB" was kept by the model in a different spelling, so it is not restored for itself.
    expect(factPresent({ value: '3.5 GB', kind: 'number' }, renderOutline(LOSSY))).toBe(true);
    const seqs = restored.map((l) => Number(/^\[seq (\d+)\] /.exec(l)![1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    for (const line of restored) {
      const [, seq, sentence] = /^\[seq (\d+)\] (.*)$/.exec(line)!;
      expect(chat.find((m) => m.seq === Number(seq))!.content).toContain(sentence);
    }
  });

  it('stays within the budget and names what it could not restore', () => {
    const budgetTokens = 60;
    const { outline, report } = guardOutline(LOSSY, facts, { budgetTokens, countTokens: countChars4 });
    const added = outline.facts.slice(LOSSY.facts.length);
    expect(added.reduce((sum, l) => sum + countChars4(`- ${l}\n`), 0)).toBeLessThanOrEqual(budgetTokens);
    expect(report.dropped.length).toBeGreaterThan(0);
    expect(report.restored + report.dropped.length).toBe(facts.length - report.kept_by_model);
    const text = renderOutline(outline);
    for (const value of report.dropped) expect(factPresent(facts.find((f) => f.value === value)!, text)).toBe(false);
    expect(kept(outline, facts)).toBe(report.kept_by_model + report.restored);
  });

  it('changes nothing when the outline keeps every fact', () => {
    const full = guardOutline(LOSSY, facts, { budgetTokens: 100000, countTokens: countChars4 }).outline;
    const again = guardOutline(full, facts, { budgetTokens: 100000, countTokens: countChars4 });
    expect(again.outline).toBe(full);
    expect(again.report).toEqual({ facts_in: facts.length, kept_by_model: facts.length, restored: 0, dropped: [] });
  });

  it('gets back the facts of a real lossy reply read by the tolerant reader', () => {
    const reply = "Sure! Here's the outline:\n**Goal:** plan the offsite\n**Key facts:**\n• booking ref CDR-8841\n• deposit €1200, due late February";
    const read = readOutlineTolerant(reply).outline!;
    const { outline } = guardOutline(read, facts, { budgetTokens: 100000, countTokens: countChars4 });
    const text = renderOutline(outline);
    for (const value of ['CDR-88412', '2026-02-20', 'Priya Natarajan', 'PO-2026-117']) {
      expect(factPresent(facts.find((f) => f.value === value)!, text)).toBe(true);
    }
  });

  describe('never keeps fewer hard facts than the extractive fallback', () => {
    const PIECES = [
      'Maria Lopez', 'the report', 'ticket ABC-{n}', '{n}.5 GB', 'on 2026-0{d}-1{d}', 'at 1{d}:30', 'retry_limit={n}', 'in Lisbon',
      'src/mod{n}/file.ts', '${n},200', 'v{d}.{d}.{n}', 'we decided to wait', 'because it failed', 'is it done?', 'and then', 'Acme Corp',
    ];
    const generate = (seed: number): StoredMessage[] => {
      const rand = seededRandom(seed);
      const pick = (): string => PIECES[Math.floor(rand() * PIECES.length)].replace(/\{n\}/g, String(1 + Math.floor(rand() * 99))).replace(/\{d\}/g, String(1 + Math.floor(rand() * 8)));
      return Array.from({ length: 8 + Math.floor(rand() * 20) }, (_, i): StoredMessage => ({
        seq: i + 1,
        role: i % 2 ? 'assistant' : 'user',
        content: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => `Then ${Array.from({ length: 2 + Math.floor(rand() * 5) }, pick).join(' ')}.`).join(' '),
        tokens: 10,
        kind: 'message',
      }));
    };
    const lossy = (outline: Outline, seed: number): Outline => {
      const rand = seededRandom(seed * 31);
      return {
        ...outline,
        decisions: outline.decisions.filter(() => rand() < 0.5),
        facts: outline.facts.filter(() => rand() < 0.3).map((f) => f.replace(/\d+\.\d+/g, (n) => String(Math.round(Number(n))))),
        openItems: [],
      };
    };

    it.each(Array.from({ length: 25 }, (_, i) => i + 1))('seed %i', (seed) => {
      const messages = generate(seed);
      const facts = extractHardFacts(messages);
      const extractive = extractiveOutline(messages, { targetTokens: 400, countTokens: countChars4 });
      const budgetTokens = countChars4(extractive.facts.map((f) => `- ${f}\n`).join(''));
      for (const model of [lossy(extractive, seed), { goal: 'something', decisions: [], facts: [], openItems: [], artifacts: [] }]) {
        const guarded = guardOutline(model, facts, { budgetTokens, countTokens: countChars4 });
        expect(kept(guarded.outline, facts)).toBeGreaterThanOrEqual(kept(extractive, facts));
      }
    });
  });
});

describe('trimOutline', () => {
  const verbose: Outline = {
    goal: 'Fix the billing export',
    decisions: Array.from({ length: 30 }, (_, i) => ({ text: `tried variant ${i} of the exporter`, why: `experiment ${i} looked promising` })),
    facts: ['job id 7f3a9c2e41', 'batch_size=500'],
    openItems: Array.from({ length: 20 }, (_, i) => `check question ${i}`),
    artifacts: ['src/billing/export.ts'],
  };

  it('cuts a far-too-long outline to its target: oldest decisions and open items first, heaviest section first, facts and goal kept', () => {
    const trimmed = trimOutline(verbose, 150, countChars4);
    expect(countChars4(renderOutline(trimmed))).toBeLessThanOrEqual(150);
    expect(trimmed.goal).toBe(verbose.goal);
    expect(trimmed.facts).toEqual(verbose.facts);
    expect(trimmed.decisions).toEqual(verbose.decisions.slice(verbose.decisions.length - trimmed.decisions.length));
    expect(trimmed.decisions.length).toBeLessThan(verbose.decisions.length);
  });

  it('leaves an outline under its target alone', () => {
    expect(trimOutline(verbose, 100000, countChars4)).toBe(verbose);
  });

  it('drops facts last: restored lines that repeat model facts first, then the longest facts; never the goal', () => {
    const outline: Outline = {
      goal: 'Fix the billing export',
      decisions: [{ text: 'chunk it', why: 'memory' }],
      facts: [
        'job id 7f3a9c2e41',
        'the worker has 3.5 GB of memory and reads 48,000 rows at once, which is far too many for it',
        'batch_size=500',
        '[seq 3] The job id is 7f3a9c2e41.',
        '[seq 9] The ticket is #4471.',
      ],
      openItems: [],
      artifacts: [],
    };
    const full = countChars4(renderOutline(outline));
    const step1 = trimOutline(outline, full - 12, countChars4);
    expect(step1.decisions).toEqual([]);
    expect(step1.facts).toEqual(outline.facts.filter((f) => f !== '[seq 3] The job id is 7f3a9c2e41.'));
    const step2 = trimOutline(outline, full - 25, countChars4);
    expect(step2.facts).toEqual(['job id 7f3a9c2e41', 'batch_size=500', '[seq 9] The ticket is #4471.']);
    const all = trimOutline(outline, 1, countChars4);
    expect(all.facts).toEqual([]);
    expect(all.goal).toBe(outline.goal);
    expect(trimOutline(outline, full - 25, countChars4)).toEqual(step2);
  });

  it('with keepFacts never drops a fact (the extractive fallback)', () => {
    expect(trimOutline(verbose, 1, countChars4, { keepFacts: true }).facts).toEqual(verbose.facts);
  });
});

describe('restored values survive the next fold', () => {
  it('a value restored without its sentence is still a hard fact when the outline is compressed again', () => {
    const facts = extractHardFacts([{ seq: 8, content: 'FACT-04: the gateway module stores money as "integer cents" from now on, says Maria Lopez in Lisbon.' }]);
    const tight = guardOutline({ goal: 'g', decisions: [], facts: [], openItems: [], artifacts: [] }, facts, { budgetTokens: 12, countTokens: (t: string) => Math.ceil(t.length / 4) });
    const restoredText = tight.outline.facts.join('\n');
    // Folding: the outline's own text is read for hard facts again.
    const again = extractHardFacts([{ seq: 20, content: restoredText }]).map((f) => f.value);
    for (const f of facts) if (restoredText.includes(f.value)) expect(again).toContain(f.value);
  });
});

describe('a tight budget keeps identifiers before timestamps', () => {
  it('restores the incident id of a log chunk before its hundreds of timestamps', () => {
    const lines = Array.from({ length: 200 }, (_, i) => ({ seq: i + 1, content: `2026-03-14 10:${String(i % 60).padStart(2, '0')}:00 INFO request served in ${100 + i} ms` }));
    lines.splice(150, 0, { seq: 1000, content: '2026-03-14 11:00:00 ERROR payments INC-4907 card gateway timeout' });
    const facts = extractHardFacts(lines);
    const g = guardOutline({ goal: 'audit', decisions: [], facts: [], openItems: [], artifacts: [] }, facts, { budgetTokens: 60, countTokens: (t: string) => Math.ceil(t.length / 4) });
    expect(g.outline.facts.join('\n')).toContain('INC-4907');
    expect(g.report.dropped).not.toContain('INC-4907');
    expect(g.report.dropped.length).toBeGreaterThan(0);
  });
});
