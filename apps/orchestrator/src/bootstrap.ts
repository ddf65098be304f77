import 'reflect-metadata';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger as PinoLogger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { disablePreparedStatements, openDataSource } from '@so/persistence';
import type { EmbeddedPostgres } from '@so/persistence/embedded/embedded-postgres';
import type { KimiSim } from '@so/kimi-sim';
import { AccountsService } from './accounts/accounts.service';
import { mountQueueUi } from './admin/queue-ui';
import { mountDashboard } from './dashboard/static';
import { AppModule } from './app.module';
import { answerClientErrors, jsonBodies } from './common/body-limits';
import { ErrorFilter } from './common/error.filter';
import { directJsonReplies } from './common/json-reply';
import { hashApiKey, newApiKey } from './common/secrets';
import { apiValidationPipe } from './common/validation';
import { APP_CONFIG, AppConfig, loadConfig } from './config/app-config';
import { ModelCheck } from './upstream/model-check';
import { HOT_BODY_CHECKS } from './openai-compat/hot-body-checks';
import { OperationsMetrics } from './health/operations-metrics';
import { Shutdown } from './common/shutdown';

export interface OrchestratorHandle {
  app: INestApplication;
  config: AppConfig;
  /** http://host:port (no trailing slash). */
  url: string;
  dataSource: DataSource;
  /** Development account key, in the embedded default only. */
  devApiKey: string | null;
  sim: KimiSim | null;
  /** The human-readable banner (printed when StartOptions.banner is set). */
  banner: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Print the human-readable banner (the CLI does; tests don't). */
  banner?: boolean;
}

const MIGRATION_LOCK_ID = 7_240_001;

/** Starts the service: embedded Postgres and kimi-sim when nothing is configured, the given ones otherwise. */
export async function startOrchestrator(env: Record<string, string | undefined> = process.env, opts: StartOptions = {}): Promise<OrchestratorHandle> {
  const config = loadConfig(env);
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const embedded = config.databaseUrl === null;
    let pg: EmbeddedPostgres | null = null;
    let secrets: EmbeddedSecrets | null = null;
    if (embedded) {
      const dataDir = resolve(config.dataDir);
      mkdirSync(dataDir, { recursive: true });
      secrets = loadOrCreateSecrets(dataDir);
      config.encryptionKey ??= secrets.encryption_key;
      config.adminApiKey ??= secrets.admin_api_key;
      // Loaded only when used: a configured deployment never loads PGlite.
      const { startEmbeddedPostgres } = await import('@so/persistence/embedded/embedded-postgres');
      // Password-protected: another local user cannot reach the data through the loopback port.
      pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), password: secrets.pg_password });
      cleanups.push(() => pg!.close());
      config.databaseUrl = pg.url;
    }
    let sim: KimiSim | null = null;
    if (config.llmBaseUrl === null) {
      const { startKimiSim } = await import('@so/kimi-sim');
      sim = await startKimiSim({ port: config.simPort, host: '127.0.0.1' });
      cleanups.push(() => sim!.close());
      config.llmBaseUrl = sim.baseUrl;
      config.llmApiKey = 'kimi-sim';
    }

    const dataSource = await openDataSource(config.databaseUrl!, { poolSize: embedded ? Math.min(config.dbPoolSize, 5) : config.dbPoolSize });
    cleanups.push(() => dataSource.destroy());
    // PGlite is one server session shared by every connection: a statement name one prepared would exist for all.
    if (embedded || !config.dbPreparedStatements) disablePreparedStatements(dataSource);
    await migrate(dataSource, !embedded);

    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, dataSource }), { bufferLogs: true, bodyParser: false });
    // Drain first (requests in flight finish or are aborted within SHUTDOWN_GRACE_MS), then close.
    cleanups.push(async () => {
      const server = app.getHttpServer();
      if (server.listening) {
        const r = await app.get(Shutdown).drain(server, config.shutdownGraceMs);
        if (!r.finished) app.get(PinoLogger).warn(`shutdown: ${r.aborted} request(s) still running after SHUTDOWN_GRACE_MS=${config.shutdownGraceMs} were aborted (nothing half-written)`);
      }
      await app.close();
    });
    configureApp(app);
    if (config.role !== 'worker') mountQueueUi(app, config.adminApiKey);
    if (config.role !== 'worker') mountDashboard(app);

    // Is LLM_MODEL still served? Model ids get retired upstream: warn (never refuse to start, the
    // upstream may just be down for a moment), and /health reports it as checks.upstream.model_served.
    await app.get(ModelCheck).checkAtStart(Math.min(3000, config.upstreamTimeoutMs));

    let devApiKey: string | null = null;
    if (secrets) devApiKey = await ensureDevAccount(app.get(AccountsService), secrets.dev_api_key);

    // Node closes an idle keep-alive connection after 5 s by default: a client (or load balancer) that reuses it
    // at that moment gets ECONNRESET. Idle connections stay longer than theirs; headers must outlast it.
    const server = app.getHttpServer();
    server.keepAliveTimeout = config.httpKeepAliveMs;
    server.headersTimeout = config.httpKeepAliveMs + 1000;
    await app.listen(config.port, config.host);
    const addr = app.getHttpServer().address() as { port: number };
    const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${addr.port}`;
    const banner = formatBanner(config, url, devApiKey, embedded, sim);
    if (opts.banner) {
      // Let the framework's buffered startup logs go out first, so the banner is the last thing on screen.
      await new Promise((r) => setTimeout(r, 150));
      process.stdout.write(banner);
    }
    return { app, config, url, dataSource, devApiKey, sim, banner, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Global pieces shared by the service and the tests: errors, validation, body limits, docs. */
export function configureApp(app: NestExpressApplication): void {
  app.useLogger(app.get(PinoLogger));
  app.use(app.get(OperationsMetrics).middleware());
  const { corsOrigins } = app.get<AppConfig>(APP_CONFIG);
  if (corsOrigins.length) {
    // Bearer keys, not cookies: no credentials. Browsers may read the headers clients act on.
    app.enableCors({
      origin: corsOrigins.includes('*') ? '*' : corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id', 'openai-beta', 'x-stainless-arch', 'x-stainless-lang', 'x-stainless-os', 'x-stainless-package-version', 'x-stainless-runtime', 'x-stainless-runtime-version', 'x-stainless-retry-count', 'x-stainless-timeout'],
      exposedHeaders: ['retry-after', 'x-request-id', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'x-should-retry'],
      maxAge: 600,
    });
  }
  app.use(app.get(Shutdown).middleware());
  app.use(jsonBodies());
  answerClientErrors(app.getHttpServer());
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalPipes(apiValidationPipe(HOT_BODY_CHECKS));
  app.disable('x-powered-by');
  app.set('etag', false);
  directJsonReplies(app.getHttpAdapter());
  const doc = new DocumentBuilder()
    .setTitle('session-orchestrator')
    .setDescription('Durable server-side sessions for long-context LLM work: append with streaming, truncate, snapshots, compression, fan-out. Errors use the OpenAI error shape.')
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'Account API key' }, 'account')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' }, 'admin')
    .build();
  const document = SwaggerModule.createDocument(app, doc);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/** Applies pending migrations; with a shared database, under an advisory lock so instances don't race. */
async function migrate(ds: DataSource, shared: boolean): Promise<void> {
  if (!shared) {
    await ds.runMigrations({ transaction: 'each' });
    return;
  }
  const qr = ds.createQueryRunner();
  await qr.connect();
  try {
    await qr.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await qr.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await qr.release();
  }
}

interface EmbeddedSecrets {
  encryption_key: string;
  admin_api_key: string;
  dev_api_key: string;
  /** The embedded Postgres password (added to data directories made before it existed). */
  pg_password?: string;
}

/** The embedded default keeps its generated secrets beside its data, readable by the owner only. */
function loadOrCreateSecrets(dataDir: string): EmbeddedSecrets {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const s = JSON.parse(readFileSync(file, 'utf8')) as EmbeddedSecrets;
    if (s.pg_password) return s;
    const upgraded = { ...s, pg_password: randomBytes(24).toString('base64url') };
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  const s: EmbeddedSecrets = {
    encryption_key: randomBytes(32).toString('base64url'),
    admin_api_key: `sk-admin-${randomBytes(24).toString('base64url')}`,
    dev_api_key: newApiKey(),
    pg_password: randomBytes(24).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

async function ensureDevAccount(accounts: AccountsService, key: string): Promise<string> {
  const existing = await accounts.findByName('development');
  if (!existing) {
    await accounts.create({ name: 'development' }, key);
  } else if (existing.apiKeyHash !== hashApiKey(key)) {
    throw new Error('the development account exists with another key; remove DATA_DIR/secrets.json and the data directory to start over');
  }
  return key;
}

function formatBanner(config: AppConfig, url: string, devKey: string | null, embedded: boolean, sim: KimiSim | null): string {
  const lines = [
    '',
    `session-orchestrator is running (role=${config.role})`,
    `  API        ${url}/v1`,
    `  Swagger UI ${url}/docs`,
    `  Dashboard  ${url}/dashboard${devKey ? '  (sign in with a key below)' : ''}`,
    `  Health     ${url}/health`,
    `  Database   ${embedded ? `embedded Postgres (PGlite) in ${resolve(config.dataDir)}` : 'DATABASE_URL'}`,
    `  Queue      ${config.redisUrl ? 'Redis (REDIS_URL)' : 'in-process'}`,
    ...(config.apiWorkers > 1 ? [`  Processes  ${config.apiWorkers} API workers on one port (API_WORKERS)`] : []),
    `  Upstream   ${sim ? `built-in kimi-sim at ${sim.baseUrl}` : config.llmBaseUrl}`,
  ];
  if (devKey) {
    lines.push(`  API key    ${devKey}   (development account)`);
    lines.push(`  Admin key  ${config.adminApiKey}`);
    lines.push('', `Try: curl -s ${url}/v1/sessions -H "Authorization: Bearer ${devKey}" -H 'Content-Type: application/json' -d '{"system":"You are terse."}'`);
  }
  return lines.join('\n') + '\n\n';
}
