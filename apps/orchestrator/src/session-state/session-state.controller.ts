import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { PageQuery } from '../common/pagination';
import { SessionResponse } from '../sessions/sessions.dto';
import {
  CompressDto,
  CompressResponse,
  ContextResponse,
  CreateSnapshotDto,
  EventsQuery,
  ForkDto,
  LineageResponse,
  RestoreDto,
  SessionEventListResponse,
  RevokeShareResponse,
  ShareDto,
  ShareResponse,
  SnapshotListResponse,
  SnapshotResponse,
  TruncateDto,
} from './session-state.dto';
import { SessionStateService } from './session-state.service';

@ApiTags('session state')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/sessions/:id')
export class SessionStateController {
  constructor(private readonly state: SessionStateService) {}

  @Post('truncate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Drop the head of the window (history is kept); never separates a tool call from its result' })
  @ApiOkResponse({ type: ContextResponse })
  @ApiErrors(400, 401, 404, 409)
  truncate(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: TruncateDto) {
    return this.state.truncate(a, id, dto.preserve_len);
  }

  @Post('fragments/upgrade')
  @HttpCode(200)
  @ApiOperation({ summary: 'Move the pinned fragments to their current versions (sessions keep their versions until told)' })
  @ApiOkResponse({ type: SessionResponse })
  @ApiErrors(401, 404, 409)
  upgradeFragments(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.state.upgradeFragments(a, id);
  }

  @Post('snapshots')
  @HttpCode(201)
  @ApiOperation({ summary: 'Capture the window (O(1): metadata only)' })
  @ApiCreatedResponse({ type: SnapshotResponse })
  @ApiErrors(400, 401, 404, 409)
  snapshot(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: CreateSnapshotDto) {
    return this.state.createSnapshot(a, id, dto.label ?? null);
  }

  @Get('snapshots')
  @ApiOkResponse({ type: SnapshotListResponse })
  @ApiErrors(400, 401, 404)
  snapshots(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Query() q: PageQuery) {
    return this.state.listSnapshots(a, id, q.limit ?? 20, q.after);
  }

  @Post('restore')
  @HttpCode(200)
  @ApiOperation({ summary: 'Roll the window back to a snapshot; later messages stay in history, out of the window' })
  @ApiOkResponse({ type: SessionResponse })
  @ApiErrors(400, 401, 404, 409)
  restore(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: RestoreDto) {
    return this.state.restore(a, id, dto.snapshot_id);
  }

  @Post('compress')
  @HttpCode(200)
  @ApiOperation({ summary: 'Compress the window (older than keep_rounds) into a structured outline' })
  @ApiOkResponse({ type: CompressResponse })
  @ApiErrors(400, 401, 404, 409, 502, 504)
  compress(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: CompressDto) {
    return this.state.compress(a, id, dto);
  }

  @Get('context')
  @ApiOperation({ summary: 'The exact window the next turn sends, with a token breakdown' })
  @ApiOkResponse({ type: ContextResponse })
  @ApiErrors(401, 404)
  context(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.state.context(a, id);
  }

  @Get('events')
  @ApiOperation({ summary: 'Compactions, truncations, snapshots, restores and forks, in order' })
  @ApiOkResponse({ type: SessionEventListResponse })
  @ApiErrors(400, 401, 404)
  events(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Query() q: EventsQuery) {
    return this.state.events(a, id, q);
  }

  @Get('lineage')
  @ApiOperation({ summary: 'The session tree: children and forks (recursively), snapshots, outlines with provenance' })
  @ApiOkResponse({ type: LineageResponse })
  @ApiErrors(401, 404)
  lineage(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.state.lineage(a, id);
  }
}

@ApiTags('session state')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/snapshots/:id')
export class SnapshotsController {
  constructor(private readonly state: SessionStateService) {}

  @Post('fork')
  @HttpCode(201)
  @ApiOperation({ summary: 'A new session whose window equals the snapshot (parent_id = source session)' })
  @ApiCreatedResponse({ type: SessionResponse })
  @ApiErrors(400, 401, 404, 429)
  fork(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: ForkDto) {
    return this.state.fork(a, id, dto);
  }

  @Post('share')
  @HttpCode(200)
  @ApiOperation({ summary: 'A token that lets another account fork this snapshot (a copy of its window), until it expires or is revoked; it replaces any earlier token' })
  @ApiOkResponse({ type: ShareResponse })
  @ApiErrors(400, 401, 404)
  share(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: ShareDto) {
    return this.state.share(a, id, dto);
  }

  @Delete('share')
  @HttpCode(200)
  @ApiOperation({ summary: "Revoke the snapshot's share token: it stops working at once (forks already made keep their copy)" })
  @ApiOkResponse({ type: RevokeShareResponse })
  @ApiErrors(401, 404)
  revokeShare(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.state.revokeShare(a, id);
  }
}
