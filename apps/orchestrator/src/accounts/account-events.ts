import { Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';

export const ACCOUNT_EVENTS = Symbol('ACCOUNT_EVENTS');

/**
 * "An account's keys or settings changed": every instance drops its cached key lookups at once, so a
 * rotated key stops working everywhere, not when each instance's cache expires.
 */
export interface AccountEventsPort {
  /** Tells every instance (this one included). Never throws: on failure the caches expire by themselves. */
  accountsChanged(): Promise<void>;
  onChange(listener: () => void): void;
}

/** One process (the embedded default, or no Redis): the local cache is the only one. */
export class LocalAccountEvents implements AccountEventsPort {
  private readonly listeners: Array<() => void> = [];

  accountsChanged(): Promise<void> {
    for (const l of this.listeners) l();
    return Promise.resolve();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }
}

/** Redis pub/sub on `<QUEUE_PREFIX>:accounts-changed` between the instances sharing that Redis. */
export class RedisAccountEvents implements AccountEventsPort, OnModuleDestroy {
  private readonly log = new Logger('AccountEvents');
  private readonly listeners: Array<() => void> = [];
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;

  constructor(redisUrl: string, prefix: string) {
    this.channel = `${prefix}:accounts-changed`;
    const opts = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
    this.pub = new Redis(redisUrl, opts);
    this.sub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: null });
    for (const c of [this.pub, this.sub]) c.on('error', () => undefined);
    this.sub.on('message', (channel) => {
      if (channel === this.channel) this.emit();
    });
    // Reconnects resubscribe by themselves (ioredis autoResubscribe); a change missed while Redis was
    // away is covered by the caches' short lifetime.
    void this.sub.connect().then(() => this.sub.subscribe(this.channel)).catch((err: unknown) => this.log.warn(`cannot subscribe to ${this.channel}: ${String(err)}`));
    void this.pub.connect().catch(() => undefined);
  }

  async accountsChanged(): Promise<void> {
    this.emit();
    try {
      await Promise.race([this.pub.publish(this.channel, String(Date.now())), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref())]);
    } catch (err) {
      this.log.warn(`could not tell other instances that accounts changed (their key caches expire within 5 s): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  onModuleDestroy(): void {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
