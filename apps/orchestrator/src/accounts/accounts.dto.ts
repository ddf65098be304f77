import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { BudgetDto } from '../budgets/budgets.dto';
import { IsOmittable } from '../common/validation';
import { IsBoolean, IsInt, IsObject, IsNotEmpty, IsOptional, IsString, IsUrl, Max, MaxLength, Min, ValidateNested } from 'class-validator';

export class UpstreamConfigDto {
  @ApiProperty({ example: 'https://api.moonshot.ai/v1' })
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  base_url: string;

  @ApiPropertyOptional({ example: 'kimi-k2.6' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  model?: string;

  @ApiProperty({ description: 'Stored encrypted; never returned.' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  api_key: string;
}

export class CreateAccountDto {
  @ApiProperty({ example: 'acme' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100000, description: 'Live sessions at once (default SESSION_LIMIT).' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100000)
  session_limit?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 1_000_000, nullable: true, description: 'Requests per minute on /v1/* (default RATE_LIMIT_PER_MINUTE; 0: unlimited).' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  rate_limit_per_minute?: number | null;

  @ApiPropertyOptional({ type: UpstreamConfigDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UpstreamConfigDto)
  upstream?: UpstreamConfigDto;
}

export class UpstreamLimitsDto {
  @ApiPropertyOptional({ minimum: 0, nullable: true, description: 'Upstream calls in flight at once (0: unlimited; null: UPSTREAM_ACCOUNT_CONCURRENCY).' })
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000) concurrency?: number | null;
  @ApiPropertyOptional({ minimum: 0, nullable: true, description: 'Upstream requests per minute (0: unlimited; null: UPSTREAM_ACCOUNT_RPM).' })
  @IsOptional() @IsInt() @Min(0) @Max(100_000_000) rpm?: number | null;
  @ApiPropertyOptional({ minimum: 0, nullable: true, description: 'Upstream tokens per minute, charged prompt + max_tokens at admission (0: unlimited; null: UPSTREAM_ACCOUNT_TPM).' })
  @IsOptional() @IsInt() @Min(0) @Max(1e12) tpm?: number | null;
}

export class UpstreamLimitsView {
  @ApiProperty({ nullable: true, type: Number }) concurrency: number | null;
  @ApiProperty({ nullable: true, type: Number }) rpm: number | null;
  @ApiProperty({ nullable: true, type: Number }) tpm: number | null;
}

export class UpdateAccountDto {
  @ApiPropertyOptional()
  @IsOmittable()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100000 })
  @IsOmittable()
  @IsInt()
  @Min(1)
  @Max(100000)
  session_limit?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 1_000_000, nullable: true, description: 'Requests per minute on /v1/*; null returns to RATE_LIMIT_PER_MINUTE; 0: unlimited.' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  rate_limit_per_minute?: number | null;

  @ApiPropertyOptional({ type: UpstreamConfigDto, nullable: true, description: 'null removes the account upstream (the service default is used).' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UpstreamConfigDto)
  upstream?: UpstreamConfigDto | null;

  @ApiPropertyOptional({ type: UpstreamLimitsDto, nullable: true, description: "Upstream admission limits (the tier's concurrency, RPM, TPM); null returns to the UPSTREAM_ACCOUNT_* defaults." })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => UpstreamLimitsDto)
  upstream_limits?: UpstreamLimitsDto | null;

  @ApiPropertyOptional({ type: BudgetDto, nullable: true, description: 'Spend budget of the account (usd and/or tokens, per day, month or none); null removes it.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => BudgetDto)
  budget?: BudgetDto | null;

  @ApiPropertyOptional({ description: 'Issue a new API key; the old one stops working at once.' })
  @IsOptional()
  @IsBoolean()
  rotate_key?: boolean;
}

export class AccountUpstreamView {
  @ApiProperty() base_url: string;
  @ApiProperty({ nullable: true, type: String }) model: string | null;
  @ApiProperty() api_key_set: boolean;
}

export class AccountResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['account'] }) object: 'account';
  @ApiProperty() name: string;
  @ApiProperty() session_limit: number;
  @ApiProperty({ description: 'The first characters of the key.' }) api_key_prefix: string;
  @ApiProperty({ type: AccountUpstreamView, nullable: true }) upstream: AccountUpstreamView | null;
  @ApiProperty({ nullable: true, type: Number, description: 'The account setting (null: the service default applies).' }) rate_limit_per_minute: number | null;
  @ApiProperty({ description: 'The limit in force: requests per minute on /v1/* (0: unlimited).' }) effective_rate_limit_per_minute: number;
  @ApiProperty({ type: UpstreamLimitsView, nullable: true, description: 'Upstream admission limits set on the account (null: the defaults).' }) upstream_limits: UpstreamLimitsView | null;
  @ApiProperty({ description: 'Unix seconds.' }) created_at: number;
}

export class AccountWithKeyResponse extends AccountResponse {
  @ApiProperty({ description: 'Shown this once; stored only as a hash.' }) api_key: string;
}

export class AccountUpdatedResponse extends AccountResponse {
  @ApiPropertyOptional({ description: 'The new key, only when rotate_key was true: shown this once.' }) api_key?: string;
}

export class AccountListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [AccountResponse] }) data: AccountResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class ResealResponse {
  @ApiProperty({ description: 'Upstream keys re-encrypted with the current ENCRYPTION_KEY.' }) resealed: number;
  @ApiProperty({ description: 'Already encrypted with the current key.' }) current: number;
  @ApiProperty({ description: 'Opened by no configured key (left as they are; their calls answer 503).' }) unreadable: number;
  @ApiProperty({ type: [String] }) unreadable_account_ids: string[];
}
