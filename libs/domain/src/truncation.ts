// Plain truncation: keep the newest messages that fit preserve_len, cut at a safe place.
import { MIN_PRESERVE_LEN } from './budget';
import { DomainError } from './errors';
import { safeCutFlags, suffixTokens } from './rounds';
import type { StoredMessage } from './types';

export interface TruncationInput {
  /** The window's verbatim messages, ascending by seq. */
  recent: readonly StoredMessage[];
  preserveLen: number;
}

export interface TruncationPlan {
  /** First seq kept; null when there is nothing to keep (no recent messages). */
  keepFromSeq: number | null;
  /** How many messages leave the window. */
  droppedSeqs: number;
  droppedTokens: number;
  keptTokens: number;
  /** The newest safe unit alone exceeds preserveLen and is kept anyway. */
  overBudget: boolean;
}

export function assertPreserveLen(preserveLen: number, param = 'preserve_len'): void {
  if (!Number.isInteger(preserveLen) || preserveLen < MIN_PRESERVE_LEN) {
    throw new DomainError('invalid_request', `${param} must be an integer >= ${MIN_PRESERVE_LEN} (got ${preserveLen})`, param);
  }
}

/**
 * Keeps the newest messages whose tokens total at most preserveLen. Prefers to start at a round
 * start; otherwise at any safe cut inside the newest round; when even the newest safe unit is over
 * budget it is kept whole, because splitting a tool call from its result breaks the conversation.
 */
export function planTruncation({ recent, preserveLen }: TruncationInput): TruncationPlan {
  assertPreserveLen(preserveLen);
  return planTruncationUnchecked(recent, preserveLen);
}

/** planTruncation without the 4096 floor, for internal budgets that are already validated. */
export function planTruncationUnchecked(recent: readonly StoredMessage[], budget: number): TruncationPlan {
  if (recent.length === 0) return { keepFromSeq: null, droppedSeqs: 0, droppedTokens: 0, keptTokens: 0, overBudget: false };
  const suffix = suffixTokens(recent);
  const index = truncationIndex(recent, budget, suffix);
  return {
    keepFromSeq: recent[index].seq,
    droppedSeqs: index,
    droppedTokens: suffix[0] - suffix[index],
    keptTokens: suffix[index],
    overBudget: suffix[index] > budget,
  };
}

function truncationIndex(recent: readonly StoredMessage[], budget: number, suffix: number[]): number {
  if (suffix[0] <= budget) return 0;
  const safe = safeCutFlags(recent);
  // Suffix sums shrink with the index, so the first fitting candidate keeps the most.
  for (let i = 0; i < recent.length; i++) if (safe[i] && recent[i].role === 'user' && suffix[i] <= budget) return i;
  for (let i = 0; i < recent.length; i++) if (safe[i] && suffix[i] <= budget) return i;
  for (let i = recent.length - 1; i >= 0; i--) if (safe[i]) return i;
  return 0;
}
