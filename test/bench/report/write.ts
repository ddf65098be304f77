import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderBenchmarkPage, type BenchResult } from './render';

/** Reads bench/results/*.json (from the repository root) and the page they render to. */
export function loadResults(root: string): Record<string, BenchResult> {
  const dir = join(root, 'bench', 'results');
  const out: Record<string, BenchResult> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) out[f.replace(/\.json$/, '')] = JSON.parse(readFileSync(join(dir, f), 'utf8')) as BenchResult;
  return out;
}

export const PAGE = join('docs', 'benchmark-results.md');

if (require.main === module) {
  const root = resolve(__dirname, '../../../..');
  writeFileSync(join(root, PAGE), renderBenchmarkPage(loadResults(root)));
  console.log(`wrote ${PAGE}`);
}
