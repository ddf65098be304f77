import { pendingSchemaChanges } from './schema-diff';

// CI gate: entities and migrations must describe the same schema.
pendingSchemaChanges()
  .then(({ up }) => {
    if (up.length === 0) {
      console.log('migration check: entities and migrations agree');
      return;
    }
    console.error('migration check FAILED: entities drifted from migrations. Missing SQL:');
    for (const q of up) console.error(`  ${q};`);
    console.error('Run `npm run build && npm run migration:generate -- <Name>` and commit the new migration.');
    process.exit(1);
  })
  .catch((err) => {
    console.error(`migration check could not run: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
