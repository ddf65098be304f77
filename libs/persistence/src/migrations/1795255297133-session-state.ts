import { MigrationInterface, QueryRunner } from 'typeorm';

export class SessionState1795255297133 implements MigrationInterface {
  name = 'SessionState1795255297133';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "compressions" ("id" uuid NOT NULL, "session_id" uuid NOT NULL, "snapshot_id" uuid NOT NULL, "from_seq" integer NOT NULL, "to_seq" integer NOT NULL, "outline_seq" integer NOT NULL, "input_tokens" integer NOT NULL, "output_tokens" integer NOT NULL, "achieved_ratio" double precision NOT NULL, "target_ratio" double precision NOT NULL, "method" text NOT NULL, "trigger" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_919a05e32fc57bd8e4d9410369b" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "compressions_session_idx" ON "compressions"  ("session_id", "created_at") `);
    await queryRunner.query(`CREATE TABLE "fragments" ("id" uuid NOT NULL, "account_id" uuid NOT NULL, "name" text NOT NULL, "current_version" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "deleted_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_620c62eb3e080c7e910e48396bb" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "fragments_account_idx" ON "fragments"  ("account_id", "id") `);
    await queryRunner.query(`CREATE TABLE "fragment_versions" ("fragment_id" uuid NOT NULL, "version" integer NOT NULL, "content" text NOT NULL, "hash" text NOT NULL, "token_count" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_4d24ca02aff01c353ab106e647e" PRIMARY KEY ("fragment_id", "version"))`);
    await queryRunner.query(`CREATE TABLE "session_events" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "session_id" uuid NOT NULL, "type" text NOT NULL, "data" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_aeae988940cef0a489a14200af3" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "session_events_session_idx" ON "session_events"  ("session_id", "id") `);
    await queryRunner.query(`CREATE TABLE "snapshots" ("id" uuid NOT NULL, "session_id" uuid NOT NULL, "account_id" uuid NOT NULL, "at_seq" integer NOT NULL, "window" jsonb NOT NULL, "window_tokens" integer NOT NULL, "reason" text NOT NULL, "label" text, "share_token_hash" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_f5661b5fd4224d23e26a631986b" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "snapshots_share_token_hash_uq" ON "snapshots"  ("share_token_hash") `);
    await queryRunner.query(`CREATE INDEX "snapshots_session_idx" ON "snapshots"  ("session_id", "id") `);
    // Existing sessions have no fork bases: fill them, then drop the default like the entity.
    await queryRunner.query(`ALTER TABLE "sessions" ADD "history_bases" jsonb NOT NULL DEFAULT '[]'::jsonb`);
    await queryRunner.query(`ALTER TABLE "sessions" ALTER COLUMN "history_bases" DROP DEFAULT`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "sessions" DROP COLUMN "history_bases"`);
    await queryRunner.query(`DROP INDEX "public"."snapshots_session_idx"`);
    await queryRunner.query(`DROP INDEX "public"."snapshots_share_token_hash_uq"`);
    await queryRunner.query(`DROP TABLE "snapshots"`);
    await queryRunner.query(`DROP INDEX "public"."session_events_session_idx"`);
    await queryRunner.query(`DROP TABLE "session_events"`);
    await queryRunner.query(`DROP TABLE "fragment_versions"`);
    await queryRunner.query(`DROP INDEX "public"."fragments_account_idx"`);
    await queryRunner.query(`DROP TABLE "fragments"`);
    await queryRunner.query(`DROP INDEX "public"."compressions_session_idx"`);
    await queryRunner.query(`DROP TABLE "compressions"`);
  }
}
