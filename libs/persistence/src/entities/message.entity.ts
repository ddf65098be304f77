import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { TurnEntity } from './turn.entity';
import { SessionEntity } from './session.entity';
import type { MessageKind, Role, ToolCall } from '@so/domain';

/** Append-only history. Truncate, compress and restore never delete rows; they move the window. */
@Entity('messages')
@Index('messages_session_kind_seq_idx', ['sessionId', 'kind', 'seq'])
export class MessageEntity {
  @ForeignKey(() => SessionEntity)
  @PrimaryColumn('uuid', { name: 'session_id' })
  sessionId: string;

  @PrimaryColumn('integer')
  seq: number;

  @Column('text')
  role: Role;

  @Column('text', { nullable: true })
  content: string | null;

  @Column('text', { nullable: true })
  name: string | null;

  @Column('text', { name: 'tool_call_id', nullable: true })
  toolCallId: string | null;

  @Column('jsonb', { name: 'tool_calls', nullable: true })
  toolCalls: ToolCall[] | null;

  @Column('integer')
  tokens: number;

  @Column('text', { default: 'message' })
  kind: MessageKind;

  /** The turn that wrote this message (null for outlines and fragments written by housekeeping). */
  @ForeignKey(() => TurnEntity, { deferrable: 'INITIALLY DEFERRED' })
  @Column('uuid', { name: 'turn_id', nullable: true })
  turnId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
