import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { AccountEntity } from './account.entity';

/** Reusable context (coding standards, tool descriptions); content lives in versions. */
@Entity('fragments')
@Index('fragments_account_idx', ['accountId', 'id'])
export class FragmentEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => AccountEntity)
  @Column('uuid', { name: 'account_id' })
  accountId: string;

  @Column('text')
  name: string;

  @Column('integer', { name: 'current_version' })
  currentVersion: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column('timestamptz', { name: 'deleted_at', nullable: true })
  deletedAt: Date | null;
}

/** Immutable: a session pins the version it was created with. */
@Entity('fragment_versions')
export class FragmentVersionEntity {
  @ForeignKey(() => FragmentEntity)
  @PrimaryColumn('uuid', { name: 'fragment_id' })
  fragmentId: string;

  @PrimaryColumn('integer')
  version: number;

  @Column('text')
  content: string;

  @Column('text')
  hash: string;

  @Column('integer', { name: 'token_count' })
  tokenCount: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
