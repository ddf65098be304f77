import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { ApiError } from '../common/api-error';
import { PageQuery } from '../common/pagination';
import { CoordinatorService } from './coordinator.service';
import { TaskEvents } from './task-events';
import { CreateTaskDto, TaskListResponse, TaskResponse } from './tasks.dto';

const FINISHED = ['succeeded', 'partial', 'failed', 'cancelled'];

@ApiTags('tasks')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/tasks')
export class TasksController {
  constructor(private readonly coordinator: CoordinatorService, private readonly taskEvents: TaskEvents) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Fan a task out into child sessions; their outlines are merged into a master session that writes the final answer' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Repeat a create safely: the same key and body answer with the same task; the same key with another body is 409.' })
  @ApiAcceptedResponse({ type: TaskResponse })
  @ApiErrors(400, 401, 409)
  create(@CurrentAccount() a: ResolvedAccount, @Body() dto: CreateTaskDto, @Headers('idempotency-key') idempotencyKey: string | undefined) {
    const key = idempotencyKey === undefined || idempotencyKey === '' ? null : idempotencyKey;
    if (key !== null && key.length > 255) throw new ApiError('invalid_request', 'Idempotency-Key must be at most 255 characters.', 'Idempotency-Key');
    return this.coordinator.create(a, dto, key);
  }

  @Get()
  @ApiOkResponse({ type: TaskListResponse, description: 'Tasks, newest first.' })
  @ApiErrors(400, 401)
  list(@CurrentAccount() a: ResolvedAccount, @Query() q: PageQuery) {
    return this.coordinator.list(a, q.limit ?? 20, q.after);
  }

  @Get(':id')
  @ApiOkResponse({ type: TaskResponse })
  @ApiErrors(401, 404)
  get(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.coordinator.get(a, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Stop queued children and close running ones' })
  @ApiOkResponse({ type: TaskResponse })
  @ApiErrors(401, 404, 409)
  cancel(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.coordinator.cancel(a, id);
  }

  @Get(':id/events')
  @ApiOperation({ summary: 'Progress as server-sent events (`progress` on every change, then `done`)' })
  @ApiOkResponse({ description: 'Server-sent events: `event: progress` / `event: done`, data = the task object.', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiErrors(401, 404)
  async events(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    // Read from Postgres, so progress is right whichever instance runs the children.
    let view = await this.coordinator.get(a, id);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    let closed = false;
    req.on('close', () => (closed = true));
    let last = '';
    let n = 0;
    for (;;) {
      const body = JSON.stringify(view);
      if (body !== last) {
        res.write(`id: ${++n}\nevent: progress\ndata: ${body}\n\n`);
        last = body;
      }
      if (FINISHED.includes(view.status)) {
        res.write(`id: ${++n}\nevent: done\ndata: ${body}\n\n`);
        break;
      }
      // Woken by the task's Postgres notification (any instance's change); without LISTEN, a short interval.
      await (this.taskEvents.available ? this.taskEvents.next(view.id, 5000) : new Promise((r) => setTimeout(r, 250)));
      if (closed) return;
      view = await this.coordinator.get(a, id);
    }
    res.end();
  }
}
