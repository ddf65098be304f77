import { DomainError } from './errors';
import { conversation, outlineMessage, samplePinned } from './testing/conversation-builder';
import type { StoredMessage, WindowSpec } from './types';
import {
  SYSTEM_MEMO_MIN_CHARS,
  systemMessage,
  addOutline,
  copiedWindow,
  appendToWindow,
  applyCompaction,
  assembleWindow,
  cutWindowBefore,
  excludeFromWindow,
  initialWindow,
  isInWindow,
  restoreWindow,
  windowPrefixHash,
  windowRecentFilter,
  windowTokens,
} from './window';

const open = (from: number) => ({ from, to: null });
const closed = (from: number, to: number) => ({ from, to });
const spec = (ranges: WindowSpec['ranges'], outlineSeqs: number[] = []): WindowSpec => ({ outlineSeqs, ranges });

describe('window range arithmetic', () => {
  it('a new session has every message from seq 1 in its window and no outlines', () => {
    expect(initialWindow()).toEqual({ outlineSeqs: [], ranges: [{ from: 1, to: null }] });
  });

  it.each([
    { case: 'inside an open range', ranges: [open(5)], seq: 900, kind: 'message' as const, inWindow: true },
    { case: 'before an open range', ranges: [open(5)], seq: 4, kind: 'message' as const, inWindow: false },
    { case: 'in the gap between two ranges', ranges: [closed(1, 10), open(20)], seq: 15, kind: 'message' as const, inWindow: false },
    { case: 'at the closed end of a range', ranges: [closed(1, 10)], seq: 10, kind: 'message' as const, inWindow: true },
    { case: 'an outline listed in outlineSeqs', ranges: [open(30)], seq: 12, kind: 'outline' as const, inWindow: true },
    { case: 'an outline not listed, even inside a range', ranges: [open(1)], seq: 31, kind: 'outline' as const, inWindow: false },
  ])('isInWindow: $case', ({ ranges, seq, kind, inWindow }) => {
    expect(isInWindow(spec(ranges, [12]), seq, kind)).toBe(inWindow);
  });

  it.each([
    { case: 'an open range already covers new messages', before: [open(1)], firstNewSeq: 40, after: [open(1)] },
    { case: 'after a restore, appends re-open the window with a new range', before: [closed(1, 10)], firstNewSeq: 25, after: [closed(1, 10), open(25)] },
    { case: 'an adjacent append extends the closed range', before: [closed(1, 10)], firstNewSeq: 11, after: [open(1)] },
    { case: 'an empty window gets an open range', before: [], firstNewSeq: 7, after: [open(7)] },
  ])('appendToWindow: $case', ({ before, firstNewSeq, after }) => {
    expect(appendToWindow(spec(before, [3]), firstNewSeq)).toEqual(spec(after, [3]));
  });

  it.each([
    { case: 'into a closed range', before: [closed(1, 10)], firstNewSeq: 10 },
    { case: 'before an open range', before: [open(50)], firstNewSeq: 20 },
  ])('appendToWindow rejects an append that does not follow the window ($case) with conflict', ({ before, firstNewSeq }) => {
    expect(() => appendToWindow(spec(before), firstNewSeq)).toThrow(DomainError);
  });

  it.each([
    { case: 'closes the open range at the snapshot seq', snapshot: spec([open(1)], [4]), atSeq: 30, restored: spec([closed(1, 30)], [4]) },
    { case: 'keeps earlier closed ranges', snapshot: spec([closed(1, 10), open(20)]), atSeq: 30, restored: spec([closed(1, 10), closed(20, 30)]) },
    { case: 'drops an open range that starts after the snapshot', snapshot: spec([closed(1, 10), open(31)]), atSeq: 30, restored: spec([closed(1, 10)]) },
  ])('restoreWindow $case', ({ snapshot, atSeq, restored }) => {
    expect(restoreWindow(snapshot, atSeq)).toEqual(restored);
  });

  it('after restore and append, messages written after the snapshot stay out of the window and new ones are in', () => {
    const snapshotSpec = spec([open(1)]);
    const restored = restoreWindow(snapshotSpec, 30);
    const afterAppend = appendToWindow(restored, 46); // seqs 31..45 were appended after the snapshot
    expect([30, 31, 45, 46, 47].map((s) => isInWindow(afterAppend, s))).toEqual([true, false, false, true, true]);
  });

  it.each([
    { case: 'moves the start of an open range', before: [open(1)], seq: 40, after: [open(40)] },
    { case: 'drops whole ranges below the cut', before: [closed(1, 10), closed(20, 30), open(50)], seq: 25, after: [closed(25, 30), open(50)] },
    { case: 'leaves a window that already starts later alone', before: [open(60)], seq: 40, after: [open(60)] },
  ])('cutWindowBefore $case (outlines stay)', ({ before, seq, after }) => {
    expect(cutWindowBefore(spec(before, [5]), seq)).toEqual(spec(after, [5]));
  });

  it('addOutline appends after earlier outlines and adds a retried outline once', () => {
    const once = addOutline(spec([open(1)], [10]), 20);
    expect(addOutline(once, 20)).toEqual(spec([open(1)], [10, 20]));
  });

  it.each([
    { fold: false, outlines: [10, 50] },
    { fold: true, outlines: [50] },
  ])('applyCompaction cuts before keepFromSeq and adds the outline (fold: $fold)', ({ fold, outlines }) => {
    const after = applyCompaction(spec([open(1)], [10]), { keepFromSeq: 40, outlineSeq: 50, foldOutlines: fold });
    expect(after).toEqual(spec([open(40)], outlines));
  });

  it('applyCompaction with nothing left verbatim empties the ranges, and the next append re-opens them', () => {
    const after = applyCompaction(spec([open(1)], []), { keepFromSeq: null, outlineSeq: 50, foldOutlines: false });
    expect(after).toEqual(spec([], [50]));
    expect(appendToWindow(after, 51)).toEqual(spec([open(51)], [50]));
  });

  it('windowRecentFilter gives sorted, merged ranges the SQL layer can use as-is', () => {
    expect(windowRecentFilter(spec([open(30), closed(1, 10), closed(11, 12)]))).toEqual([closed(1, 12), open(30)]);
  });
});

describe('window assembly', () => {
  const pinned = samplePinned();
  const outlines = [outlineMessage(40, '# Outline\n## Goal\nrefactor', 700)];
  const recent = conversation(41).user(100, 'read a.ts').toolCalls(20).toolResults(300).assistant(50, 'done').build();

  it('orders system prompt, fragments in pinned order, outlines, then recent messages verbatim', () => {
    expect(assembleWindow(pinned, outlines, recent)).toEqual([
      { role: 'system', content: 'You are a careful refactoring assistant.' },
      { role: 'system', content: '[fragment coding-standards v3]\nUse strict TypeScript.' },
      { role: 'system', content: '[fragment tool-guide v1]\nread_file reads a file.' },
      { role: 'system', content: '[outline of earlier conversation]\n# Outline\n## Goal\nrefactor' },
      { role: 'user', content: 'read a.ts' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{"n":1}' } }] },
      { role: 'tool', content: 'result of call_1', tool_call_id: 'call_1' },
      { role: 'assistant', content: 'done' },
    ]);
  });

  it('omits the system message when there is no system prompt', () => {
    const window = assembleWindow(samplePinned({ system: null, fragments: [] }), [], recent);
    expect(window[0].role).toBe('user');
  });

  it('is byte-identical for identical inputs, whatever key order the stored tool calls had', () => {
    const shuffled: StoredMessage[] = recent.map((m) =>
      m.toolCalls ? { ...m, toolCalls: m.toolCalls.map((c) => ({ function: { arguments: c.function.arguments, name: c.function.name }, type: c.type, id: c.id })) } : m,
    );
    expect(JSON.stringify(assembleWindow(pinned, outlines, shuffled))).toBe(JSON.stringify(assembleWindow(pinned, outlines, recent)));
  });

  it('appending recent messages never changes the bytes of anything sent before them', () => {
    const longer = [...recent, ...conversation(45).round(80, 90).round(70, 60).build()];
    const before = assembleWindow(pinned, outlines, recent);
    const after = assembleWindow(pinned, outlines, longer);
    const serialized = (messages: unknown[]) => messages.map((m) => JSON.stringify(m)).join('\n');
    expect(serialized(after).startsWith(serialized(before))).toBe(true);
    expect(windowPrefixHash(pinned, outlines)).toBe(windowPrefixHash(pinned, outlines));
  });

  it('gives the same frozen wire objects for the same stored messages, turn after turn', () => {
    const first = assembleWindow(pinned, outlines, recent);
    const again = assembleWindow(pinned, outlines, [...recent, ...conversation(45).round(10, 10).build()]);
    // Fragments, outlines and recent messages: the same objects (the upstream adapter keeps their encoding).
    for (let i = 1; i < first.length; i++) expect(again[i]).toBe(first[i]);
    for (const m of first.slice(1)) {
      expect(Object.isFrozen(m)).toBe(true);
      for (const c of m.tool_calls ?? []) expect(Object.isFrozen(c) && Object.isFrozen(c.function)).toBe(true);
    }
    expect(() => {
      (first[4] as { content: string | null }).content = 'changed';
    }).toThrow(TypeError);
    // A new stored message object with the same fields gets its own (equal) wire object.
    const copy = recent.map((m) => ({ ...m }));
    expect(assembleWindow(pinned, outlines, copy)[4]).not.toBe(first[4]);
    expect(assembleWindow(pinned, outlines, copy)).toEqual(first);
  });

  it('gives a long system prompt one frozen wire object per text, though each turn reads it as a new string', () => {
    const text = `You review code. ${'Rule: name every file you touch. '.repeat(200)}`;
    expect(text.length).toBeGreaterThanOrEqual(SYSTEM_MEMO_MIN_CHARS);
    // The session row gives a new string object with the same text on every turn.
    const turn = () => assembleWindow({ ...pinned, system: Buffer.from(text).toString() }, outlines, recent)[0];
    const first = turn();
    expect(first).toEqual({ role: 'system', content: text });
    expect(Object.isFrozen(first)).toBe(true);
    expect(turn()).toBe(first);
    // Another text (one character changed) is another message.
    const edited = assembleWindow({ ...pinned, system: `${text}.` }, outlines, recent)[0];
    expect(edited).not.toBe(first);
    expect(edited.content).toBe(`${text}.`);
    // A short prompt is built each turn (cheaper than the look-up), with the same content.
    expect(systemMessage('Be terse.')).toEqual({ role: 'system', content: 'Be terse.' });
    expect(systemMessage('Be terse.')).not.toBe(systemMessage('Be terse.'));
  });

  it('the prefix hash changes only when the prefix does (a new outline), not with recent messages', () => {
    const withNewOutline = [...outlines, outlineMessage(60, '# Outline\n## Goal\nmore', 300)];
    expect(windowPrefixHash(pinned, withNewOutline)).not.toBe(windowPrefixHash(pinned, outlines));
  });

  it.each([
    { case: 'a cut of the whole recent part', move: (s: WindowSpec) => cutWindowBefore(s, 1000) },
    { case: 'a compaction', move: (s: WindowSpec) => applyCompaction(s, { keepFromSeq: 43, outlineSeq: 60, foldOutlines: true }) },
    { case: 'a restore', move: (s: WindowSpec) => restoreWindow(s, 1) },
  ])('keeps the pinned prefix whole after $case (pinned content is never truncated or compressed away)', ({ move }) => {
    const moved = move(spec([open(41)], [40]));
    const kept = recent.filter((m) => isInWindow(moved, m.seq));
    const assembled = assembleWindow(pinned, outlines.filter((o) => isInWindow(moved, o.seq, 'outline')), kept);
    expect(assembled.slice(0, 3)).toEqual(assembleWindow(pinned, [], []));
  });

  it('breaks the window down into pinned, outline and recent tokens', () => {
    expect(windowTokens(pinned, outlines, recent)).toEqual({ pinned: 3000, outlines: 700, recent: 470, total: 4170 });
  });
});

describe('copiedWindow', () => {
  const msg = (seq: number, kind: 'message' | 'outline', content: string) => ({ seq, role: kind === 'outline' ? ('system' as const) : ('user' as const), content, tokens: 3, kind });

  it('renumbers outlines then verbatim messages from 1, keeps their order, and leaves the window open for appends', () => {
    const out = copiedWindow([msg(40, 'outline', 'o1'), msg(90, 'outline', 'o2')], [msg(91, 'message', 'a'), msg(95, 'message', 'b')]);
    expect(out.messages.map((m) => [m.seq, m.kind, m.content])).toEqual([[1, 'outline', 'o1'], [2, 'outline', 'o2'], [3, 'message', 'a'], [4, 'message', 'b']]);
    expect(out.spec).toEqual({ outlineSeqs: [1, 2], ranges: [{ from: 3, to: null }] });
    expect(out.lastSeq).toBe(4);
    expect(isInWindow(out.spec, 5)).toBe(true);
  });

  it('copies an empty window as an empty session', () => {
    expect(copiedWindow([], [])).toEqual({ messages: [], spec: { outlineSeqs: [], ranges: [{ from: 1, to: null }] }, lastSeq: 0 });
  });
});

describe('excludeFromWindow (a deleted conversation item)', () => {
  it('splits the range around a removed seq; later appends still land in the window', () => {
    const w = excludeFromWindow(spec([open(1)]), [5]);
    expect(w.ranges).toEqual([closed(1, 4), open(6)]);
    expect(isInWindow(w, 5)).toBe(false);
    expect(isInWindow(appendToWindow(w, 9), 9)).toBe(true);
  });

  it('removes several seqs, the edges of closed ranges, and outlines', () => {
    const w = excludeFromWindow(spec([closed(3, 6), open(10)], [2]), [3, 6, 10, 2]);
    expect(w).toEqual({ outlineSeqs: [], ranges: [closed(4, 5), open(11)] });
  });

  it('leaves seqs outside the window alone', () => {
    expect(excludeFromWindow(spec([closed(3, 6)]), [1, 8])).toEqual(spec([closed(3, 6)]));
  });
});
