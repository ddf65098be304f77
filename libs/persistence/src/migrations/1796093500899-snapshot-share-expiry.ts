import { MigrationInterface, QueryRunner } from 'typeorm';

export class SnapshotShareExpiry1796093500899 implements MigrationInterface {
  name = 'SnapshotShareExpiry1796093500899';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "snapshots" ADD "share_expires_at" TIMESTAMP WITH TIME ZONE`);
    // Tokens shared before expiry existed stop working in a week instead of never.
    await queryRunner.query(`UPDATE "snapshots" SET "share_expires_at" = now() + interval '7 days' WHERE "share_token_hash" IS NOT NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "snapshots" DROP COLUMN "share_expires_at"`);
  }
}
