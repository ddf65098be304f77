// The session window: which history is sent upstream, and the exact messages it becomes.
import { createHash } from 'node:crypto';
import { WeightBoundedMap } from './bounded-map';
import { DomainError } from './errors';
import type {
  ChatMessage,
  MessageKind,
  PinnedFragment,
  PinnedPrefix,
  SeqRange,
  StoredMessage,
  ToolCall,
  WindowSpec,
} from './types';

export const OUTLINE_MESSAGE_HEADER = '[outline of earlier conversation]\n';

/** The window of a brand-new session: no outlines, every message from seq 1 on. */
export function initialWindow(): WindowSpec {
  return { outlineSeqs: [], ranges: [{ from: 1, to: null }] };
}

/**
 * Whether a history row is in the window: outlines by `outlineSeqs`, messages by `ranges`. Pass the
 * row's kind: an outline row's seq can fall inside an open range without being a verbatim message.
 */
export function isInWindow(spec: WindowSpec, seq: number, kind: MessageKind = 'message'): boolean {
  if (kind === 'outline') return spec.outlineSeqs.includes(seq);
  return spec.ranges.some((r) => seq >= r.from && (r.to === null || seq <= r.to));
}

/**
 * The seq ranges the persistence layer selects verbatim messages by
 * (`kind = 'message' AND (seq BETWEEN from AND to OR ...)`, `to: null` meaning no upper bound).
 */
export function windowRecentFilter(spec: WindowSpec): SeqRange[] {
  return normalizeRanges(spec.ranges);
}

/**
 * The window after messages starting at `firstNewSeq` were appended. An open last range already
 * covers them; a closed one (after a restore) gets a new open range, merged when adjacent.
 */
export function appendToWindow(spec: WindowSpec, firstNewSeq: number): WindowSpec {
  const ranges = normalizeRanges(spec.ranges);
  const last = ranges[ranges.length - 1];
  if (last && last.to === null) {
    if (firstNewSeq < last.from) throw seqNotIncreasing(firstNewSeq, last.from);
    return { outlineSeqs: [...spec.outlineSeqs], ranges };
  }
  if (last && last.to !== null && firstNewSeq <= last.to) throw seqNotIncreasing(firstNewSeq, last.to + 1);
  if (last && last.to !== null && firstNewSeq === last.to + 1) {
    ranges[ranges.length - 1] = { from: last.from, to: null };
  } else {
    ranges.push({ from: firstNewSeq, to: null });
  }
  return { outlineSeqs: [...spec.outlineSeqs], ranges };
}

/**
 * The window a restore puts back: the snapshot's window with its open range closed at the
 * snapshot's seq, so messages appended after the snapshot stay in history but out of the window.
 */
export function restoreWindow(snapshotSpec: WindowSpec, snapshotAtSeq: number): WindowSpec {
  const ranges: SeqRange[] = [];
  for (const r of normalizeRanges(snapshotSpec.ranges)) {
    if (r.from > snapshotAtSeq) continue;
    ranges.push({ from: r.from, to: r.to === null ? snapshotAtSeq : Math.min(r.to, snapshotAtSeq) });
  }
  return { outlineSeqs: snapshotSpec.outlineSeqs.filter((s) => s <= snapshotAtSeq), ranges };
}

/** Every verbatim message below `seq` leaves the window; outlines stay. */
export function cutWindowBefore(spec: WindowSpec, seq: number): WindowSpec {
  const ranges: SeqRange[] = [];
  for (const r of normalizeRanges(spec.ranges)) {
    if (r.to !== null && r.to < seq) continue;
    ranges.push({ from: Math.max(r.from, seq), to: r.to });
  }
  return { outlineSeqs: [...spec.outlineSeqs], ranges };
}

/** Adds an outline after the existing ones (idempotent: a retried compaction adds it once). */
export function addOutline(spec: WindowSpec, outlineSeq: number): WindowSpec {
  if (spec.outlineSeqs.includes(outlineSeq)) return { outlineSeqs: [...spec.outlineSeqs], ranges: normalizeRanges(spec.ranges) };
  return { outlineSeqs: [...spec.outlineSeqs, outlineSeq], ranges: normalizeRanges(spec.ranges) };
}

export interface CompactionMove {
  /** First verbatim seq that stays in the window; null: none stays (appends re-open the window). */
  keepFromSeq: number | null;
  /** The outline message that replaces the compressed range. */
  outlineSeq: number;
  /** The new outline already contains the earlier ones (they were given to the summarizer). */
  foldOutlines: boolean;
}

/** The window after a compaction: verbatim messages before keepFromSeq out, the new outline in. */
export function applyCompaction(spec: WindowSpec, move: CompactionMove): WindowSpec {
  const cut: WindowSpec =
    move.keepFromSeq === null ? { outlineSeqs: [...spec.outlineSeqs], ranges: [] } : cutWindowBefore(spec, move.keepFromSeq);
  if (move.foldOutlines) return { outlineSeqs: [move.outlineSeq], ranges: cut.ranges };
  return addOutline(cut, move.outlineSeq);
}

/**
 * A window copied into a session of its own: the outlines, then the verbatim messages, renumbered from
 * seq 1 in the same order. A shared fork gets exactly this and nothing of the history around it.
 */
export function copiedWindow(outlines: readonly StoredMessage[], recent: readonly StoredMessage[]): { messages: StoredMessage[]; spec: WindowSpec; lastSeq: number } {
  const messages = [...outlines, ...recent].map((m, i) => ({ ...m, seq: i + 1 }));
  const spec: WindowSpec = {
    outlineSeqs: outlines.map((_, i) => i + 1),
    // Open-ended: what the fork appends later joins the window, as in a new session.
    ranges: [{ from: outlines.length + 1, to: null }],
  };
  return { messages, spec, lastSeq: messages.length };
}

/** Sorted, merged ranges; an open range swallows everything after its start. */
export function normalizeRanges(ranges: readonly SeqRange[]): SeqRange[] {
  const sorted = ranges.map((r) => ({ from: r.from, to: r.to })).sort((a, b) => a.from - b.from);
  const out: SeqRange[] = [];
  for (const r of sorted) {
    if (r.to !== null && r.to < r.from) continue;
    const last = out[out.length - 1];
    if (last && (last.to === null || r.from <= last.to + 1)) {
      last.to = last.to === null || r.to === null ? null : Math.max(last.to, r.to);
    } else {
      out.push(r);
    }
  }
  return out;
}

function seqNotIncreasing(seq: number, expectedAtLeast: number): DomainError {
  return new DomainError('conflict', `append at seq ${seq} would not follow the window (expected >= ${expectedAtLeast})`);
}

export function fragmentMessageContent(fragment: Pick<PinnedFragment, 'name' | 'version' | 'content'>): string {
  return `[fragment ${fragment.name} v${fragment.version}]\n${fragment.content}`;
}

/**
 * Exactly the messages sent upstream: system prompt, fragments in pinned order, outlines oldest
 * first, then the recent messages verbatim. Objects are built with a fixed key order and no
 * volatile data, so identical inputs serialize to identical bytes (the upstream's prefix cache).
 */
export function assembleWindow(
  pinned: PinnedPrefix,
  outlines: readonly StoredMessage[],
  recent: readonly StoredMessage[],
): ChatMessage[] {
  return [...assemblePrefix(pinned, outlines), ...recent.map(toChatMessage)];
}

/** The stable head of the window (pinned + outlines): it changes only when a compaction happens. */
export function assemblePrefix(pinned: PinnedPrefix, outlines: readonly StoredMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (pinned.system !== null && pinned.system !== '') out.push(systemMessage(pinned.system));
  for (const fragment of pinned.fragments) out.push(fragmentMessage(fragment));
  for (const outline of outlines) out.push(outlineMessage(outline));
  return out;
}

/**
 * Wire messages of stored messages, one per stored message object, frozen. A stored message never
 * changes (history is append-only), and a window's stored messages are the same objects from one turn to
 * the next (the service's window cache), so the same frozen wire objects come back every turn: the
 * upstream adapter keeps the encoded JSON of a frozen message (it cannot change) instead of serializing
 * the whole window on every call, which took 4 to 6 ms a turn at 200K tokens.
 */
const wireOf = new WeakMap<StoredMessage, ChatMessage>();
const outlineWireOf = new WeakMap<StoredMessage, ChatMessage>();
const fragmentWireOf = new WeakMap<PinnedFragment, ChatMessage>();

/** The frozen wire message of `key`, made by `make` the first time. */
function wireMessage<K extends object>(cache: WeakMap<K, ChatMessage>, key: K, make: () => ChatMessage): ChatMessage {
  let out = cache.get(key);
  if (!out) {
    out = Object.freeze(make());
    cache.set(key, out);
  }
  return out;
}

/** System prompts shorter than this are built each turn (cheaper than a look-up); longer ones are memoized. */
export const SYSTEM_MEMO_MIN_CHARS = 2048;
/** The memo, bounded at 8M characters of prompt text. */
const systemWire = new WeightBoundedMap<string, ChatMessage>(8 * 1024 * 1024);

/**
 * The system prompt's wire message. A long one is frozen and the same object for the same text (while it
 * stays in a bounded memo shared by every session, so sessions with one prompt share it), and the upstream
 * adapter then encodes it once instead of on every turn: 1.6 ms a turn for a 100K-token prompt. The text
 * comes back from the session row as a new string every turn; looking it up compares it at memory speed.
 */
export function systemMessage(text: string): ChatMessage {
  if (text.length < SYSTEM_MEMO_MIN_CHARS) return { role: 'system', content: text };
  let out = systemWire.get(text);
  if (!out) {
    out = Object.freeze({ role: 'system' as const, content: text });
    systemWire.set(text, out, text.length);
  }
  return out;
}

/** A pinned fragment's message, made once per PinnedFragment object (the fragments service keeps one per pinned version). */
function fragmentMessage(fragment: PinnedFragment): ChatMessage {
  return wireMessage(fragmentWireOf, fragment, () => ({ role: 'system', content: fragmentMessageContent(fragment) }));
}

function outlineMessage(outline: StoredMessage): ChatMessage {
  return wireMessage(outlineWireOf, outline, () => ({ role: 'system', content: OUTLINE_MESSAGE_HEADER + (outline.content ?? '') }));
}

/** A stored message in the OpenAI wire shape; optional fields only when set. Frozen, and the same object for the same stored message. */
export function toChatMessage(message: StoredMessage): ChatMessage {
  return wireMessage(wireOf, message, () => {
    const out: ChatMessage = { role: message.role, content: message.content ?? null };
    if (message.name) out.name = message.name;
    if (message.toolCallId) out.tool_call_id = message.toolCallId;
    if (message.toolCalls && message.toolCalls.length > 0) out.tool_calls = Object.freeze(message.toolCalls.map(toWireToolCall)) as ToolCall[];
    return out;
  });
}

function toWireToolCall(call: ToolCall): ToolCall {
  return Object.freeze({ id: call.id, type: 'function' as const, function: Object.freeze({ name: call.function.name, arguments: call.function.arguments }) });
}

/** sha256 of the assembled prefix: equal hashes mean the upstream can reuse its cached prefix. */
export function windowPrefixHash(pinned: PinnedPrefix, outlines: readonly StoredMessage[]): string {
  const tools = pinned.tools ?? [];
  return createHash('sha256')
    .update(JSON.stringify(assemblePrefix(pinned, outlines)))
    .update('\n')
    .update(JSON.stringify(tools))
    .digest('hex');
}

/** sha256 hex of a text, for fragment versions and other content identity checks. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface WindowBreakdown {
  /** System prompt, fragments and tool descriptions. */
  pinned: number;
  outlines: number;
  recent: number;
  total: number;
}

export function pinnedTokens(pinned: PinnedPrefix): number {
  return pinned.systemTokens + pinned.toolsTokens + pinned.fragments.reduce((sum, f) => sum + f.tokens, 0);
}

export function sumTokens(messages: readonly { tokens: number }[]): number {
  let sum = 0;
  for (const m of messages) sum += m.tokens;
  return sum;
}

export function windowTokens(
  pinned: PinnedPrefix,
  outlines: readonly StoredMessage[],
  recent: readonly StoredMessage[],
): WindowBreakdown {
  const p = pinnedTokens(pinned);
  const o = sumTokens(outlines);
  const r = sumTokens(recent);
  return { pinned: p, outlines: o, recent: r, total: p + o + r };
}

/**
 * The window without the given seqs (verbatim messages and outlines alike): they stay in history,
 * out of the window. Appends after the last seq still land in the window.
 */
export function excludeFromWindow(spec: WindowSpec, seqs: readonly number[]): WindowSpec {
  const drop = [...new Set(seqs)].sort((a, b) => a - b);
  let ranges = normalizeRanges(spec.ranges);
  for (const seq of drop) {
    const next: SeqRange[] = [];
    for (const r of ranges) {
      if (seq < r.from || (r.to !== null && seq > r.to)) {
        next.push(r);
        continue;
      }
      if (seq > r.from) next.push({ from: r.from, to: seq - 1 });
      if (r.to === null || seq < r.to) next.push({ from: seq + 1, to: r.to });
    }
    ranges = next;
  }
  return { outlineSeqs: spec.outlineSeqs.filter((s) => !drop.includes(s)), ranges };
}
