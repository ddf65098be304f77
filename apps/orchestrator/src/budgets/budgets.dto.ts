import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';

/** `budget` on accounts, sessions (`policy.budget`) and tasks. */
export class BudgetDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 1_000_000, nullable: true, description: 'USD the scope may spend (per period for accounts).' })
  @IsOptional() @IsNumber({ maxDecimalPlaces: 8 }) @Min(0) @Max(1_000_000) usd?: number | null;

  @ApiPropertyOptional({ minimum: 0, nullable: true, description: 'Tokens (prompt + completion) the scope may use.' })
  @IsOptional() @IsInt() @Min(0) @Max(1e15) tokens?: number | null;

  @ApiPropertyOptional({ enum: ['day', 'month', 'none'], default: 'none', description: 'Accounts only: the budget starts again each UTC day or month.' })
  @IsOptional() @IsIn(['day', 'month', 'none']) period?: 'day' | 'month' | 'none';
}

export class BudgetView {
  @ApiProperty({ enum: ['account', 'session', 'task'] }) scope: string;
  @ApiProperty({ description: 'The account, session or task id.' }) id: string;
  @ApiProperty({ nullable: true, type: Number }) limit_usd: number | null;
  @ApiProperty({ nullable: true, type: Number }) limit_tokens: number | null;
  @ApiProperty({ enum: ['day', 'month', 'none'] }) period: string;
  @ApiProperty({ description: 'Unix seconds: start of the current period.' }) period_start: number;
  @ApiProperty({ description: 'Billed in the current period.' }) spent_usd: number;
  @ApiProperty() spent_tokens: number;
  @ApiProperty({ description: 'Worst case held by calls in flight.' }) reserved_usd: number;
  @ApiProperty() reserved_tokens: number;
  @ApiProperty({ nullable: true, type: Number, description: 'limit - spent - reserved (null: no USD limit).' }) remaining_usd: number | null;
  @ApiProperty({ nullable: true, type: Number }) remaining_tokens: number | null;
}

export class ReservationsView {
  @ApiProperty({ description: 'Calls in flight holding a reservation.' }) count: number;
  @ApiProperty() usd: number;
  @ApiProperty() tokens: number;
}

export class UsageResponse {
  @ApiProperty({ enum: ['usage'] }) object: 'usage';
  @ApiProperty() account_id: string;
  @ApiProperty({ type: BudgetView, nullable: true, description: "The account's own budget (null: none)." }) budget: BudgetView | null;
  @ApiProperty({ type: ReservationsView }) reservations: ReservationsView;
  @ApiProperty({ type: [BudgetView], description: 'Every budget of the account: its own, its sessions\' and its tasks\'.' }) budgets: BudgetView[];
}
