// Task split strategies for the coordinator: one unit per child session, each with a stable index.
import { DomainError } from './errors';
import type { CountTokens } from './types';

export interface TaskInput {
  title: string;
  content: string;
}

export interface Subtask {
  title: string;
  prompt: string;
}

/** One child's share of a task. `index` is stable: it names the child job (task, index). */
export interface TaskUnit {
  index: number;
  title: string;
  content: string;
}

export interface TokenChunk extends TaskUnit {
  tokens: number;
  /** Which input the chunk comes from (0 for a plain text). */
  inputIndex: number;
  /** 1-based, inclusive line numbers within that input. */
  fromLine: number;
  toLine: number;
}

export interface TokenChunkOptions {
  chunkTokens: number;
  countTokens: CountTokens;
}

/** Smallest chunk size accepted: below it per-chunk framing costs more than the content. */
export const MIN_CHUNK_TOKENS = 256;
export const DEFAULT_CHUNK_TOKENS = 32768;

export type SplitStrategy = 'per_input' | 'token_chunks';

export function splitSubtasks(subtasks: readonly Subtask[]): TaskUnit[] {
  requireSome(subtasks, 'subtasks');
  return subtasks.map((s, index) => ({ index, title: s.title, content: s.prompt }));
}

export function splitPerInput(inputs: readonly TaskInput[]): TaskUnit[] {
  requireSome(inputs, 'inputs');
  return inputs.map((input, index) => ({ index, title: input.title, content: input.content }));
}

/**
 * Chunks of at most chunkTokens, cut at line ends (a line longer than chunkTokens is split inside
 * the line). Chunks keep each line's terminator, so concatenating the chunks of an input gives the
 * input back exactly. Chunks never span two inputs.
 */
export function splitTokenChunks(inputs: readonly TaskInput[] | string, options: TokenChunkOptions): TokenChunk[] {
  const { chunkTokens, countTokens } = options;
  if (!Number.isInteger(chunkTokens) || chunkTokens < MIN_CHUNK_TOKENS) {
    const message = `split.chunk_tokens must be an integer >= ${MIN_CHUNK_TOKENS}`;
    throw new DomainError('invalid_request', message, 'split.chunk_tokens');
  }
  const list = typeof inputs === 'string' ? [{ title: 'text', content: inputs }] : inputs;
  requireSome(list, 'inputs');
  const chunks: TokenChunk[] = [];
  list.forEach((input, inputIndex) => {
    const parts = chunkText(input.content, chunkTokens, countTokens);
    parts.forEach((part, i) => {
      chunks.push({
        index: chunks.length,
        title: parts.length > 1 ? `${input.title} (part ${i + 1}/${parts.length})` : input.title,
        content: part.content,
        tokens: part.tokens,
        inputIndex,
        fromLine: part.fromLine,
        toLine: part.toLine,
      });
    });
  });
  return chunks;
}

export interface SplitRequest {
  subtasks?: readonly Subtask[] | null;
  inputs?: readonly TaskInput[] | null;
  split?: { strategy?: SplitStrategy; chunkTokens?: number } | null;
}

/** The coordinator's split plan: given subtasks, one unit per input, or token-sized chunks. */
export function splitTask(request: SplitRequest, countTokens: CountTokens): TaskUnit[] {
  const hasSubtasks = !!request.subtasks && request.subtasks.length > 0;
  const hasInputs = !!request.inputs && request.inputs.length > 0;
  if (hasSubtasks === hasInputs) {
    throw new DomainError('invalid_request', 'give exactly one of subtasks or inputs', hasSubtasks ? 'inputs' : 'subtasks');
  }
  if (hasSubtasks) return splitSubtasks(request.subtasks ?? []);
  const strategy = request.split?.strategy ?? 'per_input';
  if (strategy === 'per_input') return splitPerInput(request.inputs ?? []);
  return splitTokenChunks(request.inputs ?? [], { chunkTokens: request.split?.chunkTokens ?? DEFAULT_CHUNK_TOKENS, countTokens });
}

function requireSome(items: readonly unknown[], param: string): void {
  if (items.length === 0) throw new DomainError('invalid_request', `${param} must not be empty`, param);
}

interface TextPart {
  content: string;
  /** The sum of its lines' counts: the text is tokenized once. */
  tokens: number;
  fromLine: number;
  toLine: number;
}

function chunkText(text: string, chunkTokens: number, countTokens: CountTokens): TextPart[] {
  if (text === '') return [{ content: '', tokens: 0, fromLine: 1, toLine: 1 }];
  const lines = text.split(/(?<=\n)/);
  const parts: TextPart[] = [];
  let current: string[] = [];
  let currentTokens = 0;
  let currentFrom = 1;
  const flush = (toLine: number): void => {
    if (current.length === 0) return;
    parts.push({ content: current.join(''), tokens: currentTokens, fromLine: currentFrom, toLine });
    current = [];
    currentTokens = 0;
  };
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const tokens = countTokens(line);
    if (tokens > chunkTokens) {
      flush(lineNo - 1);
      for (const piece of splitLongLine(line, chunkTokens, countTokens)) {
        parts.push({ content: piece.content, tokens: piece.tokens, fromLine: lineNo, toLine: lineNo });
      }
      return;
    }
    if (currentTokens + tokens > chunkTokens) flush(lineNo - 1);
    if (current.length === 0) currentFrom = lineNo;
    current.push(line);
    currentTokens += tokens;
  });
  flush(lines.length);
  return parts;
}

/** Small pieces of a line (a word with its leading space, or at most 64 characters of one run), in order. */
function linePieces(line: string): string[] {
  return line.match(/\s{1,64}(?=\s)|\s*\S{1,64}|\s+/gu) ?? [line];
}

/**
 * A line longer than chunkTokens, cut into chunks of at most chunkTokens. Each small piece is counted
 * once and the pieces are gathered greedily, so the work is linear in the line's length (a binary
 * search over prefixes re-counted the line for every cut, quadratic on a multi-megabyte line). A
 * chunk whose count as a whole comes out above the budget gives back pieces from its end until it fits.
 */
function splitLongLine(line: string, chunkTokens: number, countTokens: CountTokens): Array<{ content: string; tokens: number }> {
  const pieces = linePieces(line);
  const out: Array<{ content: string; tokens: number }> = [];
  let i = 0;
  while (i < pieces.length) {
    let end = i;
    let sum = 0;
    while (end < pieces.length) {
      const t = countTokens(pieces[end]);
      if (sum + t > chunkTokens && end > i) break;
      sum += t;
      end++;
    }
    let content = pieces.slice(i, end).join('');
    let tokens = countTokens(content);
    while (tokens > chunkTokens && end - i > 1) {
      end--;
      content = pieces.slice(i, end).join('');
      tokens = countTokens(content);
    }
    out.push({ content, tokens });
    i = end;
  }
  return out;
}
