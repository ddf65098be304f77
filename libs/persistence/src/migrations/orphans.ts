import type { QueryRunner } from 'typeorm';

/** [child table, column, parent table]: the column must name a row of the parent's `id`. */
export type Reference = readonly [table: string, column: string, parent: string];

/**
 * Before foreign keys are added: counts the rows whose reference names no parent row, and stops the
 * migration with the list (nothing changed) instead of failing halfway on the first constraint.
 * Fix or remove those rows, then start again.
 */
export async function assertNoOrphans(qr: QueryRunner, refs: readonly Reference[]): Promise<void> {
  const found: string[] = [];
  for (const [table, column, parent] of refs) {
    const rows = (await qr.query(
      `SELECT count(*)::int AS n FROM "${table}" c WHERE c."${column}" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "${parent}" p WHERE p."id" = c."${column}")`,
    )) as Array<{ n: number }>;
    if (rows[0].n > 0) found.push(`${rows[0].n} row(s) of ${table}.${column} name no ${parent} row`);
  }
  if (found.length) throw new Error(`cannot add foreign keys, orphaned rows found: ${found.join('; ')}. Fix or remove them, then migrate again.`);
}
