// Builds StoredMessage histories for tests: readable rounds instead of hand-numbered rows.
import type { PinnedPrefix, StoredMessage } from '../types';

export class ConversationBuilder {
  private readonly messages: StoredMessage[] = [];
  private nextSeq: number;
  private callCount = 0;

  constructor(firstSeq = 1) {
    this.nextSeq = firstSeq;
  }

  user(tokens: number, content = `user message ${this.nextSeq}`): this {
    return this.push({ role: 'user', content, tokens });
  }

  assistant(tokens: number, content = `assistant reply ${this.nextSeq}`): this {
    return this.push({ role: 'assistant', content, tokens });
  }

  /** An assistant message calling `count` tools; answer them with toolResults(). */
  toolCalls(tokens: number, count = 1, name = 'read_file'): this {
    const toolCalls = Array.from({ length: count }, () => ({
      id: `call_${++this.callCount}`,
      type: 'function' as const,
      function: { name, arguments: `{"n":${this.callCount}}` },
    }));
    return this.push({ role: 'assistant', content: null, tokens, toolCalls });
  }

  /** One tool result per call of the latest toolCalls() message, in call order. */
  toolResults(tokensEach: number): this {
    const caller = [...this.messages].reverse().find((m) => m.toolCalls && m.toolCalls.length > 0);
    for (const call of caller?.toolCalls ?? []) {
      this.push({ role: 'tool', content: `result of ${call.id}`, tokens: tokensEach, toolCallId: call.id });
    }
    return this;
  }

  /** A plain round: a user message and a reply. */
  round(userTokens: number, replyTokens: number): this {
    return this.user(userTokens).assistant(replyTokens);
  }

  /** A round with one tool exchange: user, tool call, result, final reply. */
  toolRound(userTokens: number, callTokens: number, resultTokens: number, replyTokens: number): this {
    return this.user(userTokens).toolCalls(callTokens).toolResults(resultTokens).assistant(replyTokens);
  }

  build(): StoredMessage[] {
    return this.messages.map((m) => ({ ...m }));
  }

  private push(partial: Omit<StoredMessage, 'seq' | 'kind'>): this {
    this.messages.push({ seq: this.nextSeq++, kind: 'message', ...partial });
    return this;
  }
}

export function conversation(firstSeq = 1): ConversationBuilder {
  return new ConversationBuilder(firstSeq);
}

export function outlineMessage(seq: number, content: string, tokens: number): StoredMessage {
  return { seq, role: 'system', content, tokens, kind: 'outline' };
}

export function samplePinned(overrides: Partial<PinnedPrefix> = {}): PinnedPrefix {
  return {
    system: 'You are a careful refactoring assistant.',
    systemTokens: 2000,
    fragments: [
      { id: 'frag-style', version: 3, name: 'coding-standards', content: 'Use strict TypeScript.', tokens: 500 },
      { id: 'frag-tools', version: 1, name: 'tool-guide', content: 'read_file reads a file.', tokens: 300 },
    ],
    tools: [{ type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } }],
    toolsTokens: 200,
    ...overrides,
  };
}

/** Deterministic pseudo-random numbers (LCG), so generated cases are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A varied conversation: plain rounds, tool rounds with 1..3 parallel calls, odd sizes. */
export function randomConversation(seed: number, rounds: number, maxTokens = 3000): StoredMessage[] {
  const rand = seededRandom(seed);
  const size = (): number => 1 + Math.floor(rand() * maxTokens);
  const builder = conversation();
  for (let i = 0; i < rounds; i++) {
    builder.user(size());
    const exchanges = Math.floor(rand() * 3);
    for (let e = 0; e < exchanges; e++) builder.toolCalls(size(), 1 + Math.floor(rand() * 3)).toolResults(size());
    builder.assistant(size());
  }
  return builder.build();
}

/** Every tool result in `kept` has its call in `kept` too, and the kept part does not open with a result. */
export function toolPairsIntact(kept: readonly StoredMessage[]): boolean {
  if (kept.length > 0 && kept[0].role === 'tool') return false;
  const calls = new Set(kept.flatMap((m) => (m.toolCalls ?? []).map((c) => c.id)));
  return kept.every((m) => m.role !== 'tool' || (m.toolCallId != null && calls.has(m.toolCallId)));
}

export const countChars4: (text: string) => number = (text) => Math.ceil(text.length / 4);
