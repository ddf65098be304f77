import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { IsOmittable } from '../common/validation';

export class CreateFragmentDto {
  @ApiProperty({ example: 'coding-standards' }) @IsString() @IsNotEmpty() @MaxLength(200) name: string;
  @ApiProperty({ description: 'Injected as a pinned system message in every session that references it.' }) @IsString() @IsNotEmpty() @MaxLength(400_000) content: string;
}

export class UpdateFragmentDto {
  @ApiPropertyOptional() @IsOmittable() @IsString() @IsNotEmpty() @MaxLength(200) name?: string;
  @ApiProperty() @IsString() @IsNotEmpty() @MaxLength(400_000) content: string;
}

export class FragmentResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['fragment'] }) object: string;
  @ApiProperty() name: string;
  @ApiProperty() version: number;
  @ApiProperty() token_count: number;
  @ApiProperty({ description: 'sha256 of the content' }) hash: string;
  @ApiPropertyOptional() content?: string;
  @ApiProperty() created_at: number;
}

export class FragmentListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [FragmentResponse] }) data: FragmentResponse[];
  @ApiProperty() has_more: boolean;
  @ApiProperty({ nullable: true, type: String }) last_id: string | null;
}

export class FragmentDeletedResponse {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['fragment.deleted'] }) object: string;
  @ApiProperty() deleted: boolean;
}
