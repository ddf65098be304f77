import { OnModuleDestroy } from '@nestjs/common';
import pino from 'pino';

/** How long a log line may wait in the buffer before it is written. */
const FLUSH_MS = 200;

/**
 * stdout for the service's log (the request log is one line per request): lines gather in a buffer and
 * go out in one write at 4 KB, every 200 ms, and when the process exits (pino flushes on exit), instead
 * of one write per line on the request's event loop turn. A SIGKILL loses at most the last 200 ms of lines.
 */
export class BufferedLogOutput implements OnModuleDestroy {
  readonly stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  private pending = false;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    const write = this.stream.write.bind(this.stream);
    this.stream.write = (line: string) => {
      this.pending = true;
      return write(line);
    };
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  /** Writes what is buffered (nothing when nothing was logged since the last flush). */
  flush(): void {
    if (!this.pending) return;
    this.pending = false;
    try {
      this.stream.flush();
    } catch {
      /* the stream is closed: nothing left to write to */
    }
  }

  /** The app closes (the process may exit right after): what is buffered is written before this returns. */
  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.pending = false;
    try {
      this.stream.flushSync();
    } catch {
      /* not open yet, or closed */
    }
  }
}
