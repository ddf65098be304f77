import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { SnapshotEntity } from './snapshot.entity';
import { SessionEntity } from './session.entity';

/** Which seq range became which outline message, and how well it compressed. */
@Entity('compressions')
@Index('compressions_session_idx', ['sessionId', 'createdAt'])
export class CompressionEntity {
  @PrimaryColumn('uuid')
  id: string;

  @ForeignKey(() => SessionEntity)
  @Column('uuid', { name: 'session_id' })
  sessionId: string;

  @ForeignKey(() => SnapshotEntity)
  @Column('uuid', { name: 'snapshot_id' })
  snapshotId: string;

  @Column('integer', { name: 'from_seq' })
  fromSeq: number;

  @Column('integer', { name: 'to_seq' })
  toSeq: number;

  @Column('integer', { name: 'outline_seq' })
  outlineSeq: number;

  @Column('integer', { name: 'input_tokens' })
  inputTokens: number;

  @Column('integer', { name: 'output_tokens' })
  outputTokens: number;

  @Column('double precision', { name: 'achieved_ratio' })
  achievedRatio: number;

  @Column('double precision', { name: 'target_ratio' })
  targetRatio: number;

  /** `upstream` (model outline) or `extractive` (deterministic fallback after a malformed one). */
  @Column('text')
  method: string;

  @Column('text')
  trigger: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
