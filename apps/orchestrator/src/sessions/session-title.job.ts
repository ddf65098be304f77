import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { JOB_QUEUE, type JobQueue } from '@so/queue';
import { MessageEntity, SessionEntity } from '@so/persistence';

export const SESSIONS_QUEUE = 'sessions';
export const TITLE_JOB = 'title';

/** Derives a title from the first user message, off the request path (sessions listed by title). */
export function titleFrom(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > 60 ? `${line.slice(0, 57).trimEnd()}...` : line;
}

@Injectable()
export class SessionTitleJob {
  private readonly logger = new Logger(SessionTitleJob.name);

  constructor(@Inject(JOB_QUEUE) private readonly queue: JobQueue, private readonly ds: DataSource) {}

  /** One job per session (deterministic id): a repeat is a no-op. */
  async enqueue(sessionId: string): Promise<void> {
    await this.queue.add(SESSIONS_QUEUE, TITLE_JOB, { sessionId }, { jobId: `title:${sessionId}`, attempts: 3, backoffMs: 1000 }).catch((err) => {
      this.logger.warn({ sessionId, err: err instanceof Error ? err.message : String(err) }, 'could not enqueue title job; deriving the title here');
      return this.run(sessionId).catch(() => undefined);
    });
  }

  /** The job itself (SessionTitleProcessor), or the fallback when enqueueing failed. */
  async run(sessionId: string): Promise<{ title: string | null }> {
    const first = await this.ds.getRepository(MessageEntity).findOne({ where: { sessionId, role: 'user', kind: 'message' }, order: { seq: 'ASC' } });
    if (!first?.content) return { title: null };
    const title = titleFrom(first.content);
    await this.ds.getRepository(SessionEntity).update({ id: sessionId, title: IsNull() }, { title });
    return { title };
  }
}
