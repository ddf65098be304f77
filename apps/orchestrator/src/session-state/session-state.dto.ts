import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNumber, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { MAX_SHARE_TTL_S } from '../config/app-config';

export class TruncateDto {
  @ApiProperty({ minimum: 4096, description: 'Tokens of recent history to keep verbatim (pinned prefix and outlines are always kept).' })
  @IsInt() @Min(4096) preserve_len: number;
}

export class CreateSnapshotDto {
  @ApiPropertyOptional({ maxLength: 200 }) @IsOptional() @IsString() @MaxLength(200) label?: string;
}

export class RestoreDto {
  @ApiProperty() @IsString() @MaxLength(200) snapshot_id: string;
}

export class CompressDto {
  @ApiPropertyOptional({ minimum: 2, maximum: 10, default: 4 }) @IsOptional() @IsNumber() @Min(2) @Max(10) ratio?: number;
  @ApiPropertyOptional({ enum: ['outline'], default: 'outline' }) @IsOptional() @IsIn(['outline']) format?: 'outline';
  @ApiPropertyOptional({ minimum: 0, maximum: 100, description: 'Rounds left verbatim (default: the session policy keep_rounds; 0 compresses everything).' })
  @IsOptional() @IsInt() @Min(0) @Max(100) keep_rounds?: number;
}

export class ForkDto {
  @ApiPropertyOptional({ description: "Another account's share token, to fork a snapshot shared with you." }) @IsOptional() @IsString() @MaxLength(200) share_token?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) title?: string;
  @ApiPropertyOptional({ minimum: 0, maximum: 300000, description: 'How long to wait for a pool slot before answering 429.' })
  @IsOptional() @IsInt() @Min(0) @Max(300_000) wait_ms?: number;
}

export class ShareDto {
  @ApiPropertyOptional({ minimum: 60, maximum: MAX_SHARE_TTL_S, description: 'Seconds the token works (default SHARE_TTL_S, 7 days; at most 90 days).' })
  @IsOptional() @IsInt() @Min(60) @Max(MAX_SHARE_TTL_S) expires_in?: number;
}

export class EventsQuery {
  @ApiPropertyOptional({ minimum: 0 }) @IsOptional() @Type(() => Number) @IsInt() @Min(0) after?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 100 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

export class SnapshotResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['session.snapshot'] }) object: string;
  @ApiProperty() session_id: string;
  @ApiProperty() at_seq: number;
  @ApiProperty() window_tokens: number;
  @ApiProperty({ enum: ['manual', 'rolling', 'pre-compress', 'pre-restore', 'pre-truncate', 'fork'] }) reason: string;
  @ApiProperty({ nullable: true, type: String }) label: string | null;
  @ApiProperty({ description: 'A share token works now (shared and not expired or revoked).' }) shared: boolean;
  @ApiProperty({ nullable: true, type: Number, description: 'When the share token stops working (unix seconds); null when not shared.' }) share_expires_at: number | null;
  @ApiProperty() created_at: number;
}

export class SnapshotListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [SnapshotResponse] }) data: SnapshotResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class FactReportView {
  @ApiProperty({ description: 'Hard facts (identifiers, numbers with units, dates, names, paths, URLs, key=value, quoted strings, code symbols) in the compressed range.' }) facts_in: number;
  @ApiProperty({ description: 'Of those, found in the model-written outline.' }) kept_by_model: number;
  @ApiProperty({ description: 'Restored verbatim into Facts by the fact guard (with their seq).' }) restored: number;
  @ApiProperty({ type: [String], description: 'Values no longer in the window: named, never lost silently (they stay in the history).' }) dropped: string[];
}

export class CompressResponse {
  @ApiProperty() outline: string;
  @ApiProperty() input_tokens: number;
  @ApiProperty() output_tokens: number;
  @ApiProperty() achieved_ratio: number;
  @ApiProperty({ description: 'The snapshot taken before compressing.' }) snapshot_id: string;
  @ApiProperty() outline_seq: number;
  @ApiProperty({ type: [Number] }) compressed_seqs: number[];
  @ApiProperty({ enum: ['upstream', 'extractive'] }) method: string;
  @ApiProperty() window_tokens: number;
  @ApiProperty({ description: 'The steps taken, joined by "+": model, continued (cut at max_tokens, resumed), salvaged, repaired, extractive, trimmed, facts_restored, condensed.' }) path: string;
  @ApiProperty({ description: 'How the summary was read: canonical, markdown, json, prose.' }) read_as: string;
  @ApiProperty({ description: 'Upstream calls this compression made (1 unless the reply was cut or unreadable).' }) summarizer_calls: number;
  @ApiProperty({ description: 'What those calls cost.' }) cost_usd: number;
  @ApiProperty({ type: FactReportView }) facts: FactReportView;
}

export class ShareResponse {
  @ApiProperty({ description: 'Shown once; another account forks with it. A new share replaces the previous token.' }) share_token: string;
  @ApiProperty() snapshot_id: string;
  @ApiProperty({ description: 'When the token stops working (unix seconds).' }) expires_at: number;
}

export class RevokeShareResponse {
  @ApiProperty() snapshot_id: string;
  @ApiProperty({ enum: [false] }) shared: false;
  @ApiProperty({ description: 'Whether a token was working before this call.' }) revoked: boolean;
}

export class ContextBreakdown {
  @ApiProperty() pinned: number;
  @ApiProperty() outlines: number;
  @ApiProperty() recent: number;
  @ApiProperty() total: number;
  @ApiProperty({ description: 'context_window - total - reply reserve' }) headroom: number;
  @ApiProperty() reply_reserve: number;
  @ApiProperty() context_window: number;
  @ApiProperty() trigger_tokens: number;
}

export class ContextResponse {
  @ApiProperty({ enum: ['session.context'] }) object: string;
  @ApiProperty() session_id: string;
  @ApiProperty() model: string;
  @ApiProperty({ type: 'array', items: { type: 'object' }, description: 'Exactly the messages the next turn sends before the new ones.' }) messages: unknown[];
  @ApiProperty({ type: 'array', items: { type: 'object' }, nullable: true }) tools: unknown[] | null;
  @ApiProperty({ type: ContextBreakdown }) tokens: ContextBreakdown;
  @ApiProperty({ type: 'object', additionalProperties: true }) window: Record<string, unknown>;
  @ApiProperty({ description: 'sha256 of the pinned prefix and outlines; equal between compactions.' }) prefix_hash: string;
}

export class SessionEventView {
  @ApiProperty() id: number;
  @ApiProperty({ enum: ['compaction', 'compaction_fallback', 'compression', 'truncation', 'snapshot', 'restore', 'fork'] }) type: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) data: Record<string, unknown>;
  @ApiProperty() created_at: number;
}

export class SessionEventListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [SessionEventView] }) data: SessionEventView[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class LineageOutlineView {
  @ApiProperty({ description: 'The outline message in the session history.' }) outline_seq: number;
  @ApiProperty() session_id: string;
  @ApiProperty({ nullable: true, type: String, description: 'The snapshot taken before compressing.' }) snapshot_id: string | null;
  @ApiProperty({ type: [Number], description: '[from_seq, to_seq]: the messages the outline replaced.' }) seq_range: number[];
  @ApiProperty() input_tokens: number;
  @ApiProperty() output_tokens: number;
  @ApiProperty() achieved_ratio: number;
  @ApiProperty() method: string;
  @ApiProperty() trigger: string;
}

export class MergedOutlineView {
  @ApiProperty({ description: "Where the child's outline sits in the master's history." }) master_seq: number;
  @ApiProperty() child_index: number;
  @ApiProperty() child_session_id: string;
  @ApiProperty({ nullable: true, type: String }) snapshot_id: string | null;
  @ApiProperty({ type: [Number], description: "[from_seq, to_seq] of the child's history the outline covers." }) seq_range: number[];
}

export class LineageUsageView {
  @ApiProperty() window_tokens: number;
  @ApiProperty() prompt_tokens: number;
  @ApiProperty() cached_tokens: number;
  @ApiProperty() completion_tokens: number;
  @ApiProperty() total_tokens: number;
  @ApiProperty() cost_usd: number;
}

export class LineageNodeView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['standalone', 'master', 'child'] }) role: string;
  @ApiProperty({ enum: ['active', 'parked', 'closed'] }) status: string;
  @ApiProperty({ nullable: true, type: String }) title: string | null;
  @ApiProperty({ nullable: true, type: String }) task_id: string | null;
  @ApiProperty({ nullable: true, type: String }) parent_id: string | null;
  @ApiProperty({ type: LineageUsageView }) usage: LineageUsageView;
  @ApiProperty({ description: 'Unix seconds.' }) created_at: number;
  @ApiProperty({ nullable: true, type: Number }) closed_at: number | null;
  @ApiProperty({ type: [SnapshotResponse] }) snapshots: SnapshotResponse[];
  @ApiProperty({ type: [LineageOutlineView], description: 'Outlines written in this session.' }) outlines: LineageOutlineView[];
  @ApiProperty({ type: [MergedOutlineView], description: 'Outlines merged into this master.' }) merged_outlines: MergedOutlineView[];
  @ApiProperty({ type: () => [LineageNodeView], description: 'Children and forks, recursively.' }) children: LineageNodeView[];
}

export class LineageResponse {
  @ApiProperty({ enum: ['session.lineage'] }) object: string;
  @ApiProperty({ type: LineageNodeView }) root: LineageNodeView;
  @ApiProperty() total_sessions: number;
}
