import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { ApiError } from '../common/api-error';
import { toApiError } from '../common/error.filter';
import { SseWriter } from '../sessions/sse';
import { ConversationsService } from './conversations.service';
import {
  CompactionView,
  CompactResponseDto,
  ConversationDeletedView,
  ConversationItemsQuery,
  ConversationResourceView,
  CreateConversationDto,
  CreateConversationItemsDto,
  CreateResponseDto,
  ItemListQuery,
  ItemListView,
  ItemView,
  ResponseDeletedView,
  ResponseObjectView,
  UpdateConversationDto,
} from './responses.dto';
import { ResponseStreamer } from './response-stream';
import { ResponsesService } from './responses.service';

function idempotencyKey(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  if (raw.length > 255) throw new ApiError('invalid_request', 'Idempotency-Key must be at most 255 characters.', 'Idempotency-Key');
  return raw;
}

@ApiTags('responses')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/responses')
export class ResponsesController {
  constructor(private readonly responses: ResponsesService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: "Create a model response (OpenAI's Responses API) on top of a session",
    description:
      'With `conversation` the input is appended to that conversation (a session); with `previous_response_id` the chain continues (a new session forked at that point when the chain has moved on, so branching works); with neither a new session starts. `stream: true` sends Responses SSE events (response.created ... response.completed), each with sequence_number.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A repeat returns the stored response without a second model call.' })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({ type: ResponseObjectView })
  @ApiErrors(400, 401, 404, 409, 413, 429, 502, 504)
  async create(
    @CurrentAccount() account: ResolvedAccount,
    @Body() dto: CreateResponseDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    const k = idempotencyKey(key);
    if (!dto.stream) return this.responses.create(account, dto, k, null);
    const stream = new ResponseStreamer(new SseWriter(res));
    try {
      await this.responses.create(account, dto, k, stream);
    } catch (err) {
      if (!stream.hasStarted) throw err;
      const api = toApiError(err);
      stream.fail(api.code, api.message, api.param);
    }
    return undefined;
  }

  @Post('compact')
  @HttpCode(200)
  @ApiOperation({ summary: "Compact a conversation's window, or a given input, into a readable outline (a compaction item) and the items kept verbatim" })
  @ApiOkResponse({ type: CompactionView })
  @ApiErrors(400, 401, 404, 409, 429, 502, 504)
  compact(@CurrentAccount() account: ResolvedAccount, @Body() dto: CompactResponseDto) {
    return this.responses.compact(account, dto);
  }

  @Get(':id')
  @ApiOkResponse({ type: ResponseObjectView })
  @ApiErrors(401, 404)
  get(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.responses.get(account, id);
  }

  @Delete(':id')
  @ApiOperation({ summary: "Delete a stored response (the session's history keeps its messages)" })
  @ApiOkResponse({ type: ResponseDeletedView })
  @ApiErrors(401, 404)
  delete(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.responses.delete(account, id);
  }

  @Get(':id/input_items')
  @ApiOperation({ summary: "The items this response's request added (newest first by default)" })
  @ApiOkResponse({ type: ItemListView })
  @ApiErrors(400, 401, 404)
  inputItems(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Query() q: ItemListQuery) {
    return this.responses.inputItems(account, id, q);
  }
}

@ApiTags('conversations')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/conversations')
export class ConversationsController {
  constructor(private readonly conversations: ConversationsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a conversation: a session (it takes a pool slot), optionally with initial items (no model call)' })
  @ApiOkResponse({ type: ConversationResourceView })
  @ApiErrors(400, 401, 413, 429)
  create(@CurrentAccount() account: ResolvedAccount, @Body() dto: CreateConversationDto) {
    return this.conversations.create(account, dto);
  }

  @Get(':id')
  @ApiOkResponse({ type: ConversationResourceView })
  @ApiErrors(401, 404)
  get(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.conversations.get(account, id);
  }

  @Post(':id')
  @HttpCode(200)
  @ApiOperation({ summary: "Update a conversation's metadata" })
  @ApiOkResponse({ type: ConversationResourceView })
  @ApiErrors(400, 401, 404)
  update(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Body() dto: UpdateConversationDto) {
    return this.conversations.update(account, id, dto);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Delete a conversation: its session is closed (slot released, history kept)' })
  @ApiOkResponse({ type: ConversationDeletedView })
  @ApiErrors(401, 404)
  delete(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string) {
    return this.conversations.delete(account, id);
  }

  @Get(':id/items')
  @ApiOperation({ summary: "The conversation's items: its session's window (compaction items for outlines), newest first by default" })
  @ApiOkResponse({ type: ItemListView })
  @ApiErrors(400, 401, 404)
  listItems(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Query() q: ConversationItemsQuery) {
    return this.conversations.listItems(account, id, q);
  }

  @Post(':id/items')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add items to a conversation (stored without a model call)' })
  @ApiOkResponse({ type: ItemListView })
  @ApiErrors(400, 401, 404, 409, 413)
  createItems(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Body() dto: CreateConversationItemsDto) {
    return this.conversations.createItems(account, id, dto);
  }

  @Get(':id/items/:itemId')
  @ApiOkResponse({ type: ItemView })
  @ApiErrors(401, 404)
  getItem(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Param('itemId') itemId: string) {
    return this.conversations.getItem(account, id, itemId);
  }

  @Delete(':id/items/:itemId')
  @ApiOperation({ summary: "Delete an item: it leaves the window (a function call with its outputs); the session's history keeps it" })
  @ApiOkResponse({ type: ConversationResourceView })
  @ApiErrors(401, 404, 409)
  deleteItem(@CurrentAccount() account: ResolvedAccount, @Param('id') id: string, @Param('itemId') itemId: string) {
    return this.conversations.deleteItem(account, id, itemId);
  }
}
