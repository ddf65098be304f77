// Rounds and safe cut points: where history may be cut without breaking a conversation apart.
import type { StoredMessage } from './types';

/** A user message and everything up to the next one (replies, tool calls, tool results). */
export interface Round {
  /** False for a leading partial round that does not start at a user message (e.g. after a cut). */
  startsAtUser: boolean;
  fromSeq: number;
  toSeq: number;
  tokens: number;
  messages: StoredMessage[];
}

/** Groups ascending messages into rounds; messages before the first user message form a partial round. */
export function splitRounds(messages: readonly StoredMessage[]): Round[] {
  const rounds: Round[] = [];
  let current: Round | null = null;
  for (const m of messages) {
    if (current === null || m.role === 'user') {
      current = { startsAtUser: m.role === 'user', fromSeq: m.seq, toSeq: m.seq, tokens: 0, messages: [] };
      rounds.push(current);
    }
    current.messages.push(m);
    current.toSeq = m.seq;
    current.tokens += m.tokens;
  }
  return rounds;
}

/**
 * For each index i, whether the kept part may start at messages[i]: false when a tool result at or
 * after i answers a call made before i (the pair would be split), or when messages[i] is a tool
 * result whose call is not in the list (a kept part cannot open with an orphan result).
 */
export function safeCutFlags(messages: readonly StoredMessage[]): boolean[] {
  const safe = messages.map(() => true);
  const callIndex = new Map<string, number>();
  messages.forEach((m, j) => {
    if (m.role === 'assistant' && m.toolCalls) for (const call of m.toolCalls) callIndex.set(call.id, j);
    if (m.role !== 'tool') return;
    const k = m.toolCallId ? callIndex.get(m.toolCallId) : undefined;
    if (k === undefined) {
      safe[j] = false;
      return;
    }
    for (let i = k + 1; i <= j; i++) safe[i] = false;
  });
  return safe;
}

/** Seqs where a cut may start the kept part, ascending (a tool call and its results stay together). */
export function safeCutPoints(messages: readonly StoredMessage[]): number[] {
  const flags = safeCutFlags(messages);
  return messages.filter((_, i) => flags[i]).map((m) => m.seq);
}

/** Safe cut points that also start a round: the preferred places to cut. */
export function roundStartCutPoints(messages: readonly StoredMessage[]): number[] {
  const flags = safeCutFlags(messages);
  return messages.filter((m, i) => flags[i] && m.role === 'user').map((m) => m.seq);
}

/** suffix[i] = tokens of messages[i..]; suffix[length] = 0. */
export function suffixTokens(messages: readonly StoredMessage[]): number[] {
  const suffix = new Array<number>(messages.length + 1).fill(0);
  for (let i = messages.length - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + messages[i].tokens;
  return suffix;
}
