import { AccountEntity } from './account.entity';
import { CompressionEntity } from './compression.entity';
import { FragmentEntity, FragmentVersionEntity } from './fragment.entity';
import { SessionEventEntity } from './session-event.entity';
import { SnapshotEntity } from './snapshot.entity';
import { MessageEntity } from './message.entity';
import { PoolAcquireWaitEntity, PoolCounterEntity, PoolWaiterEntity, SessionLeaseEntity } from './pool.entity';
import { TaskChildEntity, TaskEntity, TaskMergeEntity } from './task.entity';
import { SessionEntity } from './session.entity';
import { TurnEntity } from './turn.entity';
import { UsageEventEntity } from './usage-event.entity';
import { ResponseEntity } from './response.entity';
import { BudgetEntity, BudgetReservationEntity } from './budget.entity';
import { AdmissionLeaseEntity, AdmissionWindowEntity } from './admission.entity';

export * from './account.entity';
export * from './compression.entity';
export * from './fragment.entity';
export * from './session-event.entity';
export * from './snapshot.entity';
export * from './message.entity';
export * from './pool.entity';
export * from './task.entity';
export * from './session.entity';
export * from './turn.entity';
export * from './usage-event.entity';
export * from './response.entity';
export * from './budget.entity';
export * from './admission.entity';

/** Every entity, listed explicitly so the compiled service needs no glob. */
export const ENTITIES = [
  AccountEntity,
  SessionEntity,
  MessageEntity,
  TurnEntity,
  UsageEventEntity,
  SnapshotEntity,
  CompressionEntity,
  SessionEventEntity,
  FragmentEntity,
  FragmentVersionEntity,
  SessionLeaseEntity,
  PoolWaiterEntity,
  PoolAcquireWaitEntity,
  PoolCounterEntity,
  TaskEntity,
  TaskChildEntity,
  TaskMergeEntity,
  ResponseEntity,
  BudgetEntity,
  BudgetReservationEntity,
  AdmissionWindowEntity,
  AdmissionLeaseEntity,
];
