import { DEFAULT_REPLY_RESERVE } from './budget';
import { DomainError } from './errors';
import {
  type CompactionInput,
  decideCompaction,
  decideFallbackTruncation,
  DEFAULT_ROLLING_POLICY,
  resolvePolicy,
  type RollingPolicy,
} from './rolling-policy';
import { splitRounds } from './rounds';
import { conversation, randomConversation, seededRandom, toolPairsIntact } from './testing/conversation-builder';
import type { StoredMessage } from './types';

const K2_CONTEXT = 262144;

/** n rounds of a 4000-token user message and a 4000-token reply: round i is seqs 2i-1, 2i. */
function rounds(n: number, userTokens = 4000, replyTokens = 4000): StoredMessage[] {
  const builder = conversation();
  for (let i = 0; i < n; i++) builder.round(userTokens, replyTokens);
  return builder.build();
}

function input(overrides: Partial<CompactionInput> & { recent: StoredMessage[] }): CompactionInput {
  return {
    policy: { ...DEFAULT_ROLLING_POLICY },
    pinnedTokens: 3000,
    outlineTokens: 0,
    incomingTokens: 8000,
    reserveTokens: 8192,
    contextWindow: K2_CONTEXT,
    summarizerPromptTokens: 600,
    ...overrides,
  };
}

const kept = (recent: StoredMessage[], keepFromSeq: number | null) => recent.filter((m) => m.seq >= (keepFromSeq ?? Infinity));

describe('rolling policy configuration', () => {
  it('resolves the defaults for Kimi K2: trigger 180K, keep 3 rounds, ratio 4, auto-compact on', () => {
    expect(resolvePolicy({}, DEFAULT_ROLLING_POLICY, K2_CONTEXT)).toEqual({
      autoCompact: true, triggerTokens: 180000, preserveLen: 16384, keepRounds: 3, compressRatio: 4,
    });
  });

  it('shrinks a defaulted trigger and preserve_len to fit a small context (keeping 20% headroom)', () => {
    expect(resolvePolicy(undefined, DEFAULT_ROLLING_POLICY, 32768)).toMatchObject({ triggerTokens: 24576, preserveLen: 12288 });
  });

  it('keeps explicit fields as given', () => {
    const policy = resolvePolicy({ triggerTokens: 100000, preserveLen: 4096, keepRounds: 5, compressRatio: 2.5, autoCompact: false }, DEFAULT_ROLLING_POLICY, K2_CONTEXT);
    expect(policy).toEqual({ autoCompact: false, triggerTokens: 100000, preserveLen: 4096, keepRounds: 5, compressRatio: 2.5 });
  });

  it.each<{ field: string; partial: Partial<RollingPolicy>; param: string }>([
    { field: 'a trigger that leaves no room for the reply reserve', partial: { triggerTokens: K2_CONTEXT - DEFAULT_REPLY_RESERVE + 1 }, param: 'policy.trigger_tokens' },
    { field: 'a zero trigger', partial: { triggerTokens: 0 }, param: 'policy.trigger_tokens' },
    { field: 'preserve_len below 4096', partial: { preserveLen: 4095 }, param: 'policy.preserve_len' },
    { field: 'preserve_len at or above the trigger', partial: { triggerTokens: 50000, preserveLen: 50000 }, param: 'policy.preserve_len' },
    { field: 'keep_rounds of 0', partial: { keepRounds: 0 }, param: 'policy.keep_rounds' },
    { field: 'a fractional keep_rounds', partial: { keepRounds: 1.5 }, param: 'policy.keep_rounds' },
    { field: 'a compress ratio below 2', partial: { compressRatio: 1.5 }, param: 'policy.compress_ratio' },
    { field: 'a compress ratio above 10', partial: { compressRatio: 11 }, param: 'policy.compress_ratio' },
  ])('rejects $field with invalid_request naming the field', ({ partial, param }) => {
    const act = () => resolvePolicy(partial, DEFAULT_ROLLING_POLICY, K2_CONTEXT);
    expect(act).toThrow(DomainError);
    expect(act).toThrow(expect.objectContaining({ code: 'invalid_request', param }));
  });
});

describe('rolling compaction decision', () => {
  it.each([
    // 20 rounds = 160000 recent + 3000 pinned: 163000 + incoming + 8192 reserve vs trigger 180000
    { case: 'stays quiet while window + incoming + reserve stays at the trigger', n: 20, incoming: 8808, triggers: false },
    { case: 'triggers before an append would push it one token past', n: 20, incoming: 8809, triggers: true },
    { case: 'triggers when the window itself is already past', n: 22, incoming: 0, triggers: true },
  ])('$case', ({ n, incoming, triggers }) => {
    const decision = decideCompaction(input({ recent: rounds(n), incomingTokens: incoming }));
    expect(decision !== null).toBe(triggers);
  });

  it('lands the window at most at half the trigger: condenses harder than the ratio when the kept rounds leave less room', () => {
    // 10 rounds of 18000: the 3 kept rounds are 54000, so at ratio 4 the outline of the other 126000 (~31.5K)
    // would leave the window at ~96.5K, above half the trigger: the ratio goes up until it fits.
    const recent = rounds(10, 8000, 10000);
    const decision = decideCompaction(input({ recent }))!;
    expect(decision.trigger).toBe('ceiling');
    expect(decision.expectedWindowTokens).toBeLessThanOrEqual(decision.targetWindowTokens);
    expect(decision.ratio).toBeGreaterThan(4);
    expect(decision.targetOutlineTokens).toBeLessThanOrEqual(90000 - 3000 - 54000 - 8000);
  });

  it('folds earlier outlines in when keeping them would leave the window above its target', () => {
    const recent = rounds(16);
    const decision = decideCompaction(input({ recent, outlineTokens: 40000 }))!;
    expect(decision.foldOutlines).toBe(true);
    expect(decision.expectedWindowTokens).toBeLessThanOrEqual(decision.targetWindowTokens);
  });

  it('never spirals: compacting a session again and again keeps freeing at least half the trigger each time', () => {
    let outlineTokens = 0;
    const freed: number[] = [];
    for (let i = 0; i < 8; i++) {
      const recent = rounds(14, 6000, 6000);
      const d = decideCompaction(input({ recent, outlineTokens }))!;
      expect(d).not.toBeNull();
      expect(d.expectedWindowTokens).toBeLessThanOrEqual(d.targetWindowTokens);
      const before = 3000 + outlineTokens + 168000 + 8000;
      freed.push(before - d.expectedWindowTokens);
      outlineTokens = d.expectedWindowTokens - 3000 - 8000 - recent.filter((m) => m.seq >= (d.keepFromSeq ?? Infinity)).reduce((n, m) => n + m.tokens, 0);
    }
    for (const f of freed) expect(f).toBeGreaterThanOrEqual(90000 - 8000);
  });

  it('below the trigger, compacts early only when the cache is cold, and only as a large step', () => {
    const recent = rounds(15); // 120000 + 3000 + 8000 + 8192 = 139192: under 180000, above 60% of it
    expect(decideCompaction(input({ recent }))).toBeNull();
    expect(decideCompaction(input({ recent, cacheCold: false }))).toBeNull();
    const cold = decideCompaction(input({ recent, cacheCold: true }))!;
    expect(cold.trigger).toBe('cold_cache');
    expect(cold.compressTokens).toBeGreaterThanOrEqual(180000 * 0.2);
    // Too small a window for an early step: nothing.
    expect(decideCompaction(input({ recent: rounds(6), cacheCold: true }))).toBeNull();
  });

  it('does nothing when auto-compact is off', () => {
    expect(decideCompaction(input({ recent: rounds(30), policy: { ...DEFAULT_ROLLING_POLICY, autoCompact: false } }))).toBeNull();
  });

  it('compresses everything older than the kept rounds in one large step', () => {
    const decision = decideCompaction(input({ recent: rounds(21) }));
    expect(decision).toEqual({
      reason: 'rolling',
      trigger: 'ceiling',
      ratio: 4,
      targetWindowTokens: 90000,
      compressFromSeq: 1,
      compressToSeq: 36,
      compressTokens: 144000,
      foldOutlines: false,
      summarizerInputTokens: 144288, // plus 8 tokens of transcript framing per message
      targetOutlineTokens: 36072,
      summarizerReplyTokens: 54108,
      capped: false,
      keepFromSeq: 37,
      droppedTokens: 0,
      expectedWindowTokens: 3000 + 36072 + 24000 + 8000,
      fits: true,
    });
  });

  it.each([{ keepRounds: 1 }, { keepRounds: 2 }, { keepRounds: 3 }, { keepRounds: 5 }])(
    'keeps the last $keepRounds rounds verbatim',
    ({ keepRounds }) => {
      const recent = rounds(21);
      const decision = decideCompaction(input({ recent, policy: { ...DEFAULT_ROLLING_POLICY, keepRounds } }));
      const lastRounds = splitRounds(recent).slice(-keepRounds);
      expect(decision?.keepFromSeq).toBe(lastRounds[0].fromSeq);
      expect(decision?.compressToSeq).toBe(lastRounds[0].fromSeq - 1);
    },
  );

  it('never separates a tool call from its result when compacting (the kept round starts inside a tool pair)', () => {
    // The last round opens with a user message sent between a tool call and its result.
    const recent = [
      ...rounds(22),
      ...conversation(45).user(1000).toolCalls(500).user(300).toolResults(2000).assistant(800).build(),
    ];
    const decision = decideCompaction(input({ recent, policy: { ...DEFAULT_ROLLING_POLICY, keepRounds: 1 } }));
    expect(decision?.keepFromSeq).toBe(46); // the tool call, not the interrupting user message at 47
    expect(toolPairsIntact(kept(recent, decision?.keepFromSeq ?? null))).toBe(true);
  });

  it('caps the compressed range so the summarizer call fits the context, and says so', () => {
    // 64K context, ratio 2: the summarizer can read about 37K tokens, the candidate range is 48K.
    const policy: RollingPolicy = { autoCompact: true, triggerTokens: 60000, preserveLen: 8192, keepRounds: 1, compressRatio: 2 };
    const decision = decideCompaction(
      input({ recent: rounds(13, 2000, 2000), policy, pinnedTokens: 1000, incomingTokens: 4000, reserveTokens: 4096, contextWindow: 65536 }),
    );
    expect(decision).toMatchObject({ capped: true, compressFromSeq: 1, compressToSeq: 18, keepFromSeq: 19, droppedTokens: 0, fits: true });
    const call = decision!.summarizerInputTokens + 600 + decision!.summarizerReplyTokens;
    expect(call).toBeLessThanOrEqual(65536);
  });

  it('folds earlier outlines into the new one once they would fill a quarter of the trigger', () => {
    const decision = decideCompaction(input({ recent: rounds(21), outlineTokens: 20000 }));
    expect(decision).toMatchObject({ foldOutlines: true, summarizerInputTokens: 164288, targetOutlineTokens: 41072 });
    expect(decision?.expectedWindowTokens).toBe(3000 + 41072 + 24000 + 8000);
  });

  it('truncates the kept rounds to preserve_len when even after compressing they would not fit the context', () => {
    // 4 rounds of 16K in a 64K context: the 3 kept rounds alone overflow it.
    const policy: RollingPolicy = { autoCompact: true, triggerTokens: 50000, preserveLen: 8192, keepRounds: 3, compressRatio: 4 };
    const recent = rounds(4, 8000, 8000);
    const decision = decideCompaction(input({ recent, policy, pinnedTokens: 1000, incomingTokens: 8000, contextWindow: 65536 }));
    expect(decision).toMatchObject({ mustTruncateTo: 8192, compressFromSeq: 1, compressToSeq: 5, keepFromSeq: 8, droppedTokens: 16000, fits: true });
    expect(decision!.expectedWindowTokens + 8192).toBeLessThanOrEqual(65536);
  });

  it('does nothing when only the kept rounds are in the window and the request still fits', () => {
    expect(decideCompaction(input({ recent: rounds(3, 30000, 30000) }))).toBeNull();
  });

  it('when only the kept rounds are in the window and they overflow the context, cuts into them and compresses what the call can take', () => {
    const recent = rounds(3, 40000, 40000);
    const decision = decideCompaction(input({ recent, reserveTokens: 32000 }));
    // seqs 1..4 fit one summarizer call, seq 5 leaves the window, seq 6 (the newest unit) stays.
    expect(decision).toMatchObject({ compressFromSeq: 1, compressToSeq: 4, mustTruncateTo: 16384, keepFromSeq: 6, droppedTokens: 40000, fits: true });
  });

  it('truncates without compressing when nothing before the kept part fits a summarizer call', () => {
    // A 50K message cannot go into a summarizer call in a 64K context (it reads at most ~47K).
    const policy: RollingPolicy = { autoCompact: true, triggerTokens: 50000, preserveLen: 8192, keepRounds: 3, compressRatio: 4 };
    const decision = decideCompaction(
      input({ recent: rounds(1, 50000, 10000), policy, pinnedTokens: 1000, incomingTokens: 2000, reserveTokens: 4096, contextWindow: 65536 }),
    );
    expect(decision).toMatchObject({
      compressFromSeq: null, compressToSeq: null, compressTokens: 0, mustTruncateTo: 8192, keepFromSeq: 2, droppedTokens: 50000, expectedWindowTokens: 13000, fits: true,
    });
  });

  it('across generated sessions, every decision fits window + reserve in the context, keeps tool pairs whole, keeps the last rounds unless it must truncate, and fits the summarizer call', () => {
    let decisions = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const rand = seededRandom(seed);
      const contextWindow = [65536, 131072, 262144][seed % 3];
      const reserveTokens = 4096 + Math.floor(rand() * 4096);
      const policy: RollingPolicy = {
        autoCompact: true,
        triggerTokens: Math.floor(contextWindow * 0.7),
        preserveLen: 8192,
        keepRounds: 1 + (seed % 4),
        compressRatio: 2 + (seed % 9),
      };
      const recent = randomConversation(seed, 5 + Math.floor(rand() * 60));
      const outlineTokens = Math.floor(rand() * 8000);
      const decision = decideCompaction({
        policy, pinnedTokens: 2000, outlineTokens, recent, incomingTokens: Math.floor(rand() * 8192),
        reserveTokens, contextWindow, summarizerPromptTokens: 600,
      });
      if (!decision) continue;
      decisions += 1;
      expect(decision.fits).toBe(true);
      expect(decision.expectedWindowTokens + reserveTokens).toBeLessThanOrEqual(contextWindow);
      const keptPart = kept(recent, decision.keepFromSeq);
      expect(toolPairsIntact(keptPart)).toBe(true);
      if (decision.mustTruncateTo === undefined) {
        const lastRounds = splitRounds(recent).slice(-policy.keepRounds);
        expect(decision.keepFromSeq).toBeLessThanOrEqual(lastRounds[0].fromSeq);
      }
      if (decision.compressFromSeq !== null) {
        expect(decision.summarizerInputTokens + 600 + decision.summarizerReplyTokens).toBeLessThanOrEqual(contextWindow);
        expect(decision.compressToSeq!).toBeLessThan(decision.keepFromSeq ?? Infinity);
      }
    }
    expect(decisions).toBeGreaterThan(50);
  });
});

describe('fallback truncation (compression failed)', () => {
  it('truncates plainly to preserve_len, keeping tool pairs whole', () => {
    const recent = [...rounds(10), ...conversation(21).user(1000).toolCalls(3000).toolResults(9000).assistant(500).build()];
    const decision = decideFallbackTruncation({
      policy: { ...DEFAULT_ROLLING_POLICY, preserveLen: 12600 },
      pinnedTokens: 3000, outlineTokens: 0, recent, incomingTokens: 100, reserveTokens: 8192, contextWindow: K2_CONTEXT,
    });
    expect(decision).toMatchObject({ reason: 'fallback_truncation', keepFromSeq: 22, keptTokens: 12500, expectedWindowTokens: 15600, fits: true });
    expect(toolPairsIntact(kept(recent, decision.keepFromSeq))).toBe(true);
  });
});

describe('summarizer call in context', () => {
  it('counts the pinned prefix and unfolded outlines in the summarizer call, so it still fits the context', () => {
    const base = { recent: rounds(26), pinnedTokens: 30000, outlineTokens: 10000, contextWindow: 220000, policy: { ...DEFAULT_ROLLING_POLICY, triggerTokens: 200000 } };
    const transcript = decideCompaction(input(base))!;
    const inContext = decideCompaction(input({ ...base, summarizerSeesWindow: true }))!;
    const call = (d: typeof inContext, extra: number) => extra + d.summarizerInputTokens + 600 + d.summarizerReplyTokens;
    expect(call(inContext, 30000 + (inContext.foldOutlines ? 0 : 10000))).toBeLessThanOrEqual(220000);
    expect(inContext.compressTokens).toBeLessThanOrEqual(transcript.compressTokens);
  });
});
