import { Inject, Injectable } from '@nestjs/common';
import type { StoredMessage } from '@so/domain';
import type { SessionEntity } from '@so/persistence';
import { APP_CONFIG, AppConfig } from '../config/app-config';

interface Entry {
  version: number;
  outlines: StoredMessage[];
  recent: StoredMessage[];
  bytes: number;
}

/**
 * The window's messages per session, keyed by the session row's `version`, so a turn on a large window
 * does not re-read it from Postgres. Any change elsewhere bumps the version and the entry is simply
 * not used: correctness never depends on this cache, and no instance shares it. LRU, bounded in bytes.
 */
@Injectable()
export class WindowCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.maxBytes = config.windowCacheMb * 1024 * 1024;
  }

  async get(s: Pick<SessionEntity, 'id' | 'version'>, load: () => Promise<{ outlines: StoredMessage[]; recent: StoredMessage[] }>): Promise<{ outlines: StoredMessage[]; recent: StoredMessage[] }> {
    const hit = this.entries.get(s.id);
    if (hit && hit.version === s.version) {
      this.entries.delete(s.id);
      this.entries.set(s.id, hit);
      return { outlines: hit.outlines, recent: [...hit.recent] };
    }
    const w = await load();
    this.put(s.id, s.version, w.outlines, [...w.recent]);
    return w;
  }

  /** After a committed append: the same window plus the new messages, under the new version. */
  appended(sessionId: string, fromVersion: number, toVersion: number, added: StoredMessage[]): void {
    const e = this.entries.get(sessionId);
    if (!e || e.version !== fromVersion) {
      this.drop(sessionId);
      return;
    }
    this.drop(sessionId);
    this.put(sessionId, toVersion, e.outlines, [...e.recent, ...added]);
  }

  drop(sessionId: string): void {
    const e = this.entries.get(sessionId);
    if (!e) return;
    this.bytes -= e.bytes;
    this.entries.delete(sessionId);
  }

  private put(sessionId: string, version: number, outlines: StoredMessage[], recent: StoredMessage[]): void {
    this.drop(sessionId);
    // JS strings are up to two bytes a character, plus a little per message; a message sent upstream also
    // keeps its encoded JSON (UTF-8, about one byte a character in most text: see encodeBody in @so/llm).
    let bytes = 0;
    for (const m of outlines) bytes += 3 * (m.content?.length ?? 0) + 200;
    for (const m of recent) bytes += 3 * (m.content?.length ?? 0) + 200;
    if (bytes > this.maxBytes) return;
    this.entries.set(sessionId, { version, outlines, recent, bytes });
    this.bytes += bytes;
    for (const [id, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.bytes -= e.bytes;
      this.entries.delete(id);
    }
  }
}
