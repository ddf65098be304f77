import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccountsService } from '../accounts/accounts.service';
import { AdminGuard } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { PageQuery } from '../common/pagination';
import { ContextResponse, EventsQuery, LineageResponse, SessionEventListResponse, SnapshotListResponse } from '../session-state/session-state.dto';
import { SessionStateService } from '../session-state/session-state.service';
import { ListMessagesQuery, ListSessionsQuery, MessageListResponse, SessionListResponse, SessionResponse } from '../sessions/sessions.dto';
import { SessionsService } from '../sessions/sessions.service';
import { TaskResponse } from '../tasks/tasks.dto';
import { CoordinatorService } from '../tasks/coordinator.service';
import { TaskListResponse } from './dashboard.dto';

/**
 * The admin's read-only view into one account (the dashboard's tasks, lineage and session inspector
 * for the admin key): the same answers as the account's own GET routes, scoped to `account_id`.
 * Nothing here changes state; an unknown account, or an object of another account, is 404.
 */
@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/accounts/:account_id')
export class AdminAccountViewController {
  constructor(
    private readonly accounts: AccountsService,
    private readonly sessions: SessionsService,
    private readonly state: SessionStateService,
    private readonly coordinator: CoordinatorService,
  ) {}

  private account(id: string) {
    return this.accounts.resolveById(id);
  }

  @Get('tasks')
  @ApiOperation({ summary: "An account's tasks, newest first (as GET /v1/tasks)" })
  @ApiOkResponse({ type: TaskListResponse })
  @ApiErrors(400, 401, 403, 404)
  async tasks(@Param('account_id') accountId: string, @Query() q: PageQuery) {
    return this.coordinator.list(await this.account(accountId), q.limit ?? 20, q.after);
  }

  @Get('tasks/:id')
  @ApiOperation({ summary: "One of an account's tasks (as GET /v1/tasks/{id})" })
  @ApiOkResponse({ type: TaskResponse })
  @ApiErrors(401, 403, 404)
  async task(@Param('account_id') accountId: string, @Param('id') id: string) {
    return this.coordinator.get(await this.account(accountId), id);
  }

  @Get('sessions')
  @ApiOperation({ summary: "An account's sessions (as GET /v1/sessions)" })
  @ApiOkResponse({ type: SessionListResponse })
  @ApiErrors(400, 401, 403, 404)
  async sessionList(@Param('account_id') accountId: string, @Query() q: ListSessionsQuery) {
    return this.sessions.list(await this.account(accountId), q);
  }

  @Get('sessions/:id')
  @ApiOperation({ summary: "One of an account's sessions (as GET /v1/sessions/{id})" })
  @ApiOkResponse({ type: SessionResponse })
  @ApiErrors(401, 403, 404)
  async session(@Param('account_id') accountId: string, @Param('id') id: string) {
    return this.sessions.get(await this.account(accountId), id);
  }

  @Get('sessions/:id/messages')
  @ApiOperation({ summary: "A session's history with in_window (as GET /v1/sessions/{id}/messages)" })
  @ApiOkResponse({ type: MessageListResponse })
  @ApiErrors(400, 401, 403, 404)
  async messages(@Param('account_id') accountId: string, @Param('id') id: string, @Query() q: ListMessagesQuery) {
    return this.sessions.messages(await this.account(accountId), id, q);
  }

  @Get('sessions/:id/context')
  @ApiOperation({ summary: "A session's window with its token breakdown (as GET /v1/sessions/{id}/context)" })
  @ApiOkResponse({ type: ContextResponse })
  @ApiErrors(401, 403, 404)
  async context(@Param('account_id') accountId: string, @Param('id') id: string) {
    return this.state.context(await this.account(accountId), id);
  }

  @Get('sessions/:id/events')
  @ApiOperation({ summary: "A session's compactions, truncations, snapshots, restores and forks (as GET /v1/sessions/{id}/events)" })
  @ApiOkResponse({ type: SessionEventListResponse })
  @ApiErrors(400, 401, 403, 404)
  async events(@Param('account_id') accountId: string, @Param('id') id: string, @Query() q: EventsQuery) {
    return this.state.events(await this.account(accountId), id, q);
  }

  @Get('sessions/:id/snapshots')
  @ApiOperation({ summary: "A session's snapshots (as GET /v1/sessions/{id}/snapshots)" })
  @ApiOkResponse({ type: SnapshotListResponse })
  @ApiErrors(400, 401, 403, 404)
  async snapshots(@Param('account_id') accountId: string, @Param('id') id: string, @Query() q: PageQuery) {
    return this.state.listSnapshots(await this.account(accountId), id, q.limit ?? 20, q.after);
  }

  @Get('sessions/:id/lineage')
  @ApiOperation({ summary: "A session's tree (as GET /v1/sessions/{id}/lineage)" })
  @ApiOkResponse({ type: LineageResponse })
  @ApiErrors(401, 403, 404)
  async lineage(@Param('account_id') accountId: string, @Param('id') id: string) {
    return this.state.lineage(await this.account(accountId), id);
  }
}
