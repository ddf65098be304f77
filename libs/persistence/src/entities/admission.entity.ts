import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** The Postgres upstream limiter (used when REDIS_URL is unset): requests and tokens admitted per key per minute. */
@Entity('upstream_admission_windows')
export class AdmissionWindowEntity {
  @PrimaryColumn('text')
  key: string;

  @PrimaryColumn('timestamptz', { name: 'window_start' })
  windowStart: Date;

  @Column('integer', { default: 0 })
  requests: number;

  @Column('bigint', { default: 0 })
  tokens: string;
}

/** A call holding one of a key's concurrent slots until it ends (or its lease expires). */
@Entity('upstream_admission_leases')
@Index('upstream_admission_leases_key_idx', ['key', 'expiresAt'])
export class AdmissionLeaseEntity {
  @PrimaryColumn('uuid', { name: 'lease_id' })
  leaseId: string;

  @PrimaryColumn('text')
  key: string;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt: Date;
}
