import { Inject, Injectable, Logger } from '@nestjs/common';
import { fetchServedModels, type ServedModels } from '@so/llm';
import { APP_CONFIG, AppConfig } from '../config/app-config';

export interface ModelCheckResult {
  model: string;
  /** null: the upstream could not be asked. */
  served: boolean | null;
  servedIds: string[];
  error: string | null;
  at: number;
}

/** Whether the service upstream serves the configured `LLM_MODEL` (asked at start, refreshed by /health). */
@Injectable()
export class ModelCheck {
  private readonly log = new Logger('ModelCheck');
  last: ModelCheckResult | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** GET {LLM_BASE_URL}/models; records and returns the outcome. Never throws. */
  async probe(timeoutMs: number): Promise<{ served: ServedModels; result: ModelCheckResult }> {
    const served = await fetchServedModels({ baseUrl: this.config.llmBaseUrl!, apiKey: this.config.llmApiKey! }, timeoutMs);
    const model = this.config.llmModel;
    const result: ModelCheckResult = served.ok
      ? { model, served: served.ids.includes(model), servedIds: served.ids, error: null, at: Date.now() }
      : { model, served: null, servedIds: [], error: served.error, at: Date.now() };
    this.last = result;
    return { served, result };
  }

  /** The start-up check: a warning when the model is not listed, or when the upstream could not be asked. */
  async checkAtStart(timeoutMs: number): Promise<ModelCheckResult> {
    const { result } = await this.probe(timeoutMs);
    const where = safeHost(this.config.llmBaseUrl!);
    if (result.served === false) {
      this.log.warn(
        `LLM_MODEL "${result.model}" is not served by the upstream at ${where}: it serves ${result.servedIds.length ? result.servedIds.map((id) => `"${id}"`).join(', ') : 'no models'}. ` +
          'Calls with this model will likely fail; set LLM_MODEL to a served id.',
      );
    } else if (result.served === null) {
      this.log.warn(`could not check whether the upstream at ${where} serves LLM_MODEL "${result.model}": ${result.error}`);
    } else {
      this.log.log(`the upstream at ${where} serves LLM_MODEL "${result.model}"`);
    }
    return result;
  }
}

function safeHost(base: string): string {
  try {
    return new URL(base).host;
  } catch {
    return 'LLM_BASE_URL';
  }
}
