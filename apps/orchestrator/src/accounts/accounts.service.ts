import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AccountEntity } from '@so/persistence';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ApiError } from '../common/api-error';
import { isUuid, uuidv7 } from '../common/ids';
import { listCursor, toPage } from '../common/pagination';
import { hashApiKey, newApiKey, SealedValueUnreadable, SecretBox } from '../common/secrets';
import { ACCOUNT_EVENTS, type AccountEventsPort } from './account-events';
import { AccountsRepository } from './accounts.repository';
import { BudgetsService } from '../budgets/budgets.service';
import type { CreateAccountDto, UpdateAccountDto, UpstreamConfigDto } from './accounts.dto';

export interface AccountView {
  id: string;
  object: 'account';
  name: string;
  session_limit: number;
  api_key_prefix: string;
  upstream: { base_url: string; model: string | null; api_key_set: boolean } | null;
  rate_limit_per_minute: number | null;
  effective_rate_limit_per_minute: number;
  upstream_limits: { concurrency: number | null; rpm: number | null; tpm: number | null } | null;
  created_at: number;
}

export interface ResolvedAccount {
  id: string;
  name: string;
  sessionLimit: number;
  /** Requests per minute on /v1/* (0: unlimited). */
  rateLimitPerMinute: number;
  /** Upstream admission limits set on the account (each null/absent: the UPSTREAM_ACCOUNT_* default). */
  upstreamLimits?: { concurrency?: number | null; rpm?: number | null; tpm?: number | null } | null;
  /** `apiKey` is null when no configured key opens it (`keyError` says why): calls answer 503, nothing else breaks. */
  upstream: { baseUrl: string; apiKey: string | null; model: string | null; keyError?: string } | null;
  /**
   * Whether an account-wide budget is set, read with the account (setting one goes through the account's
   * PATCH, which forgets every cached account on every instance: on another instance once the change notice
   * arrives, within milliseconds). Unknown (absent): looked up per call.
   */
  accountBudget?: boolean;
}

/** Accounts, their hashed keys and their (encrypted) upstream settings. */
@Injectable()
export class AccountsService {
  private readonly box: SecretBox;
  // Key checks run on every request, and a task's children each resolve their account: both cached briefly.
  private readonly byKey = new SharedLookups<ResolvedAccount | null>(5_000);
  private readonly byId = new SharedLookups<ResolvedAccount | null>(5_000);

  private readonly log = new Logger('AccountsService');
  private readonly unreadableLogged = new Set<string>();

  constructor(
    private readonly repo: AccountsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SecretBox) box: SecretBox,
    @Inject(ACCOUNT_EVENTS) private readonly events: AccountEventsPort,
    private readonly budgets: BudgetsService,
  ) {
    this.box = box;
    // Another instance changed an account (a rotated key, a new upstream): forget every cached lookup.
    events.onChange(() => {
      this.forgetCached();
      this.unreadableLogged.clear();
    });
  }

  async create(dto: CreateAccountDto, fixedKey?: string): Promise<AccountView & { api_key: string }> {
    const key = fixedKey ?? newApiKey();
    const row = await this.repo.insert({
      id: uuidv7(),
      name: dto.name,
      apiKeyHash: hashApiKey(key),
      apiKeyPrefix: key.slice(0, 10),
      sessionLimit: dto.session_limit ?? this.config.sessionLimit,
      rateLimitPerMinute: dto.rate_limit_per_minute ?? null,
      ...this.upstreamColumns(dto.upstream),
    });
    return { ...this.view(row), api_key: key };
  }

  async get(id: string): Promise<AccountView> {
    return this.view(await this.mustFind(id));
  }

  async list(limit = 20, after?: string) {
    const rows = await this.repo.list(limit, listCursor(after, 'account'));
    const page = toPage(rows, limit, (r) => r.id);
    return { ...page, data: page.data.map((r) => this.view(r)) };
  }

  async update(id: string, dto: UpdateAccountDto): Promise<AccountView & { api_key?: string }> {
    await this.mustFind(id);
    const budget = dto.budget === undefined ? undefined : this.budgets.limits(dto.budget, 'budget');
    const patch: Partial<AccountEntity> = {};
    if (dto.name !== undefined) patch.name = dto.name;
    if (dto.session_limit !== undefined) patch.sessionLimit = dto.session_limit;
    if (dto.rate_limit_per_minute !== undefined) patch.rateLimitPerMinute = dto.rate_limit_per_minute;
    if (dto.upstream_limits !== undefined) patch.upstreamLimits = dto.upstream_limits ? { concurrency: dto.upstream_limits.concurrency ?? null, rpm: dto.upstream_limits.rpm ?? null, tpm: dto.upstream_limits.tpm ?? null } : null;
    if (dto.upstream !== undefined) Object.assign(patch, this.upstreamColumns(dto.upstream));
    let key: string | undefined;
    if (dto.rotate_key) {
      key = newApiKey();
      patch.apiKeyHash = hashApiKey(key);
      patch.apiKeyPrefix = key.slice(0, 10);
    }
    const row = (await this.repo.update(id, patch))!;
    if (budget !== undefined) await this.budgets.set(id, 'account', id, budget);
    this.forgetCached();
    await this.events.accountsChanged();
    return key ? { ...this.view(row), api_key: key } : this.view(row);
  }

  /** The account a key belongs to, or null. */
  authenticate(key: string): Promise<ResolvedAccount | null> {
    return this.byKey.get(hashApiKey(key), async (hash) => {
      const row = await this.repo.findByKeyHash(hash);
      return row ? this.resolve(row, (await this.budgets.find('account', row.id)) !== null) : null;
    });
  }

  /** The account by id; cached like key lookups, and forgotten on any account change. */
  resolveById(id: string): Promise<ResolvedAccount> {
    return this.byId.get(id, async (key) => {
      const row = await this.mustFind(key);
      return this.resolve(row, (await this.budgets.find('account', row.id)) !== null);
    }) as Promise<ResolvedAccount>;
  }

  private forgetCached(): void {
    this.byKey.clear();
    this.byId.clear();
  }


  findByName(name: string) {
    return this.repo.findByName(name);
  }

  private resolve(row: AccountEntity, accountBudget?: boolean): ResolvedAccount {
    return {
      accountBudget,
      id: row.id,
      name: row.name,
      sessionLimit: row.sessionLimit,
      rateLimitPerMinute: row.rateLimitPerMinute ?? this.config.rateLimitPerMinute,
      upstreamLimits: row.upstreamLimits ?? null,
      upstream: row.upstreamBaseUrl && row.upstreamApiKeyEnc ? { baseUrl: row.upstreamBaseUrl, model: row.upstreamModel, ...this.openKey(row) } : null,
    };
  }

  private openKey(row: AccountEntity): { apiKey: string | null; keyError?: string } {
    try {
      return { apiKey: this.box.open(row.upstreamApiKeyEnc!) };
    } catch (err) {
      const reason = err instanceof SealedValueUnreadable ? err.message : 'unreadable';
      if (!this.unreadableLogged.has(row.id)) {
        this.unreadableLogged.add(row.id);
        this.log.error(`the upstream key of account ${row.id} cannot be opened: ${reason}. Add the ENCRYPTION_KEY it was sealed with to ENCRYPTION_KEYS_OLD, or set the account's upstream again.`);
      }
      return { apiKey: null, keyError: reason };
    }
  }

  /**
   * Re-seals every stored upstream key with the current ENCRYPTION_KEY, so old keys can leave
   * ENCRYPTION_KEYS_OLD. Keys no configured key opens are counted, not touched.
   */
  async reseal(): Promise<{ resealed: number; current: number; unreadable: number; unreadable_account_ids: string[] }> {
    const out = { resealed: 0, current: 0, unreadable: 0, unreadable_account_ids: [] as string[] };
    for (const row of await this.repo.withUpstreamKeys()) {
      const sealed = row.upstreamApiKeyEnc!;
      if (this.box.isCurrent(sealed)) {
        out.current++;
        continue;
      }
      let plain: string;
      try {
        plain = this.box.open(sealed);
      } catch {
        out.unreadable++;
        out.unreadable_account_ids.push(row.id);
        continue;
      }
      if (await this.repo.replaceSealedKey(row.id, sealed, this.box.seal(plain))) out.resealed++;
    }
    this.forgetCached();
    await this.events.accountsChanged();
    return out;
  }

  private async mustFind(id: string): Promise<AccountEntity> {
    const row = isUuid(id) ? await this.repo.findById(id) : null;
    if (!row) throw ApiError.notFound('account', id);
    return row;
  }

  private upstreamColumns(u: UpstreamConfigDto | null | undefined): Partial<AccountEntity> {
    if (!u) return { upstreamBaseUrl: null, upstreamModel: null, upstreamApiKeyEnc: null };
    return { upstreamBaseUrl: u.base_url, upstreamModel: u.model ?? null, upstreamApiKeyEnc: this.box.seal(u.api_key) };
  }

  private view(r: AccountEntity): AccountView {
    return {
      id: r.id,
      object: 'account',
      name: r.name,
      session_limit: r.sessionLimit,
      api_key_prefix: r.apiKeyPrefix,
      upstream: r.upstreamBaseUrl ? { base_url: r.upstreamBaseUrl, model: r.upstreamModel, api_key_set: !!r.upstreamApiKeyEnc } : null,
      rate_limit_per_minute: r.rateLimitPerMinute,
      effective_rate_limit_per_minute: r.rateLimitPerMinute ?? this.config.rateLimitPerMinute,
      upstream_limits: r.upstreamLimits ? { concurrency: r.upstreamLimits.concurrency ?? null, rpm: r.upstreamLimits.rpm ?? null, tpm: r.upstreamLimits.tpm ?? null } : null,
      created_at: Math.floor(r.createdAt.getTime() / 1000),
    };
  }
}

/**
 * Lookups cached for a short while and shared while in flight (a burst with a cold cache makes one query).
 * clear() forgets everything, and a lookup that started before it does not refill the cache with what it read.
 * null results are not cached.
 */
class SharedLookups<T> {
  private readonly hits = new Map<string, { value: T; until: number }>();
  private readonly pending = new Map<string, Promise<T>>();
  private generation = 0;

  constructor(private readonly ttlMs: number, private readonly maxEntries = 10_000) {}

  get(key: string, load: (key: string) => Promise<T>): Promise<T> {
    const hit = this.hits.get(key);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.value);
    let pending = this.pending.get(key);
    if (!pending) {
      const generation = this.generation;
      pending = load(key).then((value) => {
        if (this.hits.size > this.maxEntries) this.hits.clear();
        if (value !== null && generation === this.generation) this.hits.set(key, { value, until: Date.now() + this.ttlMs });
        return value;
      });
      this.pending.set(key, pending);
      void pending.finally(() => this.pending.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  clear(): void {
    this.generation++;
    this.hits.clear();
    this.pending.clear();
  }
}
