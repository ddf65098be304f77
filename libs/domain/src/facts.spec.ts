import { extractHardFacts, factPresent, type HardFact } from './facts';
import { peopleChat, PLANTED_FACTS } from './testing/people-chat';
import { seededRandom } from './testing/conversation-builder';

const one = (content: string): HardFact[] => extractHardFacts([{ seq: 1, content }]);
const values = (content: string): string[] => one(content).map((f) => f.value);
const kinds = (content: string): string[] => one(content).map((f) => `${f.kind}:${f.value}`);

describe('extractHardFacts', () => {
  it('finds every planted fact of a long multi-session chat between people, with its kind, seq and sentence', () => {
    const chat = peopleChat();
    const facts = extractHardFacts(chat);
    for (const planted of PLANTED_FACTS) {
      const fact = facts.find((f) => f.value === planted.value);
      expect({ planted: planted.value, kind: fact?.kind }).toEqual({ planted: planted.value, kind: planted.kind });
      const message = chat.find((m) => m.seq === fact!.seq)!;
      expect(message.content).toContain(fact!.sentence.replace(/\s+/g, ' '));
      expect(fact!.sentence).toContain(fact!.value);
    }
  });

  it('finds two-character codes (a capital and a digit) such as Z7 or Q3', () => {
    const values = extractHardFacts([{ seq: 4, content: 'FACT-7: the code for item 7 is Z7. Revenue is due in Q3.' }]).map((f) => f.value);
    expect(values).toEqual(expect.arrayContaining(['FACT-7', 'Z7', 'Q3']));
  });

  it('keeps the first seq of a fact stated several times', () => {
    const facts = extractHardFacts(peopleChat());
    expect(facts.filter((f) => f.value === 'CDR-88412')).toHaveLength(1);
    expect(facts.find((f) => f.value === 'CDR-88412')?.seq).toBe(9);
    expect(facts.find((f) => f.value === 'Lisbon')?.seq).toBe(3);
    // "3.5 GB" and "3.5GB" are the same fact.
    expect(extractHardFacts([{ seq: 1, content: 'It has 3.5 GB.' }, { seq: 2, content: 'Still 3.5GB here.' }]).map((f) => [f.seq, f.value])).toEqual([[1, '3.5 GB']]);
  });

  it.each([
    ['Ticket ABC-123 and #1234 are linked to commit a1b2c3d and 123e4567-e89b-12d3-a456-426614174000.', ['identifier:ABC-123', 'identifier:#1234', 'identifier:a1b2c3d', 'identifier:123e4567-e89b-12d3-a456-426614174000']],
    ['The image is 3.5 GB, the call took 250 ms, CPU was at 42% and it cost $1,200.', ['number:3.5 GB', 'number:250 ms', 'number:42%', 'number:$1,200']],
    ['We meet on 2026-03-14, or 14 March 2026, or March 14, or 3/14/2026, or Saturday, 14 March.', ['date:2026-03-14', 'date:14 March 2026', 'date:March 14', 'date:3/14/2026', 'date:Saturday, 14 March']],
    ['The standup is at 14:30 and the review at 2:30 pm.', ['time:14:30', 'time:2:30 pm']],
    ['See https://example.com/a/b?x=1 and write to ops@example.com.', ['url:https://example.com/a/b?x=1', 'email:ops@example.com']],
    ['Edit src/app/main.ts and /etc/nginx/nginx.conf today.', ['path:src/app/main.ts', 'path:/etc/nginx/nginx.conf']],
    ['Set retries=5 and mode="fast start" before you run it.', ['key_value:retries=5', 'key_value:mode="fast start"', 'quoted:fast start']],
    ['Call parseOutline() then Foo.bar() and check max_tokens in buildRequest.', ['code:parseOutline()', 'code:Foo.bar()', 'code:max_tokens', 'code:buildRequest']],
    ['We shipped v1.2.3 and then 2.0.1 to the fleet.', ['version:v1.2.3', 'version:2.0.1']],
    ['He said "the cache is cold" and `npm ci` fixed it.', ['quoted:the cache is cold', 'quoted:npm ci']],
  ])('%s', (text, expected) => {
    expect(kinds(text)).toEqual(expect.arrayContaining(expected));
  });

  it('finds names of people, places and organisations, but not sentence openers, function words or weekdays', () => {
    const facts = values('Yesterday I talked to Maria Lopez from Acme Corp in Lisbon. The meeting is on Monday. I think it went well.');
    expect(facts).toEqual(expect.arrayContaining(['Maria Lopez', 'Acme Corp', 'Lisbon']));
    for (const word of ['Yesterday', 'I', 'The', 'Monday']) expect(facts).not.toContain(word);
  });

  it('counts a capitalized sentence opener as a name only when it is a name elsewhere', () => {
    expect(values('Porto is lovely.')).not.toContain('Porto');
    expect(extractHardFacts([{ seq: 1, content: 'Porto is lovely.' }, { seq: 2, content: 'We flew to Porto.' }]).find((f) => f.value === 'Porto')?.seq).toBe(1);
  });

  it('ignores bare small numbers and plain words', () => {
    expect(one('We looked at 2 options and picked the second one because it was simpler.')).toEqual([]);
  });

  it('reads tool call arguments', () => {
    const facts = extractHardFacts([
      { seq: 4, content: null, toolCalls: [{ id: 'c', type: 'function', function: { name: 'deploy', arguments: '{"region":"eu-west-1","replicas":3}' } }] },
    ]);
    expect(facts.map((f) => f.value)).toEqual(expect.arrayContaining(['region=eu-west-1', 'replicas=3']));
    expect(facts.every((f) => f.seq === 4)).toBe(true);
  });

  it('every fact is present in its own sentence (random texts)', () => {
    const rand = seededRandom(7);
    const words = ['Maria Lopez', 'the', 'ABC-12', '3.5 GB', 'on 2026-01-02', 'at 9:15 am', 'x=1', 'in Lisbon', 'src/a/b.ts', '$1,000', 'v2.3.4', '"quoted text"', 'fooBar()', 'and', 'deadbeef42', 'ran', '48,000 rows', 'Friday, March 6'];
    const messages = Array.from({ length: 60 }, (_, i) => ({
      seq: i + 1,
      content: Array.from({ length: 12 }, () => words[Math.floor(rand() * words.length)]).join(' ') + '.',
    }));
    const facts = extractHardFacts(messages);
    expect(facts.length).toBeGreaterThan(10);
    for (const f of facts) expect({ value: f.value, present: factPresent(f, f.sentence) }).toEqual({ value: f.value, present: true });
  });

  // Speed lives in benchmarks; here: adversarial runs (which backtracking patterns choke on) still end, with sane results.
  it('handles long adversarial input', () => {
    const long = ['a'.repeat(50000), '1,'.repeat(20000), '/a'.repeat(20000), 'Aa '.repeat(20000), '"'.repeat(20000), 'a.'.repeat(20000) + '@'].join('\n');
    const facts = extractHardFacts([{ seq: 1, content: long }]);
    for (const f of facts) expect(f.value.length).toBeLessThanOrEqual(long.length);
  });
});

describe('factPresent', () => {
  const fact = (value: string, kind: HardFact['kind']): HardFact => ({ value, kind, seq: 1, sentence: value });

  it.each([
    ['3.5 GB', 'number', 'memory: 3.5GB', true],
    ['3.5GB', 'number', 'memory: 3.5 GB', true],
    ['$1,200', 'number', 'deposit $1200', true],
    ['48,000 rows', 'number', 'reads 48000 rows', true],
    ['3.47 GB', 'number', 'about 3.5 GB', false],
    ['3.5 GB', 'number', 'about 13.5 GB', false],
    ['ABC-12', 'identifier', 'ticket ABC-123', false],
    ['ABC-123', 'identifier', 'ticket **ABC-123**', true],
    ['Maria Lopez', 'name', 'maria  lopez booked it', true],
    ['Maria Lopez', 'name', "Maria Lopez's booking", true],
    ['Lisbon', 'name', 'Lisboa', false],
    ['exportRows()', 'code', 'exportrows()', false],
    ['batch_size=500', 'key_value', 'batch_size: 500', true],
    ['batch_size=500', 'key_value', 'batch size 500', false],
    ['2:30 pm', 'time', 'at 2:30 PM', true],
    ['14 March 2026', 'date', '14 March, 2026', false],
    ['src/billing/export.ts', 'path', 'in `src/billing/export.ts`', true],
  ] as const)('%s (%s) in "%s": %s', (value, kind, text, expected) => {
    expect(factPresent(fact(value, kind), text)).toBe(expected);
  });
});
