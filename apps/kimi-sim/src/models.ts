/** A model the simulator serves: its context window and Kimi's list prices in USD per 1M tokens. */
export interface KimiModel {
  id: string;
  contextWindow: number;
  inputCacheMissPerM: number;
  inputCacheHitPerM: number;
  outputPerM: number;
}

const KIMI_K2_PRICES = { inputCacheMissPerM: 0.6, inputCacheHitPerM: 0.15, outputPerM: 2.5 };

/** The current default model of the Kimi API (GA April 2026). */
export const DEFAULT_MODEL = 'kimi-k2.6';

export const KIMI_MODELS: readonly KimiModel[] = [
  { id: 'kimi-k2.6', contextWindow: 262144, inputCacheMissPerM: 0.95, inputCacheHitPerM: 0.16, outputPerM: 4 },
  { id: 'kimi-k2.5', contextWindow: 262144, inputCacheMissPerM: 0.6, inputCacheHitPerM: 0.1, outputPerM: 3 },
  { id: 'kimi-k3', contextWindow: 262144, inputCacheMissPerM: 3, inputCacheHitPerM: 0.3, outputPerM: 15 },
  { id: 'kimi-k2-0905-preview', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'kimi-k2-turbo-preview', contextWindow: 262144, inputCacheMissPerM: 2.4, inputCacheHitPerM: 0.6, outputPerM: 10 },
  { id: 'kimi-latest', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'moonshot-v1-8k', contextWindow: 8192, ...KIMI_K2_PRICES },
  { id: 'moonshot-v1-32k', contextWindow: 32768, ...KIMI_K2_PRICES },
  { id: 'moonshot-v1-128k', contextWindow: 131072, ...KIMI_K2_PRICES },
];

const MODELS_BY_ID = new Map(KIMI_MODELS.map((m) => [m.id, m]));

/** Fixed so `/v1/models` answers byte-identically across runs. */
export const MODELS_CREATED_AT = 1_757_030_400;

export function findModel(id: string): KimiModel | undefined {
  return MODELS_BY_ID.get(id);
}

/** Cache writes cost this multiple of the cache-miss input price, on top of it, by TTL. */
export const CACHE_WRITE_MULTIPLIER = { '5m': 1, '1h': 2 } as const;

/** Cost of writing `writeTokens` to the prefix cache for `ttl`. */
export function cacheWriteCostUsd(model: KimiModel, writeTokens: number, ttl: keyof typeof CACHE_WRITE_MULTIPLIER): number {
  return (writeTokens * model.inputCacheMissPerM * CACHE_WRITE_MULTIPLIER[ttl]) / 1e6;
}

/** Input (misses and hits), output, and cache writes (0 unless given). */
export function costUsd(
  model: KimiModel,
  promptTokens: number,
  cachedTokens: number,
  completionTokens: number,
  writeTokens = 0,
  ttl: keyof typeof CACHE_WRITE_MULTIPLIER = '5m',
): number {
  const missed = promptTokens - cachedTokens;
  return (
    (missed * model.inputCacheMissPerM + cachedTokens * model.inputCacheHitPerM + completionTokens * model.outputPerM) / 1e6 +
    cacheWriteCostUsd(model, writeTokens, ttl)
  );
}
