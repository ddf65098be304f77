import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
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
import { InputMessageDto, IsMetadata, IsResponseFormat, IsToolChoice, ToolDto } from '../sessions/sessions.dto';

export function isStopSequences(v: unknown): boolean {
  return (typeof v === 'string' && v.length <= 256) || (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string' && s.length <= 256));
}

/** OpenAI's `stop`: a string or up to 4 strings, each at most 256 characters. */
function IsStopSequences() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isStopSequences',
      target: object.constructor,
      propertyName,
      validator: {
        validate: isStopSequences,
        defaultMessage: (a: ValidationArguments) => `${a.property} must be a string or an array of at most 4 strings, each at most 256 characters`,
      },
    });
}

export class StreamOptionsDto {
  @ApiPropertyOptional() @IsOptional() @IsBoolean() include_usage?: boolean;
}

/**
 * A message as OpenAI clients send it. Code that appends `completion.choices[0].message` to its
 * history sends back the response-only fields (`refusal`, `annotations`, `audio`, `function_call`);
 * they are accepted and ignored, as OpenAI does.
 */
export class ChatInputMessageDto extends InputMessageDto {
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Accepted and ignored (echoed from a response).' }) @IsOptional() @IsString() @MaxLength(100_000) refusal?: string | null;
  @ApiPropertyOptional({ type: 'array', items: { type: 'object' }, description: 'Accepted and ignored (echoed from a response).' }) @IsOptional() @IsArray() annotations?: unknown[];
  @ApiPropertyOptional({ nullable: true, type: 'object', additionalProperties: true, description: 'Accepted and ignored.' }) @IsOptional() @IsObject() audio?: Record<string, unknown> | null;
  @ApiPropertyOptional({ nullable: true, type: 'object', additionalProperties: true, description: 'Deprecated by OpenAI; accepted and ignored.' }) @IsOptional() @IsObject() function_call?: Record<string, unknown> | null;
}

/** OpenAI's chat completion body, plus `session_id`. Unknown fields are refused, as OpenAI does. */
export class ChatCompletionDto {
  @ApiPropertyOptional({ description: 'Required without session_id; with it, it must equal the session model (or be omitted).' })
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) model?: string;

  @ApiProperty({ type: [ChatInputMessageDto], description: 'Without session_id: the whole conversation. With session_id: only the NEW messages, appended to the session.' })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(100_000) @ValidateNested({ each: true }) @Type(() => ChatInputMessageDto)
  messages: ChatInputMessageDto[];

  @ApiPropertyOptional({ description: 'Append to this session: the server assembles the window (rolling policy applies).' })
  @IsOptional() @IsString() @MaxLength(200) session_id?: string;

  @ApiPropertyOptional() @IsOptional() @IsBoolean() stream?: boolean;
  @ApiPropertyOptional({ type: StreamOptionsDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => StreamOptionsDto) stream_options?: StreamOptionsDto;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number;
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number;
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(0) @Max(1) top_p?: number;
  @ApiPropertyOptional({ description: 'Only 1 is supported.' }) @IsOptional() @IsInt() @Min(1) @Max(1) n?: number;
  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 4 }], description: 'Up to 4 stop sequences of at most 256 characters.' })
  @IsOptional() @IsStopSequences() stop?: string | string[];
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(-2) @Max(2) presence_penalty?: number;
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(-2) @Max(2) frequency_penalty?: number;
  @ApiPropertyOptional({ type: [ToolDto] }) @IsOptional() @IsArray() @ArrayMaxSize(128) @ValidateNested({ each: true }) @Type(() => ToolDto) tools?: ToolDto[];
  @ApiPropertyOptional({ oneOf: [{ type: 'string', enum: ['auto', 'none', 'required'] }, { type: 'object' }] }) @IsOptional() @IsToolChoice() tool_choice?: unknown;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsResponseFormat() response_format?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) user?: string;
  @ApiPropertyOptional() @IsOptional() @IsMetadata() metadata?: Record<string, string>;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() store?: boolean;
}

export class ChatCompletionMessageView {
  @ApiProperty({ enum: ['assistant'] }) role: 'assistant';
  @ApiProperty({ nullable: true, type: String }) content: string | null;
  @ApiPropertyOptional({ type: 'array', items: { type: 'object' } }) tool_calls?: unknown[];
  @ApiProperty({ nullable: true, type: String }) refusal: null;
}

export class ChatCompletionChoiceView {
  @ApiProperty() index: number;
  @ApiProperty({ type: ChatCompletionMessageView }) message: ChatCompletionMessageView;
  @ApiProperty({ nullable: true, type: String }) finish_reason: string | null;
  @ApiProperty({ nullable: true, type: Object }) logprobs: null;
}

export class ChatCompletionResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['chat.completion'] }) object: 'chat.completion';
  @ApiProperty() created: number;
  @ApiProperty() model: string;
  @ApiProperty({ type: [ChatCompletionChoiceView] }) choices: ChatCompletionChoiceView[];
  @ApiProperty({ type: 'object', additionalProperties: true }) usage: Record<string, unknown>;
  @ApiPropertyOptional({ description: 'With session_id: the session, its totals and what the rolling policy did.' }) session_id?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) session_usage?: Record<string, unknown>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true }) compaction?: Record<string, unknown> | null;
}
