import { createHash } from 'node:crypto';
import type { PromptBlock } from './token-counter';

/** Position i of a prompt: the hash of blocks 0..i and how many tokens they hold together. */
export interface ChainLink {
  hash: string;
  cumulativeTokens: number;
}

interface CachedPrefix {
  cumulativeTokens: number;
  /** Each write sets its own lifetime (cache_ttl); a later write never shortens an entry's life. */
  expiresAt: number;
}

/** h_i = H(h_{i-1} + digest_i): equal hashes mean equal prefixes, so one map lookup per block. */
export function prefixChain(blocks: PromptBlock[]): ChainLink[] {
  const chain: ChainLink[] = [];
  let hash = '';
  let cumulativeTokens = 0;
  for (const block of blocks) {
    hash = createHash('sha1').update(hash).update(block.digest).digest('base64');
    cumulativeTokens += block.tokens;
    chain.push({ hash, cumulativeTokens });
  }
  return chain;
}

/**
 * Kimi-style automatic prefix caching at message granularity, per API key: a request's cached tokens
 * are the tokens of its longest prefix seen in a recent request of the same key.
 */
export class PrefixCache {
  private readonly byKey = new Map<string, Map<string, CachedPrefix>>();

  /** Tokens of the longest prefix of `chain` recorded for `key` and still alive at `now`. */
  cachedTokens(key: string, chain: ChainLink[], now: number): number {
    const entries = this.byKey.get(key);
    if (!entries) return 0;
    // Scan every position: eviction may have dropped a short prefix while a longer one is still there.
    for (let i = chain.length - 1; i >= 0; i--) {
      const hit = entries.get(chain[i].hash);
      if (hit && now <= hit.expiresAt) return hit.cumulativeTokens;
    }
    return 0;
  }

  /**
   * Writes every prefix of `chain` as the most recent entry of `key`, alive for `ttlMs` from `now` (or
   * longer if an earlier write said so), evicting the oldest beyond `maxEntries`.
   */
  record(key: string, chain: ChainLink[], now: number, ttlMs: number, maxEntries: number): void {
    let entries = this.byKey.get(key);
    if (!entries) {
      entries = new Map();
      this.byKey.set(key, entries);
    }
    for (const link of chain) {
      const old = entries.get(link.hash);
      const expiresAt = old && old.expiresAt > now ? Math.max(old.expiresAt, now + ttlMs) : now + ttlMs;
      entries.delete(link.hash);
      entries.set(link.hash, { cumulativeTokens: link.cumulativeTokens, expiresAt });
    }
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
  }

  clear(): void {
    this.byKey.clear();
  }
}
