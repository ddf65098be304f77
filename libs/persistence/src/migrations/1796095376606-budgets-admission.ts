import { MigrationInterface, QueryRunner } from 'typeorm';

export class BudgetsAdmission1796095376606 implements MigrationInterface {
  name = 'BudgetsAdmission1796095376606';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "budgets" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "scope" text NOT NULL, "scope_id" uuid NOT NULL, "limit_usd" numeric(20,8), "limit_tokens" bigint, "period" text NOT NULL DEFAULT 'none', "period_start" TIMESTAMP WITH TIME ZONE NOT NULL, "spent_usd" numeric(20,8) NOT NULL DEFAULT '0', "spent_tokens" bigint NOT NULL DEFAULT '0', "reserved_usd" numeric(20,8) NOT NULL DEFAULT '0', "reserved_tokens" bigint NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_9c8a51748f82387644b773da482" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "budgets_account_idx" ON "budgets"  ("account_id") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "budgets_scope_uq" ON "budgets"  ("scope", "scope_id") `);
    await queryRunner.query(`CREATE TABLE "budget_reservations" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "budget_ids" uuid array NOT NULL, "usd" numeric(20,8) NOT NULL, "tokens" bigint NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_338ece04adbaedea1b64e01994f" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "budget_reservations_account_idx" ON "budget_reservations"  ("account_id") `);
    await queryRunner.query(`CREATE TABLE "upstream_admission_windows" ("key" text NOT NULL, "window_start" TIMESTAMP WITH TIME ZONE NOT NULL, "requests" integer NOT NULL DEFAULT '0', "tokens" bigint NOT NULL DEFAULT '0', CONSTRAINT "PK_e369f75c044eb39e576aca758f5" PRIMARY KEY ("key", "window_start"))`);
    await queryRunner.query(`CREATE TABLE "upstream_admission_leases" ("lease_id" uuid NOT NULL, "key" text NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_a88f7eb59b1635c91715958a12a" PRIMARY KEY ("lease_id", "key"))`);
    await queryRunner.query(`CREATE INDEX "upstream_admission_leases_key_idx" ON "upstream_admission_leases"  ("key", "expires_at") `);
    await queryRunner.query(`ALTER TABLE "accounts" ADD "upstream_limits" jsonb`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "accounts" DROP COLUMN "upstream_limits"`);
    await queryRunner.query(`DROP INDEX "public"."upstream_admission_leases_key_idx"`);
    await queryRunner.query(`DROP TABLE "upstream_admission_leases"`);
    await queryRunner.query(`DROP TABLE "upstream_admission_windows"`);
    await queryRunner.query(`DROP INDEX "public"."budget_reservations_account_idx"`);
    await queryRunner.query(`DROP TABLE "budget_reservations"`);
    await queryRunner.query(`DROP INDEX "public"."budgets_scope_uq"`);
    await queryRunner.query(`DROP INDEX "public"."budgets_account_idx"`);
    await queryRunner.query(`DROP TABLE "budgets"`);
  }
}
