/**
 * The rows of a raw `UPDATE ... RETURNING` / `DELETE ... RETURNING`: TypeORM's postgres driver answers
 * those with `[rows, affected]`, and a SELECT with the rows alone.
 */
export function firstResultRows(result: unknown): unknown[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0];
  return Array.isArray(result) ? result : [];
}
