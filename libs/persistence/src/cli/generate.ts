import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pendingSchemaChanges } from './schema-diff';

// Writes a migration class for the difference between the entities and the existing migrations.
async function main() {
  const name = process.argv[2];
  if (!name || !/^[A-Z][A-Za-z0-9]+$/.test(name)) {
    console.error('usage: npm run migration:generate -- <PascalCaseName>');
    process.exit(2);
  }
  const { up, down } = await pendingSchemaChanges();
  if (up.length === 0) {
    console.log('no changes: entities and migrations agree');
    return;
  }
  const ts = Date.now();
  const cls = `${name}${ts}`;
  const q = (s: string) => '    await queryRunner.query(`' + s.replace(/`/g, '\\`') + '`);';
  const body = `import { MigrationInterface, QueryRunner } from 'typeorm';

export class ${cls} implements MigrationInterface {
  name = '${cls}';

  public async up(queryRunner: QueryRunner): Promise<void> {
${up.map(q).join('\n')}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
${down.map(q).join('\n')}
  }
}
`;
  const file = join(__dirname, '../../../../../libs/persistence/src/migrations', `${ts}-${name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}.ts`);
  writeFileSync(file, body);
  console.log(`wrote ${file}; add ${cls} to libs/persistence/src/migrations/index.ts`);
}
main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
