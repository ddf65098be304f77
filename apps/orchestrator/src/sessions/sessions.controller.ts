import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { ApiError } from '../common/api-error';
import {
  AppendMessagesDto,
  AppendResponse,
  CreateSessionDto,
  ListMessagesQuery,
  ListSessionsQuery,
  MessageListResponse,
  SessionListResponse,
  SessionResponse,
} from './sessions.dto';
import { SessionsService } from './sessions.service';
import { SseWriter } from './sse';
import { finalChunk, replayChunk } from './turn-chunks';
import { TurnService } from './turn.service';

@ApiTags('sessions')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService, private readonly turns: TurnService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Open a long-context session' })
  @ApiCreatedResponse({ type: SessionResponse })
  @ApiErrors(400, 401, 429)
  create(@CurrentAccount() account: ResolvedAccount, @Body() dto: CreateSessionDto) {
    return this.sessions.create(account, dto);
  }

  @Get()
  @ApiOkResponse({ type: SessionListResponse })
  @ApiErrors(400, 401)
  list(@CurrentAccount() account: ResolvedAccount, @Query() q: ListSessionsQuery) {
    return this.sessions.list(account, q);
  }

  @Get(':id')
  @ApiOkResponse({ type: SessionResponse })
  @ApiErrors(401, 404)
  get(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.sessions.get(account, id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Close a session: its pool slot is released, its data kept' })
  @ApiOkResponse({ type: SessionResponse })
  @ApiErrors(401, 404)
  close(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.sessions.close(account, id);
  }

  @Post(':id/messages')
  @HttpCode(200)
  @ApiOperation({ summary: 'Append messages and (by default) generate the reply', description: 'With `stream: true` the reply streams as OpenAI `chat.completion.chunk` SSE events, ending with a chunk that carries `usage`, `session_usage` and `compaction`, then `data: [DONE]`.' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Repeat a turn safely: the same key returns the stored result without a second upstream call.' })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({ type: AppendResponse })
  @ApiErrors(400, 401, 404, 409, 413, 429, 502, 504)
  async append(
    @CurrentAccount() account: ResolvedAccount,
    @Param('id') id: string,
    @Body() dto: AppendMessagesDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    const key = idempotencyKey === undefined || idempotencyKey === '' ? null : idempotencyKey;
    if (key !== null && key.length > 255) throw new ApiError('invalid_request', 'Idempotency-Key must be at most 255 characters.', 'Idempotency-Key');
    if (!dto.stream) return this.turns.append(account, id, dto, key, null);
    const sse = new SseWriter(res);
    const result = await this.turns.append(account, id, dto, key, { chunk: (c) => sse.send(c) });
    if (result.idempotent_replay && result.message) sse.send(replayChunk(result));
    sse.send(finalChunk(result));
    sse.done();
    return undefined;
  }

  @Get(':id/messages')
  @ApiOperation({ summary: 'History, oldest first, each message with its seq and whether it is in the window' })
  @ApiOkResponse({ type: MessageListResponse })
  @ApiErrors(400, 401, 404)
  messages(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Query() q: ListMessagesQuery) {
    return this.sessions.messages(account, id, q);
  }
}
