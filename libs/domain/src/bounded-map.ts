/**
 * A map whose entries weigh something (characters of text they hold), bounded in total weight: an entry
 * that would pass the bound starts it over (cleared, not evicted one by one; the caches built on it are
 * refilled by their next reads), and an entry heavier than the bound alone is not kept.
 */
export class WeightBoundedMap<K, V> {
  private readonly entries = new Map<K, { value: V; weight: number }>();
  private total = 0;

  constructor(private readonly maxWeight: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: K, value: V, weight: number): void {
    this.delete(key);
    if (weight > this.maxWeight) return;
    if (this.total + weight > this.maxWeight) {
      this.entries.clear();
      this.total = 0;
    }
    this.entries.set(key, { value, weight });
    this.total += weight;
  }

  delete(key: K): void {
    const had = this.entries.get(key);
    if (!had) return;
    this.entries.delete(key);
    this.total -= had.weight;
  }

  get size(): number {
    return this.entries.size;
  }
}
