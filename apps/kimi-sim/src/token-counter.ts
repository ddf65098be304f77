import { createHash } from 'node:crypto';
import { decode, encode } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import type { SimMessage, SimTool } from './wire';

/** Chat-format overhead per message (role markers); the orchestrator's estimator counts the same. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Special-token strings in user text are plain text here, not a reason to fail the request. */
const ENCODE_OPTIONS = { disallowedSpecial: new Set<string>() };

/** A hashed, counted unit of a prompt: one message, or the model + tools head. */
export interface PromptBlock {
  digest: string;
  tokens: number;
}

/** A run of tokens that decodes to whole characters; a split multi-byte character spans several tokens. */
export interface TokenPiece {
  text: string;
  tokens: number;
}

/**
 * The encoder's cost grows with the square of a run without a break (letters without spaces, CJK, a
 * blob), so such runs are encoded in slices of 128 code points: a real tokenizer service stays
 * responsive on any input, and so must the simulator.
 */
const LONG_RUN = /\S{257,}|\s{257,}/gu;
const RUN_SLICE = /[\s\S]{1,128}/gu;

export function encoderParts(text: string): string[] {
  if (text.length <= 256) return [text];
  const parts: string[] = [];
  let last = 0;
  for (const m of text.matchAll(LONG_RUN)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    for (const slice of m[0].match(RUN_SLICE)!) parts.push(slice);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function digestOf(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

export function textOfContent(content: SimMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part && typeof part === 'object' && typeof part.text === 'string') text += part.text;
  }
  return text;
}

/**
 * Kimi's tokenizer is not o200k: the simulator skews each counted unit by a factor in
 * [1 - skew, 1 + skew] drawn from a hash of the unit, so the same message always counts the same.
 */
export function skewFactor(digest: string, skew: number): number {
  if (skew <= 0) return 1;
  let h = 0x811c9dc5;
  for (let i = 0; i < digest.length; i++) h = Math.imul(h ^ digest.charCodeAt(i), 0x01000193) >>> 0;
  return 1 - skew + (2 * skew * h) / 4294967296;
}

/** `tokens` o200k tokens as the simulated upstream counts them: scaled and rounded up. */
export function skewedCount(tokens: number, digest: string, skew: number): number {
  return skew <= 0 ? tokens : Math.ceil(tokens * skewFactor(digest, skew) - 1e-9);
}

/**
 * o200k_base counting with an LRU of per-message counts keyed by a digest of the canonical message,
 * so a long prompt that is re-sent every turn costs one hash per message, not a re-tokenization.
 * `message` and `head` apply the tokenizer skew; `countText` is plain o200k.
 */
export class TokenCounter {
  private readonly countsByDigest = new Map<string, number>();

  /** 0 = plain o200k_base. */
  skew = 0;

  constructor(private readonly maxCachedMessages = 50_000, skew = 0) {
    this.skew = skew;
  }

  countText(text: string | null | undefined): number {
    if (!text) return 0;
    let n = 0;
    for (const part of encoderParts(text)) n += encode(part, ENCODE_OPTIONS).length;
    return n;
  }

  encode(text: string): number[] {
    const parts = encoderParts(text);
    if (parts.length === 1) return encode(text, ENCODE_OPTIONS);
    const out: number[] = [];
    for (const part of parts) for (const t of encode(part, ENCODE_OPTIONS)) out.push(t);
    return out;
  }

  decode(tokens: number[]): string {
    return decode(tokens);
  }

  message(message: SimMessage): PromptBlock {
    const canonical = JSON.stringify([
      message.role,
      message.content ?? null,
      message.name ?? null,
      message.tool_call_id ?? null,
      message.tool_calls ?? null,
    ]);
    const digest = digestOf(canonical);
    return { digest, tokens: skewedCount(this.cachedCount(digest, () => this.countMessage(message)), digest, this.skew) };
  }

  /** The first prompt block: which model and which tool definitions the conversation runs under. */
  head(model: string, tools: SimTool[] | undefined): PromptBlock {
    const toolsJson = tools?.length ? JSON.stringify(tools) : '';
    const digest = digestOf(`${model}\u0000${toolsJson}`);
    return { digest, tokens: skewedCount(this.cachedCount(digest, () => this.countText(toolsJson)), digest, this.skew) };
  }

  /** Per-token text of `tokens`; tokens holding part of a character are merged with the following ones. */
  pieces(tokens: number[]): TokenPiece[] {
    const pieces: TokenPiece[] = [];
    let start = 0;
    while (start < tokens.length) {
      let end = start + 1;
      let text = decode(tokens.slice(start, end));
      // A lone U+FFFD means the token boundary falls inside a multi-byte character.
      while (text.endsWith('\uFFFD') && end < tokens.length && end - start < 8) {
        end++;
        text = decode(tokens.slice(start, end));
      }
      pieces.push({ text, tokens: end - start });
      start = end;
    }
    return pieces;
  }

  private cachedCount(digest: string, count: () => number): number {
    const cached = this.countsByDigest.get(digest);
    if (cached !== undefined) {
      // Re-insert so the Map's insertion order doubles as recency order.
      this.countsByDigest.delete(digest);
      this.countsByDigest.set(digest, cached);
      return cached;
    }
    const tokens = count();
    this.countsByDigest.set(digest, tokens);
    if (this.countsByDigest.size > this.maxCachedMessages) {
      this.countsByDigest.delete(this.countsByDigest.keys().next().value as string);
    }
    return tokens;
  }

  private countMessage(m: SimMessage): number {
    let n = MESSAGE_OVERHEAD_TOKENS + this.countText(textOfContent(m.content));
    if (Array.isArray(m.content)) {
      for (const part of m.content) {
        if (!part || typeof part !== 'object' || typeof part.text !== 'string') n += this.countText(JSON.stringify(part));
      }
    }
    if (m.name) n += this.countText(m.name);
    if (m.tool_call_id) n += this.countText(m.tool_call_id);
    if (m.tool_calls?.length) n += this.countText(JSON.stringify(m.tool_calls));
    return n;
  }
}
