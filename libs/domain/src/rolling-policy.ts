// The cache-aware rolling policy: when to compact, what to compress, what to keep verbatim.
import {
  DEFAULT_COMPRESS_RATIO,
  DEFAULT_KEEP_ROUNDS,
  DEFAULT_PRESERVE_LEN,
  DEFAULT_REPLY_RESERVE,
  DEFAULT_TRIGGER_TOKENS,
  MAX_COMPRESS_RATIO,
  MAX_TRIGGER_SHARE,
  MIN_COMPRESS_RATIO,
  MIN_PRESERVE_LEN,
  outlineTargetTokens,
} from './budget';
import { DomainError } from './errors';
import { safeCutFlags, splitRounds, suffixTokens } from './rounds';
import { planTruncation, planTruncationUnchecked, type TruncationPlan } from './truncation';
import type { StoredMessage } from './types';

export interface RollingPolicy {
  autoCompact: boolean;
  /** Compact before window + incoming + reply reserve would pass this many tokens. */
  triggerTokens: number;
  /** Fallback truncation keeps this many tokens of recent messages (>= 4096). */
  preserveLen: number;
  /** Newest rounds that always stay verbatim. */
  keepRounds: number;
  /** Target input:output ratio of a compression (2..10). */
  compressRatio: number;
}

export const DEFAULT_ROLLING_POLICY: Readonly<RollingPolicy> = Object.freeze({
  autoCompact: true,
  triggerTokens: DEFAULT_TRIGGER_TOKENS,
  preserveLen: DEFAULT_PRESERVE_LEN,
  keepRounds: DEFAULT_KEEP_ROUNDS,
  compressRatio: DEFAULT_COMPRESS_RATIO,
});

/** Outlines may fill this share of the trigger before the next compaction folds them into one. */
export const MAX_OUTLINE_SHARE = 0.25;
/** The summarizer may answer up to this multiple of its target length. */
export const SUMMARIZER_REPLY_SLACK = 1.5;
export const MIN_SUMMARIZER_REPLY_TOKENS = 512;
/** Transcript framing per message (`[seq n] role: `) on top of the message's own tokens. */
export const TRANSCRIPT_TOKENS_PER_MESSAGE = 8;
/**
 * After a compaction the window (with the incoming messages) sits at most at this share of the trigger:
 * the outline is condensed harder, or older outlines are folded in, until it does. Without it a session
 * whose outline keeps growing compacts again and again for almost nothing (a spiral).
 */
export const POST_COMPACTION_SHARE = 0.5;
/** With a cold upstream cache, compacting early is free of the prefix-rewrite cost; only above this share of the trigger. */
export const EARLY_COMPACTION_SHARE = 0.6;
/** An early compaction must move at least this share of the trigger: compact in large steps. */
export const MIN_EARLY_STEP_SHARE = 0.2;
/** The hardest a compaction condenses to meet POST_COMPACTION_SHARE. */
export const MAX_CONDENSE_RATIO = 20;

/**
 * A session's policy: explicit fields are validated as given; defaulted ones shrink to fit a small
 * context (trigger at most 80% of it, preserve_len at most half the trigger) before validation.
 */
export function resolvePolicy(
  partial: Partial<RollingPolicy> | null | undefined,
  defaults: Readonly<RollingPolicy>,
  contextWindow: number,
  reserveTokens: number = DEFAULT_REPLY_RESERVE,
): RollingPolicy {
  const given = partial ?? {};
  const triggerTokens =
    given.triggerTokens ??
    Math.min(defaults.triggerTokens, Math.floor(contextWindow * MAX_TRIGGER_SHARE), contextWindow - reserveTokens);
  const preserveLen =
    given.preserveLen ?? Math.max(MIN_PRESERVE_LEN, Math.min(defaults.preserveLen, Math.floor(triggerTokens / 2)));
  const policy: RollingPolicy = {
    autoCompact: given.autoCompact ?? defaults.autoCompact,
    triggerTokens,
    preserveLen,
    keepRounds: given.keepRounds ?? defaults.keepRounds,
    compressRatio: given.compressRatio ?? defaults.compressRatio,
  };
  validatePolicy(policy, contextWindow, reserveTokens);
  return policy;
}

export function validatePolicy(policy: RollingPolicy, contextWindow: number, reserveTokens: number): void {
  if (typeof policy.autoCompact !== 'boolean') invalid('policy.auto_compact', 'must be a boolean');
  if (!Number.isInteger(policy.preserveLen) || policy.preserveLen < MIN_PRESERVE_LEN) {
    invalid('policy.preserve_len', `must be an integer >= ${MIN_PRESERVE_LEN}`);
  }
  if (!Number.isInteger(policy.triggerTokens) || policy.triggerTokens <= 0) {
    invalid('policy.trigger_tokens', 'must be a positive integer');
  }
  if (policy.triggerTokens + reserveTokens > contextWindow) {
    invalid(
      'policy.trigger_tokens',
      `plus the reply reserve (${reserveTokens}) must fit the context window (${contextWindow})`,
    );
  }
  if (policy.preserveLen >= policy.triggerTokens) {
    invalid('policy.preserve_len', `must be below trigger_tokens (${policy.triggerTokens})`);
  }
  if (!Number.isInteger(policy.keepRounds) || policy.keepRounds < 1) invalid('policy.keep_rounds', 'must be an integer >= 1');
  if (
    typeof policy.compressRatio !== 'number' ||
    !(policy.compressRatio >= MIN_COMPRESS_RATIO && policy.compressRatio <= MAX_COMPRESS_RATIO)
  ) {
    invalid('policy.compress_ratio', `must be between ${MIN_COMPRESS_RATIO} and ${MAX_COMPRESS_RATIO}`);
  }
}

function invalid(param: string, problem: string): never {
  throw new DomainError('invalid_request', `${param} ${problem}`, param);
}

/** max_tokens for a summarizer call: room for an outline up to SUMMARIZER_REPLY_SLACK x its target. */
export function summarizerReplyTokens(inputTokens: number, ratio: number): number {
  return Math.max(MIN_SUMMARIZER_REPLY_TOKENS, Math.ceil((inputTokens * SUMMARIZER_REPLY_SLACK) / ratio));
}

export interface CompactionInput {
  policy: RollingPolicy;
  pinnedTokens: number;
  outlineTokens: number;
  /** The window's verbatim messages, ascending by seq. */
  recent: readonly StoredMessage[];
  /** Tokens of the messages about to be appended. */
  incomingTokens: number;
  /** The reply reserve of the coming request (`max_tokens`). */
  reserveTokens: number;
  contextWindow: number;
  /** The summarizer's fixed system prompt. */
  summarizerPromptTokens: number;
  /** The upstream's prefix cache for this session has expired (idle longer than its TTL): a rewrite costs nothing extra. */
  cacheCold?: boolean;
  /** Share of the trigger the window may fill after a compaction (default POST_COMPACTION_SHARE). */
  targetShare?: number;
  /** With a cold cache, compact early above this share of the trigger (default EARLY_COMPACTION_SHARE). */
  earlyShare?: number;
  /** The summarizer reads the window in context (pinned prefix and earlier outlines too), not a transcript of the range. */
  summarizerSeesWindow?: boolean;
}

export interface CompactionDecision {
  reason: 'rolling';
  /** `ceiling`: the trigger would be passed; `cold_cache`: below it, but the cache is cold, so compacting now is cheapest. */
  trigger: 'ceiling' | 'cold_cache';
  /** The ratio asked of the summarizer: the policy's, or higher so the window lands under targetWindowTokens. */
  ratio: number;
  /** The window the compaction aims for (targetShare of the trigger). */
  targetWindowTokens: number;
  /** The verbatim range to compress; both null when nothing can be compressed (truncation only). */
  compressFromSeq: number | null;
  compressToSeq: number | null;
  compressTokens: number;
  /** Give the window's current outlines to the summarizer too; the new outline replaces them. */
  foldOutlines: boolean;
  /** Everything the summarizer reads: the range, its transcript framing and any folded outlines. */
  summarizerInputTokens: number;
  targetOutlineTokens: number;
  /** `max_tokens` for the summarizer call. */
  summarizerReplyTokens: number;
  /** The range was shortened so the summarizer call fits the context; another compaction will follow. */
  capped: boolean;
  /** First verbatim seq left in the window (null: none left). */
  keepFromSeq: number | null;
  /** Set when even after compressing, the window only fits by truncating the kept part to this. */
  mustTruncateTo?: number;
  /** Verbatim tokens that leave the window without being compressed (only with mustTruncateTo). */
  droppedTokens: number;
  /** Window tokens after the compaction and the append, without the reply reserve. */
  expectedWindowTokens: number;
  /** expectedWindowTokens + reserve fits the context (false only when pinned, outlines or one tool exchange alone are too big). */
  fits: boolean;
}

/**
 * Decides before an append whether to compact. Triggers when window + incoming + reserve would pass
 * triggerTokens; then compresses, in one step, every verbatim message older than the last
 * keepRounds rounds, cutting only where a tool call stays with its results. Returns null when
 * under the trigger, or when nothing is compressible and the request still fits the context.
 */
export function decideCompaction(input: CompactionInput): CompactionDecision | null {
  const { policy, pinnedTokens, outlineTokens, recent, incomingTokens, reserveTokens, contextWindow } = input;
  if (!policy.autoCompact) return null;
  const suffix = suffixTokens(recent);
  const projected = pinnedTokens + outlineTokens + suffix[0] + incomingTokens + reserveTokens;
  const ceiling = projected > policy.triggerTokens;
  // The trigger is a ceiling, not a schedule: below it, compact only when the cache is cold anyway.
  const early = !ceiling && input.cacheCold === true && projected >= policy.triggerTokens * (input.earlyShare ?? EARLY_COMPACTION_SHARE);
  if (!ceiling && !early) return null;
  const targetWindowTokens = Math.floor(policy.triggerTokens * (input.targetShare ?? POST_COMPACTION_SHARE));

  const flags = safeCutFlags(recent);
  const ratio = policy.compressRatio;
  const prefix = (index: number): number => suffix[0] - suffix[index];
  const keepIndex = keptRoundsStart(recent, flags, policy.keepRounds);
  const outlineBudget = Math.floor(policy.triggerTokens * MAX_OUTLINE_SHARE);
  // Fold earlier outlines into the new one when they would fill their share, or keep the window above its target.
  const fold =
    outlineTokens > 0 &&
    (outlineTokens + outlineTargetTokens(prefix(keepIndex), ratio) > outlineBudget ||
      pinnedTokens + outlineTokens + outlineTargetTokens(prefix(keepIndex), ratio) + suffix[keepIndex] + incomingTokens > targetWindowTokens);
  const foldedTokens = fold ? outlineTokens : 0;
  // What the summarizer reads to compress recent[0..end): messages, transcript framing, folded outlines.
  const inputOf = (end: number): number => prefix(end) + end * TRANSCRIPT_TOKENS_PER_MESSAGE + foldedTokens;
  // In context, the call also carries the pinned prefix and the outlines it does not fold.
  const callContext = input.summarizerSeesWindow ? pinnedTokens + (fold ? 0 : outlineTokens) : 0;
  const callFits = (end: number): boolean =>
    callContext + inputOf(end) + input.summarizerPromptTokens + summarizerReplyTokens(inputOf(end), ratio) <= contextWindow;
  const isCut = (index: number): boolean => index === recent.length || flags[index];
  const largestCallableCut = (limit: number): number => {
    for (let c = limit; c > 0; c--) if (isCut(c) && callFits(c)) return c;
    return 0;
  };
  // The outline length that lands the window under its target: the policy's ratio, or harder (up to MAX_CONDENSE_RATIO).
  const outlineFor = (end: number, keepFrom: number): number => {
    const room = targetWindowTokens - pinnedTokens - (fold ? 0 : outlineTokens) - suffix[keepFrom] - incomingTokens;
    const byRatio = outlineTargetTokens(inputOf(end), ratio);
    return Math.min(byRatio, Math.max(room, outlineTargetTokens(inputOf(end), MAX_CONDENSE_RATIO)));
  };
  const expected = (end: number, keepFrom: number): number => {
    const outlinesAfter = end > 0 ? (fold ? 0 : outlineTokens) + outlineFor(end, keepFrom) : outlineTokens;
    return pinnedTokens + outlinesAfter + suffix[keepFrom] + incomingTokens;
  };

  let compressEnd = largestCallableCut(keepIndex);
  const capped = compressEnd < keepIndex;
  let keepFrom = compressEnd;
  let mustTruncateTo: number | undefined;
  if (expected(compressEnd, keepFrom) + reserveTokens > contextWindow) {
    // Even compressed, the kept part overflows the context: truncate it to preserve_len and
    // compress as much of what is cut as one summarizer call takes.
    const plan = planTruncationUnchecked(recent.slice(compressEnd), policy.preserveLen);
    keepFrom = compressEnd + plan.droppedSeqs;
    compressEnd = Math.max(compressEnd, largestCallableCut(keepFrom));
    mustTruncateTo = policy.preserveLen;
  } else if (compressEnd === 0) {
    return null;
  }
  // An early compaction is worth it only as a large step.
  if (early && (mustTruncateTo !== undefined || prefix(compressEnd) < policy.triggerTokens * MIN_EARLY_STEP_SHARE)) return null;

  const compresses = compressEnd > 0;
  const summarizerInputTokens = compresses ? inputOf(compressEnd) : 0;
  const expectedWindowTokens = expected(compressEnd, keepFrom);
  const targetOutline = compresses ? outlineFor(compressEnd, keepFrom) : 0;
  const effectiveRatio = compresses ? Math.max(ratio, Math.round((summarizerInputTokens / Math.max(1, targetOutline)) * 100) / 100) : ratio;
  const decision: CompactionDecision = {
    reason: 'rolling',
    trigger: ceiling ? 'ceiling' : 'cold_cache',
    ratio: effectiveRatio,
    targetWindowTokens,
    compressFromSeq: compresses ? recent[0].seq : null,
    compressToSeq: compresses ? recent[compressEnd - 1].seq : null,
    compressTokens: prefix(compressEnd),
    foldOutlines: compresses && fold,
    summarizerInputTokens,
    targetOutlineTokens: targetOutline,
    summarizerReplyTokens: compresses ? summarizerReplyTokens(summarizerInputTokens, ratio) : 0,
    capped: compresses && capped,
    keepFromSeq: keepFrom < recent.length ? recent[keepFrom].seq : null,
    droppedTokens: suffix[compressEnd] - suffix[keepFrom],
    expectedWindowTokens,
    fits: expectedWindowTokens + reserveTokens <= contextWindow,
  };
  if (mustTruncateTo !== undefined) decision.mustTruncateTo = mustTruncateTo;
  return decision;
}

/** Index where the last keepRounds rounds start, moved earlier to a safe cut so no tool pair is split. */
function keptRoundsStart(recent: readonly StoredMessage[], flags: boolean[], keepRounds: number): number {
  const rounds = splitRounds(recent);
  if (rounds.length <= keepRounds) return 0;
  const startSeq = rounds[rounds.length - keepRounds].fromSeq;
  let index = recent.findIndex((m) => m.seq === startSeq);
  while (index > 0 && !flags[index]) index--;
  return index;
}

export interface FallbackTruncationInput {
  policy: RollingPolicy;
  pinnedTokens: number;
  outlineTokens: number;
  recent: readonly StoredMessage[];
  incomingTokens: number;
  reserveTokens: number;
  contextWindow: number;
}

export interface FallbackTruncation extends TruncationPlan {
  reason: 'fallback_truncation';
  expectedWindowTokens: number;
  fits: boolean;
}

/** When compression fails or times out: plain truncation to preserve_len, so the user's turn still goes through. */
export function decideFallbackTruncation(input: FallbackTruncationInput): FallbackTruncation {
  const plan = planTruncation({ recent: input.recent, preserveLen: input.policy.preserveLen });
  const expectedWindowTokens = input.pinnedTokens + input.outlineTokens + plan.keptTokens + input.incomingTokens;
  return {
    reason: 'fallback_truncation',
    ...plan,
    expectedWindowTokens,
    fits: expectedWindowTokens + input.reserveTokens <= input.contextWindow,
  };
}
