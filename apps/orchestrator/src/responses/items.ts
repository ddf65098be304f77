// OpenAI's Responses/Conversations item shapes <-> this service's session messages. Pure functions.
import type { ToolCall, ToolDefinition } from '@so/domain';
import { ApiError } from '../common/api-error';
import type { InputMessageDto } from '../sessions/sessions.dto';

const HEX32 = /^[0-9a-f]{32}$/;

export const hexOf = (uuid: string) => uuid.replace(/-/g, '');
const uuidOf = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** A conversation is a session: `conv_` + the session id's hex. */
export const conversationId = (sessionId: string) => `conv_${hexOf(sessionId)}`;

/** The session id behind a conversation id; null when it is not one of ours. */
export function sessionIdOfConversation(id: string): string | null {
  const m = /^conv_([0-9a-f]{32})$/.exec(id);
  return m ? uuidOf(m[1]) : null;
}

export const responseId = (uuid: string) => `resp_${hexOf(uuid)}`;

/** Item ids name the session and the message's seq (and the call's index for a function call). */
export type ItemPrefix = 'msg' | 'fc' | 'fco' | 'cmp';

export function itemId(prefix: ItemPrefix, sessionId: string, seq: number, index?: number): string {
  return `${prefix}_${hexOf(sessionId)}_${seq}${index !== undefined ? `_${index}` : ''}`;
}

export function parseItemId(id: string): { prefix: ItemPrefix; sessionId: string; seq: number; index: number | null } | null {
  const m = /^(msg|fc|fco|cmp)_([0-9a-f]{32})_(\d{1,9})(?:_(\d{1,4}))?$/.exec(id);
  if (!m || !HEX32.test(m[2])) return null;
  return { prefix: m[1] as ItemPrefix, sessionId: uuidOf(m[2]), seq: Number(m[3]), index: m[4] !== undefined ? Number(m[4]) : null };
}

/** A session message as items read it. */
export interface ItemSource {
  seq: number;
  role: string;
  content: string | null;
  toolCallId?: string | null;
  toolCalls?: ToolCall[] | null;
  kind: 'message' | 'outline';
}

export type Item = Record<string, unknown> & { id: string; type: string };

export function outputTextPart(text: string) {
  return { type: 'output_text' as const, text, annotations: [] as unknown[], logprobs: [] as unknown[] };
}

/**
 * The items one stored message is: a compaction (an outline, readable, in `encrypted_content`), a
 * message with input_text (user, system) or output_text (assistant) parts, an assistant's function
 * calls, or a function call's output.
 */
export function itemsOf(sessionId: string, m: ItemSource, status: 'completed' | 'incomplete' = 'completed'): Item[] {
  if (m.kind === 'outline') return [{ id: itemId('cmp', sessionId, m.seq), type: 'compaction', encrypted_content: m.content ?? '', created_by: 'session-orchestrator' }];
  if (m.role === 'tool') return [{ id: itemId('fco', sessionId, m.seq), type: 'function_call_output', call_id: m.toolCallId ?? '', output: m.content ?? '', status: 'completed' }];
  if (m.role === 'assistant') {
    const out: Item[] = [];
    if (m.content || !m.toolCalls?.length) {
      out.push({ id: itemId('msg', sessionId, m.seq), type: 'message', status, role: 'assistant', content: [outputTextPart(m.content ?? '')] });
    }
    (m.toolCalls ?? []).forEach((c, i) =>
      out.push({ id: itemId('fc', sessionId, m.seq, i), type: 'function_call', call_id: c.id, name: c.function.name, arguments: c.function.arguments, status: 'completed' }),
    );
    return out;
  }
  return [{ id: itemId('msg', sessionId, m.seq), type: 'message', status: 'completed', role: m.role, content: [{ type: 'input_text', text: m.content ?? '' }] }];
}

const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);

function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new ApiError('invalid_request', `${param} must be a string or an array of text parts.`, param);
  return content
    .map((p, i) => {
      const t = (p as { type?: unknown })?.type;
      if (!p || typeof p !== 'object' || typeof t !== 'string') throw new ApiError('invalid_request', `${param}[${i}] must be a content part object with a type.`, `${param}[${i}]`);
      if (!TEXT_PARTS.has(t)) throw new ApiError('invalid_request', `Content part type '${t}' is not supported (only input_text and output_text).`, `${param}[${i}].type`);
      const text = (p as { text?: unknown }).text;
      if (typeof text !== 'string') throw new ApiError('invalid_request', `${param}[${i}].text must be a string.`, `${param}[${i}].text`);
      return text;
    })
    .join('');
}

function str(v: unknown, param: string, max = 400_000): string {
  if (typeof v !== 'string' || v.length === 0) throw new ApiError('invalid_request', `${param} must be a non-empty string.`, param);
  if (v.length > max) throw new ApiError('invalid_request', `${param} must be at most ${max} characters.`, param);
  return v;
}

/**
 * Responses `input` (a string, or a list of message / function_call / function_call_output items) as
 * session messages. Consecutive function calls become one assistant message with tool_calls, joined to
 * the assistant message before them. `developer` is a system message.
 */
export function inputToMessages(input: unknown, param = 'input'): InputMessageDto[] {
  if (typeof input === 'string') {
    if (input.length === 0) throw new ApiError('invalid_request', `${param} must not be empty.`, param);
    return [{ role: 'user', content: input }];
  }
  if (!Array.isArray(input) || input.length === 0) throw new ApiError('invalid_request', `${param} must be a string or a non-empty array of items.`, param);
  if (input.length > 256) throw new ApiError('invalid_request', `${param} may hold at most 256 items.`, param);
  const out: InputMessageDto[] = [];
  let lastWasCall = false;
  input.forEach((raw, i) => {
    const p = `${param}[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError('invalid_request', `${p} must be an object.`, p);
    const item = raw as Record<string, unknown>;
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    if (type === 'message') {
      const role = item.role === 'developer' ? 'system' : item.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system') throw new ApiError('invalid_request', `${p}.role must be one of user, assistant, system, developer.`, `${p}.role`);
      out.push({ role, content: textOf(item.content, `${p}.content`) });
      lastWasCall = false;
    } else if (type === 'function_call') {
      const call = { id: str(item.call_id, `${p}.call_id`, 200), type: 'function' as const, function: { name: str(item.name, `${p}.name`, 64), arguments: typeof item.arguments === 'string' ? item.arguments : str(item.arguments, `${p}.arguments`) } };
      const prev = out[out.length - 1];
      if (prev && prev.role === 'assistant' && (lastWasCall || !prev.tool_calls)) prev.tool_calls = [...(prev.tool_calls ?? []), call];
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
      lastWasCall = true;
    } else if (type === 'function_call_output') {
      const output = typeof item.output === 'string' ? item.output : textOf(item.output, `${p}.output`);
      out.push({ role: 'tool', tool_call_id: str(item.call_id, `${p}.call_id`, 200), content: output });
      lastWasCall = false;
    } else {
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- echoes whatever JSON the client sent as the type
      throw new ApiError('invalid_request', `Input item type '${String(type)}' is not supported (message, function_call, function_call_output).`, `${p}.type`);
    }
  });
  return out;
}

/** Responses function tools ({type, name, description, parameters, strict}) as chat tools. */
export function toChatTools(tools: unknown, param = 'tools'): ToolDefinition[] | null {
  if (tools === undefined || tools === null) return null;
  if (!Array.isArray(tools)) throw new ApiError('invalid_request', `${param} must be an array.`, param);
  if (tools.length > 128) throw new ApiError('invalid_request', `${param} may hold at most 128 tools.`, param);
  if (tools.length === 0) return null;
  const names = new Set<string>();
  return tools.map((t, i) => {
    const p = `${param}[${i}]`;
    if (!t || typeof t !== 'object') throw new ApiError('invalid_request', `${p} must be an object.`, p);
    const tool = t as Record<string, unknown>;
    if (tool.type !== 'function') throw new ApiError('invalid_request', `Tool type '${String(tool.type)}' is not supported (only function tools).`, `${p}.type`);
    const name = str(tool.name, `${p}.name`, 64);
    if (names.has(name)) throw new ApiError('invalid_request', `Tool name '${name}' appears twice.`, `${p}.name`);
    names.add(name);
    if (tool.parameters !== undefined && tool.parameters !== null && (typeof tool.parameters !== 'object' || Array.isArray(tool.parameters))) {
      throw new ApiError('invalid_request', `${p}.parameters must be a JSON schema object.`, `${p}.parameters`);
    }
    if (tool.description !== undefined && tool.description !== null && typeof tool.description !== 'string') throw new ApiError('invalid_request', `${p}.description must be a string.`, `${p}.description`);
    const fn: ToolDefinition['function'] = { name };
    if (typeof tool.description === 'string') fn.description = tool.description;
    if (tool.parameters) fn.parameters = tool.parameters as Record<string, unknown>;
    return { type: 'function' as const, function: fn };
  });
}

/** The tools as a Response object lists them. */
export function responseTools(tools: ToolDefinition[] | null, strict: Map<string, boolean | null>) {
  return (tools ?? []).map((t) => ({ type: 'function', name: t.function.name, description: t.function.description ?? null, parameters: t.function.parameters ?? null, strict: strict.get(t.function.name) ?? null }));
}

/** Responses `tool_choice` as the chat API's. */
export function toChatToolChoice(choice: unknown, tools: ToolDefinition[] | null): unknown {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const c = choice as { type?: unknown; name?: unknown };
  if (c && typeof c === 'object' && c.type === 'function' && typeof c.name === 'string') {
    if (!tools?.some((t) => t.function.name === c.name)) throw new ApiError('invalid_request', `tool_choice names '${c.name}', which is not among the tools.`, 'tool_choice');
    return { type: 'function', function: { name: c.name } };
  }
  throw new ApiError('invalid_request', 'tool_choice must be "auto", "none", "required" or {type: "function", name}.', 'tool_choice');
}
