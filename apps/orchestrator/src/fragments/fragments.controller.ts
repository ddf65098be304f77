import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { PageQuery } from '../common/pagination';
import { CreateFragmentDto, FragmentDeletedResponse, FragmentListResponse, FragmentResponse, UpdateFragmentDto } from './fragments.dto';
import { FragmentsService } from './fragments.service';

@ApiTags('fragments')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/fragments')
export class FragmentsController {
  constructor(private readonly fragments: FragmentsService) {}

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: FragmentResponse })
  @ApiErrors(400, 401)
  create(@CurrentAccount() a: ResolvedAccount, @Body() dto: CreateFragmentDto) {
    return this.fragments.create(a, dto);
  }

  @Get()
  @ApiOkResponse({ type: FragmentListResponse })
  @ApiErrors(400, 401)
  list(@CurrentAccount() a: ResolvedAccount, @Query() q: PageQuery) {
    return this.fragments.list(a, q.limit ?? 20, q.after);
  }

  @Get(':id')
  @ApiOkResponse({ type: FragmentResponse })
  @ApiErrors(401, 404)
  get(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.fragments.get(a, id);
  }

  @Put(':id')
  @ApiOkResponse({ type: FragmentResponse, description: 'A new version (the same content keeps the current version). Sessions keep the version they pinned.' })
  @ApiErrors(400, 401, 404)
  update(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string, @Body() dto: UpdateFragmentDto) {
    return this.fragments.update(a, id, dto);
  }

  @Delete(':id')
  @ApiOkResponse({ type: FragmentDeletedResponse, description: 'Deleted for new sessions; sessions that pinned it keep their version.' })
  @ApiErrors(401, 404)
  remove(@CurrentAccount() a: ResolvedAccount, @Param('id') id: string) {
    return this.fragments.remove(a, id);
  }
}
