import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { BudgetDto, BudgetView } from '../budgets/budgets.dto';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsNotEmpty, IsNumber, IsObject, IsOptional, IsString, Max, MaxLength, Min, ValidateNested } from 'class-validator';

export class SubtaskDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(500) title: string;
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(400_000) prompt: string;
}

export class TaskInputDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(500) title: string;
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(4_000_000) content: string;
}

export class SplitDto {
  @ApiProperty({ enum: ['per_input', 'token_chunks'] }) @IsIn(['per_input', 'token_chunks']) strategy: 'per_input' | 'token_chunks';
  @ApiPropertyOptional({ minimum: 256, maximum: 100000, default: 6000 }) @IsOptional() @IsInt() @Min(256) @Max(100_000) chunk_tokens?: number;
}

export class ChildOptionsDto {
  @ApiPropertyOptional({ description: "Each child's system prompt." }) @IsOptional() @IsString() @MaxLength(100_000) system?: string;
  @ApiPropertyOptional({ description: 'The first user message of each child; placeholders {{goal}}, {{title}}, {{content}}, {{index}}.' })
  @IsOptional() @IsString() @MaxLength(100_000) prompt_template?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 20, default: 1 }) @IsOptional() @IsInt() @Min(1) @Max(20) max_rounds?: number;
  @ApiPropertyOptional({ description: 'The user message of rounds after the first.' }) @IsOptional() @IsString() @MaxLength(100_000) followup_prompt?: string;
}

export class MergeOptionsDto {
  @ApiPropertyOptional({ minimum: 2, maximum: 10, default: 4 }) @IsOptional() @IsNumber() @Min(2) @Max(10) compress_ratio?: number;
  @ApiPropertyOptional({ description: 'The instruction the master answers from the outlines.' }) @IsOptional() @IsString() @MaxLength(100_000) final_prompt?: string;
}

export class CreateTaskDto {
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(100_000) goal: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @IsNotEmpty() @MaxLength(200) model?: string;
  @ApiPropertyOptional({ type: [SubtaskDto] }) @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(10_000) @ValidateNested({ each: true }) @Type(() => SubtaskDto) subtasks?: SubtaskDto[];
  @ApiPropertyOptional({ type: [TaskInputDto] }) @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(10_000) @ValidateNested({ each: true }) @Type(() => TaskInputDto) inputs?: TaskInputDto[];
  @ApiPropertyOptional({ type: SplitDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => SplitDto) split?: SplitDto;
  @ApiPropertyOptional({ type: ChildOptionsDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => ChildOptionsDto) child?: ChildOptionsDto;
  @ApiPropertyOptional({ type: MergeOptionsDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => MergeOptionsDto) merge?: MergeOptionsDto;
  @ApiPropertyOptional({ type: BudgetDto, description: 'Spend budget of the whole task: every child, compression, merge and the final answer. When it runs out the task stops spawning children and ends partial.' })
  @IsOptional() @IsObject() @ValidateNested() @Type(() => BudgetDto) budget?: BudgetDto;
  @ApiPropertyOptional({ minimum: 1, description: 'Children of this task live at once (below the account pool limit).' }) @IsOptional() @IsInt() @Min(1) @Max(100_000) max_parallel?: number;
}

export class TaskProgressView {
  @ApiProperty() total: number;
  @ApiProperty() queued: number;
  @ApiProperty() running: number;
  @ApiProperty() succeeded: number;
  @ApiProperty() failed: number;
  @ApiProperty() cancelled: number;
}

export class TaskResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['task'] }) object: string;
  @ApiProperty({ enum: ['queued', 'running', 'merging', 'succeeded', 'partial', 'failed', 'cancelled'] }) status: string;
  @ApiProperty() goal: string;
  @ApiProperty() master_session_id: string;
  @ApiProperty({ type: TaskProgressView }) progress: TaskProgressView;
  @ApiProperty({ nullable: true, type: String, description: 'The final answer, when done.' }) result: string | null;
  @ApiProperty({ type: 'array', items: { type: 'object' }, description: 'Children that failed after their retries.' }) failures: unknown[];
  @ApiProperty({ description: "What the task's upstream calls were billed so far (children, compressions, final answer)." }) cost_usd: number;
  @ApiProperty({ type: BudgetView, nullable: true, description: "The task's budget: spent, reserved and remaining (null: none)." }) budget: BudgetView | null;
  @ApiProperty() created_at: number;
  @ApiProperty({ nullable: true, type: Number }) finished_at: number | null;
}

export class TaskListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [TaskResponse] }) data: TaskResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}
