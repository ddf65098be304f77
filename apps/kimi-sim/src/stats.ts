import type { FaultKind } from './faults';

/** `concurrency` 429s (over the per-key limit) count under '429' together with injected ones. */
export type ErrorKind = '400' | '401' | '404' | '413' | '429' | '500' | 'cut' | 'hang';

export interface SimKeyStats {
  requests: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  /** Prompt tokens written to the prefix cache (prompt - cached of each billed request). */
  cache_write_tokens: number;
  /** Total cost, cache writes included. */
  cost_usd: number;
  /** The part of cost_usd that paid for cache writes (1x input price for 5m, 2x for 1h). */
  cache_write_cost_usd: number;
  /** cached_tokens / prompt_tokens over billed requests (0 when nothing was billed). */
  cache_hit_share: number;
  in_flight: number;
  peak_concurrency: number;
  errors: Record<ErrorKind, number>;
  by_purpose: Record<string, number>;
  /** Compression requests answered, by the style the outline was written in. */
  by_summarizer_style: Record<string, number>;
}

export interface SimStats {
  total: SimKeyStats;
  keys: Record<string, SimKeyStats>;
}

/** What one chat request looked like, for tests that check which inferences actually ran. */
export interface RequestSummary {
  id: string;
  key: string;
  model: string | null;
  stream: boolean;
  purpose: string | null;
  messages: number;
  /** Capped at LAST_USER_MAX_CHARS so a log of compression requests does not hold whole transcripts. */
  last_user: string | null;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  /** Prompt tokens written to the prefix cache by this request. */
  cache_write_tokens: number;
  /** The request's `cache_ttl` field, or null when it sent none (then `cacheTtlMs` applies, billed as 5m). */
  cache_ttl: string | null;
  /** The style a compression (outline) request was answered in; null for other requests. */
  summarizer_style: string | null;
  /** HTTP status sent, or null when no response was sent (hang, cut before answering, client gone). */
  status: number | null;
  fault: FaultKind | null;
}

export const LAST_USER_MAX_CHARS = 4000;

function emptyKeyStats(): SimKeyStats {
  return {
    requests: 0,
    prompt_tokens: 0,
    cached_tokens: 0,
    completion_tokens: 0,
    cache_write_tokens: 0,
    cost_usd: 0,
    cache_write_cost_usd: 0,
    cache_hit_share: 0,
    in_flight: 0,
    peak_concurrency: 0,
    errors: { '400': 0, '401': 0, '404': 0, '413': 0, '429': 0, '500': 0, cut: 0, hang: 0 },
    by_purpose: {},
    by_summarizer_style: {},
  };
}

/** Per-key and total counters. In-flight counts survive a reset: those requests are still running. */
export class StatsBook {
  private total = emptyKeyStats();
  private keys = new Map<string, SimKeyStats>();

  private forKey(key: string): SimKeyStats {
    let stats = this.keys.get(key);
    if (!stats) {
      stats = emptyKeyStats();
      this.keys.set(key, stats);
    }
    return stats;
  }

  private each(key: string | null, update: (s: SimKeyStats) => void): void {
    update(this.total);
    if (key !== null) update(this.forKey(key));
  }

  inFlight(key: string): number {
    return this.keys.get(key)?.in_flight ?? 0;
  }

  requestArrived(key: string, purpose: string | null): void {
    this.each(key, (s) => {
      s.requests++;
      if (purpose !== null) s.by_purpose[purpose] = (s.by_purpose[purpose] ?? 0) + 1;
    });
  }

  started(key: string): void {
    this.each(key, (s) => {
      s.in_flight++;
      s.peak_concurrency = Math.max(s.peak_concurrency, s.in_flight);
    });
  }

  finished(key: string): void {
    this.each(key, (s) => {
      s.in_flight--;
    });
  }

  summarized(key: string, style: string): void {
    this.each(key, (s) => {
      s.by_summarizer_style[style] = (s.by_summarizer_style[style] ?? 0) + 1;
    });
  }

  billed(
    key: string,
    promptTokens: number,
    cachedTokens: number,
    completionTokens: number,
    costUsd: number,
    cacheWriteTokens = 0,
    cacheWriteCostUsd = 0,
  ): void {
    this.each(key, (s) => {
      s.prompt_tokens += promptTokens;
      s.cached_tokens += cachedTokens;
      s.completion_tokens += completionTokens;
      s.cache_write_tokens += cacheWriteTokens;
      s.cost_usd += costUsd;
      s.cache_write_cost_usd += cacheWriteCostUsd;
      s.cache_hit_share = s.prompt_tokens === 0 ? 0 : s.cached_tokens / s.prompt_tokens;
    });
  }

  failed(key: string | null, kind: ErrorKind): void {
    this.each(key, (s) => {
      s.errors[kind]++;
    });
  }

  snapshot(): SimStats {
    const copy = (s: SimKeyStats): SimKeyStats => ({
      ...s,
      errors: { ...s.errors },
      by_purpose: { ...s.by_purpose },
      by_summarizer_style: { ...s.by_summarizer_style },
    });
    const keys: Record<string, SimKeyStats> = {};
    for (const [key, stats] of this.keys) keys[key] = copy(stats);
    return { total: copy(this.total), keys };
  }

  reset(): void {
    const running = [...this.keys].filter(([, s]) => s.in_flight > 0);
    const totalInFlight = this.total.in_flight;
    this.total = { ...emptyKeyStats(), in_flight: totalInFlight, peak_concurrency: totalInFlight };
    this.keys = new Map(running.map(([key, s]) => [key, { ...emptyKeyStats(), in_flight: s.in_flight, peak_concurrency: s.in_flight }]));
  }
}

/** Ring buffer of the most recent request summaries; entries are updated in place as requests finish. */
export class RequestLog {
  private entries: RequestSummary[] = [];
  private next = 0;

  constructor(private capacity: number) {}

  add(entry: RequestSummary): void {
    if (this.entries.length < this.capacity) this.entries.push(entry);
    else this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Up to `limit` most recent entries, oldest first. */
  recent(limit: number): RequestSummary[] {
    return this.newest(limit).map((e) => ({ ...e }));
  }

  resize(capacity: number): void {
    if (capacity === this.capacity) return;
    const kept = this.newest(capacity);
    this.capacity = capacity;
    this.entries = kept;
    this.next = kept.length % capacity;
  }

  private newest(limit: number): RequestSummary[] {
    const ordered = this.entries.length < this.capacity ? this.entries : [...this.entries.slice(this.next), ...this.entries.slice(0, this.next)];
    return ordered.slice(Math.max(0, ordered.length - limit));
  }

  clear(): void {
    this.entries = [];
    this.next = 0;
  }
}
