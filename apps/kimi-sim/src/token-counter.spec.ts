import { encoderParts, skewedCount, skewFactor, TokenCounter } from './token-counter';

describe('tokenizer skew', () => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ role: 'user' as const, content: `Message number ${i} about the rolling snapshot policy and its budget.` }));

  it('counts each message within [1 - skew, 1 + skew] of o200k, rounded up, and the same message the same way', () => {
    const plain = new TokenCounter(1000, 0);
    const skewed = new TokenCounter(1000, 0.15);
    let differing = 0;
    for (const m of messages) {
      const base = plain.message(m).tokens;
      const count = skewed.message(m).tokens;
      expect(count).toBeGreaterThanOrEqual(Math.floor(base * 0.85));
      expect(count).toBeLessThanOrEqual(Math.ceil(base * 1.15));
      expect(skewed.message({ ...m }).tokens).toBe(count);
      if (count !== base) differing++;
    }
    expect(differing).toBeGreaterThan(messages.length / 2);
  });

  it('draws factors over the whole range, and skew 0 is plain o200k', () => {
    const factors = messages.map((m, i) => skewFactor(`digest ${i} ${m.content}`, 0.15));
    expect(Math.min(...factors)).toBeLessThan(0.9);
    expect(Math.max(...factors)).toBeGreaterThan(1.1);
    expect(factors.every((f) => f >= 0.85 && f <= 1.15)).toBe(true);
    expect(skewedCount(123, 'x', 0)).toBe(123);
    expect(new TokenCounter(1000, 0).message(messages[0]).tokens).toBe(new TokenCounter().countText(messages[0].content) + 4);
  });

  it('applies a runtime change of the skew to cached counts', () => {
    const counter = new TokenCounter(1000, 0);
    const base = counter.message(messages[1]).tokens;
    counter.skew = 0.5;
    const skewed = counter.message(messages[1]).tokens;
    counter.skew = 0;
    expect(counter.message(messages[1]).tokens).toBe(base);
    expect(skewed).toBe(skewedCount(base, counter.message(messages[1]).digest, 0.5));
  });

  it('keeps encoding long runs in bounded slices', () => {
    const parts = encoderParts(`${'x'.repeat(1000)} tail`);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(256);
    expect(parts.join('')).toBe(`${'x'.repeat(1000)} tail`);
  });
});
