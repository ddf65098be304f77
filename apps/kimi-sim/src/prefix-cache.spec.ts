import { PrefixCache, prefixChain } from './prefix-cache';

const block = (name: string, tokens: number) => ({ digest: name, tokens });

describe('PrefixCache', () => {
  const head = block('model+tools', 10);
  const a = block('a', 100);
  const b = block('b', 50);
  const c = block('c', 7);

  it('reports the tokens of the longest prefix a recent request of the same key shared', () => {
    const cache = new PrefixCache();
    cache.record('k', prefixChain([head, a, b]), 0, 1000, 256);

    expect(cache.cachedTokens('k', prefixChain([head, a, b, c]), 1)).toBe(160);
    expect(cache.cachedTokens('k', prefixChain([head, a, c]), 1)).toBe(110);
    expect(cache.cachedTokens('k', prefixChain([head, b]), 1)).toBe(10);
  });

  it('shares nothing across keys', () => {
    const cache = new PrefixCache();
    cache.record('k1', prefixChain([head, a]), 0, 1000, 256);
    expect(cache.cachedTokens('k2', prefixChain([head, a]), 1)).toBe(0);
  });

  it('matches whole prefixes only: the same message after a different one is not a hit', () => {
    const cache = new PrefixCache();
    cache.record('k', prefixChain([head, a, b]), 0, 1000, 256);
    expect(cache.cachedTokens('k', prefixChain([block('other head', 10), a, b]), 1)).toBe(0);
  });

  it('keeps each write alive for its own TTL, and a shorter later write does not shorten it', () => {
    const cache = new PrefixCache();
    cache.record('k', prefixChain([head, a]), 0, 3_600_000, 256);
    cache.record('k', prefixChain([head, a, b]), 10, 300_000, 256);
    expect(cache.cachedTokens('k', prefixChain([head, a, b]), 300_010)).toBe(160);
    expect(cache.cachedTokens('k', prefixChain([head, a, b]), 300_011)).toBe(110);
    expect(cache.cachedTokens('k', prefixChain([head, a]), 3_600_000)).toBe(110);
    expect(cache.cachedTokens('k', prefixChain([head, a]), 3_600_001)).toBe(0);
  });

  it('forgets prefixes older than the TTL', () => {
    const cache = new PrefixCache();
    cache.record('k', prefixChain([head, a]), 0, 1000, 256);
    expect(cache.cachedTokens('k', prefixChain([head, a]), 1000)).toBe(110);
    expect(cache.cachedTokens('k', prefixChain([head, a]), 1001)).toBe(0);
  });

  it('evicts the oldest entries beyond the per-key bound but still finds a longer surviving prefix', () => {
    const cache = new PrefixCache();
    cache.record('k', prefixChain([head, a, b]), 0, 1000, 2);
    expect(cache.cachedTokens('k', prefixChain([head]), 1)).toBe(0);
    expect(cache.cachedTokens('k', prefixChain([head, a, b, c]), 1)).toBe(160);
  });
});
