import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsDefined, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { IsMetadata } from '../sessions/sessions.dto';

const ITEM_DOC = {
  type: 'object',
  additionalProperties: true,
  description: 'An item: {type: "message", role, content: string | [{type: "input_text" | "output_text", text}]}, {type: "function_call", call_id, name, arguments} or {type: "function_call_output", call_id, output}.',
} as const;

export class ContextManagementDto {
  @ApiProperty({ enum: ['compaction'] }) @IsIn(['compaction']) type: 'compaction';
  @ApiPropertyOptional({ minimum: 1024, description: "Sets the session's rolling trigger_tokens: the window compacts (readable outline) before it passes this." })
  @IsOptional() @IsInt() @Min(1024) compact_threshold?: number;
}

export class CreateResponseDto {
  @ApiPropertyOptional({ example: 'kimi-k2.6', description: "The session's model (a conversation's, or the account's default for a new chain); another one is a 400." })
  @IsOptional() @IsString() @MaxLength(200) model?: string;

  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: ITEM_DOC }], description: 'The new input only: the conversation or previous response holds the rest.' })
  @IsDefined() input: unknown;

  @ApiPropertyOptional({ nullable: true, type: String, description: 'A system message sent first in this call only (not carried to later responses).' })
  @IsOptional() @IsString() @MaxLength(400_000) instructions?: string | null;

  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'object', properties: { id: { type: 'string' } } }], description: 'Append to this conversation (a session).' })
  @IsOptional() conversation?: unknown;

  @ApiPropertyOptional({ description: "Continue from this response: in place while it is its chain's latest, else a new session forked at its point (branching)." })
  @IsOptional() @IsString() @MaxLength(200) previous_response_id?: string;

  @ApiPropertyOptional({ type: 'array', items: { type: 'object', additionalProperties: true }, description: 'Function tools: {type: "function", name, description?, parameters?, strict?}. Sent with this call only.' })
  @IsOptional() @IsArray() @ArrayMaxSize(128) tools?: unknown[];

  @ApiPropertyOptional({ description: '"auto", "none", "required" or {type: "function", name}' }) @IsOptional() tool_choice?: unknown;
  @ApiPropertyOptional({ minimum: 1 }) @IsOptional() @IsInt() @Min(1) max_output_tokens?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 2 }) @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 1 }) @IsOptional() @IsNumber() @Min(0) @Max(1) top_p?: number;
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } }) @IsOptional() @IsMetadata() metadata?: Record<string, string>;
  @ApiPropertyOptional({ default: true, description: 'false: the response is not stored (GET answers 404; it cannot be continued).' }) @IsOptional() @IsBoolean() store?: boolean;
  @ApiPropertyOptional({ default: false }) @IsOptional() @IsBoolean() stream?: boolean;
  @ApiPropertyOptional({ enum: ['auto', 'disabled'], description: 'auto (default here): the rolling policy compacts the window; disabled: a window that does not fit is a 400.' })
  @IsOptional() @IsIn(['auto', 'disabled']) truncation?: 'auto' | 'disabled';
  @ApiPropertyOptional({ type: [ContextManagementDto] }) @IsOptional() @IsArray() @ArrayMaxSize(4) @ValidateNested({ each: true }) @Type(() => ContextManagementDto) context_management?: ContextManagementDto[];
  @ApiPropertyOptional({ description: 'Accepted; calls run one at a time.' }) @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: '{format: {type: "text"} | {type: "json_object"}}' }) @IsOptional() @IsObject() text?: Record<string, unknown>;
  @ApiPropertyOptional({ type: [String], description: 'Accepted and ignored.' }) @IsOptional() @IsArray() @ArrayMaxSize(16) include?: string[];
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Accepted and ignored.' }) @IsOptional() @IsObject() reasoning?: Record<string, unknown>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() stream_options?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) user?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) safety_identifier?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) prompt_cache_key?: string;
  @ApiPropertyOptional({ description: 'Accepted and ignored.' }) @IsOptional() @IsString() @MaxLength(32) service_tier?: string;
  @ApiPropertyOptional({ description: 'true is not supported (400).' }) @IsOptional() @IsBoolean() background?: boolean;
  @ApiPropertyOptional({ description: 'Accepted and ignored (the upstream caches by prefix).' }) @IsOptional() @IsString() @MaxLength(32) prompt_cache_retention?: string;
  @ApiPropertyOptional({ description: 'Accepted and ignored.' }) @IsOptional() @IsInt() @Min(1) max_tool_calls?: number;
  @ApiPropertyOptional({ description: 'Accepted and ignored.' }) @IsOptional() @IsInt() @Min(0) @Max(20) top_logprobs?: number;
}

export class CompactResponseDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) model?: string;
  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'array', items: ITEM_DOC }], description: 'Items to compact (without conversation).' }) @IsOptional() input?: unknown;
  @ApiPropertyOptional({ description: "Compact this conversation's window (its items afterwards are returned)." }) @IsOptional() conversation?: unknown;
  @ApiPropertyOptional({ nullable: true, type: String }) @IsOptional() @IsString() @MaxLength(400_000) instructions?: string | null;
  @ApiPropertyOptional({ minimum: 0, maximum: 100, description: 'Rounds left verbatim (default: the policy keep_rounds for a conversation, 0 for a given input).' })
  @IsOptional() @IsInt() @Min(0) @Max(100) keep_rounds?: number;
}

export class ItemListQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc' }) @IsOptional() @IsIn(['asc', 'desc']) order?: 'asc' | 'desc';
  @ApiPropertyOptional({ description: 'An item id: list the items after it.' }) @IsOptional() @IsString() @MaxLength(200) after?: string;
  @ApiPropertyOptional({ type: [String], description: 'Accepted and ignored.' }) @IsOptional() include?: unknown;
}
export class ConversationItemsQuery extends ItemListQuery {}

export class CreateConversationDto {
  @ApiPropertyOptional({ type: 'array', items: ITEM_DOC, description: 'Initial items (at most 256), stored without a model call.' })
  @IsOptional() @IsArray() @ArrayMaxSize(256) items?: unknown[];
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } }) @IsOptional() @IsMetadata() metadata?: Record<string, string>;
}

export class UpdateConversationDto {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) @IsMetadata() metadata: Record<string, string>;
}

export class CreateConversationItemsDto {
  @ApiProperty({ type: 'array', items: ITEM_DOC }) @IsArray() @ArrayMaxSize(256) items: unknown[];
}

// ---- responses (documentation types) ----

export class ConversationResourceView {
  @ApiProperty({ example: 'conv_0190c0ffee...' }) id: string;
  @ApiProperty({ enum: ['conversation'] }) object: 'conversation';
  @ApiProperty() created_at: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) metadata: Record<string, string>;
}

export class ConversationDeletedView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['conversation.deleted'] }) object: 'conversation.deleted';
  @ApiProperty() deleted: boolean;
}

export class ItemView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['message', 'function_call', 'function_call_output', 'compaction'] }) type: string;
  @ApiPropertyOptional({ enum: ['user', 'assistant', 'system'] }) role?: string;
  @ApiPropertyOptional({ enum: ['completed', 'incomplete', 'in_progress'] }) status?: string;
  @ApiPropertyOptional({ type: 'array', items: { type: 'object', properties: { type: { type: 'string', enum: ['input_text', 'output_text'] }, text: { type: 'string' } } } }) content?: unknown[];
  @ApiPropertyOptional() call_id?: string;
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional() arguments?: string;
  @ApiPropertyOptional() output?: string;
  @ApiPropertyOptional({ description: 'compaction: the readable outline (not encrypted).' }) encrypted_content?: string;
}

export class ItemListView {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [ItemView] }) data: ItemView[];
  @ApiProperty({ nullable: true, type: String }) first_id: string | null;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
  @ApiProperty() has_more: boolean;
}

export class ResponseUsageView {
  @ApiProperty() input_tokens: number;
  @ApiProperty({ type: 'object', properties: { cached_tokens: { type: 'integer' }, cache_write_tokens: { type: 'integer' } } }) input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  @ApiProperty() output_tokens: number;
  @ApiProperty({ type: 'object', properties: { reasoning_tokens: { type: 'integer' } } }) output_tokens_details: { reasoning_tokens: number };
  @ApiProperty() total_tokens: number;
}

export class ResponseObjectView {
  @ApiProperty({ example: 'resp_0190c0ffee...' }) id: string;
  @ApiProperty({ enum: ['response'] }) object: 'response';
  @ApiProperty() created_at: number;
  @ApiProperty({ nullable: true, type: Number }) completed_at: number | null;
  @ApiProperty({ enum: ['completed', 'incomplete', 'in_progress', 'failed'] }) status: string;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) error: unknown;
  @ApiProperty({ nullable: true, type: 'object', properties: { reason: { type: 'string' } } }) incomplete_details: unknown;
  @ApiProperty({ nullable: true, type: String }) instructions: string | null;
  @ApiProperty({ nullable: true, type: Number }) max_output_tokens: number | null;
  @ApiProperty() model: string;
  @ApiProperty({ type: [ItemView] }) output: ItemView[];
  @ApiProperty() parallel_tool_calls: boolean;
  @ApiProperty({ nullable: true, type: String }) previous_response_id: string | null;
  @ApiProperty({ nullable: true, type: 'object', properties: { id: { type: 'string' } } }) conversation: { id: string } | null;
  @ApiProperty() store: boolean;
  @ApiProperty({ nullable: true, type: Number }) temperature: number | null;
  @ApiProperty({ nullable: true, type: Number }) top_p: number | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) text: unknown;
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'object' }] }) tool_choice: unknown;
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true } }) tools: unknown[];
  @ApiProperty({ enum: ['auto', 'disabled'] }) truncation: string;
  @ApiProperty({ type: ResponseUsageView, nullable: true }) usage: ResponseUsageView | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) metadata: Record<string, string>;
  @ApiProperty({ description: 'The session holding this response (a conversation is one).' }) session_id: string;
}

export class ResponseDeletedView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['response'] }) object: 'response';
  @ApiProperty() deleted: boolean;
}

export class CompactionView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['response.compaction'] }) object: 'response.compaction';
  @ApiProperty({ type: [ItemView], description: 'The compacted items: a compaction item (the readable outline) and the items kept verbatim.' }) output: ItemView[];
  @ApiProperty() created_at: number;
  @ApiProperty({ type: ResponseUsageView }) usage: ResponseUsageView;
}
