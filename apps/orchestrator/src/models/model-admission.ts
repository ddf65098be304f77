import { Inject, Injectable } from '@nestjs/common';
import { ModelRegistry } from '@so/llm';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ModelCheck } from '../upstream/model-check';

/**
 * Which model a request runs on, and whether the service can run it. A model is known when the
 * registry prices it (built-ins, MODEL_PRICES, LLM_MODEL), when it is the account's own upstream
 * model, or when the service upstream listed it at its last /models check. Anything else is a 400
 * naming the model: a typo would otherwise be billed at guessed prices against a guessed window.
 */
@Injectable()
export class ModelAdmission {
  constructor(
    private readonly models: ModelRegistry,
    private readonly check: ModelCheck,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The model a request without one runs on. */
  defaultFor(account: ResolvedAccount): string {
    return account.upstream?.model ?? this.config.llmModel;
  }

  /** `requested` (or the account's default) when it is known; 400 `model_not_found` otherwise. */
  resolve(account: ResolvedAccount, requested: string | undefined, param = 'model'): string {
    const model = requested ?? this.defaultFor(account);
    if (requested === undefined || this.isKnown(account, model)) return model;
    const known = this.knownIds(account);
    throw new ApiError('model_not_found', `The model '${model}' does not exist or is not served here. Known models: ${known.map((id) => `'${id}'`).join(', ')} (GET /v1/models lists them).`, param);
  }

  isKnown(account: ResolvedAccount, model: string): boolean {
    if (this.models.has(model) || model === account.upstream?.model) return true;
    // The service upstream's own list speaks only for accounts that use it.
    return !account.upstream && (this.check.last?.servedIds ?? []).includes(model);
  }

  private knownIds(account: ResolvedAccount): string[] {
    const ids = new Set(this.models.list().map((m) => m.id));
    if (account.upstream?.model) ids.add(account.upstream.model);
    if (!account.upstream) for (const id of this.check.last?.servedIds ?? []) ids.add(id);
    return [...ids].sort();
  }
}
