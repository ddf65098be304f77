import type { MigrationInterface } from 'typeorm';
import { Initial1795254878367 } from './1795254878367-initial';
import { SessionState1795255297133 } from './1795255297133-session-state';
import { PoolAndTasks1795255786736 } from './1795255786736-pool-and-tasks';
import { SnapshotFragments1795256266697 } from './1795256266697-snapshot-fragments';
import { CacheWriteTokens1796086059012 } from './1796086059012-cache-write-tokens';
import { Responses1796093370135 } from './1796093370135-responses';
import { TaskOutbox1796093614165 } from './1796093614165-task-outbox';
import { SnapshotShareExpiry1796093500899 } from './1796093500899-snapshot-share-expiry';
import { AccountRateLimit1796093904457 } from './1796093904457-account-rate-limit';
import { UsageEstimated1796093995470 } from './1796093995470-usage-estimated';
import { BudgetsAdmission1796095376606 } from './1796095376606-budgets-admission';
import { ForeignKeys1796096894492 } from './1796096894492-foreign-keys';
import { TaskForeignKeys1796097625987 } from './1796097625987-task-foreign-keys';
import { PoolAcquireFunction1796100000000 } from './1796100000000-pool-acquire-function';

// Listed explicitly (oldest first) so the compiled service and the drift check need no glob.
export const MIGRATIONS: Array<new () => MigrationInterface> = [
  Initial1795254878367,
  SessionState1795255297133,
  PoolAndTasks1795255786736,
  SnapshotFragments1795256266697,
  CacheWriteTokens1796086059012,
  Responses1796093370135,
  SnapshotShareExpiry1796093500899,
  TaskOutbox1796093614165,
  AccountRateLimit1796093904457,
  UsageEstimated1796093995470,
  BudgetsAdmission1796095376606,
  ForeignKeys1796096894492,
  TaskForeignKeys1796097625987,
  PoolAcquireFunction1796100000000,
];
