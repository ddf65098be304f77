import { roundStartCutPoints, safeCutPoints, splitRounds } from './rounds';
import { conversation } from './testing/conversation-builder';

describe('rounds', () => {
  it('a round runs from a user message to the next, with its replies, tool calls and results', () => {
    const messages = conversation().round(10, 20).toolRound(5, 5, 5, 5).user(7).build();
    expect(splitRounds(messages).map((r) => [r.fromSeq, r.toSeq, r.tokens, r.startsAtUser])).toEqual([
      [1, 2, 30, true],
      [3, 6, 20, true],
      [7, 7, 7, true],
    ]);
  });

  it('messages before the first user message form a leading partial round', () => {
    const messages = conversation().assistant(10).toolCalls(1).toolResults(1).user(5).build();
    expect(splitRounds(messages).map((r) => [r.fromSeq, r.toSeq, r.startsAtUser])).toEqual([
      [1, 3, false],
      [4, 4, true],
    ]);
  });
});

describe('safe cut points', () => {
  it.each([
    { case: 'every message of a plain conversation', build: () => conversation().round(1, 1).round(1, 1), safe: [1, 2, 3, 4] },
    // seqs: 1 user, 2 call, 3 result, 4 reply
    { case: 'never between a tool call and its result', build: () => conversation().toolRound(1, 1, 1, 1), safe: [1, 2, 4] },
    // seqs: 1 user, 2 call x3, 3..5 results, 6 reply
    { case: 'never between parallel tool results', build: () => conversation().user(1).toolCalls(1, 3).toolResults(1).assistant(1), safe: [1, 2, 6] },
    // seqs: 1 call, 2 user (interjection), 3 result
    { case: 'not at a user message that interrupts a tool pair', build: () => conversation().toolCalls(1).user(1).toolResults(1), safe: [1] },
    // seqs: 1 user, 2 call without a result yet
    { case: 'anywhere before an unanswered call', build: () => conversation().user(1).toolCalls(1), safe: [1, 2] },
  ])('$case', ({ build, safe }) => {
    expect(safeCutPoints(build().build())).toEqual(safe);
  });

  it('never at an orphan tool result whose call is outside the list', () => {
    const messages = conversation().toolCalls(1).toolResults(1).user(1).build().slice(1);
    expect(safeCutPoints(messages)).toEqual([3]);
  });

  it('round starts are the preferred cuts: safe user messages only', () => {
    const messages = conversation().toolRound(1, 1, 1, 1).round(1, 1).build();
    expect(roundStartCutPoints(messages)).toEqual([1, 5]);
  });
});
