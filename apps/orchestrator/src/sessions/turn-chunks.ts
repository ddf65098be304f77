// How a turn looks as OpenAI stream chunks, for the session route and /v1/chat/completions alike.
import type { TurnResponse } from './turn.service';

/** A replayed turn streams its stored reply as one chunk. */
export function replayChunk(t: TurnResponse, model = '') {
  const m = t.message!;
  const delta: Record<string, unknown> = { role: 'assistant', content: m.content };
  if (m.tool_calls) delta.tool_calls = m.tool_calls.map((c, index) => ({ index, ...c }));
  return {
    id: t.completion?.id ?? t.id,
    object: 'chat.completion.chunk',
    created: t.completion?.created ?? Math.floor(Date.now() / 1000),
    model: t.completion?.model ?? model,
    choices: [{ index: 0, delta, finish_reason: t.completion?.finish_reason ?? 'stop' }],
  };
}

/** The closing chunk: OpenAI's usage chunk plus this service's turn fields. */
export function finalChunk(t: TurnResponse) {
  return {
    id: t.completion?.id ?? t.id,
    object: 'chat.completion.chunk',
    created: t.completion?.created ?? Math.floor(Date.now() / 1000),
    model: t.completion?.model ?? '',
    choices: [],
    usage: t.usage,
    turn_id: t.id,
    session_id: t.session_id,
    seqs: t.seqs,
    session_usage: t.session_usage,
    compaction: t.compaction,
    idempotent_replay: t.idempotent_replay,
    ...(t.idempotent_replay && t.message ? { replayed_message: t.message } : {}),
  };
}
