// Token arithmetic shared by the window, the rolling policy and the API limits.
import { DomainError } from './errors';

/** Largest single append (the article's 8K limit); above it the API answers 413. */
export const MAX_APPEND_TOKENS = 8192;
/** Truncation never keeps less than this (the article's `preserve_len` floor). */
export const MIN_PRESERVE_LEN = 4096;
/** Fallback truncation target when the session's policy does not set one. */
export const DEFAULT_PRESERVE_LEN = 16384;
/** Rolling trigger: 180K of Kimi K2's 262,144 keeps well over 20% headroom. */
export const DEFAULT_TRIGGER_TOKENS = 180000;
export const DEFAULT_KEEP_ROUNDS = 3;
export const DEFAULT_COMPRESS_RATIO = 4;
export const MIN_COMPRESS_RATIO = 2;
export const MAX_COMPRESS_RATIO = 10;
/** Share of the context a defaulted trigger may use at most (the article's ~20% headroom). */
export const MAX_TRIGGER_SHARE = 0.8;
/** Reply reserve (`max_tokens`) assumed when a request does not say. */
export const DEFAULT_REPLY_RESERVE = 8192;

/** Calibration: weight of the newest observation, and the bounds of the correction factor. */
export const CALIBRATION_ALPHA = 0.3;
export const CALIBRATION_MIN_FACTOR = 0.5;
export const CALIBRATION_MAX_FACTOR = 2;
/** Below this many estimated tokens the fixed per-request overhead dominates; skip calibrating. */
export const CALIBRATION_MIN_TOKENS = 256;

export interface ContextBudget {
  windowTokens: number;
  /** Tokens kept free for the reply (`max_tokens`). */
  reserveTokens: number;
  contextWindow: number;
}

export function fitsContext(budget: ContextBudget): boolean {
  return headroom(budget) >= 0;
}

/** Tokens left after the window and the reply reserve; negative when the request would not fit. */
export function headroom({ windowTokens, reserveTokens, contextWindow }: ContextBudget): number {
  return contextWindow - windowTokens - reserveTokens;
}

/** The outline length a compression asks for: input tokens divided by the ratio, rounded up. */
export function outlineTargetTokens(inputTokens: number, ratio: number): number {
  return Math.ceil(inputTokens / ratio);
}

/**
 * Characters one append may carry. Checked before any token is counted, so an oversized body is refused
 * for the price of summing string lengths. No real text of 8,192 tokens comes near it: prose runs about
 * 4 characters a token and code or JSON fewer, so 12 per token leaves a wide margin.
 */
export const MAX_APPEND_CHARS = MAX_APPEND_TOKENS * 12;

/** Rejects an append whose text alone is over MAX_APPEND_CHARS, before tokenizing it. */
export function assertAppendChars(chars: number, limit: number = MAX_APPEND_CHARS): void {
  if (chars > limit) {
    throw new DomainError(
      'append_too_large',
      `append of ${chars} characters exceeds the limit of ${limit} characters (and ${MAX_APPEND_TOKENS} tokens) per append`,
      'messages',
    );
  }
}

/** Rejects an append over MAX_APPEND_TOKENS with the API's `append_too_large`. */
export function assertAppendSize(tokens: number, limit: number = MAX_APPEND_TOKENS): void {
  if (tokens > limit) {
    throw new DomainError(
      'append_too_large',
      `append of ${tokens} tokens exceeds the limit of ${limit} tokens per append`,
      'messages',
    );
  }
}

/**
 * Updates the factor that corrects local token estimates, from the upstream's reported usage.
 * An exponential moving average of actual/estimated, clamped so one odd reply cannot skew budgets.
 */
export function calibrate(estimated: number, actual: number, previousFactor: number): number {
  const previous = clampFactor(Number.isFinite(previousFactor) && previousFactor > 0 ? previousFactor : 1);
  if (!(estimated >= CALIBRATION_MIN_TOKENS) || !(actual > 0)) return previous;
  const observed = actual / estimated;
  return clampFactor(previous + CALIBRATION_ALPHA * (observed - previous));
}

/** A local estimate corrected by the calibration factor, rounded up so budgets err on the safe side. */
export function applyCalibration(estimatedTokens: number, factor: number): number {
  return Math.ceil(estimatedTokens * clampFactor(factor));
}

function clampFactor(factor: number): number {
  return Math.min(CALIBRATION_MAX_FACTOR, Math.max(CALIBRATION_MIN_FACTOR, factor));
}
