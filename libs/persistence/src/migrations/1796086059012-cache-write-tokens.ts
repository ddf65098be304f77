import { MigrationInterface, QueryRunner } from 'typeorm';

export class CacheWriteTokens1796086059012 implements MigrationInterface {
  name = 'CacheWriteTokens1796086059012';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "sessions" ADD "cache_write_tokens" bigint NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "usage_events" ADD "cache_write_tokens" integer NOT NULL DEFAULT '0'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "usage_events" DROP COLUMN "cache_write_tokens"`);
    await queryRunner.query(`ALTER TABLE "sessions" DROP COLUMN "cache_write_tokens"`);
  }
}
