import { Initial1795254878367 } from './1795254878367-initial';
import { SessionState1795255297133 } from './1795255297133-session-state';
import { PoolAndTasks1795255786736 } from './1795255786736-pool-and-tasks';
import { SnapshotFragments1795256266697 } from './1795256266697-snapshot-fragments';
import { CacheWriteTokens1796086059012 } from './1796086059012-cache-write-tokens';
import { TaskOutbox1796093614165 } from './1796093614165-task-outbox';

// Listed explicitly (oldest first) so the compiled service and the drift check need no glob.
export const MIGRATIONS: Function[] = [Initial1795254878367, SessionState1795255297133, PoolAndTasks1795255786736, SnapshotFragments1795256266697, CacheWriteTokens1796086059012, TaskOutbox1796093614165];
