import { Body, Controller, Headers, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { ApiError } from '../common/api-error';
import { SseWriter } from '../sessions/sse';
import { ChatCompletionDto, ChatCompletionResponse } from './chat-completions.dto';
import { ChatCompletionsService } from './chat-completions.service';

@ApiTags('openai-compatible')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/chat/completions')
export class ChatCompletionsController {
  constructor(private readonly chat: ChatCompletionsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'OpenAI-compatible chat completions; with `session_id` the messages are appended to that session',
    description: 'Without session_id: a stateless pass-through with the same accounting. Streams in the OpenAI chunk format; with `stream_options.include_usage` the last chunk carries usage.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'With session_id: a repeat returns the stored turn without a second upstream call.' })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({ type: ChatCompletionResponse })
  @ApiErrors(400, 401, 404, 409, 413, 429, 502, 504)
  async create(@CurrentAccount() account: ResolvedAccount, @Body() dto: ChatCompletionDto, @Headers('idempotency-key') key: string | undefined, @Res({ passthrough: true }) res: Response) {
    const idempotencyKey = key ? key : null;
    if (idempotencyKey !== null && idempotencyKey.length > 255) throw new ApiError('invalid_request', 'Idempotency-Key must be at most 255 characters.', 'Idempotency-Key');
    if (!dto.stream) return this.chat.complete(account, dto, idempotencyKey, null);
    const sse = new SseWriter(res);
    const last = await this.chat.complete(account, dto, idempotencyKey, (chunk) => sse.send(chunk));
    if (last) sse.send(last);
    sse.done();
    return undefined;
  }
}
