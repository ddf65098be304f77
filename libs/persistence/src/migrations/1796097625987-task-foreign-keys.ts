import { MigrationInterface, QueryRunner } from 'typeorm';
import { assertNoOrphans, type Reference } from './orphans';

const REFERENCES: Reference[] = [
  ['tasks', 'account_id', 'accounts'],
  ['tasks', 'master_session_id', 'sessions'],
  ['task_children', 'task_id', 'tasks'],
  ['task_merges', 'task_id', 'tasks'],
  ['task_merges', 'master_session_id', 'sessions'],
  ['task_merges', 'child_session_id', 'sessions'],
  ['task_merges', 'snapshot_id', 'snapshots'],
  ['sessions', 'task_id', 'tasks'],
  ['session_leases', 'account_id', 'accounts'],
  ['pool_waiters', 'account_id', 'accounts'],
  ['pool_acquire_waits', 'account_id', 'accounts'],
  ['pool_counters', 'account_id', 'accounts'],
];

export class TaskForeignKeys1796097625987 implements MigrationInterface {
  name = 'TaskForeignKeys1796097625987';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await assertNoOrphans(queryRunner, REFERENCES);
    await queryRunner.query(`CREATE INDEX "session_leases_task_id_idx" ON "session_leases"  ("task_id") `);
    await queryRunner.query(`ALTER TABLE "tasks" ADD CONSTRAINT "FK_717a91ca2ddf3dcfabaac10d4f2" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD CONSTRAINT "FK_e0bf8dcd4fd0adfa864e061f6ef" FOREIGN KEY ("master_session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "task_children" ADD CONSTRAINT "FK_1619c6c7e1a3ea249cf3eb8940b" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "task_merges" ADD CONSTRAINT "FK_2da57156beeaa14426a02fbe020" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "task_merges" ADD CONSTRAINT "FK_e02ba487ce82d10b87133973a9a" FOREIGN KEY ("master_session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "task_merges" ADD CONSTRAINT "FK_e21aaa63fb7ffe042b9ca892a09" FOREIGN KEY ("child_session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "task_merges" ADD CONSTRAINT "FK_e67295b20c059cfc1f7ac69c616" FOREIGN KEY ("snapshot_id") REFERENCES "snapshots"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "sessions" ADD CONSTRAINT "FK_4ea262f91bbb67f7985367daa40" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "session_leases" ADD CONSTRAINT "FK_8ec819d844c729907e7eeec246a" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "pool_waiters" ADD CONSTRAINT "FK_85563fb0ed1d501c3d5297fd580" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "pool_acquire_waits" ADD CONSTRAINT "FK_41b509fcef25ada6af13426d955" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "pool_counters" ADD CONSTRAINT "FK_be9dc568ec361712d00d376bdb5" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "pool_counters" DROP CONSTRAINT "FK_be9dc568ec361712d00d376bdb5"`);
    await queryRunner.query(`ALTER TABLE "pool_acquire_waits" DROP CONSTRAINT "FK_41b509fcef25ada6af13426d955"`);
    await queryRunner.query(`ALTER TABLE "pool_waiters" DROP CONSTRAINT "FK_85563fb0ed1d501c3d5297fd580"`);
    await queryRunner.query(`ALTER TABLE "session_leases" DROP CONSTRAINT "FK_8ec819d844c729907e7eeec246a"`);
    await queryRunner.query(`ALTER TABLE "sessions" DROP CONSTRAINT "FK_4ea262f91bbb67f7985367daa40"`);
    await queryRunner.query(`ALTER TABLE "task_merges" DROP CONSTRAINT "FK_e67295b20c059cfc1f7ac69c616"`);
    await queryRunner.query(`ALTER TABLE "task_merges" DROP CONSTRAINT "FK_e21aaa63fb7ffe042b9ca892a09"`);
    await queryRunner.query(`ALTER TABLE "task_merges" DROP CONSTRAINT "FK_e02ba487ce82d10b87133973a9a"`);
    await queryRunner.query(`ALTER TABLE "task_merges" DROP CONSTRAINT "FK_2da57156beeaa14426a02fbe020"`);
    await queryRunner.query(`ALTER TABLE "task_children" DROP CONSTRAINT "FK_1619c6c7e1a3ea249cf3eb8940b"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "FK_e0bf8dcd4fd0adfa864e061f6ef"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "FK_717a91ca2ddf3dcfabaac10d4f2"`);
    await queryRunner.query(`DROP INDEX "public"."session_leases_task_id_idx"`);
  }
}
