import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderBenchmarkPage, targetRows } from './render';
import { loadResults, PAGE } from './write';

describe('benchmark results page', () => {
  it('marks every missed target and counts them', () => {
    const page = renderBenchmarkPage({
      overhead: { commit: { commit: 'abc' }, targets: [{ name: 'p50', target: '<= 3 ms', value: 3.4, pass: false }, { name: 'p99', target: '<= 15 ms', value: 8.4, pass: true }] },
      memory: { targets: [{ name: 'peak', target: '-', value: 474, pass: null }] },
    });
    expect(page).toContain('| p50 | 3.4 | <= 3 ms | **MISSED** |');
    expect(page).toContain('| p99 | 8.4 | <= 15 ms | met |');
    expect(page).toContain('| peak | 474 | - | reference |');
    expect(page).toContain('1 target missed');
    expect(page.indexOf('bench:overhead')).toBeLessThan(page.indexOf('bench:memory'));
  });

  it('turns state-ops ratios into target rows', () => {
    expect(targetRows({ ratios: [{ op: 'snapshot', ratio_of_medians: 0.73, target: 1.5 }, { op: 'fork', ratio_of_medians: 2, target: 1.5 }] }).map((r) => r.pass)).toEqual([true, false]);
  });

  it('is what the committed docs page says (regenerate with npm run docs:bench)', () => {
    const root = resolve(__dirname, '../../..');
    expect(readFileSync(join(root, PAGE), 'utf8')).toBe(renderBenchmarkPage(loadResults(root)));
  });
});
