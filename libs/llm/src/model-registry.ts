/** How long the upstream keeps a prompt prefix it wrote to its cache; chosen per request (`cache_ttl`). */
export type CacheTtl = '5m' | '1h';

export const CACHE_TTLS: readonly CacheTtl[] = ['5m', '1h'];
/** How long a cache entry written with each TTL lives. */
export const CACHE_TTL_MS: Readonly<Record<CacheTtl, number>> = { '5m': 300_000, '1h': 3_600_000 };

/** What the service knows about a model: its window and its prices (USD per 1M tokens). */
export interface ModelInfo {
  id: string;
  contextWindow: number;
  inputCacheMissPerM: number;
  inputCacheHitPerM: number;
  outputPerM: number;
  /** Writing a prompt prefix to the upstream's cache, by TTL (billed as its own item since October 2026). */
  cacheWritePerM: Record<CacheTtl, number>;
}

export interface UsageTokens {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** Prompt tokens written to the upstream's prefix cache (0 when the upstream reports none). */
  cacheWriteTokens?: number;
}

/** The service's default model when `LLM_MODEL` is not set. */
export const DEFAULT_MODEL_ID = 'kimi-k2.6';

type Prices = Omit<ModelInfo, 'id' | 'contextWindow'>;

/** List prices with the usual cache-write multipliers: 1x the miss price for 5 minutes, 2x for an hour. */
function prices(miss: number, hit: number, output: number, write?: Partial<Record<CacheTtl, number>>): Prices {
  return {
    inputCacheMissPerM: miss,
    inputCacheHitPerM: hit,
    outputPerM: output,
    cacheWritePerM: { '5m': write?.['5m'] ?? miss, '1h': write?.['1h'] ?? round(miss * 2) },
  };
}

const round = (n: number) => Math.round(n * 1e9) / 1e9;

const KIMI_K2_PRICES = prices(0.6, 0.15, 2.5);

/** Kimi list prices per 1M tokens (input on a cache miss / on a hit / output), November 2026. */
export const BUILT_IN_MODELS: readonly ModelInfo[] = [
  { id: 'kimi-k2.6', contextWindow: 262144, ...prices(0.95, 0.16, 4.0) },
  { id: 'kimi-k2.5', contextWindow: 262144, ...prices(0.6, 0.1, 3.0) },
  { id: 'kimi-k3', contextWindow: 262144, ...prices(3.0, 0.3, 15.0) },
  { id: 'kimi-k2-0905-preview', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'kimi-k2-turbo-preview', contextWindow: 262144, ...prices(2.4, 0.6, 10) },
  { id: 'kimi-latest', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'moonshot-v1-8k', contextWindow: 8192, ...KIMI_K2_PRICES },
];

/** One entry of `MODEL_PRICES` / `MODEL_PRICES_FILE`, as written (USD per 1M tokens). */
export interface ModelPriceEntry {
  context_window: number;
  input_cache_miss: number;
  input_cache_hit: number;
  output: number;
  cache_write_5m?: number;
  cache_write_1h?: number;
}

const ENTRY_FIELDS = ['context_window', 'input_cache_miss', 'input_cache_hit', 'output', 'cache_write_5m', 'cache_write_1h'] as const;
const REQUIRED_FIELDS = ['context_window', 'input_cache_miss', 'input_cache_hit', 'output'] as const;
const MAX_PRICE_PER_M = 10_000;

/** A price table that is not valid; the message says which entry and field (the caller names the variable). */
export class ModelPricesError extends Error {}

/**
 * Parses a price table `{ "<model id>": { context_window, input_cache_miss, input_cache_hit, output,
 * cache_write_5m?, cache_write_1h? } }`. Unknown fields are rejected (a typo would otherwise bill wrong).
 */
export function parseModelPrices(text: string): ModelInfo[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelPricesError(`is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ModelPricesError('must be a JSON object of model id -> { context_window, input_cache_miss, input_cache_hit, output, cache_write_5m?, cache_write_1h? }');
  }
  const out: ModelInfo[] = [];
  for (const [id, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (id.trim() === '' || id !== id.trim() || id.length > 200) throw new ModelPricesError(`has an invalid model id "${id}"`);
    const where = `entry "${id}"`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new ModelPricesError(`${where} must be an object`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!(ENTRY_FIELDS as readonly string[]).includes(k)) throw new ModelPricesError(`${where} has an unknown field "${k}" (allowed: ${ENTRY_FIELDS.join(', ')})`);
    }
    for (const k of REQUIRED_FIELDS) if (e[k] === undefined) throw new ModelPricesError(`${where} is missing "${k}"`);
    const window = e.context_window;
    if (typeof window !== 'number' || !Number.isInteger(window) || window < 1024 || window > 4_000_000) {
      throw new ModelPricesError(`${where}: context_window must be an integer between 1024 and 4000000, got ${JSON.stringify(window)}`);
    }
    const price = (k: (typeof ENTRY_FIELDS)[number]): number | undefined => {
      const v = e[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_PRICE_PER_M) {
        throw new ModelPricesError(`${where}: ${k} must be a number of USD per 1M tokens between 0 and ${MAX_PRICE_PER_M}, got ${JSON.stringify(v)}`);
      }
      return v;
    };
    const miss = price('input_cache_miss')!;
    out.push({
      id,
      contextWindow: window,
      ...prices(miss, price('input_cache_hit')!, price('output')!, { '5m': price('cache_write_5m'), '1h': price('cache_write_1h') }),
    });
  }
  return out;
}

export interface ModelRegistryOptions {
  /** Entries from configuration: they replace built-ins with the same id and add the others. */
  overrides?: readonly ModelInfo[];
  /** The TTL cache writes are priced at when a call does not say (CACHE_TTL). */
  cacheTtl?: CacheTtl;
}

/**
 * Model ids get retired upstream, so unknown ids are accepted: with the configured window and the
 * default model's prices (the built-in default's when the configured default is unknown too).
 */
export class ModelRegistry {
  private readonly models = new Map<string, ModelInfo>();
  private readonly fallbackPrices: Prices;
  readonly cacheTtl: CacheTtl;

  constructor(private readonly defaultModel: string, private readonly defaultContextWindow: number, opts: ModelRegistryOptions = {}) {
    for (const m of BUILT_IN_MODELS) this.models.set(m.id, m);
    for (const m of opts.overrides ?? []) this.models.set(m.id, m);
    this.cacheTtl = opts.cacheTtl ?? '5m';
    const base = this.models.get(defaultModel) ?? this.models.get(DEFAULT_MODEL_ID)!;
    this.fallbackPrices = pricesOf(base);
    if (!this.models.has(defaultModel)) {
      this.models.set(defaultModel, { id: defaultModel, contextWindow: defaultContextWindow, ...this.fallbackPrices });
    }
  }

  get default(): ModelInfo {
    return this.get(this.defaultModel);
  }

  has(id: string): boolean {
    return this.models.has(id);
  }

  get(id: string): ModelInfo {
    return this.models.get(id) ?? { id, contextWindow: this.defaultContextWindow, ...this.fallbackPrices };
  }

  list(): ModelInfo[] {
    return [...this.models.values()];
  }

  /** USD: misses, hits and output at their prices, plus cache writes at the price of `ttl` (default CACHE_TTL). */
  costUsd(model: string, u: UsageTokens, ttl: CacheTtl = this.cacheTtl): number {
    const m = this.get(model);
    const miss = Math.max(0, u.promptTokens - u.cachedTokens);
    const writes = Math.max(0, u.cacheWriteTokens ?? 0);
    return (miss * m.inputCacheMissPerM + u.cachedTokens * m.inputCacheHitPerM + u.completionTokens * m.outputPerM + writes * m.cacheWritePerM[ttl]) / 1e6;
  }
}

function pricesOf(m: ModelInfo): Prices {
  return { inputCacheMissPerM: m.inputCacheMissPerM, inputCacheHitPerM: m.inputCacheHitPerM, outputPerM: m.outputPerM, cacheWritePerM: { ...m.cacheWritePerM } };
}
