import { MigrationInterface, QueryRunner } from 'typeorm';

export class UsageEstimated1796093995470 implements MigrationInterface {
  name = 'UsageEstimated1796093995470';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "usage_events" ADD "usage_estimated" boolean NOT NULL DEFAULT false`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "usage_events" DROP COLUMN "usage_estimated"`);
  }
}
