import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class AcquireWaitView {
  @ApiProperty({ nullable: true, type: Number }) p50: number | null;
  @ApiProperty({ nullable: true, type: Number }) p99: number | null;
  @ApiProperty({ description: 'Acquisitions in the last 15 minutes the percentiles are computed from.' }) samples: number;
}

export class AdmissionLimitsView {
  @ApiProperty({ description: '0: unlimited.' }) concurrency: number;
  @ApiProperty() rpm: number;
  @ApiProperty() tpm: number;
}

export class AdmissionStateView {
  @ApiProperty({ type: AdmissionLimitsView, description: 'The limits in force for the account.' }) limits: AdmissionLimitsView;
  @ApiProperty({ description: 'Upstream calls in flight now (counted when a concurrency limit is set).' }) in_flight: number;
  @ApiProperty({ description: 'Requests admitted this minute (counted when a limit is set).' }) requests: number;
  @ApiProperty({ description: 'Tokens (prompt + max_tokens) admitted this minute.' }) tokens: number;
}

export class PoolAccountView {
  @ApiProperty() account_id: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'Live sessions allowed at once.' }) limit: number;
  @ApiProperty() in_use: number;
  @ApiProperty({ description: 'Acquirers waiting for a slot now.' }) waiting: number;
  @ApiProperty({ description: 'Open sessions without a slot (parked; they take one back on their next turn).' }) parked: number;
  @ApiProperty({ type: AcquireWaitView, description: 'Milliseconds from asking for a slot to getting it.' }) acquire_wait_ms: AcquireWaitView;
  @ApiProperty() acquired_total: number;
  @ApiProperty() refused_total: number;
  @ApiProperty({ description: 'Leases of crashed holders taken back.' }) reclaimed_total: number;
  @ApiPropertyOptional({ type: AdmissionStateView, description: "The upstream limiter's state for the account." }) upstream_admission?: AdmissionStateView;
}

export class PoolTotalsView {
  @ApiProperty() in_use: number;
  @ApiProperty() waiting: number;
}

export class AdminPoolResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [PoolAccountView] }) data: PoolAccountView[];
  @ApiProperty({ type: PoolTotalsView }) totals: PoolTotalsView;
}

export class QueueCountsView {
  @ApiProperty() name: string;
  @ApiProperty() waiting: number;
  @ApiProperty() active: number;
  @ApiProperty() completed: number;
  @ApiProperty() failed: number;
  @ApiProperty() delayed: number;
  @ApiPropertyOptional() paused?: number;
}

export class AdminQueuesResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ enum: ['bull', 'in-process'] }) driver: string;
  @ApiProperty({ type: [QueueCountsView] }) data: QueueCountsView[];
}

export class UsageRowView {
  @ApiProperty() account_id: string;
  @ApiProperty({ description: 'chat, passthrough, compress, merge or final.' }) purpose: string;
  @ApiProperty() model: string;
  @ApiProperty() calls: number;
  @ApiProperty() failed_calls: number;
  @ApiProperty() prompt_tokens: number;
  @ApiProperty() cached_tokens: number;
  @ApiProperty() completion_tokens: number;
  @ApiProperty() cache_write_tokens: number;
  @ApiProperty() cost_usd: number;
  @ApiProperty({ nullable: true, type: Number }) latency_p50_ms: number | null;
}

export class ReservationRowView {
  @ApiProperty() account_id: string;
  @ApiProperty({ description: 'Upstream calls in flight holding a budget reservation.' }) count: number;
  @ApiProperty() usd: number;
  @ApiProperty() tokens: number;
}

export class AdminUsageResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty() hours: number;
  @ApiProperty({ type: [UsageRowView] }) data: UsageRowView[];
  @ApiPropertyOptional({ type: [ReservationRowView], description: 'Budget reservations of calls in flight, per account.' }) reservations?: ReservationRowView[];
}
