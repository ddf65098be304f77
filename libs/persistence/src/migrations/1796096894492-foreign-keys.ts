import { MigrationInterface, QueryRunner } from 'typeorm';
import { assertNoOrphans, type Reference } from './orphans';

const REFERENCES: Reference[] = [
  ['sessions', 'account_id', 'accounts'],
  ['sessions', 'parent_id', 'sessions'],
  ['sessions', 'root_id', 'sessions'],
  ['snapshots', 'session_id', 'sessions'],
  ['snapshots', 'account_id', 'accounts'],
  ['compressions', 'session_id', 'sessions'],
  ['compressions', 'snapshot_id', 'snapshots'],
  ['fragments', 'account_id', 'accounts'],
  ['fragment_versions', 'fragment_id', 'fragments'],
  ['session_events', 'session_id', 'sessions'],
  ['turns', 'session_id', 'sessions'],
  ['messages', 'session_id', 'sessions'],
  ['messages', 'turn_id', 'turns'],
  ['usage_events', 'account_id', 'accounts'],
  ['usage_events', 'session_id', 'sessions'],
  ['responses', 'account_id', 'accounts'],
  ['responses', 'session_id', 'sessions'],
];

export class ForeignKeys1796096894492 implements MigrationInterface {
  name = 'ForeignKeys1796096894492';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await assertNoOrphans(queryRunner, REFERENCES);
    await queryRunner.query(`CREATE INDEX "sessions_task_id_idx" ON "sessions"  ("task_id") `);
    await queryRunner.query(`CREATE INDEX "usage_events_created_idx" ON "usage_events"  ("created_at") `);
    await queryRunner.query(`ALTER TABLE "sessions" ADD CONSTRAINT "FK_da0cf19646ff5c6e3c0284468e5" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "sessions" ADD CONSTRAINT "FK_4b9ba68df7b6b0d9e7dbafb3ba4" FOREIGN KEY ("parent_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "sessions" ADD CONSTRAINT "FK_f520aae1991967551b65148852e" FOREIGN KEY ("root_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "snapshots" ADD CONSTRAINT "FK_64de09ce80407b1d026f2659ab6" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "snapshots" ADD CONSTRAINT "FK_811de10c6727efa94de5ed87d15" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "compressions" ADD CONSTRAINT "FK_cf73a7c23e5bcf37afd6b12a542" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "compressions" ADD CONSTRAINT "FK_81aea1ee456f87aba6f97bdc99d" FOREIGN KEY ("snapshot_id") REFERENCES "snapshots"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "fragments" ADD CONSTRAINT "FK_d50f6ebb8934c01ecaf497cd6fe" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "fragment_versions" ADD CONSTRAINT "FK_0c0470907a0af0e3522a0552ea1" FOREIGN KEY ("fragment_id") REFERENCES "fragments"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "session_events" ADD CONSTRAINT "FK_7e4699f97af1e889b595350dd04" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "turns" ADD CONSTRAINT "FK_65b96eb4deb0caccb636883bcf9" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "messages" ADD CONSTRAINT "FK_ff71b7760071ed9caba7f02beb4" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "messages" ADD CONSTRAINT "FK_9a9073152033b2bcd499ead4aa7" FOREIGN KEY ("turn_id") REFERENCES "turns"("id") ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED`);
    await queryRunner.query(`ALTER TABLE "usage_events" ADD CONSTRAINT "FK_c7e1c86424a80aca20bcc7f47d5" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "usage_events" ADD CONSTRAINT "FK_fa34806264418c1222c59bd48b2" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "responses" ADD CONSTRAINT "FK_fd933193e10846614748375ab3d" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "responses" ADD CONSTRAINT "FK_2f90e23a972fd36124d7e76e77d" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "responses" DROP CONSTRAINT "FK_2f90e23a972fd36124d7e76e77d"`);
    await queryRunner.query(`ALTER TABLE "responses" DROP CONSTRAINT "FK_fd933193e10846614748375ab3d"`);
    await queryRunner.query(`ALTER TABLE "usage_events" DROP CONSTRAINT "FK_fa34806264418c1222c59bd48b2"`);
    await queryRunner.query(`ALTER TABLE "usage_events" DROP CONSTRAINT "FK_c7e1c86424a80aca20bcc7f47d5"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "FK_9a9073152033b2bcd499ead4aa7"`);
    await queryRunner.query(`ALTER TABLE "messages" DROP CONSTRAINT "FK_ff71b7760071ed9caba7f02beb4"`);
    await queryRunner.query(`ALTER TABLE "turns" DROP CONSTRAINT "FK_65b96eb4deb0caccb636883bcf9"`);
    await queryRunner.query(`ALTER TABLE "session_events" DROP CONSTRAINT "FK_7e4699f97af1e889b595350dd04"`);
    await queryRunner.query(`ALTER TABLE "fragment_versions" DROP CONSTRAINT "FK_0c0470907a0af0e3522a0552ea1"`);
    await queryRunner.query(`ALTER TABLE "fragments" DROP CONSTRAINT "FK_d50f6ebb8934c01ecaf497cd6fe"`);
    await queryRunner.query(`ALTER TABLE "compressions" DROP CONSTRAINT "FK_81aea1ee456f87aba6f97bdc99d"`);
    await queryRunner.query(`ALTER TABLE "compressions" DROP CONSTRAINT "FK_cf73a7c23e5bcf37afd6b12a542"`);
    await queryRunner.query(`ALTER TABLE "snapshots" DROP CONSTRAINT "FK_811de10c6727efa94de5ed87d15"`);
    await queryRunner.query(`ALTER TABLE "snapshots" DROP CONSTRAINT "FK_64de09ce80407b1d026f2659ab6"`);
    await queryRunner.query(`ALTER TABLE "sessions" DROP CONSTRAINT "FK_f520aae1991967551b65148852e"`);
    await queryRunner.query(`ALTER TABLE "sessions" DROP CONSTRAINT "FK_4b9ba68df7b6b0d9e7dbafb3ba4"`);
    await queryRunner.query(`ALTER TABLE "sessions" DROP CONSTRAINT "FK_da0cf19646ff5c6e3c0284468e5"`);
    await queryRunner.query(`DROP INDEX "public"."usage_events_created_idx"`);
    await queryRunner.query(`DROP INDEX "public"."sessions_task_id_idx"`);
  }
}
