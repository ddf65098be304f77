// Plain data shared by the domain functions. No Nest, no I/O: the orchestrator maps rows to these.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** `message`: a turn as the client or the model wrote it; `outline`: a compressed range of history. */
export type MessageKind = 'message' | 'outline';

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** One row of a session's append-only history. `seq` is unique and increasing within a session. */
export interface StoredMessage {
  seq: number;
  role: Role;
  content: string | null;
  name?: string | null;
  toolCallId?: string | null;
  toolCalls?: ToolCall[] | null;
  /** Estimated (or upstream-corrected) token count of this message as sent upstream. */
  tokens: number;
  kind: MessageKind;
}

/** Inclusive range of seqs; `to: null` is open-ended (every later seq). */
export interface SeqRange {
  from: number;
  to: number | null;
}

/**
 * Which history is in the window, besides the pinned prefix. Truncate, compress and restore only
 * rewrite this small value; history itself is never deleted.
 * - `outlineSeqs`: outline messages in the window, oldest first.
 * - `ranges`: the verbatim (kind `message`) seqs in the window, ascending, non-overlapping.
 */
export interface WindowSpec {
  outlineSeqs: number[];
  ranges: SeqRange[];
}

export interface PinnedFragment {
  id: string;
  version: number;
  name: string;
  content: string;
  tokens: number;
}

/** The stable head of every request: system prompt, then fragments in a fixed order, then tools. */
export interface PinnedPrefix {
  system: string | null;
  systemTokens: number;
  fragments: PinnedFragment[];
  tools: ToolDefinition[] | null;
  toolsTokens: number;
}

/** An OpenAI chat message as sent upstream. */
export interface ChatMessage {
  role: Role;
  content: string | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: ToolCall[];
  /** Kimi's partial mode, on a trailing assistant message: the reply continues this text. */
  partial?: boolean;
}

export type CountTokens = (text: string) => number;
