import { admissionBlock, fairShare, periodStart, refusal, remaining, rollOver, worstCase, type BudgetState } from './spend';

const budget = (over: Partial<BudgetState> = {}): BudgetState => ({
  id: 'b1', scope: 'account', scopeId: 'a1', usd: 1, tokens: null, period: 'none', periodStart: new Date(0),
  spentUsd: 0, spentTokens: 0, reservedUsd: 0, reservedTokens: 0, ...over,
});

describe('spend budgets', () => {
  it('prices the worst case: the prompt (with the margin) at miss + cache-write prices, max_tokens at the output price', () => {
    const w = worstCase(1000, 500, { inputCacheMissPerM: 1, outputPerM: 4, cacheWritePerM: 1 }, 0.1);
    expect(w.tokens).toBe(1100 + 16 + 500);
    expect(w.usd).toBeCloseTo(((1116 * 2) + 500 * 4) / 1e6, 12);
  });

  it('counts what is reserved as well as what is spent, and names the first budget that cannot take the call', () => {
    const roomy = budget({ id: 'roomy', usd: null, tokens: 10_000 });
    const tight = budget({ id: 'tight', usd: 1, spentUsd: 0.5, reservedUsd: 0.4 });
    expect(remaining(tight).usd).toBeCloseTo(0.1);
    expect(refusal([roomy, tight], { usd: 0.1, tokens: 100 })).toBeNull();
    const r = refusal([roomy, tight], { usd: 0.11, tokens: 100 });
    expect(r).toMatchObject({ budget: { id: 'tight' }, kind: 'usd', needed: 0.11 });
    expect(r!.remaining).toBeCloseTo(0.1);
    expect(refusal([roomy], { usd: 0, tokens: 10_001 })).toMatchObject({ kind: 'tokens', remaining: 10_000 });
  });

  it('starts a day or month budget again when its period rolls over, keeping reservations', () => {
    const now = new Date('2026-12-01T03:00:00Z');
    expect(periodStart('day', now).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(periodStart('month', now).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    const old = budget({ period: 'day', periodStart: new Date('2026-11-30T00:00:00Z'), spentUsd: 0.9, reservedUsd: 0.05 });
    expect(rollOver(old, now)).toMatchObject({ spentUsd: 0, reservedUsd: 0.05, periodStart: new Date('2026-12-01T00:00:00Z') });
    const none = budget({ spentUsd: 0.9 });
    expect(rollOver(none, now).spentUsd).toBe(0.9);
  });
});

describe('upstream admission', () => {
  const limits = { concurrency: 2, rpm: 10, tpm: 5000 };
  it('blocks on concurrency, then requests, then tokens charged at admission', () => {
    expect(admissionBlock([{ limits, inFlight: 1, requests: 9, tokens: 3000 }], 2000)).toBeNull();
    expect(admissionBlock([{ limits, inFlight: 2, requests: 0, tokens: 0 }], 1)).toEqual({ index: 0, which: 'concurrency' });
    expect(admissionBlock([{ limits, inFlight: 0, requests: 10, tokens: 0 }], 1)).toEqual({ index: 0, which: 'rpm' });
    expect(admissionBlock([{ limits: { concurrency: null, rpm: null, tpm: null }, inFlight: 99, requests: 99, tokens: 99 }, { limits, inFlight: 0, requests: 0, tokens: 3001 }], 2000)).toEqual({ index: 1, which: 'tpm' });
  });

  it('admits a call larger than the whole TPM alone into an empty minute', () => {
    expect(admissionBlock([{ limits, inFlight: 0, requests: 0, tokens: 0 }], 9000)).toBeNull();
    expect(admissionBlock([{ limits, inFlight: 0, requests: 1, tokens: 1 }], 9000)).toEqual({ index: 0, which: 'tpm' });
  });

  it('splits a shared key fairly between the accounts using it', () => {
    expect(fairShare({ concurrency: 3, rpm: 500, tpm: null }, 2)).toEqual({ concurrency: 2, rpm: 250, tpm: null });
    expect(fairShare({ concurrency: 100, rpm: 500, tpm: 3_000_000 }, 1)).toEqual({ concurrency: 100, rpm: 500, tpm: 3_000_000 });
  });
});
