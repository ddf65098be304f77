import { DomainError } from './errors';
import { splitPerInput, splitSubtasks, splitTask, splitTokenChunks, type TokenChunk } from './split';
import { countChars4 } from './testing/conversation-builder';

/** 4 chars = 1 token with countChars4: a line of `n` tokens is 4n-1 chars plus its newline. */
const line = (i: number, tokens = 10) => `${`line ${i} `.padEnd(tokens * 4 - 1, 'x')}\n`;
const lines = (count: number, tokens = 10) => Array.from({ length: count }, (_, i) => line(i + 1, tokens)).join('');

describe('task split strategies', () => {
  it('per_input gives one unit per input with a stable index', () => {
    expect(splitPerInput([{ title: 'a.ts', content: 'A' }, { title: 'b.ts', content: 'B' }])).toEqual([
      { index: 0, title: 'a.ts', content: 'A' },
      { index: 1, title: 'b.ts', content: 'B' },
    ]);
  });

  it('subtasks become units in the given order', () => {
    expect(splitSubtasks([{ title: 'tests', prompt: 'write tests' }, { title: 'docs', prompt: 'write docs' }]).map((u) => [u.index, u.title, u.content])).toEqual([
      [0, 'tests', 'write tests'],
      [1, 'docs', 'write docs'],
    ]);
  });

  it.each([
    { case: 'no inputs', act: () => splitPerInput([]), param: 'inputs' },
    { case: 'no subtasks', act: () => splitSubtasks([]), param: 'subtasks' },
    { case: 'a chunk size below 256 tokens', act: () => splitTokenChunks('text', { chunkTokens: 100, countTokens: countChars4 }), param: 'split.chunk_tokens' },
    { case: 'both subtasks and inputs', act: () => splitTask({ subtasks: [{ title: 't', prompt: 'p' }], inputs: [{ title: 'i', content: 'c' }] }, countChars4), param: 'inputs' },
  ])('rejects $case with invalid_request', ({ act, param }) => {
    expect(act).toThrow(DomainError);
    expect(act).toThrow(expect.objectContaining({ code: 'invalid_request', param }));
  });
});

describe('token chunks', () => {
  const joinByInput = (chunks: TokenChunk[], inputIndex: number) => chunks.filter((c) => c.inputIndex === inputIndex).map((c) => c.content).join('');

  it.each([
    { case: 'many short lines', text: lines(200) },
    { case: 'lines without a final newline', text: lines(61).slice(0, -1) },
    { case: 'CRLF line ends and blank lines', text: lines(80).replace(/\n/g, '\r\n') + '\r\n\r\nend' },
    { case: 'one line longer than a chunk', text: `${lines(5)}${'y'.repeat(5000)}\n${lines(5)}` },
    { case: 'text that fits one chunk', text: lines(3) },
    { case: 'an empty text', text: '' },
  ])('cover the input exactly once, in order: $case', ({ text }) => {
    const chunks = splitTokenChunks(text, { chunkTokens: 256, countTokens: countChars4 });
    expect(chunks.map((c) => c.content).join('')).toBe(text);
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
  });

  it('cut at line ends and stay within chunkTokens', () => {
    const chunks = splitTokenChunks(lines(100), { chunkTokens: 256, countTokens: countChars4 });
    expect(chunks.map((c) => [c.fromLine, c.toLine, c.tokens])).toEqual([
      [1, 25, 250],
      [26, 50, 250],
      [51, 75, 250],
      [76, 100, 250],
    ]);
    for (const c of chunks) expect(c.content.endsWith('\n')).toBe(true);
  });

  it('split a line longer than chunkTokens inside the line, and only that line', () => {
    const text = `${lines(2)}${'y'.repeat(3000)}\n${lines(2)}`;
    const chunks = splitTokenChunks(text, { chunkTokens: 256, countTokens: countChars4 });
    expect(chunks.map((c) => [c.fromLine, c.toLine])).toEqual([[1, 2], [3, 3], [3, 3], [3, 3], [4, 5]]); // 751 tokens -> 3 pieces
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(256);
  });

  it('never span two inputs, and title multi-part chunks', () => {
    const chunks = splitTokenChunks(
      [{ title: 'app.log', content: lines(60) }, { title: 'db.log', content: lines(3) }],
      { chunkTokens: 256, countTokens: countChars4 },
    );
    expect(chunks.map((c) => [c.index, c.title, c.inputIndex])).toEqual([
      [0, 'app.log (part 1/3)', 0],
      [1, 'app.log (part 2/3)', 0],
      [2, 'app.log (part 3/3)', 0],
      [3, 'db.log', 1],
    ]);
    expect(joinByInput(chunks, 0)).toBe(lines(60));
    expect(joinByInput(chunks, 1)).toBe(lines(3));
  });

  it('are deterministic', () => {
    const text = lines(300, 7);
    const options = { chunkTokens: 300, countTokens: countChars4 };
    expect(splitTokenChunks(text, options)).toEqual(splitTokenChunks(text, options));
  });

  it('splitTask dispatches on the strategy (per_input by default)', () => {
    const inputs = [{ title: 'a', content: lines(60) }];
    expect(splitTask({ inputs }, countChars4)).toHaveLength(1);
    expect(splitTask({ inputs, split: { strategy: 'token_chunks', chunkTokens: 256 } }, countChars4)).toHaveLength(3);
  });

  it('cuts a multi-megabyte line with work linear in its length (each character counted a bounded number of times)', () => {
    const text = Array.from({ length: 200_000 }, (_, i) => `w${i % 97}`).join(' ');
    let counted = 0;
    const spy = (t: string) => {
      counted += t.length;
      return countChars4(t);
    };
    const chunks = splitTokenChunks([{ title: 'one line', content: text }], { chunkTokens: 1000, countTokens: spy });
    expect(chunks.map((c) => c.content).join('')).toBe(text);
    for (const c of chunks) expect(countChars4(c.content)).toBeLessThanOrEqual(1000);
    expect(counted).toBeLessThan(4 * text.length);
  });

  it('cuts a line with no spaces at all (a blob) into chunks that fit, without splitting a surrogate pair', () => {
    const blob = '😀'.repeat(3000) + 'x'.repeat(5000);
    const chunks = splitTokenChunks([{ title: 'blob', content: blob }], { chunkTokens: 300, countTokens: countChars4 });
    expect(chunks.map((c) => c.content).join('')).toBe(blob);
    for (const c of chunks) {
      expect(c.tokens).toBe(countChars4(c.content));
      expect(c.tokens).toBeLessThanOrEqual(300);
      expect(/^[\uDC00-\uDFFF]/.test(c.content)).toBe(false);
    }
  });
});
