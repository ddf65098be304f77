import { MigrationInterface, QueryRunner } from 'typeorm';

export class PoolAndTasks1795255786736 implements MigrationInterface {
  name = 'PoolAndTasks1795255786736';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "session_leases" ("session_id" uuid NOT NULL, "account_id" uuid NOT NULL, "task_id" uuid, "holder" text NOT NULL, "acquired_at" TIMESTAMP WITH TIME ZONE NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_ccbf07a852bc29ca885f806aaf9" PRIMARY KEY ("session_id"))`);
    await queryRunner.query(`CREATE INDEX "session_leases_holder_idx" ON "session_leases"  ("holder") `);
    await queryRunner.query(`CREATE INDEX "session_leases_account_expires_idx" ON "session_leases"  ("account_id", "expires_at") `);
    await queryRunner.query(`CREATE TABLE "pool_waiters" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "until" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_ad94bfeb78c2b9591e12c30592e" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "pool_waiters_account_idx" ON "pool_waiters"  ("account_id", "until") `);
    await queryRunner.query(`CREATE TABLE "pool_acquire_waits" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "account_id" uuid NOT NULL, "wait_ms" integer NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_4883487d9510bc76a51e805a5aa" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "pool_acquire_waits_account_at_idx" ON "pool_acquire_waits"  ("account_id", "at") `);
    await queryRunner.query(`CREATE TABLE "pool_counters" ("account_id" uuid NOT NULL, "reclaimed_total" bigint NOT NULL DEFAULT '0', "acquired_total" bigint NOT NULL DEFAULT '0', "refused_total" bigint NOT NULL DEFAULT '0', CONSTRAINT "PK_be9dc568ec361712d00d376bdb5" PRIMARY KEY ("account_id"))`);
    await queryRunner.query(`CREATE TABLE "tasks" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "master_session_id" uuid NOT NULL, "status" text NOT NULL, "goal" text NOT NULL, "model" text NOT NULL, "options" jsonb NOT NULL, "total" integer NOT NULL, "result" text, "error" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_8d12ff38fcc62aaba2cab748772" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "tasks_account_idx" ON "tasks"  ("account_id", "id") `);
    await queryRunner.query(`CREATE TABLE "task_children" ("task_id" uuid NOT NULL, "index" integer NOT NULL, "title" text NOT NULL, "content" text NOT NULL, "tokens" integer NOT NULL, "status" text NOT NULL, "session_id" uuid, "attempts" integer NOT NULL DEFAULT '0', "error" text, "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_6775c0e1365f49dc1411283847a" PRIMARY KEY ("task_id", "index"))`);
    await queryRunner.query(`CREATE INDEX "task_children_task_status_idx" ON "task_children"  ("task_id", "status") `);
    await queryRunner.query(`CREATE TABLE "task_merges" ("task_id" uuid NOT NULL, "child_index" integer NOT NULL, "master_session_id" uuid NOT NULL, "master_seq" integer NOT NULL, "child_session_id" uuid NOT NULL, "snapshot_id" uuid, "from_seq" integer NOT NULL, "to_seq" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_be476a85ab7a0d26fa27bf38b88" PRIMARY KEY ("task_id", "child_index"))`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "task_merges"`);
    await queryRunner.query(`DROP INDEX "public"."task_children_task_status_idx"`);
    await queryRunner.query(`DROP TABLE "task_children"`);
    await queryRunner.query(`DROP INDEX "public"."tasks_account_idx"`);
    await queryRunner.query(`DROP TABLE "tasks"`);
    await queryRunner.query(`DROP TABLE "pool_counters"`);
    await queryRunner.query(`DROP INDEX "public"."pool_acquire_waits_account_at_idx"`);
    await queryRunner.query(`DROP TABLE "pool_acquire_waits"`);
    await queryRunner.query(`DROP INDEX "public"."pool_waiters_account_idx"`);
    await queryRunner.query(`DROP TABLE "pool_waiters"`);
    await queryRunner.query(`DROP INDEX "public"."session_leases_account_expires_idx"`);
    await queryRunner.query(`DROP INDEX "public"."session_leases_holder_idx"`);
    await queryRunner.query(`DROP TABLE "session_leases"`);
  }
}
