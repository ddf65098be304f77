import { DomainError } from './errors';
import { conversation, randomConversation, toolPairsIntact } from './testing/conversation-builder';
import { planTruncation } from './truncation';

describe('truncation', () => {
  it.each([{ preserveLen: 0 }, { preserveLen: 4095 }, { preserveLen: 4096.5 }, { preserveLen: Number.NaN }])(
    'rejects preserve_len $preserveLen (below 4096 or not an integer) with invalid_request',
    ({ preserveLen }) => {
      const act = () => planTruncation({ recent: conversation().round(10, 10).build(), preserveLen });
      expect(act).toThrow(DomainError);
      expect(act).toThrow(expect.objectContaining({ code: 'invalid_request', param: 'preserve_len' }));
    },
  );

  it('keeps everything when the recent messages fit', () => {
    const recent = conversation().round(1000, 1000).round(1000, 1000).build();
    expect(planTruncation({ recent, preserveLen: 4096 })).toEqual({
      keepFromSeq: 1, droppedSeqs: 0, droppedTokens: 0, keptTokens: 4000, overBudget: false,
    });
  });

  it('has nothing to keep in an empty window', () => {
    expect(planTruncation({ recent: [], preserveLen: 4096 })).toMatchObject({ keepFromSeq: null, droppedSeqs: 0 });
  });

  it.each([
    // rounds of 2000 tokens: seqs (1,2) (3,4) (5,6) (7,8) (9,10)
    { preserveLen: 4096, keepFromSeq: 7, kept: 4000 },
    { preserveLen: 6000, keepFromSeq: 5, kept: 6000 },
    { preserveLen: 7999, keepFromSeq: 5, kept: 6000 },
  ])('keeps the newest whole rounds within preserve_len $preserveLen, starting at a round start', ({ preserveLen, keepFromSeq, kept }) => {
    const recent = conversation().round(1000, 1000).round(1000, 1000).round(1000, 1000).round(1000, 1000).round(1000, 1000).build();
    expect(planTruncation({ recent, preserveLen })).toMatchObject({ keepFromSeq, keptTokens: kept, overBudget: false });
  });

  it('cuts inside the newest round when that round alone exceeds preserve_len', () => {
    // seqs: 1 user 3000, 2 call 100, 3 result 3000, 4 reply 1000 (round = 7100)
    const recent = conversation().toolRound(3000, 100, 3000, 1000).build();
    expect(planTruncation({ recent, preserveLen: 4500 })).toMatchObject({ keepFromSeq: 2, keptTokens: 4100 });
  });

  it('keeps the newest tool call and its result together even when that unit alone is over preserve_len', () => {
    // seqs: 1 user, 2 call 100, 3 result 9000 -> the last safe unit is 2..3
    const recent = conversation().user(500).toolCalls(100).toolResults(9000).build();
    expect(planTruncation({ recent, preserveLen: 4096 })).toEqual({
      keepFromSeq: 2, droppedSeqs: 1, droppedTokens: 500, keptTokens: 9100, overBudget: true,
    });
  });

  it.each([
    // call + result + reply = 4500 > 4096, result + reply = 3500 would fit: the cut must skip to the reply
    { case: 'the budget boundary falls between call and result', build: () => conversation().user(2000).toolCalls(1000).toolResults(3000).assistant(500), keepFromSeq: 4 },
    // call + 3 results + reply = 4100 > 4096; the last two results + reply would fit
    { case: 'the boundary falls between parallel results', build: () => conversation().user(2000).toolCalls(1000, 3).toolResults(1000).assistant(100), keepFromSeq: 6 },
  ])('never separates a tool call from its result when truncating: $case', ({ build, keepFromSeq }) => {
    const recent = build().build();
    const plan = planTruncation({ recent, preserveLen: 4096 });
    expect(plan.keepFromSeq).toBe(keepFromSeq);
    expect(toolPairsIntact(recent.filter((m) => m.seq >= (plan.keepFromSeq ?? Infinity)))).toBe(true);
  });

  it('across 200 generated conversations, the kept part keeps tool pairs whole and fits unless one unit is over', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const recent = randomConversation(seed, 2 + (seed % 12));
      const preserveLen = 4096 + (seed * 977) % 20000;
      const plan = planTruncation({ recent, preserveLen });
      const kept = recent.filter((m) => m.seq >= (plan.keepFromSeq ?? Infinity));
      expect(toolPairsIntact(kept)).toBe(true);
      expect(plan.keptTokens).toBe(kept.reduce((s, m) => s + m.tokens, 0));
      if (!plan.overBudget) expect(plan.keptTokens).toBeLessThanOrEqual(preserveLen);
    }
  });
});
