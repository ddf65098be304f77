import { countTokens } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { countInBoundedPieces, forEachBoundedPiece, MAX_RUN_CHARS, SEGMENT_CHARS } from './bounded-pieces';
import { TokenEstimator } from './token-estimator';

function pieces(text: string): string[] {
  const out: string[] = [];
  forEachBoundedPiece(text, (s) => out.push(s));
  return out;
}

function longestRun(s: string): number {
  let best = 0;
  for (const m of s.matchAll(/\s+|\S+/g)) best = Math.max(best, m[0].length);
  return best;
}

const prose = Array.from({ length: 400 }, (_, i) => `Sentence ${i} mentions src/module_${i}.ts, order #${1000 + i} and 3.5 GB of logs.`).join(' ');

describe('bounded pieces (linear token counting)', () => {
  const inputs: Record<string, string> = {
    'letters without spaces': 'a'.repeat(100_000),
    'CJK text': '漢字仮名交じり文'.repeat(12_500),
    'a base64 blob': Buffer.from('x'.repeat(60_000)).toString('base64'),
    'a block of spaces': ' '.repeat(50_000),
    'a line of dashes': '-'.repeat(50_000),
    'emoji (surrogate pairs)': '😀'.repeat(30_000),
    prose,
  };

  it.each(Object.entries(inputs))('cuts %s into pieces that rebuild the text exactly', (_name, text) => {
    const ps = pieces(text);
    expect(ps.join('')).toBe(text);
    for (const p of ps) {
      expect(longestRun(p)).toBeLessThanOrEqual(MAX_RUN_CHARS);
      expect(p.length).toBeLessThanOrEqual(SEGMENT_CHARS + MAX_RUN_CHARS);
    }
  });

  it('never splits a surrogate pair', () => {
    for (const p of pieces('😀'.repeat(1000))) {
      expect(/^[\uDC00-\uDFFF]/.test(p)).toBe(false);
      expect(/[\uD800-\uDBFF]$/.test(p)).toBe(false);
    }
  });

  it('hands the tokenizer only bounded pieces, so its quadratic worst case never applies', () => {
    let longest = 0;
    const count = (s: string) => {
      longest = Math.max(longest, longestRun(s));
      return countTokens(s);
    };
    countInBoundedPieces('b'.repeat(2_000_000), count);
    expect(longest).toBeLessThanOrEqual(MAX_RUN_CHARS);
  });

  it('counts prose the same as encoding it whole (within 1%)', () => {
    const whole = countTokens(prose);
    const piecewise = countInBoundedPieces(prose, countTokens);
    expect(Math.abs(piecewise - whole) / whole).toBeLessThan(0.01);
  });

  it('keeps long runs close to their whole count (within 5%)', () => {
    for (const text of [inputs['CJK text'].slice(0, 4000), inputs['a base64 blob'].slice(0, 4000), 'word'.repeat(1000)]) {
      const whole = countTokens(text);
      expect(Math.abs(countInBoundedPieces(text, countTokens) - whole) / whole).toBeLessThan(0.05);
    }
  });

  it('is what the service estimator uses', () => {
    const est = new TokenEstimator();
    const text = 'z'.repeat(300_000);
    expect(est.countText(text)).toBe(countInBoundedPieces(text, countTokens));
    expect(est.countText('')).toBe(0);
    expect(est.countText('hello world')).toBe(countTokens('hello world'));
  });
});
