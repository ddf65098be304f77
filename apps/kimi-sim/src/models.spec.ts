import { cacheWriteCostUsd, costUsd, DEFAULT_MODEL, findModel, KIMI_MODELS } from './models';

describe('Kimi models and prices', () => {
  it('serves the current models at their list prices per 1M tokens, kimi-k2.6 first as the default', () => {
    const prices = Object.fromEntries(KIMI_MODELS.map((m) => [m.id, [m.contextWindow, m.inputCacheMissPerM, m.inputCacheHitPerM, m.outputPerM]]));
    expect(KIMI_MODELS[0].id).toBe(DEFAULT_MODEL);
    expect(prices).toMatchObject({
      'kimi-k2.6': [262144, 0.95, 0.16, 4],
      'kimi-k2.5': [262144, 0.6, 0.1, 3],
      'kimi-k3': [262144, 3, 0.3, 15],
      'kimi-k2-0905-preview': [262144, 0.6, 0.15, 2.5],
      'kimi-k2-turbo-preview': [262144, 2.4, 0.6, 10],
      'kimi-latest': [262144, 0.6, 0.15, 2.5],
      'moonshot-v1-8k': [8192, 0.6, 0.15, 2.5],
    });
  });

  it('bills cache writes on top of the miss price: 1x for 5m, 2x for 1h', () => {
    const k26 = findModel('kimi-k2.6')!;
    const base = (800_000 * 0.95 + 200_000 * 0.16 + 1000 * 4) / 1e6;
    expect(costUsd(k26, 1_000_000, 200_000, 1000)).toBeCloseTo(base, 12);
    expect(cacheWriteCostUsd(k26, 800_000, '5m')).toBeCloseTo(0.76, 12);
    expect(cacheWriteCostUsd(k26, 800_000, '1h')).toBeCloseTo(1.52, 12);
    expect(costUsd(k26, 1_000_000, 200_000, 1000, 800_000, '5m')).toBeCloseTo(base + 0.76, 12);
    expect(costUsd(k26, 1_000_000, 200_000, 1000, 800_000, '1h')).toBeCloseTo(base + 1.52, 12);
  });
});
