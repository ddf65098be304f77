// Spend budgets and upstream admission: pure arithmetic, no I/O (the repositories lock and write).

export type BudgetPeriod = 'day' | 'month' | 'none';
export type BudgetScope = 'account' | 'session' | 'task';

export interface BudgetLimits {
  usd: number | null;
  tokens: number | null;
  period: BudgetPeriod;
}

/** One budget's counters as stored: spent in the current period, and reserved by calls in flight. */
export interface BudgetState extends BudgetLimits {
  id: string;
  scope: BudgetScope;
  scopeId: string;
  periodStart: Date;
  spentUsd: number;
  spentTokens: number;
  reservedUsd: number;
  reservedTokens: number;
}

export interface SpendAmount {
  usd: number;
  tokens: number;
}

/** Start of the period `now` falls in (UTC); `none` never rolls over. */
export function periodStart(period: BudgetPeriod, now: Date): Date {
  if (period === 'day') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  if (period === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return new Date(0);
}

/** The budget as it stands at `now`: a period that rolled over starts again from zero spend (reservations stay). */
export function rollOver(b: BudgetState, now: Date): BudgetState {
  const start = periodStart(b.period, now);
  if (b.period === 'none' || b.periodStart.getTime() >= start.getTime()) return b;
  return { ...b, periodStart: start, spentUsd: 0, spentTokens: 0 };
}

/** What is left to reserve: limit - spent - reserved (null: no limit of that kind). */
export function remaining(b: BudgetState): { usd: number | null; tokens: number | null } {
  return {
    usd: b.usd === null ? null : Math.max(0, b.usd - b.spentUsd - b.reservedUsd),
    tokens: b.tokens === null ? null : Math.max(0, b.tokens - b.spentTokens - b.reservedTokens),
  };
}

export interface Refusal {
  budget: BudgetState;
  kind: 'usd' | 'tokens';
  remaining: number;
  needed: number;
}

/** The first budget (in order) that cannot take `amount` on top of what it already spent and reserved; null: all can. */
export function refusal(budgets: BudgetState[], amount: SpendAmount): Refusal | null {
  for (const b of budgets) {
    const left = remaining(b);
    if (left.usd !== null && amount.usd > left.usd + 1e-12) return { budget: b, kind: 'usd', remaining: left.usd, needed: amount.usd };
    if (left.tokens !== null && amount.tokens > left.tokens) return { budget: b, kind: 'tokens', remaining: left.tokens, needed: amount.tokens };
  }
  return null;
}

export interface PriceSheet {
  inputCacheMissPerM: number;
  outputPerM: number;
  /** Price of writing a prompt token to the upstream's cache at the call's TTL (0 where writes are not billed). */
  cacheWritePerM: number;
}

/**
 * The most a call can cost: every prompt token a miss that is also written to the cache, the estimate
 * raised by `margin` (local counts are estimates), and every `max_tokens` token produced.
 */
export function worstCase(promptEstimate: number, maxTokens: number, p: PriceSheet, margin: number): SpendAmount {
  const prompt = Math.ceil(promptEstimate * (1 + margin)) + 16;
  return {
    usd: (prompt * (p.inputCacheMissPerM + p.cacheWritePerM) + maxTokens * p.outputPerM) / 1e6,
    tokens: prompt + maxTokens,
  };
}

// ------------------------------------------------------------------ upstream admission

/** Limits of one limiter key (an account, or an upstream key); 0 or null: not limited. */
export interface AdmissionLimits {
  concurrency: number | null;
  rpm: number | null;
  tpm: number | null;
}

export function isLimited(l: AdmissionLimits): boolean {
  return !!(l.concurrency || l.rpm || l.tpm);
}

/**
 * A fair share of a shared upstream key: with `active` accounts calling through it, one account may hold
 * at most its share of each limit (rounded up, at least 1) so a flood from one leaves room for the others.
 */
export function fairShare(key: AdmissionLimits, active: number): AdmissionLimits {
  const n = Math.max(1, active);
  const share = (v: number | null) => (v ? Math.max(1, Math.ceil(v / n)) : null);
  return { concurrency: share(key.concurrency), rpm: share(key.rpm), tpm: share(key.tpm) };
}

/** What a limiter key holds now: calls in flight, and requests and tokens admitted in the current minute. */
export interface AdmissionState {
  limits: AdmissionLimits;
  inFlight: number;
  requests: number;
  tokens: number;
}

export type AdmissionBlock = { index: number; which: 'concurrency' | 'rpm' | 'tpm' };

/**
 * The first key that cannot admit one more call charging `tokens` (prompt + max_tokens, as Kimi charges TPM
 * at admission); null: every key can. A call larger than a whole TPM is admitted alone into an empty minute.
 */
export function admissionBlock(states: AdmissionState[], tokens: number): AdmissionBlock | null {
  for (const [index, s] of states.entries()) {
    if (s.limits.concurrency && s.inFlight >= s.limits.concurrency) return { index, which: 'concurrency' };
    if (s.limits.rpm && s.requests + 1 > s.limits.rpm) return { index, which: 'rpm' };
    if (s.limits.tpm && s.tokens + tokens > s.limits.tpm && !(tokens > s.limits.tpm && s.tokens === 0)) return { index, which: 'tpm' };
  }
  return null;
}

/** The minute window a time falls in (ms since the epoch of its start). */
export function admissionWindow(nowMs: number): number {
  return Math.floor(nowMs / 60_000) * 60_000;
}
