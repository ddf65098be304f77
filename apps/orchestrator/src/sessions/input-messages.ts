import type { ChatMessage, ToolCall } from '@so/domain';
import { ApiError } from '../common/api-error';
import type { InputMessageDto } from './sessions.dto';

/** A client message after the checks the DTO decorators cannot express, in the service's own shape. */
export interface ParsedMessage {
  role: InputMessageDto['role'];
  content: string | null;
  name: string | null;
  toolCallId: string | null;
  toolCalls: ToolCall[] | null;
}

/** One place for what a client message may be: session appends and the stateless pass-through alike. */
export function parseInputMessage(m: InputMessageDto, i: number): ParsedMessage {
  const content = Array.isArray(m.content) ? m.content.map((p) => p.text).join('') : m.content ?? null;
  const param = `messages[${i}]`;
  // Postgres cannot store NUL; refuse it before any upstream call is paid for.
  if (content?.includes('\u0000') || m.name?.includes('\u0000')) throw new ApiError('invalid_request', 'Message text must not contain NUL (\\u0000) characters.', `${param}.content`);
  if (m.role === 'tool' && !m.tool_call_id) throw new ApiError('invalid_request', 'A tool message needs tool_call_id.', `${param}.tool_call_id`);
  if (m.role !== 'tool' && m.tool_call_id) throw new ApiError('invalid_request', 'Only tool messages carry tool_call_id.', `${param}.tool_call_id`);
  if (m.tool_calls && m.role !== 'assistant') throw new ApiError('invalid_request', 'Only assistant messages carry tool_calls.', `${param}.tool_calls`);
  if (content === null && !(m.role === 'assistant' && m.tool_calls?.length)) {
    throw new ApiError('invalid_request', 'content is required (it may be null only on an assistant message with tool_calls).', `${param}.content`);
  }
  const toolCalls = m.tool_calls?.length ? m.tool_calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.function.name, arguments: c.function.arguments } })) : null;
  return { role: m.role, content, name: m.name ?? null, toolCallId: m.tool_call_id ?? null, toolCalls };
}

/** Characters of text a message carries (content parts, name, tool call names and arguments): cheap, before any tokenizing. */
export function messageChars(m: InputMessageDto): number {
  let n = 0;
  if (typeof m.content === 'string') n += m.content.length;
  else if (Array.isArray(m.content)) for (const p of m.content) n += typeof p?.text === 'string' ? p.text.length : 0;
  n += m.name?.length ?? 0;
  n += m.tool_call_id?.length ?? 0;
  for (const c of m.tool_calls ?? []) n += (c.function?.name?.length ?? 0) + (c.function?.arguments?.length ?? 0);
  return n;
}

/** The OpenAI wire shape; optional fields only when set. */
export function toWireMessage(m: ParsedMessage): ChatMessage {
  const out: ChatMessage = { role: m.role, content: m.content };
  if (m.name) out.name = m.name;
  if (m.toolCallId) out.tool_call_id = m.toolCallId;
  if (m.toolCalls) out.tool_calls = m.toolCalls;
  return out;
}
