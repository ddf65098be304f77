// In-context compression: the request is the session's conversation exactly as the chat turns sent it
// (so the upstream's prefix cache of those turns applies), followed by one trailing instruction message
// carrying the outline marker. The sim turns the conversation back into a transcript and answers as for a
// transcript request.
import { OUTLINE_MARKER, type ParsedTranscript, type TranscriptEntry } from './outline';
import { textOfContent } from './token-counter';
import type { SimMessage } from './wire';

/** A system message whose content starts with this is an earlier outline of the conversation. */
export const OUTLINE_MESSAGE_PREFIX = '[outline of earlier conversation]';

/** What the instruction says to do with the earlier outline messages. */
export type EarlierOutlines = 'merge' | 'context only';

const EARLIER_OUTLINES = /^[ \t]*Earlier outlines:[ \t]*(merge|context[ \t-]only)[ \t.]*$/im;

export interface InContextCompression {
  /** The trailing instruction's text (marker, format, target length, earlier-outlines mode). */
  instruction: string;
  earlierOutlines: EarlierOutlines;
  /** Earlier outlines to merge, oldest first, without the prefix line; empty in `context only` mode. */
  previousOutlines: string[];
  /** Earlier outlines seen in the conversation, whatever the mode. */
  outlineMessages: number;
  /** Pinned system messages skipped (the system prompt, fragments). */
  pinnedMessages: number;
  transcript: ParsedTranscript;
}

/** `merge` unless the instruction says `Earlier outlines: context only`. */
export function earlierOutlinesMode(instruction: string): EarlierOutlines {
  const m = EARLIER_OUTLINES.exec(instruction);
  return m && /^context/i.test(m[1]) ? 'context only' : 'merge';
}

/** The outline text of an earlier-outline system message, or null when it is not one. */
export function outlineOfMessage(message: SimMessage): string | null {
  if (message.role !== 'system') return null;
  const text = textOfContent(message.content);
  if (!text.startsWith(OUTLINE_MESSAGE_PREFIX)) return null;
  return text.slice(OUTLINE_MESSAGE_PREFIX.length).replace(/^[ \t]*\r?\n/, '').trim();
}

/**
 * Whether the last message (a trailing partial assistant message already removed) is an in-context
 * compression instruction: a system message with the marker, or a user message with the marker when no
 * earlier system message carries it (then it is a transcript request whose transcript quotes the marker).
 */
export function isInContextCompression(messages: SimMessage[]): boolean {
  const last = messages[messages.length - 1];
  if (!last || (last.role !== 'system' && last.role !== 'user')) return false;
  if (!textOfContent(last.content).includes(OUTLINE_MARKER)) return false;
  if (last.role === 'system') return true;
  return !messages.some((m, i) => i < messages.length - 1 && m.role === 'system' && textOfContent(m.content).includes(OUTLINE_MARKER));
}

/** One transcript line per entry: `[seq N] role: text`, or `[seq N] assistant -> tool name(args)`. */
export function renderTranscript(entries: TranscriptEntry[]): string {
  return entries
    .map((e) => (e.tool ? `[seq ${e.seq}] ${e.role} -> tool ${e.tool.name}(${e.tool.args})` : `[seq ${e.seq}] ${e.role}: ${e.text}`))
    .join('\n');
}

/**
 * The conversation to summarize, or null when the request is not an in-context compression. Leading
 * system messages that are not outlines are pinned and skipped; outline messages (anywhere) are the
 * previous outline in `merge` mode and ignored in `context only` mode; every other message is a
 * transcript entry, numbered from 1 per message (an assistant's tool calls share its number).
 */
export function readInContextCompression(messages: SimMessage[]): InContextCompression | null {
  if (!isInContextCompression(messages)) return null;
  const instruction = textOfContent(messages[messages.length - 1].content);
  const earlierOutlines = earlierOutlinesMode(instruction);
  const conversation = messages.slice(0, -1);
  const outlines: string[] = [];
  const entries: TranscriptEntry[] = [];
  let pinnedMessages = 0;
  let leading = true;
  let seq = 0;
  for (const m of conversation) {
    const outline = outlineOfMessage(m);
    if (outline !== null) {
      outlines.push(outline);
      continue;
    }
    if (leading && m.role === 'system') {
      pinnedMessages++;
      continue;
    }
    leading = false;
    seq++;
    const text = textOfContent(m.content);
    const calls = m.role === 'assistant' ? (m.tool_calls ?? []) : [];
    if (text.trim() !== '' || calls.length === 0) entries.push({ seq, role: m.role, text });
    for (const call of calls) {
      const name = call?.function?.name ?? 'unknown';
      const args = typeof call?.function?.arguments === 'string' ? call.function.arguments : JSON.stringify(call?.function?.arguments ?? '');
      entries.push({ seq, role: 'assistant', text: '', tool: { name, args: args.replace(/\s*\n\s*/g, ' ') } });
    }
  }
  return {
    instruction,
    earlierOutlines,
    previousOutlines: earlierOutlines === 'merge' ? outlines.filter((o) => o !== '') : [],
    outlineMessages: outlines.length,
    pinnedMessages,
    transcript: { text: renderTranscript(entries), entries },
  };
}
