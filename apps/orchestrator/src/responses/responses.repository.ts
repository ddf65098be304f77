import { Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { ResponseEntity, SessionEntity, type SessionPolicyColumn } from '@so/persistence';

/** Stored Responses API responses, and the session columns the Responses routes change. */
@Injectable()
export class ResponsesRepository {
  constructor(private readonly ds: DataSource) {}

  /** False when a response with this account's Idempotency-Key exists already (nothing written). */
  async insert(r: Partial<ResponseEntity>): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `INSERT INTO responses (id, account_id, session_id, turn_id, in_conversation, previous_response_id, snapshot_id, input_first_seq, input_last_seq, last_seq, status, idempotency_key, request_hash, body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
       ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING id`,
      [r.id, r.accountId, r.sessionId, r.turnId, r.inConversation ?? false, r.previousResponseId, r.snapshotId, r.inputFirstSeq, r.inputLastSeq, r.lastSeq, r.status, r.idempotencyKey, r.requestHash, JSON.stringify(r.body)],
    );
    return rows.length > 0;
  }

  find(accountId: string, id: string): Promise<ResponseEntity | null> {
    return this.ds.getRepository(ResponseEntity).findOne({ where: { id, accountId, deletedAt: IsNull() } });
  }

  /** The response stored under an Idempotency-Key (deleted ones included: the key stays used). */
  findByKey(accountId: string, key: string): Promise<ResponseEntity | null> {
    return this.ds.getRepository(ResponseEntity).findOne({ where: { accountId, idempotencyKey: key } });
  }

  async markDeleted(accountId: string, id: string): Promise<boolean> {
    const r = await this.ds.getRepository(ResponseEntity).update({ id, accountId, deletedAt: IsNull() }, { deletedAt: new Date() });
    return (r.affected ?? 0) > 0;
  }

  /**
   * Parks a session between turns (its pool slot released, its state kept) unless a turn holds it:
   * one statement, so a turn that locks it meanwhile keeps its lease. True when it was parked.
   */
  async park(accountId: string, sessionId: string): Promise<boolean> {
    const rows: unknown[] = await this.ds.query(
      `WITH p AS (
         UPDATE sessions SET status = 'parked' WHERE id = $1 AND account_id = $2 AND status = 'active' AND (turn_lock_id IS NULL OR turn_lock_until < now()) RETURNING id
       )
       DELETE FROM session_leases WHERE session_id IN (SELECT id FROM p) RETURNING session_id`,
      [sessionId, accountId],
    );
    return rows.length > 0;
  }

  async setMetadata(accountId: string, sessionId: string, metadata: Record<string, string>): Promise<void> {
    await this.ds.getRepository(SessionEntity).update({ id: sessionId, accountId }, { metadata });
  }

  async setPolicy(accountId: string, sessionId: string, policy: SessionPolicyColumn): Promise<void> {
    await this.ds.getRepository(SessionEntity).update({ id: sessionId, accountId }, { policy });
  }
}
