import { MigrationInterface, QueryRunner } from 'typeorm';

export class TaskOutbox1796093614165 implements MigrationInterface {
  name = 'TaskOutbox1796093614165';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" ADD "idempotency_key" text`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "request_hash" text`);
    await queryRunner.query(`ALTER TABLE "task_children" ADD "claim_id" uuid`);
    await queryRunner.query(`ALTER TABLE "task_children" ADD "claimed_until" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "task_children" ADD "runs" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`CREATE UNIQUE INDEX "tasks_idempotency_idx" ON "tasks"  ("account_id", "idempotency_key") WHERE "idempotency_key" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."tasks_idempotency_idx"`);
    await queryRunner.query(`ALTER TABLE "task_children" DROP COLUMN "runs"`);
    await queryRunner.query(`ALTER TABLE "task_children" DROP COLUMN "claimed_until"`);
    await queryRunner.query(`ALTER TABLE "task_children" DROP COLUMN "claim_id"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "request_hash"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "idempotency_key"`);
  }
}
