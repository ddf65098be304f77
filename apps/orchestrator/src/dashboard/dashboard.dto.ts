import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { TaskResponse } from '../tasks/tasks.dto';

export class UsageTimelineQuery {
  @ApiPropertyOptional({ description: 'Hours back from now (default 24).', minimum: 1, maximum: 8760, default: 24 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(8760) hours?: number;

  @ApiPropertyOptional({ description: 'Bucket width in minutes (default 60).', minimum: 1, maximum: 10080, default: 60 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10080) bucket_minutes?: number;
}

export class AdminUsageTimelineQuery extends UsageTimelineQuery {
  @ApiPropertyOptional({ description: 'Only this account.' }) @IsOptional() @IsString() account_id?: string;
}

export class AcquireWaitView {
  @ApiProperty({ nullable: true, type: Number }) p50: number | null;
  @ApiProperty({ nullable: true, type: Number }) p99: number | null;
  @ApiProperty({ description: 'Acquisitions sampled (last 15 minutes).' }) samples: number;
}

export class PoolAccountView {
  @ApiProperty() account_id: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'Session limit of the account.' }) limit: number;
  @ApiProperty({ description: 'Live leases (sessions holding a slot).' }) in_use: number;
  @ApiProperty({ description: 'Callers waiting for a slot.' }) waiting: number;
  @ApiProperty({ description: 'Open sessions without a slot.' }) parked: number;
  @ApiProperty({ type: AcquireWaitView, description: 'Milliseconds waited for a slot (last 15 minutes).' }) acquire_wait_ms: AcquireWaitView;
  @ApiProperty() acquired_total: number;
  @ApiProperty() refused_total: number;
  @ApiProperty() reclaimed_total: number;
}

export class PoolListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [PoolAccountView] }) data: PoolAccountView[];
}

export class UsageBucketItem {
  @ApiProperty() account_id: string;
  @ApiProperty({ description: 'Unix seconds at the start of the bucket.' }) bucket_start: number;
  @ApiProperty({ description: 'chat, compress, merge, final, title, ...' }) purpose: string;
  @ApiProperty() calls: number;
  @ApiProperty() prompt_tokens: number;
  @ApiProperty() cached_tokens: number;
  @ApiProperty() completion_tokens: number;
  @ApiProperty() total_tokens: number;
  @ApiProperty() cost_usd: number;
}

export class UsageTimelineResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty() hours: number;
  @ApiProperty() bucket_minutes: number;
  @ApiProperty({ type: [UsageBucketItem], description: 'One row per account, bucket and purpose; buckets without calls are absent.' }) data: UsageBucketItem[];
}

export class WhoAmIResponse {
  @ApiProperty({ enum: ['admin', 'account'], description: 'admin: ADMIN_API_KEY (every account); account: one account key.' }) kind: 'admin' | 'account';
  @ApiProperty({ nullable: true, type: String }) account_id: string | null;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ nullable: true, type: Number }) session_limit: number | null;
}

export class TaskListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [TaskResponse] }) data: TaskResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}
