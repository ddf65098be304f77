import { MigrationInterface, QueryRunner } from 'typeorm';

export class Responses1796093370135 implements MigrationInterface {
  name = 'Responses1796093370135';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "responses" ("id" text NOT NULL, "account_id" uuid NOT NULL, "session_id" uuid NOT NULL, "turn_id" uuid, "in_conversation" boolean NOT NULL DEFAULT false, "previous_response_id" text, "snapshot_id" uuid, "input_first_seq" integer NOT NULL, "input_last_seq" integer NOT NULL, "last_seq" integer NOT NULL, "status" text NOT NULL, "idempotency_key" text, "request_hash" text NOT NULL, "body" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "deleted_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_be3bdac59bd243dff421ad7bf70" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "responses_session_idx" ON "responses"  ("session_id") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "responses_account_idempotency_uq" ON "responses"  ("account_id", "idempotency_key") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."responses_account_idempotency_uq"`);
    await queryRunner.query(`DROP INDEX "public"."responses_session_idx"`);
    await queryRunner.query(`DROP TABLE "responses"`);
  }
}
