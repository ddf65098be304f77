import { MigrationInterface, QueryRunner } from 'typeorm';

export class SnapshotFragments1795256266697 implements MigrationInterface {
  name = 'SnapshotFragments1795256266697';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "snapshots" ADD "fragment_refs" jsonb`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "snapshots" DROP COLUMN "fragment_refs"`);
  }
}
