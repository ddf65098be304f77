import { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795254878367 implements MigrationInterface {
  name = 'Initial1795254878367';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "accounts" ("id" uuid NOT NULL, "name" text NOT NULL, "api_key_hash" text NOT NULL, "api_key_prefix" text NOT NULL, "session_limit" integer NOT NULL DEFAULT '100', "upstream_base_url" text, "upstream_model" text, "upstream_api_key_enc" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_5a7a02c20412299d198e097a8fe" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "accounts_api_key_hash_uq" ON "accounts"  ("api_key_hash") `);
    await queryRunner.query(`CREATE TABLE "messages" ("session_id" uuid NOT NULL, "seq" integer NOT NULL, "role" text NOT NULL, "content" text, "name" text, "tool_call_id" text, "tool_calls" jsonb, "tokens" integer NOT NULL, "kind" text NOT NULL DEFAULT 'message', "turn_id" uuid, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_91fa1f85fc966de7e85c7b8c3b1" PRIMARY KEY ("session_id", "seq"))`);
    await queryRunner.query(`CREATE INDEX "messages_session_kind_seq_idx" ON "messages"  ("session_id", "kind", "seq") `);
    await queryRunner.query(`CREATE TABLE "sessions" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "parent_id" uuid, "root_id" uuid NOT NULL, "task_id" uuid, "role" text NOT NULL DEFAULT 'standalone', "status" text NOT NULL DEFAULT 'active', "title" text, "metadata" jsonb NOT NULL, "model" text NOT NULL, "system" text, "system_tokens" integer NOT NULL DEFAULT '0', "tools" jsonb, "tools_tokens" integer NOT NULL DEFAULT '0', "fragment_refs" jsonb NOT NULL, "policy" jsonb NOT NULL, "window" jsonb NOT NULL, "window_tokens" integer NOT NULL DEFAULT '0', "last_seq" integer NOT NULL DEFAULT '0', "version" integer NOT NULL DEFAULT '0', "token_calibration" double precision NOT NULL DEFAULT '1', "turn_lock_id" uuid, "turn_lock_until" TIMESTAMP WITH TIME ZONE, "prompt_tokens" bigint NOT NULL DEFAULT '0', "cached_tokens" bigint NOT NULL DEFAULT '0', "completion_tokens" bigint NOT NULL DEFAULT '0', "cost_usd" numeric(18,8) NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "closed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_3238ef96f18b355b671619111bc" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "sessions_root_id_idx" ON "sessions"  ("root_id") `);
    await queryRunner.query(`CREATE INDEX "sessions_parent_id_idx" ON "sessions"  ("parent_id") `);
    await queryRunner.query(`CREATE INDEX "sessions_account_id_idx" ON "sessions"  ("account_id", "id") `);
    await queryRunner.query(`CREATE TABLE "turns" ("id" uuid NOT NULL, "session_id" uuid NOT NULL, "idempotency_key" text, "request_hash" text NOT NULL, "first_seq" integer NOT NULL, "last_seq" integer NOT NULL, "response" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_66edaea493f45e3c39d7c3553ed" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "turns_session_idempotency_uq" ON "turns"  ("session_id", "idempotency_key") `);
    await queryRunner.query(`CREATE TABLE "usage_events" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "account_id" uuid NOT NULL, "session_id" uuid, "turn_id" uuid, "purpose" text NOT NULL, "model" text NOT NULL, "prompt_tokens" integer NOT NULL DEFAULT '0', "cached_tokens" integer NOT NULL DEFAULT '0', "completion_tokens" integer NOT NULL DEFAULT '0', "cost_usd" numeric(18,8) NOT NULL DEFAULT '0', "latency_ms" integer NOT NULL, "upstream_request_id" text, "outcome" text NOT NULL DEFAULT 'ok', "attempts" integer NOT NULL DEFAULT '1', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_c9f17d50873fab2c46615f542bc" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "usage_events_session_idx" ON "usage_events"  ("session_id") `);
    await queryRunner.query(`CREATE INDEX "usage_events_account_created_idx" ON "usage_events"  ("account_id", "created_at") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."usage_events_account_created_idx"`);
    await queryRunner.query(`DROP INDEX "public"."usage_events_session_idx"`);
    await queryRunner.query(`DROP TABLE "usage_events"`);
    await queryRunner.query(`DROP INDEX "public"."turns_session_idempotency_uq"`);
    await queryRunner.query(`DROP TABLE "turns"`);
    await queryRunner.query(`DROP INDEX "public"."sessions_account_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."sessions_parent_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."sessions_root_id_idx"`);
    await queryRunner.query(`DROP TABLE "sessions"`);
    await queryRunner.query(`DROP INDEX "public"."messages_session_kind_seq_idx"`);
    await queryRunner.query(`DROP TABLE "messages"`);
    await queryRunner.query(`DROP INDEX "public"."accounts_api_key_hash_uq"`);
    await queryRunner.query(`DROP TABLE "accounts"`);
  }
}
