import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A tenant. The API key is stored only as a SHA-256 hash; the upstream key only encrypted. */
@Entity('accounts')
export class AccountEntity {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  name: string;

  @Index('accounts_api_key_hash_uq', { unique: true })
  @Column('text', { name: 'api_key_hash' })
  apiKeyHash: string;

  /** First characters of the key, to tell keys apart in listings without revealing them. */
  @Column('text', { name: 'api_key_prefix' })
  apiKeyPrefix: string;

  @Column('integer', { name: 'session_limit', default: 100 })
  sessionLimit: number;

  @Column('text', { name: 'upstream_base_url', nullable: true })
  upstreamBaseUrl: string | null;

  @Column('text', { name: 'upstream_model', nullable: true })
  upstreamModel: string | null;

  /** Requests per minute on /v1/* (null: RATE_LIMIT_PER_MINUTE; 0: unlimited). */
  @Column('integer', { name: 'rate_limit_per_minute', nullable: true })
  rateLimitPerMinute: number | null;

  /** Upstream admission limits of this account ({concurrency, rpm, tpm}; null: the UPSTREAM_ACCOUNT_* defaults). */
  @Column('jsonb', { name: 'upstream_limits', nullable: true })
  upstreamLimits: { concurrency?: number | null; rpm?: number | null; tpm?: number | null } | null;

  /** AES-256-GCM ciphertext (v2:key id:iv:tag:data, base64; v1 without the key id). */
  @Column('text', { name: 'upstream_api_key_enc', nullable: true })
  upstreamApiKeyEnc: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
