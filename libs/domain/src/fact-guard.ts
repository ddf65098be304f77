// The fact guard: a model's outline keeps every hard fact of its range, or the sentence that carries a
// lost fact is put back verbatim (`[seq N] <sentence>`) within a token budget.
import { FactHaystack, type HardFact } from './facts';
import { type Outline, renderOutline } from './outline';
import type { CountTokens } from './types';

export interface FactGuardReport {
  /** Hard facts checked. */
  facts_in: number;
  /** Facts the model's outline already stated. */
  kept_by_model: number;
  /** Facts put back by the guard. */
  restored: number;
  /** Values still missing (the budget ran out). */
  dropped: string[];
}

export interface FactGuardOptions {
  /** Tokens the restored lines may add, at most. */
  budgetTokens: number;
  countTokens: CountTokens;
}

/**
 * Restores lost hard facts into `facts`, after the model's own lines. Each missing fact comes back
 * with the sentence that carries it, as `[seq N] <sentence>` (a sentence carrying several lost facts
 * once), in seq order, when all of them fit in budgetTokens. When they do not, the most facts are
 * kept first: each message's lost values as one `[seq N] <value>; <value>` line (value by value when
 * even that does not fit), identifiers, key=value pairs, URLs, paths, quoted strings, versions and
 * names before numbers, code symbols, dates and times; then, in seq order, messages whose sentences fit
 * in what is left get their sentences instead. Whatever does not fit is reported in `dropped`.
 */
export function guardOutline(outline: Outline, facts: readonly HardFact[], opts: FactGuardOptions): { outline: Outline; report: FactGuardReport } {
  const before = new FactHaystack(renderOutline(outline));
  const missing = facts.filter((f) => !before.has(f));
  const keptByModel = facts.length - missing.length;
  if (missing.length === 0) {
    return { outline, report: { facts_in: facts.length, kept_by_model: keptByModel, restored: 0, dropped: [] } };
  }
  const cost = (lines: readonly string[]): number => lines.reduce((sum, line) => sum + opts.countTokens(`- ${line}\n`), 0);

  // One group per message: its lost facts and the distinct sentences carrying them.
  const groups = new Map<number, { seq: number; facts: HardFact[]; sentences: string[]; lines: string[] }>();
  for (const f of missing) {
    const group = groups.get(f.seq) ?? { seq: f.seq, facts: [], sentences: [], lines: [] };
    groups.set(f.seq, group);
    group.facts.push(f);
    if (!group.sentences.includes(f.sentence)) group.sentences.push(f.sentence);
  }
  const ordered = [...groups.values()].sort((a, b) => a.seq - b.seq);
  const sentenceLines = (g: (typeof ordered)[number]): string[] => g.sentences.map((s) => `[seq ${g.seq}] ${s}`);

  const full = ordered.reduce((sum, g) => sum + cost(sentenceLines(g)), 0);
  if (full <= opts.budgetTokens) {
    for (const g of ordered) g.lines = sentenceLines(g);
  } else {
    let left = opts.budgetTokens;
    // Identifiers, key=value pairs, URLs, paths, quoted strings, versions and names first; then numbers,
    // code symbols, dates and times (a log chunk has hundreds of timestamps and one incident id).
    // One `[seq N] v1; v2` line per message, grown value by value while the budget allows.
    const values = new Map<number, string[]>();
    const lineOf = (seq: number, vs: string[]) => (vs.length ? [`[seq ${seq}] ${vs.join('; ')}`] : []);
    const tryAdd = (g: (typeof ordered)[number], add: string[]): boolean => {
      const current = values.get(g.seq) ?? [];
      const delta = cost(lineOf(g.seq, [...current, ...add])) - cost(lineOf(g.seq, current));
      if (delta > left) return false;
      left -= delta;
      values.set(g.seq, [...current, ...add]);
      return true;
    };
    for (const pass of [0, 1]) {
      for (const g of ordered) {
        const facts = g.facts.filter((f) => factPriority(f) === pass).map(bareValue);
        if (facts.length === 0 || tryAdd(g, facts)) continue;
        for (const v of facts) tryAdd(g, [v]);
      }
    }
    for (const g of ordered) g.lines = lineOf(g.seq, values.get(g.seq) ?? []);
    for (const g of ordered) {
      const upgrade = sentenceLines(g);
      const delta = cost(upgrade) - cost(g.lines);
      if (delta <= left) {
        left -= delta;
        g.lines = upgrade;
      }
    }
  }

  const added = ordered.flatMap((g) => g.lines);
  const after = new FactHaystack(added.join('\n'));
  const dropped = missing.filter((f) => !after.has(f)).map((f) => f.value);
  const guarded: Outline = added.length === 0 ? outline : { ...outline, facts: [...outline.facts, ...added] };
  return {
    outline: guarded,
    report: { facts_in: facts.length, kept_by_model: keptByModel, restored: missing.length - dropped.length, dropped },
  };
}

const FIRST_KINDS = new Set<HardFact['kind']>(['identifier', 'key_value', 'url', 'email', 'path', 'quoted', 'version', 'name']);

/** 0: restored first when the budget is tight; 1: after. */
function factPriority(f: Pick<HardFact, 'kind'>): 0 | 1 {
  return FIRST_KINDS.has(f.kind) ? 0 : 1;
}

/**
 * A value restored without its sentence keeps what makes it a hard fact: a quoted string keeps its
 * quotes, so when this outline is folded into the next one the value is still recognized (and guarded).
 */
function bareValue(f: Pick<HardFact, 'value' | 'kind'>): string {
  return f.kind === 'quoted' ? `"${f.value}"` : f.value;
}
