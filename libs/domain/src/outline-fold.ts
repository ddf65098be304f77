// The coordinator's tree merge: when a master's outlines pass a budget, the oldest outlines of the
// lowest level are folded into one outline of outlines (one level up), level by level.
import type { WindowSpec } from './types';
import { normalizeRanges } from './window';

export interface FoldCandidate {
  seq: number;
  tokens: number;
  /** 0: a child's outline; n: a fold of level n-1 outlines. */
  level: number;
}

export interface FoldOptions {
  /** The master's outlines may take this many tokens in all; over it, a fold is planned. */
  budgetTokens: number;
  /** One fold reads at most this many tokens (the summarizer's input). */
  groupTokens: number;
  /** One fold reads at most this many outlines (its sources stay short). */
  maxGroup: number;
}

export interface FoldPlan {
  seqs: number[];
  /** The level of the outline the fold makes. */
  level: number;
  tokens: number;
}

/**
 * Null while the outlines fit the budget (or fewer than two are left). Otherwise the lowest level with
 * at least two outlines gives its oldest ones, as many as fit groupTokens and maxGroup (two at least),
 * so every outline is folded with its peers before any fold is folded again: a tree, whatever the
 * number of children. With one outline per level, the lowest levels are folded together.
 */
export function planOutlineFold(outlines: readonly FoldCandidate[], opts: FoldOptions): FoldPlan | null {
  const total = outlines.reduce((n, o) => n + o.tokens, 0);
  if (total <= opts.budgetTokens) return null;
  const levels = [...new Set(outlines.map((o) => o.level))].sort((a, b) => a - b);
  for (const level of levels) {
    const peers = outlines.filter((o) => o.level === level).sort((a, b) => a.seq - b.seq);
    if (peers.length >= 2) return group(peers, level + 1, opts);
  }
  // One outline per level and still over budget: the lowest levels are folded together, one level up from the highest.
  if (outlines.length < 2) return null;
  const byLevel = [...outlines].sort((a, b) => a.level - b.level || a.seq - b.seq);
  const plan = group(byLevel, 0, opts);
  return { ...plan, level: Math.max(...outlines.filter((o) => plan.seqs.includes(o.seq)).map((o) => o.level)) + 1 };
}

/** The first outlines of `ordered`, as many as fit groupTokens and maxGroup, two at least. */
function group(ordered: readonly FoldCandidate[], level: number, opts: FoldOptions): FoldPlan {
  const picked: FoldCandidate[] = [];
  let tokens = 0;
  for (const o of ordered) {
    if (picked.length >= 2 && (picked.length >= opts.maxGroup || tokens + o.tokens > opts.groupTokens)) break;
    picked.push(o);
    tokens += o.tokens;
  }
  return { seqs: picked.map((o) => o.seq).sort((a, b) => a - b), level, tokens };
}

/** The window after a fold: the folded outlines out, the fold in at the place of the first of them. */
export function foldOutlinesInWindow(spec: WindowSpec, folded: readonly number[], foldSeq: number): WindowSpec {
  const gone = new Set(folded);
  const at = spec.outlineSeqs.findIndex((s) => gone.has(s));
  const kept = spec.outlineSeqs.filter((s) => !gone.has(s));
  const index = at < 0 ? kept.length : spec.outlineSeqs.slice(0, at).filter((s) => !gone.has(s)).length;
  return { outlineSeqs: [...kept.slice(0, index), foldSeq, ...kept.slice(index)], ranges: normalizeRanges(spec.ranges) };
}

const PART_HEADER = /^\[part (\d+): /;
const FOLD_HEADER = /^\[merged parts ([\d, -]+) \| level (\d+)\]/;

/** The header of a fold message: the child indexes it covers (as ranges) and its level. */
export function foldHeader(parts: readonly number[], level: number): string {
  return `[merged parts ${compactRanges(parts)} | level ${level}]`;
}

/** A master outline message's level and the child indexes it covers (null: not a coordinator outline). */
export function readFoldHeader(content: string): { level: number; parts: number[] } | null {
  const part = PART_HEADER.exec(content);
  if (part) return { level: 0, parts: [Number(part[1])] };
  const fold = FOLD_HEADER.exec(content);
  if (!fold) return null;
  const parts: number[] = [];
  for (const r of fold[1].split(',').map((x) => x.trim()).filter(Boolean)) {
    const [a, b] = r.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) parts.push(i);
  }
  return { level: Number(fold[2]), parts };
}

/** 0, 1, 2, 5, 7, 8 -> "0-2, 5, 7-8". */
export function compactRanges(values: readonly number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
