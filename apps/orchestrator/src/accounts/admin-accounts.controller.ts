import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { PageQuery } from '../common/pagination';
import { AccountListResponse, AccountResponse, AccountUpdatedResponse, AccountWithKeyResponse, CreateAccountDto, ResealResponse, UpdateAccountDto } from './accounts.dto';
import { AccountsService } from './accounts.service';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/accounts')
export class AdminAccountsController {
  constructor(private readonly accounts: AccountsService) {}

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: AccountWithKeyResponse, description: 'The API key is in this response only.' })
  @ApiErrors(400, 401, 403)
  create(@Body() dto: CreateAccountDto) {
    return this.accounts.create(dto);
  }

  @Post('reseal-upstream-keys')
  @HttpCode(200)
  @ApiOperation({ summary: 'Re-encrypt every stored upstream key with the current ENCRYPTION_KEY (after a rotation), so old keys can leave ENCRYPTION_KEYS_OLD' })
  @ApiOkResponse({ type: ResealResponse })
  @ApiErrors(401, 403)
  reseal() {
    return this.accounts.reseal();
  }

  @Get()
  @ApiOkResponse({ type: AccountListResponse })
  @ApiErrors(400, 401, 403)
  list(@Query() q: PageQuery) {
    return this.accounts.list(q.limit ?? 20, q.after);
  }

  @Get(':id')
  @ApiOkResponse({ type: AccountResponse })
  @ApiErrors(401, 403, 404)
  get(@Param('id') id: string) {
    return this.accounts.get(id);
  }

  @Patch(':id')
  @ApiOkResponse({ type: AccountUpdatedResponse, description: '`api_key` is present only when rotate_key was true.' })
  @ApiErrors(400, 401, 403, 404)
  update(@Param('id') id: string, @Body() dto: UpdateAccountDto) {
    return this.accounts.update(id, dto);
  }
}
