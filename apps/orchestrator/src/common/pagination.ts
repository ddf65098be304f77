import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { Type } from 'class-transformer';
import { ApiError } from './api-error';
import { isUuid } from './ids';

/** `limit` 1..100 (default 20) and `after` (the last id seen), as in OpenAI's lists. */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'The last id of the previous page.' })
  @IsOptional()
  @IsString()
  after?: string;
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  last_id: string | null;
}

/** Builds a page from `limit + 1` fetched rows. */
export function toPage<T>(rows: T[], limit: number, idOf: (t: T) => string): ListPage<T> {
  const has_more = rows.length > limit;
  const data = has_more ? rows.slice(0, limit) : rows;
  return { object: 'list', data, has_more, last_id: data.length ? idOf(data[data.length - 1]) : null };
}

export class ListEnvelope {
  @ApiProperty({ enum: ['list'] })
  object: 'list';
  @ApiProperty()
  has_more: boolean;
  @ApiProperty({ nullable: true, type: String })
  last_id: string | null;
}

/**
 * A list cursor: the id of the last item of the previous page. One that is not an id is a 400
 * (silently returning the first page would make a client loop over it forever).
 */
export function listCursor(after: string | undefined, what = 'item'): string | undefined {
  if (after === undefined || after === '') return undefined;
  if (!isUuid(after)) throw new ApiError('invalid_request', `after must be the id of the last ${what} of the previous page (the list's last_id); '${String(after).slice(0, 80)}' is not one.`, 'after');
  return after;
}
