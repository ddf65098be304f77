import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** A scratch database older than this was left by a run killed before its drop (no run lasts a day). */
export const SCRATCH_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * The scratch databases among `names` (of this `prefix`) created more than `maxAgeMs` before `now`: a
 * scratch name carries its creation time (`prefix_<ms in base 36>_<hex>`). Names of another shape, or
 * of another prefix (one that merely starts the same, such as `sobench` and `sobench_x`), are never stale.
 */
export function staleScratchNames(names: string[], prefix: string, now: number, maxAgeMs = SCRATCH_MAX_AGE_MS): string[] {
  const shape = /^([0-9a-z]{1,12})_[0-9a-f]{6}$/;
  return names.filter((n) => {
    if (!n.startsWith(`${prefix}_`)) return false;
    const m = shape.exec(n.slice(prefix.length + 1));
    if (!m) return false;
    const born = parseInt(m[1], 36);
    return Number.isSafeInteger(born) && now - born > maxAgeMs;
  });
}

/**
 * Creates a throwaway database on a real Postgres server; `drop()` removes it. First drops this prefix's
 * scratch databases older than a day: a bench or a test run killed mid-way (Ctrl-C, a timeout) never
 * reached its drop, and each one left would otherwise stay on the server for good.
 */
export async function createScratchDatabase(adminUrl: string, prefix = 'so_scratch'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const existing = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [`${prefix}_`]);
    for (const stale of staleScratchNames(existing.rows.map((r) => r.datname), prefix, Date.now())) {
      // Another run's leftover: best effort (it may be dropped by someone else at the same moment).
      await admin.query(`DROP DATABASE IF EXISTS "${stale}" WITH (FORCE)`).catch(() => undefined);
    }
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export const DEFAULT_ADMIN_DATABASE_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
