import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { ModelRegistry, OpenAIUpstream, TokenEstimator, UPSTREAM } from '@so/llm';
import { QueueModule } from '@so/queue';
import { AccountsRepository } from './accounts/accounts.repository';
import { AccountsService } from './accounts/accounts.service';
import { AdminAccountsController } from './accounts/admin-accounts.controller';
import { AdminController } from './admin/admin.controller';
import { AdminAccountViewController } from './dashboard/account-view.controller';
import { AccountDashboardController, AdminDashboardController, AnyKeyGuard, WhoAmIController } from './dashboard/dashboard.controller';
import { DashboardRepository } from './dashboard/dashboard.repository';
import { DashboardService } from './dashboard/dashboard.service';
import { PoolService } from './pool/pool.service';
import { ChatCompletionsController } from './openai-compat/chat-completions.controller';
import { ChatCompletionsService } from './openai-compat/chat-completions.service';
import { CHILD_QUEUE, CoordinatorService, FINAL_QUEUE } from './tasks/coordinator.service';
import { taskChildProcessor, TaskFinalProcessor } from './tasks/task.processors';
import { TasksController } from './tasks/tasks.controller';
import { TasksRepository } from './tasks/tasks.repository';
import { TaskEvents } from './tasks/task-events';
import { PgNotifications } from './common/pg-notifications';
import { AccountGuard, AdminGuard } from './auth/auth.guards';
import { SecretBox } from './common/secrets';
import { OperationsMetrics } from './health/operations-metrics';
import { Shutdown } from './common/shutdown';
import { UsageRepository } from './admin/usage.repository';
import { AccountRateLimit, RATE_LIMIT_STORAGE } from './rate-limit/account-rate-limit';
import { MemoryThrottlerStorage, RedisThrottlerStorage } from './rate-limit/rate-limit.storage';
import { ACCOUNT_EVENTS, LocalAccountEvents, RedisAccountEvents } from './accounts/account-events';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { BufferedLogOutput } from './common/log-output';
import { requestLogOptions } from './common/request-log';
import { FragmentsController } from './fragments/fragments.controller';
import { FragmentsRepository } from './fragments/fragments.repository';
import { FragmentsService } from './fragments/fragments.service';
import { HealthController } from './health/health.controller';
import { MetricsController } from './health/metrics.controller';
import { ModelsController } from './models/models.controller';
import { Compactor } from './session-state/compactor';
import { Summarizer } from './session-state/summarizer';
import { CompactionMetrics } from './session-state/compaction-metrics';
import { SessionStateController, SnapshotsController } from './session-state/session-state.controller';
import { SessionStateRepository } from './session-state/session-state.repository';
import { SessionStateService } from './session-state/session-state.service';
import { SESSIONS_QUEUE, SessionTitleJob } from './sessions/session-title.job';
import { SessionTitleProcessor } from './sessions/session-title.processor';
import { SessionsController } from './sessions/sessions.controller';
import { SessionsRepository } from './sessions/sessions.repository';
import { SessionsService } from './sessions/sessions.service';
import { TurnService } from './sessions/turn.service';
import { WindowCache } from './sessions/window-cache';
import { LlmGateway } from './upstream/llm-gateway';
import { BudgetsRepository } from './budgets/budgets.repository';
import { BudgetsService } from './budgets/budgets.service';
import { UsageController } from './budgets/usage.controller';
import { ADMISSION_STORE, PgAdmissionStore, RedisAdmissionStore } from './admission/admission.store';
import { UpstreamLimiter } from './admission/upstream-limiter';
import { ModelAdmission } from './models/model-admission';
import { ModelCheck } from './upstream/model-check';
import { UpstreamMetrics } from './upstream/upstream-metrics';
import { UsageRecorder } from './upstream/usage-recorder';
import { ConversationsController, ResponsesController } from './responses/responses.controller';
import { ConversationsService } from './responses/conversations.service';
import { ResponsesRepository } from './responses/responses.repository';
import { ResponsesService } from './responses/responses.service';

export interface AppModuleOptions {
  config: AppConfig;
  dataSource: DataSource;
}

/** One build, three roles: `api` serves HTTP, `worker` runs jobs (and answers /health), `all` does both. */
@Module({})
export class AppModule {
  static forRoot({ config, dataSource }: AppModuleOptions): DynamicModule {
    const serves = config.role !== 'worker';
    // An api instance never processes jobs (it must not become a Bull worker): no processor classes there.
    const processors = config.role === 'api' ? [] : [taskChildProcessor(config.workerConcurrency), TaskFinalProcessor, SessionTitleProcessor];
    const logOutput = new BufferedLogOutput();
    return {
      module: AppModule,
      imports: [
        LoggerModule.forRoot({
          // Log lines go to stdout in batches (at 4 KB or every 200 ms; flushed on exit): see BufferedLogOutput.
          pinoHttp: [
            requestLogOptions(config.logLevel),
            logOutput.stream,
          ],
        }),
        QueueModule.forRoot({
          redisUrl: config.redisUrl ?? undefined,
          queues: [SESSIONS_QUEUE, CHILD_QUEUE, FINAL_QUEUE],
          prefix: config.queuePrefix,
          lockDurationMs: config.queueLockMs,
          stalledIntervalMs: config.queueStalledMs,
        }),
      ],
      controllers: serves
        ? [HealthController, MetricsController, ModelsController, ChatCompletionsController, SessionsController, SessionStateController, SnapshotsController, FragmentsController, TasksController, AdminAccountsController, AdminController, ResponsesController, ConversationsController, AccountDashboardController, AdminDashboardController, WhoAmIController, AdminAccountViewController, UsageController]
        : [HealthController, MetricsController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: BufferedLogOutput, useValue: logOutput },
        { provide: DataSource, useValue: dataSource },
        { provide: ACCOUNT_EVENTS, useFactory: () => (config.redisUrl ? new RedisAccountEvents(config.redisUrl, config.queuePrefix) : new LocalAccountEvents()) },
        {
          provide: RATE_LIMIT_STORAGE,
          useFactory: () => (config.redisUrl ? new RedisThrottlerStorage(config.redisUrl, config.queuePrefix) : new MemoryThrottlerStorage()),
        },
        AccountRateLimit,
        { provide: SecretBox, useValue: new SecretBox(config.encryptionKey!, config.encryptionKeysOld) },
        { provide: TokenEstimator, useValue: new TokenEstimator() },
        { provide: ModelRegistry, useValue: new ModelRegistry(config.llmModel, config.contextWindow, { overrides: config.modelPrices, cacheTtl: config.cacheTtl }) },
        ModelCheck,
        ModelAdmission,
        {
          provide: UPSTREAM,
          useValue: new OpenAIUpstream({
            timeoutMs: config.upstreamTimeoutMs,
            streamIdleTimeoutMs: config.upstreamStreamIdleMs,
            retry: { maxAttempts: config.upstreamMaxAttempts, baseDelayMs: config.upstreamRetryBaseMs, maxDelayMs: 8000, maxRetryAfterMs: config.upstreamMaxRetryAfterMs },
          }),
        },
        UpstreamMetrics,
        UsageRecorder,
        OperationsMetrics,
        Shutdown,
        PoolService,
        LlmGateway,
        BudgetsRepository,
        BudgetsService,
        { provide: ADMISSION_STORE, useFactory: () => (config.redisUrl ? new RedisAdmissionStore(config.redisUrl, config.queuePrefix) : new PgAdmissionStore(dataSource)) },
        UpstreamLimiter,
        AccountsRepository,
        AccountsService,
        AccountGuard,
        AdminGuard,
        SessionsRepository,
        UsageRepository,
        SessionsService,
        TurnService,
        WindowCache,
        SessionTitleJob,
        SessionStateRepository,
        FragmentsRepository,
        FragmentsService,
        Compactor,
        Summarizer,
        CompactionMetrics,
        SessionStateService,
        ChatCompletionsService,
        TasksRepository,
        CoordinatorService,
        ResponsesRepository,
        ConversationsService,
        ResponsesService,
        DashboardRepository,
        DashboardService,
        AnyKeyGuard,
        TaskEvents,
        PgNotifications,
        ...processors,
      ],
    };
  }
}
