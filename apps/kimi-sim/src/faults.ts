import type { FaultProbabilities } from './options';
import { seededRandom } from './random';

export type FaultKind = '429' | '500' | 'cut' | 'hang';

/** Queue the next `count` chat requests (of `key`, or of any key) to fail as `kind`. */
export interface FaultPlan {
  kind: FaultKind;
  count: number;
  key?: string;
  /** For `cut`: about how many completion tokens stream before the socket is destroyed (default 8). */
  after_tokens?: number;
}

export interface Fault {
  kind: FaultKind;
  afterTokens: number;
}

export const DEFAULT_CUT_AFTER_TOKENS = 8;
const FAULT_KINDS: FaultKind[] = ['429', '500', 'cut', 'hang'];

/** Returns an error message for a 400, or null when `plan` is a valid FaultPlan. */
export function invalidFaultPlan(plan: unknown): string | null {
  if (plan === null || typeof plan !== 'object' || Array.isArray(plan)) return 'fault plan must be a JSON object';
  const p = plan as Record<string, unknown>;
  if (!FAULT_KINDS.includes(p.kind as FaultKind)) return "kind must be one of '429', '500', 'cut', 'hang'";
  if (!(typeof p.count === 'number' && Number.isInteger(p.count) && p.count >= 1)) return 'count must be a positive integer';
  if (p.key !== undefined && (typeof p.key !== 'string' || p.key === '')) return 'key must be a non-empty string';
  if (p.after_tokens !== undefined && !(typeof p.after_tokens === 'number' && Number.isInteger(p.after_tokens) && p.after_tokens >= 0)) {
    return 'after_tokens must be an integer >= 0';
  }
  return null;
}

/** Decides which chat requests fail: queued plans first (FIFO), then seeded probabilities. */
export class FaultInjector {
  private plans: { plan: FaultPlan; remaining: number }[] = [];
  private random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  inject(plan: FaultPlan): void {
    const reason = invalidFaultPlan(plan);
    if (reason) throw new Error(`invalid fault plan: ${reason}`);
    this.plans.push({ plan: { ...plan }, remaining: plan.count });
  }

  pending(): FaultPlan[] {
    return this.plans.map(({ plan, remaining }) => ({ ...plan, count: remaining }));
  }

  /** Clears queued plans and restarts the PRNG, so a run after reset draws the same faults again. */
  reset(seed: number): void {
    this.plans = [];
    this.random = seededRandom(seed);
  }

  next(key: string, probabilities: FaultProbabilities): Fault | null {
    const i = this.plans.findIndex(({ plan }) => plan.key === undefined || plan.key === key);
    if (i >= 0) {
      const queued = this.plans[i];
      if (--queued.remaining === 0) this.plans.splice(i, 1);
      return { kind: queued.plan.kind, afterTokens: queued.plan.after_tokens ?? DEFAULT_CUT_AFTER_TOKENS };
    }
    const { rate429, rate500, cut, hang } = probabilities;
    if (rate429 + rate500 + cut + hang === 0) return null;
    const r = this.random();
    const kind: FaultKind | null =
      r < rate429 ? '429' : r < rate429 + rate500 ? '500' : r < rate429 + rate500 + cut ? 'cut' : r < rate429 + rate500 + cut + hang ? 'hang' : null;
    return kind ? { kind, afterTokens: DEFAULT_CUT_AFTER_TOKENS } : null;
  }
}
