import { BUILT_IN_MODELS, DEFAULT_MODEL_ID, ModelPricesError, ModelRegistry, parseModelPrices } from './model-registry';

const M = 1_000_000;

describe('ModelRegistry prices', () => {
  const reg = new ModelRegistry(DEFAULT_MODEL_ID, 262144);

  it('defaults to kimi-k2.6 at $0.95 miss / $0.16 hit / $4.00 output per 1M', () => {
    expect(DEFAULT_MODEL_ID).toBe('kimi-k2.6');
    expect(reg.default).toMatchObject({ id: 'kimi-k2.6', contextWindow: 262144, inputCacheMissPerM: 0.95, inputCacheHitPerM: 0.16, outputPerM: 4 });
  });

  it.each([
    ['kimi-k2.6', 0.95, 0.16, 4],
    ['kimi-k2.5', 0.6, 0.1, 3],
    ['kimi-k3', 3, 0.3, 15],
    ['kimi-k2-0905-preview', 0.6, 0.15, 2.5],
  ])('knows %s: miss %d, hit %d, output %d', (id, miss, hit, out) => {
    expect(reg.has(id)).toBe(true);
    expect(reg.get(id)).toMatchObject({ contextWindow: 262144, inputCacheMissPerM: miss, inputCacheHitPerM: hit, outputPerM: out, cacheWritePerM: { '5m': miss, '1h': miss * 2 } });
  });

  it('keeps the older ids in the registry', () => {
    for (const id of ['kimi-k2-turbo-preview', 'kimi-latest', 'moonshot-v1-8k']) expect(reg.has(id)).toBe(true);
    expect(reg.get('moonshot-v1-8k').contextWindow).toBe(8192);
  });

  it('prices misses, hits and output separately', () => {
    // 1M prompt of which 400K hit, 100K output on kimi-k2.6.
    const cost = reg.costUsd('kimi-k2.6', { promptTokens: M, cachedTokens: 400_000, completionTokens: 100_000 });
    expect(cost).toBeCloseTo(0.6 * 0.95 + 0.4 * 0.16 + 0.1 * 4, 10);
  });

  it('treats a missing cacheWriteTokens as 0', () => {
    const a = reg.costUsd('kimi-k2.6', { promptTokens: 1000, cachedTokens: 0, completionTokens: 10 });
    const b = reg.costUsd('kimi-k2.6', { promptTokens: 1000, cachedTokens: 0, completionTokens: 10, cacheWriteTokens: 0 });
    expect(a).toBe(b);
    expect(a).toBeCloseTo((1000 * 0.95 + 10 * 4) / M, 12);
  });

  it('prices cache writes at 1x the miss price for 5 minutes and 2x for an hour', () => {
    const u = { promptTokens: 10_000, cachedTokens: 2_000, completionTokens: 500, cacheWriteTokens: 8_000 };
    const base = (8_000 * 0.95 + 2_000 * 0.16 + 500 * 4) / M;
    expect(reg.costUsd('kimi-k2.6', u, '5m')).toBeCloseTo(base + (8_000 * 0.95) / M, 12);
    expect(reg.costUsd('kimi-k2.6', u, '1h')).toBeCloseTo(base + (8_000 * 1.9) / M, 12);
    expect(reg.costUsd('kimi-k3', u, '1h')).toBeCloseTo((8_000 * 3 + 2_000 * 0.3 + 500 * 15 + 8_000 * 6) / M, 12);
  });

  it('prices writes at the configured CACHE_TTL when the call does not say', () => {
    const u = { promptTokens: 1_000, cachedTokens: 0, completionTokens: 0, cacheWriteTokens: 1_000 };
    expect(new ModelRegistry(DEFAULT_MODEL_ID, 262144).costUsd('kimi-k2.5', u)).toBeCloseTo((1_000 * 0.6 + 1_000 * 0.6) / M, 12);
    expect(new ModelRegistry(DEFAULT_MODEL_ID, 262144, { cacheTtl: '1h' }).costUsd('kimi-k2.5', u)).toBeCloseTo((1_000 * 0.6 + 1_000 * 1.2) / M, 12);
  });

  it('prices unknown ids like the default model, with the configured window', () => {
    const r = new ModelRegistry(DEFAULT_MODEL_ID, 131072);
    expect(r.has('kimi-k9-experimental')).toBe(false);
    expect(r.get('kimi-k9-experimental')).toMatchObject({ id: 'kimi-k9-experimental', contextWindow: 131072, inputCacheMissPerM: 0.95, inputCacheHitPerM: 0.16, outputPerM: 4 });
    // A configured default that is known lends its prices to unknown ids.
    expect(new ModelRegistry('kimi-k3', 262144).get('kimi-k9-experimental')).toMatchObject({ inputCacheMissPerM: 3, outputPerM: 15 });
  });

  it('registers an unknown configured default with the configured window and the built-in default prices', () => {
    const r = new ModelRegistry('my-proxy-model', 100_000);
    expect(r.default).toMatchObject({ id: 'my-proxy-model', contextWindow: 100_000, inputCacheMissPerM: 0.95, outputPerM: 4 });
    expect(r.list().map((m) => m.id)).toContain('my-proxy-model');
  });

  it('lets configuration override a built-in and add a model', () => {
    const overrides = parseModelPrices(
      JSON.stringify({
        'kimi-k2.6': { context_window: 262144, input_cache_miss: 1, input_cache_hit: 0.2, output: 5, cache_write_1h: 3 },
        'kimi-k4': { context_window: 1048576, input_cache_miss: 4, input_cache_hit: 0.4, output: 20, cache_write_5m: 5, cache_write_1h: 9 },
      }),
    );
    const r = new ModelRegistry(DEFAULT_MODEL_ID, 262144, { overrides });
    expect(r.get('kimi-k2.6')).toMatchObject({ inputCacheMissPerM: 1, inputCacheHitPerM: 0.2, outputPerM: 5, cacheWritePerM: { '5m': 1, '1h': 3 } });
    expect(r.get('kimi-k4')).toMatchObject({ contextWindow: 1048576, cacheWritePerM: { '5m': 5, '1h': 9 } });
    expect(r.get('kimi-k2.5').inputCacheMissPerM).toBe(0.6);
    // Unknown ids follow the (overridden) default's prices.
    expect(r.get('unknown').outputPerM).toBe(5);
    expect(r.costUsd('kimi-k4', { promptTokens: 1_000, cachedTokens: 0, completionTokens: 0, cacheWriteTokens: 1_000 }, '1h')).toBeCloseTo((4_000 + 9_000) / M, 12);
    // The built-in table itself is untouched.
    expect(BUILT_IN_MODELS.find((m) => m.id === 'kimi-k2.6')!.inputCacheMissPerM).toBe(0.95);
  });
});

describe('parseModelPrices', () => {
  const ok = { context_window: 262144, input_cache_miss: 1, input_cache_hit: 0.1, output: 2 };

  it('accepts an empty table', () => {
    expect(parseModelPrices('{}')).toEqual([]);
  });

  it.each([
    ['not JSON', '{nope', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['a non-object entry', JSON.stringify({ m: 3 }), /entry "m" must be an object/],
    ['a missing price', JSON.stringify({ m: { context_window: 1024, input_cache_miss: 1, input_cache_hit: 1 } }), /entry "m" is missing "output"/],
    ['a negative price', JSON.stringify({ m: { ...ok, output: -1 } }), /entry "m": output must be a number/],
    ['a price given as a string', JSON.stringify({ m: { ...ok, input_cache_hit: '0.1' } }), /input_cache_hit must be a number/],
    ['a fractional window', JSON.stringify({ m: { ...ok, context_window: 1000.5 } }), /context_window must be an integer/],
    ['an unknown field', JSON.stringify({ m: { ...ok, input_cache_mis: 1 } }), /unknown field "input_cache_mis"/],
    ['an empty id', JSON.stringify({ '': ok }), /invalid model id/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseModelPrices(text)).toThrow(ModelPricesError);
    expect(() => parseModelPrices(text)).toThrow(message);
  });
});
