import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { BudgetDto } from '../budgets/budgets.dto';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  ValidateNested,
  ValidationArguments,
} from 'class-validator';

/**
 * Characters one message's content may hold. A whole window (262,144 tokens) of real text is about a
 * million characters; the bound stops a body from carrying text no model could take. Appends to a
 * session have a much tighter bound (MAX_APPEND_CHARS), checked before tokenizing.
 */
export const MAX_MESSAGE_CHARS = 2_000_000;
const MAX_CONTENT_PARTS = 1_000;

function contentShapeOk(v: unknown): boolean {
  if (v === null || v === undefined || typeof v === 'string') return true;
  return Array.isArray(v) && v.length <= MAX_CONTENT_PARTS && v.every((p) => p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string');
}

function contentChars(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (!Array.isArray(v)) return 0;
  return (v as Array<{ text: string }>).reduce((n: number, p) => n + p.text.length, 0);
}

export function isMessageContent(v: unknown): boolean {
  return contentShapeOk(v) && contentChars(v) <= MAX_MESSAGE_CHARS;
}

/** `content` is a string, null, or OpenAI text parts ([{type: 'text', text}]), which are joined; bounded in length. */
export function IsMessageContent() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isMessageContent',
      target: object.constructor,
      propertyName,
      validator: {
        validate: isMessageContent,
        defaultMessage: (a: ValidationArguments) =>
          contentShapeOk(a.value)
            ? `${a.property} must be at most ${MAX_MESSAGE_CHARS} characters`
            : `${a.property} must be a string, null, or an array of at most ${MAX_CONTENT_PARTS} {type: "text", text} parts`,
      },
    });
}

export function isMetadata(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const entries = Object.entries(v as Record<string, unknown>);
  return entries.length <= 16 && entries.every(([k, val]) => k.length <= 64 && typeof val === 'string' && val.length <= 512);
}

/** Small string->string map, as OpenAI's `metadata`. */
export function IsMetadata() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isMetadata',
      target: object.constructor,
      propertyName,
      validator: {
        validate: isMetadata,
        defaultMessage: (a: ValidationArguments) => `${a.property} must be an object of at most 16 string values (keys <= 64, values <= 512 characters)`,
      },
    });
}

const TOOL_CHOICE_MODES = ['auto', 'none', 'required'];

export function isToolChoice(v: unknown): boolean {
  if (typeof v === 'string') return TOOL_CHOICE_MODES.includes(v);
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as { type?: unknown; function?: { name?: unknown } };
  const keys = Object.keys(o);
  const fn = o.function;
  return o.type === 'function' && keys.every((k) => k === 'type' || k === 'function') && !!fn && typeof fn === 'object' && !Array.isArray(fn) &&
    typeof fn.name === 'string' && fn.name.length > 0 && fn.name.length <= 64 && Object.keys(fn).every((k) => k === 'name');
}

/** OpenAI's `tool_choice`: "auto", "none", "required" or {type: "function", function: {name}}. */
export function IsToolChoice() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isToolChoice',
      target: object.constructor,
      propertyName,
      validator: {
        validate: isToolChoice,
        defaultMessage: (a: ValidationArguments) => `${a.property} must be "auto", "none", "required" or {"type": "function", "function": {"name": "<tool name>"}}`,
      },
    });
}

const RESPONSE_FORMAT_TYPES = ['text', 'json_object', 'json_schema'];

export function isResponseFormat(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as { type?: unknown; json_schema?: Record<string, unknown> };
  if (typeof o.type !== 'string' || !RESPONSE_FORMAT_TYPES.includes(o.type)) return false;
  if (o.type !== 'json_schema') return Object.keys(o).every((k) => k === 'type');
  const js = o.json_schema;
  if (!js || typeof js !== 'object' || Array.isArray(js) || Object.keys(o).some((k) => k !== 'type' && k !== 'json_schema')) return false;
  return typeof js.name === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(js.name) &&
    (js.schema === undefined || (typeof js.schema === 'object' && js.schema !== null && !Array.isArray(js.schema))) &&
    (js.strict === undefined || js.strict === null || typeof js.strict === 'boolean') &&
    (js.description === undefined || (typeof js.description === 'string' && js.description.length <= 4000));
}

/** OpenAI's `response_format`: {type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema: {name, schema?, strict?, description?}}. */
export function IsResponseFormat() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isResponseFormat',
      target: object.constructor,
      propertyName,
      validator: {
        validate: isResponseFormat,
        defaultMessage: (a: ValidationArguments) =>
          `${a.property} must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": "<1-64 of a-z, A-Z, 0-9, _ or ->", "schema": {...}}}`,
      },
    });
}

export class FunctionDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(64) name: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(4000) description?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() parameters?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() strict?: boolean;
}

export class ToolDto {
  @ApiProperty({ enum: ['function'] }) @IsIn(['function']) type: 'function';
  @ApiProperty({ type: FunctionDto }) @IsObject() @ValidateNested() @Type(() => FunctionDto) function: FunctionDto;
}

export class ToolCallFunctionDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(64) name: string;
  @ApiProperty({ description: 'JSON-encoded arguments.' }) @IsString() @MaxLength(400_000) arguments: string;
}

export class ToolCallDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(200) id: string;
  @ApiProperty({ enum: ['function'] }) @IsIn(['function']) type: 'function';
  @ApiProperty({ type: ToolCallFunctionDto }) @IsObject() @ValidateNested() @Type(() => ToolCallFunctionDto) function: ToolCallFunctionDto;
}

export class PolicyDto {
  @ApiPropertyOptional({ default: true, description: 'Compact automatically before the window passes trigger_tokens.' })
  @IsOptional() @IsBoolean() auto_compact?: boolean;

  @ApiPropertyOptional({ example: 180000, description: 'Window + reply reserve that triggers a compaction (default 180,000 for a 262,144 window).' })
  @IsOptional() @IsInt() @Min(1024) trigger_tokens?: number;

  @ApiPropertyOptional({ minimum: 4096, example: 16384, description: 'Tokens of recent history kept by a plain truncation.' })
  @IsOptional() @IsInt() @Min(4096) preserve_len?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 3, description: 'Rounds kept verbatim by a compaction.' })
  @IsOptional() @IsInt() @Min(1) @Max(100) keep_rounds?: number;

  @ApiPropertyOptional({ minimum: 2, maximum: 10, default: 4, description: 'Target compression ratio (input : outline tokens).' })
  @IsOptional() @IsNumber() @Min(2) @Max(10) compress_ratio?: number;

  @ApiPropertyOptional({ type: BudgetDto, description: 'Spend budget of the session (usd and/or tokens over its life; no period).' })
  @IsOptional() @IsObject() @ValidateNested() @Type(() => BudgetDto) budget?: BudgetDto;
}

export class CreateSessionDto {
  @ApiPropertyOptional({ example: 'kimi-k2.6' }) @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) model?: string;
  @ApiPropertyOptional({ description: 'System prompt, pinned at the head of every window.' }) @IsOptional() @IsString() @MaxLength(400_000) system?: string;
  @ApiPropertyOptional({ type: [String], description: 'Fragments to pin (current versions), in this order, after the system prompt.' })
  @IsOptional() @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) fragment_ids?: string[];
  @ApiPropertyOptional({ type: [ToolDto], description: 'Tool definitions, pinned.' })
  @IsOptional() @IsArray() @ArrayMaxSize(128) @ValidateNested({ each: true }) @Type(() => ToolDto) tools?: ToolDto[];
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) title?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } }) @IsOptional() @IsMetadata() metadata?: Record<string, string>;
  @ApiPropertyOptional({ type: PolicyDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => PolicyDto) policy?: PolicyDto;
  @ApiPropertyOptional({ minimum: 0, maximum: 300000, description: 'How long to wait for a pool slot before answering 429.' })
  @IsOptional() @IsInt() @Min(0) @Max(300_000) wait_ms?: number;
}

export class InputMessageDto {
  @ApiProperty({ enum: ['system', 'user', 'assistant', 'tool'] }) @IsIn(['system', 'user', 'assistant', 'tool']) role: 'system' | 'user' | 'assistant' | 'tool';
  @ApiPropertyOptional({ nullable: true, oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'object' } }] }) @IsMessageContent() content?: string | null | Array<{ type: 'text'; text: string }>;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(64) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) tool_call_id?: string;
  @ApiPropertyOptional({ type: [ToolCallDto] }) @IsOptional() @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => ToolCallDto) tool_calls?: ToolCallDto[];
}

export class AppendMessagesDto {
  @ApiProperty({ type: [InputMessageDto] })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(256) @ValidateNested({ each: true }) @Type(() => InputMessageDto)
  messages: InputMessageDto[];

  @ApiPropertyOptional({ default: true, description: 'false: store the messages without calling the model.' }) @IsOptional() @IsBoolean() generate?: boolean;
  @ApiPropertyOptional({ minimum: 1 }) @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 2 }) @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 1 }) @IsOptional() @IsNumber() @Min(0) @Max(1) top_p?: number;
  @ApiPropertyOptional({ oneOf: [{ type: 'string', enum: ['auto', 'none', 'required'] }, { type: 'object' }], description: '"auto", "none", "required" or {type: "function", function: {name}}' }) @IsOptional() @IsToolChoice() tool_choice?: unknown;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: '{type: "text"}, {type: "json_object"} or {type: "json_schema", json_schema: {name, schema}}' }) @IsOptional() @IsResponseFormat() response_format?: Record<string, unknown>;
  @ApiPropertyOptional({ default: false, description: 'Stream the reply as OpenAI chat.completion.chunk SSE events.' }) @IsOptional() @IsBoolean() stream?: boolean;
}

export class ListSessionsQuery {
  @ApiPropertyOptional({ enum: ['active', 'parked', 'closed'] }) @IsOptional() @IsIn(['active', 'parked', 'closed']) status?: 'active' | 'parked' | 'closed';
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) parent_id?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @ApiPropertyOptional({ description: 'The last session id of the previous page.' }) @IsOptional() @IsString() @MaxLength(200) after?: string;
}

export class ListMessagesQuery {
  @ApiPropertyOptional({ minimum: 0, maximum: 2147483647, description: 'Return messages with seq greater than this.' }) @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(2147483647) after_seq?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

// ---- responses (documentation types) ----

export class SessionUsageView {
  @ApiProperty({ description: 'Estimated tokens in the current window (pinned + outlines + recent).' }) window_tokens: number;
  @ApiProperty({ description: 'prompt_tokens + completion_tokens over every upstream call of this session.' }) total_tokens: number;
  @ApiProperty() prompt_tokens: number;
  @ApiProperty() cached_tokens: number;
  @ApiProperty() completion_tokens: number;
  @ApiProperty({ description: "Prompt tokens written to the upstream's prefix cache (billed at the CACHE_TTL write price)." }) cache_write_tokens: number;
  @ApiProperty({ description: 'Misses, hits, output and cache writes, each at its price.' }) cost_usd: number;
}

export class PolicyView {
  @ApiProperty() auto_compact: boolean;
  @ApiProperty() trigger_tokens: number;
  @ApiProperty() preserve_len: number;
  @ApiProperty() keep_rounds: number;
  @ApiProperty() compress_ratio: number;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'The budget set at creation ({usd, tokens, period}), when one was.' }) budget?: Record<string, unknown>;
}

export class SessionResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['session'] }) object: 'session';
  @ApiProperty({ enum: ['active', 'parked', 'closed'] }) status: string;
  @ApiProperty({ enum: ['standalone', 'master', 'child'] }) role: string;
  @ApiProperty() model: string;
  @ApiProperty({ nullable: true, type: String }) title: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) metadata: Record<string, string>;
  @ApiProperty({ nullable: true, type: String }) parent_id: string | null;
  @ApiProperty() root_id: string;
  @ApiProperty({ nullable: true, type: String }) task_id: string | null;
  @ApiProperty({ type: PolicyView }) policy: PolicyView;
  @ApiProperty({ type: SessionUsageView }) usage: SessionUsageView;
  @ApiProperty({ description: 'Messages in history (seq of the newest).' }) last_seq: number;
  @ApiProperty({ description: 'Unix seconds.' }) created_at: number;
  @ApiProperty({ nullable: true, type: Number }) closed_at: number | null;
}

export class SessionListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [SessionResponse] }) data: SessionResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class MessageResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['session.message'] }) object: 'session.message';
  @ApiProperty() seq: number;
  @ApiProperty() role: string;
  @ApiProperty({ nullable: true, type: String }) content: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) name?: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) tool_call_id?: string | null;
  @ApiPropertyOptional({ nullable: true, type: [ToolCallDto] }) tool_calls?: ToolCallDto[] | null;
  @ApiProperty({ enum: ['message', 'outline'] }) kind: string;
  @ApiProperty() tokens: number;
  @ApiProperty({ description: 'Whether the message is in the current window.' }) in_window: boolean;
  @ApiProperty() created_at: number;
}

export class MessageListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [MessageResponse] }) data: MessageResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class TurnUsageView {
  @ApiProperty() prompt_tokens: number;
  @ApiProperty() completion_tokens: number;
  @ApiProperty() total_tokens: number;
  @ApiProperty({ type: 'object', properties: { cached_tokens: { type: 'number' }, cache_write_tokens: { type: 'number' } } }) prompt_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  @ApiProperty() cost_usd: number;
}

export class AppendResponse {
  @ApiProperty({ description: 'The turn id.' }) id: string;
  @ApiProperty({ enum: ['session.turn'] }) object: 'session.turn';
  @ApiProperty() session_id: string;
  @ApiProperty({ type: [Number], description: 'Seqs of the appended messages, the reply included.' }) seqs: number[];
  @ApiProperty({ type: MessageResponse, nullable: true, description: 'The reply (null with generate: false).' }) message: MessageResponse | null;
  @ApiProperty({ type: TurnUsageView, nullable: true, description: 'This call (null with generate: false).' }) usage: TurnUsageView | null;
  @ApiProperty({ type: SessionUsageView }) session_usage: SessionUsageView;
  @ApiPropertyOptional({ nullable: true, type: 'object', additionalProperties: true, description: 'What the rolling policy did before this turn, if anything.' }) compaction: Record<string, unknown> | null;
  @ApiProperty({ description: 'True when this response was replayed for a repeated Idempotency-Key.' }) idempotent_replay: boolean;
}
