import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A spend limit on an account, a session or a task: what was spent in the period, what calls in flight reserved. */
@Entity('budgets')
@Index('budgets_scope_uq', ['scope', 'scopeId'], { unique: true })
@Index('budgets_account_idx', ['accountId'])
export class BudgetEntity {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'account_id' })
  accountId: string;

  /** account | session | task */
  @Column('text')
  scope: string;

  /** The account, session or task id. */
  @Column('uuid', { name: 'scope_id' })
  scopeId: string;

  @Column('numeric', { name: 'limit_usd', precision: 20, scale: 8, nullable: true })
  limitUsd: string | null;

  @Column('bigint', { name: 'limit_tokens', nullable: true })
  limitTokens: string | null;

  /** day | month | none */
  @Column('text', { default: 'none' })
  period: string;

  @Column('timestamptz', { name: 'period_start' })
  periodStart: Date;

  @Column('numeric', { name: 'spent_usd', precision: 20, scale: 8, default: 0 })
  spentUsd: string;

  @Column('bigint', { name: 'spent_tokens', default: 0 })
  spentTokens: string;

  @Column('numeric', { name: 'reserved_usd', precision: 20, scale: 8, default: 0 })
  reservedUsd: string;

  @Column('bigint', { name: 'reserved_tokens', default: 0 })
  reservedTokens: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

/** The worst case of one upstream call in flight, held against every budget that covers it until the call settles. */
@Entity('budget_reservations')
@Index('budget_reservations_account_idx', ['accountId'])
export class BudgetReservationEntity {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('uuid', { name: 'budget_ids', array: true })
  budgetIds: string[];

  @Column('numeric', { precision: 20, scale: 8 })
  usd: string;

  @Column('bigint')
  tokens: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
