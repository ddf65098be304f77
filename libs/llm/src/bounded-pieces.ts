/**
 * Cuts text into pieces a BPE tokenizer encodes in linear time.
 *
 * A BPE encoder merges within one pre-token, and its cost grows with the square of the pre-token's
 * length. Ordinary prose has short pre-tokens, but a run of characters of one class (letters without a
 * space, CJK text, a base64 blob, a line of dashes, a block of spaces) is a single pre-token: measured
 * here, 16,000 CJK characters took 0.9 s and 100 KB froze the event loop for seconds. So no piece holds a
 * run of whitespace or of non-whitespace longer than `maxRun` characters, and no piece is longer than
 * about `segment` characters (cut just before a whitespace character, where a pre-token starts anyway).
 * Counting each piece and adding up is then linear in the text's length and differs from encoding the
 * whole text by at most a token or so per hard cut, which only happens inside runs longer than `maxRun`.
 */
export const MAX_RUN_CHARS = 64;
export const SEGMENT_CHARS = 2048;

function isSpace(code: number): boolean {
  // The characters JavaScript's \s matches that occur in practice.
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x3000 || code === 0xfeff || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x1680 || code === 0x202f || code === 0x205f;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Calls `piece` with consecutive slices of `text` whose concatenation is `text`. */
export function forEachBoundedPiece(text: string, piece: (s: string) => void, maxRun = MAX_RUN_CHARS, segment = SEGMENT_CHARS): void {
  const n = text.length;
  if (n <= maxRun) {
    if (n > 0) piece(text);
    return;
  }
  let start = 0;
  let run = 0;
  let runIsSpace = false;
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    const space = isSpace(code);
    if (i === start || space !== runIsSpace) {
      // A new run starts here; a long enough segment ends just before a whitespace character.
      if (space && i - start >= segment) {
        piece(text.slice(start, i));
        start = i;
      }
      run = 1;
      runIsSpace = space;
      continue;
    }
    run++;
    if (run > maxRun && !isLowSurrogate(code)) {
      piece(text.slice(start, i));
      start = i;
      run = 1;
    }
  }
  if (start < n) piece(text.slice(start));
}

/** Sums `count` over the bounded pieces of `text`: a token count in time linear in the text. */
export function countInBoundedPieces(text: string, count: (s: string) => number): number {
  let total = 0;
  forEachBoundedPiece(text, (s) => {
    total += count(s);
  });
  return total;
}
