import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ModelRegistry } from '@so/llm';
import { AccountGuard } from '../auth/auth.guards';
import { ApiErrors } from '../common/api-docs';

class ModelView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: ['model'] }) object: 'model';
  @ApiProperty() created: number;
  @ApiProperty() owned_by: string;
  @ApiProperty() context_length: number;
}

class ModelListResponse {
  @ApiProperty({ enum: ['list'] }) object: 'list';
  @ApiProperty({ type: [ModelView] }) data: ModelView[];
}

@ApiTags('openai-compatible')
@ApiBearerAuth('account')
@UseGuards(AccountGuard)
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelRegistry) {}

  @Get()
  @ApiOkResponse({ type: ModelListResponse })
  @ApiErrors(401)
  list(): ModelListResponse {
    return {
      object: 'list',
      data: this.models.list().map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'session-orchestrator', context_length: m.contextWindow })),
    };
  }
}
