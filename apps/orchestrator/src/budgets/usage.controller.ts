import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { ResolvedAccount } from '../accounts/accounts.service';
import { AccountGuard, CurrentAccount } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';
import { UsageResponse } from './budgets.dto';
import { BudgetsService } from './budgets.service';

@ApiTags('usage')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly budgets: BudgetsService) {}

  @Get()
  @ApiOperation({ summary: "The account's budgets: spent, reserved by calls in flight, and remaining" })
  @ApiOkResponse({ type: UsageResponse })
  @ApiErrors(401)
  usage(@CurrentAccount() a: ResolvedAccount): Promise<UsageResponse> {
    return this.budgets.usage(a.id);
  }
}
