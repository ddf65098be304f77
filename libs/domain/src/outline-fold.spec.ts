import { compactRanges, foldHeader, foldOutlinesInWindow, planOutlineFold, readFoldHeader, type FoldCandidate } from './outline-fold';

const opts = { budgetTokens: 1000, groupTokens: 400, maxGroup: 4 };
const leaves = (n: number, tokens: number, from = 1): FoldCandidate[] => Array.from({ length: n }, (_, i) => ({ seq: from + i, tokens, level: 0 }));

describe('planOutlineFold', () => {
  it('plans nothing while the outlines fit the budget', () => {
    expect(planOutlineFold(leaves(10, 100), opts)).toBeNull();
  });

  it('folds the oldest leaves first, bounded by group tokens and group size', () => {
    expect(planOutlineFold(leaves(12, 100), opts)).toEqual({ seqs: [1, 2, 3, 4], level: 1, tokens: 400 });
    expect(planOutlineFold(leaves(6, 300), opts)).toEqual({ seqs: [1, 2], level: 1, tokens: 600 });
  });

  it('folds folds only once fewer than two outlines are left on the level below: a tree', () => {
    const outlines = [...[10, 11, 12].map((seq) => ({ seq, tokens: 400, level: 1 })), { seq: 13, tokens: 100, level: 0 }];
    expect(planOutlineFold(outlines, opts)).toEqual({ seqs: [10, 11], level: 2, tokens: 800 });
    const withLeaves = [...outlines, { seq: 14, tokens: 100, level: 0 }];
    expect(planOutlineFold(withLeaves, opts)).toEqual({ seqs: [13, 14], level: 1, tokens: 200 });
  });

  it('with one outline per level, folds the lowest levels together, one level above the highest of them', () => {
    const outlines = [{ seq: 1, tokens: 500, level: 3 }, { seq: 5, tokens: 400, level: 1 }, { seq: 9, tokens: 300, level: 2 }];
    expect(planOutlineFold(outlines, opts)).toEqual({ seqs: [5, 9], level: 3, tokens: 700 });
    expect(planOutlineFold([{ seq: 1, tokens: 5000, level: 4 }], opts)).toBeNull();
  });
});

describe('foldOutlinesInWindow', () => {
  it('puts the fold where its first outline was and keeps the others in order', () => {
    const spec = { outlineSeqs: [2, 3, 5, 8, 9], ranges: [{ from: 1, to: null }] };
    expect(foldOutlinesInWindow(spec, [3, 8], 10)).toEqual({ outlineSeqs: [2, 10, 5, 9], ranges: [{ from: 1, to: null }] });
    expect(foldOutlinesInWindow(spec, [2, 3], 10).outlineSeqs).toEqual([10, 5, 8, 9]);
  });
});

describe('fold headers', () => {
  it('round-trip the parts and the level; a child outline is level 0', () => {
    const h = foldHeader([7, 0, 1, 2, 5, 8], 2);
    expect(h).toBe('[merged parts 0-2, 5, 7-8 | level 2]');
    expect(readFoldHeader(`${h}\n# Outline`)).toEqual({ level: 2, parts: [0, 1, 2, 5, 7, 8] });
    expect(readFoldHeader('[part 12: src/a.ts]\n# Outline')).toEqual({ level: 0, parts: [12] });
    expect(readFoldHeader('# Outline')).toBeNull();
    expect(compactRanges([])).toBe('');
  });
});
