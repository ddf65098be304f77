import { MigrationInterface, QueryRunner } from 'typeorm';

export class AccountRateLimit1796093904457 implements MigrationInterface {
  name = 'AccountRateLimit1796093904457';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "accounts" ADD "rate_limit_per_minute" integer`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "accounts" DROP COLUMN "rate_limit_per_minute"`);
  }
}
