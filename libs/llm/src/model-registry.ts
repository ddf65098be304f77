/** What the service knows about a model: its window and its prices (USD per 1M tokens). */
export interface ModelInfo {
  id: string;
  contextWindow: number;
  inputCacheMissPerM: number;
  inputCacheHitPerM: number;
  outputPerM: number;
}

export interface UsageTokens {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

const KIMI_K2_PRICES = { inputCacheMissPerM: 0.6, inputCacheHitPerM: 0.15, outputPerM: 2.5 };

const KNOWN_MODELS: ModelInfo[] = [
  { id: 'kimi-k2-0905-preview', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'kimi-k2-turbo-preview', contextWindow: 262144, inputCacheMissPerM: 2.4, inputCacheHitPerM: 0.6, outputPerM: 10 },
  { id: 'kimi-latest', contextWindow: 262144, ...KIMI_K2_PRICES },
  { id: 'moonshot-v1-8k', contextWindow: 8192, ...KIMI_K2_PRICES },
];

/** Model ids get retired upstream, so unknown ids are accepted with the configured window and K2 prices. */
export class ModelRegistry {
  private readonly models = new Map<string, ModelInfo>();

  constructor(private readonly defaultModel: string, private readonly defaultContextWindow: number) {
    for (const m of KNOWN_MODELS) this.models.set(m.id, m);
    if (!this.models.has(defaultModel)) {
      this.models.set(defaultModel, { id: defaultModel, contextWindow: defaultContextWindow, ...KIMI_K2_PRICES });
    }
  }

  get default(): ModelInfo {
    return this.get(this.defaultModel);
  }

  get(id: string): ModelInfo {
    return this.models.get(id) ?? { id, contextWindow: this.defaultContextWindow, ...KIMI_K2_PRICES };
  }

  list(): ModelInfo[] {
    return [...this.models.values()];
  }

  costUsd(model: string, u: UsageTokens): number {
    const m = this.get(model);
    const miss = Math.max(0, u.promptTokens - u.cachedTokens);
    return (miss * m.inputCacheMissPerM + u.cachedTokens * m.inputCacheHitPerM + u.completionTokens * m.outputPerM) / 1e6;
  }
}
