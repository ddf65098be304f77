import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One round trip per slot attempt: the pool's acquire (look, account lock, reclaim of expired leases,
 * renewal of one's own, the limits, the insert, the counters and the wait sample) as one function.
 * Each statement of a VOLATILE plpgsql function takes a fresh snapshot, so the counts read after the
 * account lock see every lease committed before it, as the separate statements did.
 * so_pool_reclaim is the reclaim alone (the reaper calls it too): one definition of what an expired lease does.
 */
export const POOL_RECLAIM_SQL = `
CREATE OR REPLACE FUNCTION so_pool_reclaim(p_account uuid) RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_gone uuid[]; v_reclaimed integer;
BEGIN
  -- Under the account's row lock (acquirers of one account are serialized; taken again by a holder is a no-op).
  PERFORM 1 FROM accounts WHERE id = p_account FOR UPDATE;
  WITH gone AS (DELETE FROM session_leases WHERE account_id = p_account AND expires_at < now() RETURNING session_id, holder)
  SELECT array_agg(session_id), count(*) FILTER (WHERE holder LIKE 'worker:%') INTO v_gone, v_reclaimed FROM gone;
  IF v_gone IS NULL THEN RETURN 0; END IF;
  -- Expired idle leases park their session; expired worker leases (their holder died) count as reclaimed.
  UPDATE sessions SET status = 'parked' WHERE id = ANY(v_gone) AND status = 'active';
  IF v_reclaimed > 0 THEN
    INSERT INTO pool_counters (account_id, reclaimed_total) VALUES (p_account, v_reclaimed)
      ON CONFLICT (account_id) DO UPDATE SET reclaimed_total = pool_counters.reclaimed_total + v_reclaimed;
  END IF;
  RETURN cardinality(v_gone);
END
$fn$`;

export const POOL_TRY_ACQUIRE_SQL = `
CREATE OR REPLACE FUNCTION so_pool_try_acquire(
  p_account uuid, p_session uuid, p_task uuid, p_holder text, p_ttl_ms integer,
  p_limit integer, p_task_limit integer, p_tasks_limit integer, p_wait_ms integer
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_live integer; v_expired integer; v_mine integer; v_task integer; v_tasks integer;
BEGIN
  -- A cheap look without the account lock: a full pool with nothing expired and no slot of our own is a no.
  SELECT count(*) FILTER (WHERE expires_at > now()), count(*) FILTER (WHERE expires_at <= now()),
         count(*) FILTER (WHERE session_id = p_session),
         count(*) FILTER (WHERE task_id = p_task AND expires_at > now()),
         count(*) FILTER (WHERE task_id IS NOT NULL AND expires_at > now())
    INTO v_live, v_expired, v_mine, v_task, v_tasks
    FROM session_leases WHERE account_id = p_account;
  IF v_mine = 0 AND v_expired = 0 AND (v_live >= p_limit OR (p_task IS NOT NULL AND (
       (p_task_limit IS NOT NULL AND v_task >= p_task_limit) OR (p_tasks_limit IS NOT NULL AND v_tasks >= p_tasks_limit)))) THEN
    RETURN false;
  END IF;
  -- The decision is taken under the account's row lock, after expired leases are reclaimed.
  PERFORM so_pool_reclaim(p_account);
  UPDATE session_leases SET expires_at = now() + p_ttl_ms * interval '1 millisecond', holder = p_holder WHERE session_id = p_session;
  IF NOT FOUND THEN
    SELECT count(*), count(*) FILTER (WHERE task_id = p_task), count(*) FILTER (WHERE task_id IS NOT NULL)
      INTO v_live, v_task, v_tasks FROM session_leases WHERE account_id = p_account;
    IF v_live >= p_limit THEN RETURN false; END IF;
    IF p_task IS NOT NULL AND p_task_limit IS NOT NULL AND v_task >= p_task_limit THEN RETURN false; END IF;
    IF p_task IS NOT NULL AND p_tasks_limit IS NOT NULL AND v_tasks >= p_tasks_limit THEN RETURN false; END IF;
    INSERT INTO session_leases (session_id, account_id, task_id, holder, acquired_at, expires_at)
      VALUES (p_session, p_account, p_task, p_holder, now(), now() + p_ttl_ms * interval '1 millisecond');
    INSERT INTO pool_counters (account_id, acquired_total) VALUES (p_account, 1)
      ON CONFLICT (account_id) DO UPDATE SET acquired_total = pool_counters.acquired_total + 1;
  END IF;
  IF p_wait_ms IS NOT NULL THEN
    INSERT INTO pool_acquire_waits (account_id, wait_ms) VALUES (p_account, p_wait_ms);
  END IF;
  RETURN true;
END
$fn$`;

export class PoolAcquireFunction1796100000000 implements MigrationInterface {
  name = 'PoolAcquireFunction1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(POOL_RECLAIM_SQL);
    await queryRunner.query(POOL_TRY_ACQUIRE_SQL);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION IF EXISTS so_pool_try_acquire(uuid, uuid, uuid, text, integer, integer, integer, integer, integer)');
    await queryRunner.query('DROP FUNCTION IF EXISTS so_pool_reclaim(uuid)');
  }
}
