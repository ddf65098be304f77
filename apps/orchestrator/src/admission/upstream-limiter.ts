import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { fairShare, isLimited, type AdmissionLimits } from '@so/domain';
import type { UpstreamRateLimit, UpstreamTarget } from '@so/llm';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { ApiError } from '../common/api-error';
import { uuidv7 } from '../common/ids';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ADMISSION_STORE, type AdmissionCheck, type AdmissionStore } from './admission.store';

/** Background work (coordinator children, merges, final answers) waits for admission instead of being refused. */
const waiting = new AsyncLocalStorage<{ waitMs: number | null }>();

/** Runs `fn` as background work: its upstream calls wait (bounded by UPSTREAM_ADMISSION_WAIT_MS) for admission. */
export function runAsBackgroundWork<T>(fn: () => Promise<T>): Promise<T> {
  return waiting.run({ waitMs: null }, fn);
}

export interface AdmissionLease {
  keys: string[];
  id: string;
}

const NONE: AdmissionLimits = { concurrency: null, rpm: null, tpm: null };
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    // The listener goes with the sleep: a waiting call's signal must not collect one per retry.
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Upstream admission: before a call, its account's limits, its upstream key's limits and the account's fair
 * share of that key must each admit one more request and prompt + max_tokens more tokens this minute (TPM is
 * charged at admission, as Kimi does). Interactive calls over a limit are answered 429 rate_limited with
 * Retry-After; background work waits, bounded. Nothing is sent upstream to draw its 429.
 */
@Injectable()
export class UpstreamLimiter {
  private readonly logger = new Logger(UpstreamLimiter.name);
  private lastWarning = 0;
  constructor(
    @Inject(ADMISSION_STORE) private readonly store: AdmissionStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  accountLimits(account: ResolvedAccount): AdmissionLimits {
    const own = account.upstreamLimits ?? {};
    const d = this.config.upstreamAccountLimits;
    return { concurrency: own.concurrency ?? d.concurrency, rpm: own.rpm ?? d.rpm, tpm: own.tpm ?? d.tpm };
  }

  /** A stable id of an upstream key (never the key itself). */
  keyId(target: UpstreamTarget): string {
    return `key:${createHash('sha256').update(`${target.baseUrl}\n${target.apiKey}`).digest('hex').slice(0, 16)}`;
  }

  private async checks(account: ResolvedAccount, target: UpstreamTarget): Promise<AdmissionCheck[]> {
    const out: AdmissionCheck[] = [];
    const acct = this.accountLimits(account);
    if (isLimited(acct)) out.push({ key: `account:${account.id}`, limits: acct });
    const key = this.config.upstreamKeyLimits;
    if (isLimited(key)) {
      const keyId = this.keyId(target);
      const active = await this.store.activeAccounts(keyId, account.id);
      out.push({ key: keyId, limits: key });
      // The account's fair share of the shared key: one account's flood leaves room for the others.
      if (active > 1) out.push({ key: `${keyId}:account:${account.id}`, limits: fairShare(key, active) });
      else out.push({ key: `${keyId}:account:${account.id}`, limits: NONE });
    }
    return out;
  }

  /**
   * Admits one call charging `tokens` to TPM, or refuses it (429) / waits for room (background work).
   * `tokens` is asked for only when some limit applies to the call (counting a large prompt is not free).
   */
  async admit(account: ResolvedAccount, target: UpstreamTarget, tokens: number | (() => number), signal?: AbortSignal): Promise<AdmissionLease | null> {
    try {
      return await this.admitOrRefuse(account, target, tokens, signal);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      // The limiter's store does not answer (Redis away): calls pass rather than the whole API failing with it;
      // the upstream's own limits (and its retried 429s) still apply.
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.logger.warn(`upstream admission not enforced while its store does not answer: ${err instanceof Error ? err.message : String(err)}`);
      }
      return null;
    }
  }

  private async admitOrRefuse(account: ResolvedAccount, target: UpstreamTarget, tokensOf: number | (() => number), signal?: AbortSignal): Promise<AdmissionLease | null> {
    const checks = await this.checks(account, target);
    if (checks.length === 0) return null;
    const tokens = typeof tokensOf === 'number' ? tokensOf : tokensOf();
    const id = uuidv7();
    const leaseMs = Math.max(this.config.streamMaxMs, this.config.upstreamTimeoutMs * this.config.upstreamMaxAttempts) + 30_000;
    const bg = waiting.getStore();
    const deadline = Date.now() + (bg ? bg.waitMs ?? this.config.upstreamAdmissionWaitMs : 0);
    for (;;) {
      const r = await this.store.tryAdmit(checks, tokens, id, leaseMs);
      if (r.ok) return { keys: checks.filter((c) => c.limits.concurrency).map((c) => c.key), id };
      const which = r.block.which;
      const on = checks[r.block.index].key.startsWith('account:') ? 'this account' : checks[r.block.index].key.includes(':account:') ? "this account's share of the upstream key" : 'the upstream key';
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) {
        const retry = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
        throw new ApiError('rate_limited', `Upstream admission: the ${which === 'concurrency' ? 'concurrent calls' : which === 'rpm' ? 'requests per minute' : 'tokens per minute (prompt + max_tokens)'} limit of ${on} is reached. Retry after ${retry} s.`, null, { 'Retry-After': String(retry) });
      }
      await sleep(Math.min(left, Math.max(50, which === 'concurrency' ? 100 : r.retryAfterMs)), signal);
    }
  }

  async release(lease: AdmissionLease | null): Promise<void> {
    if (!lease) return;
    await this.store.release(lease.keys, lease.id).catch((e) => this.logger.warn(`could not release an admission lease (it expires on its own): ${String(e)}`));
  }

  /**
   * The upstream's own x-ratelimit-* figures correct the key's counts: what it says remains this minute, on
   * the limiter's scale (limit - remaining), raises what the limiter counted (never lowers it).
   */
  async correct(account: ResolvedAccount, target: UpstreamTarget, rl: UpstreamRateLimit | undefined): Promise<void> {
    const key = this.config.upstreamKeyLimits;
    if (!rl || !isLimited(key)) return;
    const used = {
      requests: key.rpm && rl.remainingRequests !== undefined ? Math.max(0, key.rpm - rl.remainingRequests) : undefined,
      tokens: key.tpm && rl.remainingTokens !== undefined ? Math.max(0, key.tpm - rl.remainingTokens) : undefined,
    };
    if (used.requests === undefined && used.tokens === undefined) return;
    await this.store.correct(this.keyId(target), used).catch(() => undefined);
  }

  /** The limiter's view of an account: its limits in force, and what is in flight and admitted this minute. */
  async accountState(account: ResolvedAccount) {
    const l = this.accountLimits(account);
    const [st] = await this.store.state([`account:${account.id}`]);
    return { limits: { concurrency: l.concurrency ?? 0, rpm: l.rpm ?? 0, tpm: l.tpm ?? 0 }, in_flight: st?.in_flight ?? 0, requests: st?.requests ?? 0, tokens: st?.tokens ?? 0 };
  }
}
