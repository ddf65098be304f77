// The outline format: the summarizer prompt, strict parsing, canonical rendering, the extractive
// fallback and the merge of children's outlines into the master.
import { outlineTargetTokens } from './budget';
import { extractHardFacts, FactHaystack } from './facts';
import { OUTLINE_JSON_SCHEMA } from './outline-schema';
import { ARTIFACT_PATTERN, clipGoal, DECISION_PATTERN, OPEN_PATTERN, oneLine, sentencesOf, splitDecision } from './outline-text';
import type { ChatMessage, CountTokens, Role, StoredMessage, ToolCall } from './types';

export { OUTLINE_JSON_SCHEMA } from './outline-schema';
export { sentencesOf } from './outline-text';

export const OUTLINE_MARKER = 'OUTLINE_FORMAT v1';
export const OUTLINE_TITLE = '# Outline';
export const OUTLINE_SECTIONS = ['Goal', 'Decisions', 'Facts and identifiers', 'Open items', 'Artifacts'] as const;
/** Optional trailing section, written by mergeOutlines: where each merged outline came from. */
export const OUTLINE_SOURCES_SECTION = 'Sources';
export const NOT_STATED = 'not stated';
export const EMPTY_ITEM = 'none';

export type OutlineSection = (typeof OUTLINE_SECTIONS)[number];

export interface OutlineDecision {
  text: string;
  why: string;
}

/** Where an outline came from: a child session's range, optionally through a snapshot. */
export interface OutlineProvenance {
  sessionId: string;
  snapshotId?: string | null;
  fromSeq: number;
  toSeq: number;
}

export interface Outline {
  goal: string;
  decisions: OutlineDecision[];
  facts: string[];
  openItems: string[];
  artifacts: string[];
  provenance?: OutlineProvenance[];
}

export const OUTLINE_FORMAT = [
  OUTLINE_TITLE,
  '## Goal',
  '<one line>',
  '## Decisions',
  "- <decision> (why: <reason or 'not stated'>)",
  '## Facts and identifiers',
  '- <fact>',
  '## Open items',
  '- <item>',
  '## Artifacts',
  '- <artifact>',
].join('\n');

// Fixed apart from the last line, so repeated compressions share the upstream's cached prefix.
const OUTLINE_SYSTEM_PROMPT_HEAD = [
  'You compress a conversation transcript into a structured outline.',
  OUTLINE_MARKER,
  'Answer with exactly this format and nothing else:',
  OUTLINE_FORMAT,
  'Rules:',
  '- Write all five ## sections, in this order. A list section with nothing to list holds "- none".',
  '- Keep every fact, identifier, number and file name verbatim.',
  "- Keep every decision with why it was taken; write (why: not stated) when the transcript does not say.",
  '- One item per line. No prose, no code fences, nothing outside the format.',
  '- When a previous outline is given, merge it in and keep all of its items.',
].join('\n');

/** The JSON variant: same marker, same rules, same last line; the answer is one JSON object. */
export const OUTLINE_JSON_INSTRUCTION = 'Answer with a single JSON object that follows this JSON Schema, and nothing else:';
const OUTLINE_JSON_EXAMPLE =
  '{"goal": "<one line>", "decisions": [{"decision": "<decision>", "why": "<reason or \'not stated\'>"}], "facts": ["<fact>"], "open_items": ["<item>"], "artifacts": ["<artifact>"]}';
const OUTLINE_JSON_SYSTEM_PROMPT_HEAD = [
  'You compress a conversation transcript into a structured outline.',
  OUTLINE_MARKER,
  OUTLINE_JSON_INSTRUCTION,
  JSON.stringify(OUTLINE_JSON_SCHEMA),
  'Example:',
  OUTLINE_JSON_EXAMPLE,
  'Rules:',
  '- Write all five keys. A list with nothing to list is [].',
  '- Keep every fact, identifier, number, date, name and file path verbatim.',
  '- Keep every decision with why it was taken; write "not stated" when the transcript does not say.',
  '- One item per array entry. No prose, no code fences, nothing outside the JSON object.',
  '- When a previous outline is given, merge it in and keep all of its items.',
].join('\n');

export type OutlineReplyFormat = 'markdown' | 'json';

export const OUTLINE_TARGET_PREFIX = 'Target length: about ';
export const TRANSCRIPT_HEADING = 'Transcript:';
export const PREVIOUS_OUTLINE_HEADING = 'Previous outline:';

export interface OutlineRequestInput {
  /** The range to compress, ascending by seq. */
  messages: readonly StoredMessage[];
  ratio: number;
  /** Tokens the summarizer reads (range plus any previous outline); sets the target length. */
  inputTokens: number;
  previousOutline?: Outline | string | null;
  /** The answer format asked for; 'markdown' (default) is the canonical text, byte for byte as before. */
  format?: OutlineReplyFormat;
}

/**
 * The summarizer call: the fixed system prompt with the target length, then the transcript.
 * With format 'json' the prompt asks for one JSON object following OUTLINE_JSON_SCHEMA, and a
 * previous outline given as an Outline is shown in that form too.
 */
export function buildOutlineRequest({ messages, ratio, inputTokens, previousOutline, format = 'markdown' }: OutlineRequestInput): ChatMessage[] {
  const system = `${instructionHead(format)}\n${targetLine(inputTokens, ratio)}`;
  const parts: string[] = [];
  if (previousOutline) {
    const text =
      typeof previousOutline === 'string'
        ? previousOutline.trim()
        : format === 'json'
          ? renderOutlineJson(previousOutline)
          : renderOutline(previousOutline);
    parts.push(`${PREVIOUS_OUTLINE_HEADING}\n${text}`, '');
  }
  parts.push(TRANSCRIPT_HEADING, renderTranscript(messages));
  return [
    { role: 'system', content: system },
    { role: 'user', content: parts.join('\n') },
  ];
}

/** The fixed instructions for an answer format (stable, so repeated compressions share a cached prefix). */
function instructionHead(format: OutlineReplyFormat): string {
  return format === 'json' ? OUTLINE_JSON_SYSTEM_PROMPT_HEAD : OUTLINE_SYSTEM_PROMPT_HEAD;
}

/** The last line of every summarizer instruction: the outline length asked for. */
function targetLine(inputTokens: number, ratio: number): string {
  return `${OUTLINE_TARGET_PREFIX}${outlineTargetTokens(inputTokens, ratio)} tokens`;
}

export const EARLIER_OUTLINES_MERGE = 'Earlier outlines: merge';
export const EARLIER_OUTLINES_CONTEXT = 'Earlier outlines: context only';

export interface InContextOutlineRequestInput {
  /**
   * The conversation exactly as the chat turns sent it (pinned prefix, earlier outlines, then the range
   * to compress, which must end the list): the request shares the upstream's cached prefix with them.
   */
  conversation: readonly ChatMessage[];
  ratio: number;
  /** Tokens the summarizer summarizes (range plus any merged outlines); sets the target length. */
  inputTokens: number;
  /** Merge the earlier outlines into the new one (a fold), or treat them as context only. */
  mergeOutlines: boolean;
  format?: OutlineReplyFormat;
}

/**
 * The summarizer call in context: the conversation as cached upstream, then one trailing system message
 * with the same instructions as buildOutlineRequest. Only the instruction and the reply are new to the
 * upstream, so the range is read at the cache-hit price instead of being sent again as a transcript.
 */
export function buildInContextOutlineRequest({ conversation, ratio, inputTokens, mergeOutlines, format = 'markdown' }: InContextOutlineRequestInput): ChatMessage[] {
  const instruction = [
    instructionHead(format),
    'The transcript is the conversation above, after its leading system messages. Summarize it now; do not answer it or call a tool.',
    mergeOutlines
      ? 'The system messages above that start with "[outline of earlier conversation]" are previous outlines: merge them in and keep all of their items.'
      : 'The system messages above that start with "[outline of earlier conversation]" are already summarized: summarize only the messages after them.',
    mergeOutlines ? EARLIER_OUTLINES_MERGE : EARLIER_OUTLINES_CONTEXT,
    targetLine(inputTokens, ratio),
  ].join('\n');
  return [...conversation, { role: 'system', content: instruction }];
}

/** One line per message (`[seq n] role: content`), one per tool call (`[seq n] assistant -> tool name(args)`). */
export function renderTranscript(messages: readonly Pick<StoredMessage, 'seq' | 'role' | 'content' | 'toolCalls'>[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    const hasContent = m.content !== null && m.content !== '';
    const calls = m.toolCalls ?? [];
    if (hasContent || calls.length === 0) lines.push(`[seq ${m.seq}] ${m.role}: ${m.content ?? ''}`);
    for (const call of calls) lines.push(`[seq ${m.seq}] ${m.role} -> tool ${call.function.name}(${call.function.arguments})`);
  }
  return lines.join('\n');
}

/** A transcript line read back: tool-call lines keep their `name(args)` as a tool call. */
export interface TranscriptMessage {
  seq: number;
  role: Role;
  content: string | null;
  toolCalls?: ToolCall[];
}

export interface OutlineRequestReading {
  /** The answer format the request asks for. */
  format: OutlineReplyFormat;
  targetTokens: number;
  previousOutline: string | null;
  messages: TranscriptMessage[];
}

const TRANSCRIPT_LINE = /^\[seq (\d+)\] (system|user|assistant|tool)(?: -> tool ([^(]*)\((.*)\)$|: ?(.*)$)/;

/** Reads a request built by buildOutlineRequest (the simulated upstream answers it); null otherwise. */
export function readOutlineRequest(messages: readonly ChatMessage[]): OutlineRequestReading | null {
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  if (!system.includes(OUTLINE_MARKER)) return null;
  const target = new RegExp(`^${OUTLINE_TARGET_PREFIX}(\\d+) tokens$`, 'm').exec(system);
  const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const transcriptAt = user.indexOf(`${TRANSCRIPT_HEADING}\n`);
  const transcript = transcriptAt >= 0 ? user.slice(transcriptAt + TRANSCRIPT_HEADING.length + 1) : user;
  let previousOutline: string | null = null;
  if (user.startsWith(`${PREVIOUS_OUTLINE_HEADING}\n`)) {
    const end = transcriptAt >= 0 ? transcriptAt : user.length;
    previousOutline = user.slice(PREVIOUS_OUTLINE_HEADING.length + 1, end).trim();
  }
  const out: TranscriptMessage[] = [];
  let callCount = 0;
  for (const line of transcript.split('\n')) {
    const match = TRANSCRIPT_LINE.exec(line);
    if (!match) {
      // Content spanning lines continues the previous message.
      const last = out[out.length - 1];
      if (last) last.content = `${last.content ?? ''}\n${line}`;
      continue;
    }
    const seq = Number(match[1]);
    const role = match[2] as Role;
    const prev = out[out.length - 1];
    const same = prev && prev.seq === seq ? prev : null;
    if (match[3] !== undefined) {
      const call: ToolCall = {
        id: `call_${seq}_${callCount++}`,
        type: 'function',
        function: { name: match[3], arguments: match[4] },
      };
      if (same) (same.toolCalls ??= []).push(call);
      else out.push({ seq, role, content: null, toolCalls: [call] });
    } else {
      out.push({ seq, role, content: match[5] });
    }
  }
  const format: OutlineReplyFormat = system.includes(OUTLINE_JSON_INSTRUCTION) ? 'json' : 'markdown';
  return { format, targetTokens: target ? Number(target[1]) : 0, previousOutline, messages: out };
}

/** The canonical text of an outline; parseOutline(renderOutline(x)) gives x back (with single-line items). */
export function renderOutline(outline: Outline): string {
  const list = (items: string[]): string[] => {
    const clean = items.map(oneLine).filter((item) => item !== '');
    return clean.length === 0 ? [`- ${EMPTY_ITEM}`] : clean.map((item) => `- ${item}`);
  };
  const decisions = outline.decisions
    .map((d) => ({ text: oneLine(d.text), why: oneLine(d.why) || NOT_STATED }))
    .filter((d) => d.text !== '');
  const lines = [
    OUTLINE_TITLE,
    '## Goal',
    oneLine(outline.goal) || NOT_STATED,
    '## Decisions',
    ...(decisions.length === 0 ? [`- ${EMPTY_ITEM}`] : decisions.map((d) => `- ${d.text} (why: ${d.why})`)),
    '## Facts and identifiers',
    ...list(outline.facts),
    '## Open items',
    ...list(outline.openItems),
    '## Artifacts',
    ...list(outline.artifacts),
  ];
  if (outline.provenance && outline.provenance.length > 0) {
    lines.push(`## ${OUTLINE_SOURCES_SECTION}`, ...outline.provenance.map(renderProvenance));
  }
  return lines.join('\n');
}

/** The JSON form of an outline (OUTLINE_JSON_SCHEMA); provenance, when present, as `sources` lines. */
export function renderOutlineJson(outline: Outline): string {
  const list = (items: string[]): string[] => items.map(oneLine).filter((item) => item !== '');
  const json: Record<string, unknown> = {
    goal: oneLine(outline.goal) || NOT_STATED,
    decisions: outline.decisions
      .map((d) => ({ decision: oneLine(d.text), why: oneLine(d.why) || NOT_STATED }))
      .filter((d) => d.decision !== ''),
    facts: list(outline.facts),
    open_items: list(outline.openItems),
    artifacts: list(outline.artifacts),
  };
  if (outline.provenance && outline.provenance.length > 0) {
    json.sources = outline.provenance.map((p) => renderProvenance(p).slice(2));
  }
  return JSON.stringify(json);
}

export function renderProvenance(p: OutlineProvenance): string {
  return `- session=${p.sessionId} snapshot=${p.snapshotId ?? EMPTY_ITEM} seqs=${p.fromSeq}-${p.toSeq}`;
}

export const PROVENANCE_LINE = /^session=(\S+) snapshot=(\S+) seqs=(\d+)-(\d+)$/;
const DECISION_LINE = /^(.*\S)\s*\(why:\s*(.*?)\s*\)$/;

export interface OutlineReading {
  outline: Outline | null;
  problems: string[];
}

/** Parses and validates in one pass: the outline when the text follows the format, else every problem found. */
export function readOutline(text: string): OutlineReading {
  const problems: string[] = [];
  let lines = text.replace(/\r\n?/g, '\n').split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && lines[0].trim() === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  // Models often wrap the answer in a code fence; the fence carries no content.
  if (lines.length >= 2 && /^```\w*$/.test(lines[0].trim()) && lines[lines.length - 1].trim() === '```') {
    lines = lines.slice(1, -1);
  }
  if (lines.length === 0) return { outline: null, problems: ['the outline is empty'] };
  if (lines[0].trim() !== OUTLINE_TITLE) problems.push(`the first line must be "${OUTLINE_TITLE}"`);

  const sections: { name: string; body: string[] }[] = [];
  for (const line of lines.slice(lines[0].trim() === OUTLINE_TITLE ? 1 : 0)) {
    const header = /^##\s+(.*\S)\s*$/.exec(line);
    if (header) {
      sections.push({ name: header[1], body: [] });
    } else if (sections.length === 0) {
      if (line.trim() !== '') problems.push(`text outside any section: "${clip(line)}"`);
    } else {
      sections[sections.length - 1].body.push(line);
    }
  }

  const expected: string[] = [...OUTLINE_SECTIONS];
  const names = sections.map((s) => s.name);
  for (const name of names) {
    if (!expected.includes(name) && name !== OUTLINE_SOURCES_SECTION) problems.push(`unknown section "## ${name}"`);
  }
  for (const name of [...expected, OUTLINE_SOURCES_SECTION]) {
    const count = names.filter((n) => n === name).length;
    if (count > 1) problems.push(`section "## ${name}" appears ${count} times`);
    if (count === 0 && name !== OUTLINE_SOURCES_SECTION) problems.push(`missing section "## ${name}"`);
  }
  const known = names.filter((n) => expected.includes(n) || n === OUTLINE_SOURCES_SECTION);
  const order = [...expected, OUTLINE_SOURCES_SECTION];
  for (let i = 1; i < known.length; i++) {
    if (order.indexOf(known[i]) < order.indexOf(known[i - 1])) {
      problems.push(`section "## ${known[i]}" is out of order (expected: ${expected.join(', ')})`);
      break;
    }
  }
  if (problems.length > 0) return { outline: null, problems };

  const body = (name: string): string[] => (sections.find((s) => s.name === name)?.body ?? []).filter((l) => l.trim() !== '');
  const goalLines = body('Goal');
  if (goalLines.length === 0) problems.push('section "## Goal" is empty');
  if (goalLines.length > 1) problems.push('section "## Goal" must be one line');

  const readList = (name: string): string[] => {
    const rows = body(name);
    if (rows.length === 0) {
      problems.push(`section "## ${name}" is empty (write "- ${EMPTY_ITEM}")`);
      return [];
    }
    const items: string[] = [];
    for (const row of rows) {
      const item = /^\s*-\s+(.*\S)\s*$/.exec(row);
      if (!item) problems.push(`section "## ${name}": not a "- " list item: "${clip(row)}"`);
      else items.push(item[1]);
    }
    if (items.length === 1 && items[0].toLowerCase() === EMPTY_ITEM) return [];
    if (items.length > 1 && items.some((i) => i.toLowerCase() === EMPTY_ITEM)) {
      problems.push(`section "## ${name}": "- ${EMPTY_ITEM}" mixed with items`);
    }
    return items;
  };

  const decisions = readList('Decisions').map((line): OutlineDecision => {
    const match = DECISION_LINE.exec(line);
    return match ? { text: match[1], why: match[2] || NOT_STATED } : { text: line, why: NOT_STATED };
  });
  const outline: Outline = {
    goal: goalLines.length > 0 ? goalLines[0].trim() : '',
    decisions,
    facts: readList('Facts and identifiers'),
    openItems: readList('Open items'),
    artifacts: readList('Artifacts'),
  };
  if (names.includes(OUTLINE_SOURCES_SECTION)) {
    outline.provenance = readList(OUTLINE_SOURCES_SECTION).flatMap((line) => {
      const match = PROVENANCE_LINE.exec(line);
      if (!match) {
        problems.push(`section "## ${OUTLINE_SOURCES_SECTION}": unreadable source "${clip(line)}"`);
        return [];
      }
      const snapshotId = match[2] === EMPTY_ITEM ? null : match[2];
      return [{ sessionId: match[1], snapshotId, fromSeq: Number(match[3]), toSeq: Number(match[4]) }];
    });
  }
  return problems.length > 0 ? { outline: null, problems } : { outline, problems };
}

/** Strict parse: all five sections, in order, optional trailing Sources; null when anything is off. */
export function parseOutline(text: string): Outline | null {
  return readOutline(text).outline;
}

/** The reasons a text is not a valid outline; empty when it is one. */
export function validateOutline(text: string): string[] {
  return readOutline(text).problems;
}

function clip(text: string): string {
  const line = text.trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

/** Gives an outline its origin, for the coordinator before merging into the master. */
export function withProvenance(outline: Outline, provenance: OutlineProvenance): Outline {
  return { ...outline, provenance: [...(outline.provenance ?? []), provenance] };
}

// ---- extractive fallback -------------------------------------------------------------------

export type OutlineSourceMessage = Pick<StoredMessage, 'role' | 'content'> & { toolCalls?: ToolCall[] | null };

export interface ExtractiveOptions {
  targetTokens: number;
  countTokens: CountTokens;
}

const FACT_PATTERNS: RegExp[] = [
  /\bFACT\b/,
  /\b[A-Z][A-Z0-9]+-\d+\b/, // identifiers like ABC-123
  /[A-Za-z_][\w.-]*=\S/, // key=value
  /"[A-Za-z_][\w.-]*"\s*:\s*\S/, // "key": value (JSON)
  /\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:ms|s|secs?|seconds?|min|minutes?|h|hrs?|hours?|days?|weeks?|months?|years?|[KMGT]i?B|kB|bytes?|tokens?|[kKM]|%|USD|EUR|px|rpm|rps|qps|req\/s|°C|GHz|MHz|cores?)(?![A-Za-z])/,
  /[$€£]\s?\d/,
];
/** `key: value` at a sentence start; weaker than the others, so "TODO: x" stays an open item. */
const KEY_VALUE_PATTERN = /^["'`]?[A-Za-z_][\w.-]*["'`]?:\s+\S/;

function isStrongFact(sentence: string): boolean {
  return FACT_PATTERNS.some((p) => p.test(sentence));
}

/** Whether the extractive fallback keeps a sentence as a fact (and so never drops it). */
export function isFactSentence(sentence: string): boolean {
  if (isStrongFact(sentence)) return true;
  return !DECISION_PATTERN.test(sentence) && !OPEN_PATTERN.test(sentence) && KEY_VALUE_PATTERN.test(sentence);
}

/**
 * A deterministic outline built from the text itself, used when the upstream's outline is
 * malformed twice. Facts are never dropped; decisions, open items and artifacts are trimmed
 * (oldest first) until the rendered outline is near targetTokens.
 */
export function extractiveOutline(messages: readonly OutlineSourceMessage[], options: ExtractiveOptions): Outline {
  const firstUser = messages.find((m) => m.role === 'user' && m.content && m.content.trim() !== '');
  const goal = firstUser ? clipGoal(sentencesOf(firstUser.content ?? '')[0] ?? '') : NOT_STATED;

  const seen = new Set<string>();
  const facts: string[] = [];
  const decisions: OutlineDecision[] = [];
  const openItems: string[] = [];
  const artifacts = new Set<string>();
  for (const m of messages) {
    const texts = [m.content ?? '', ...(m.toolCalls ?? []).map((c) => `${c.function.name}(${c.function.arguments})`)];
    for (const sentence of texts.flatMap(sentencesOf)) {
      for (const match of sentence.matchAll(ARTIFACT_PATTERN)) artifacts.add(match[1]);
      if (seen.has(sentence)) continue;
      seen.add(sentence);
      if (isFactSentence(sentence)) facts.push(sentence);
      else if (DECISION_PATTERN.test(sentence)) decisions.push(splitDecision(sentence));
      else if (OPEN_PATTERN.test(sentence)) openItems.push(sentence);
    }
  }
  const outline: Outline = { goal, decisions, facts, openItems, artifacts: [...artifacts] };
  return trimOutline(outline, options.targetTokens, options.countTokens, { keepFacts: true });
}

// ---- trimming ------------------------------------------------------------------------------

export interface TrimOptions {
  /** Never drop facts (the extractive fallback's rule); by default facts go last. */
  keepFacts?: boolean;
}

/** A fact line restored by guardOutline: `[seq N] <sentence>`. */
export const RESTORED_FACT = /^\[seq (\d+)\] /;

const TRIM_PASSES = 16;

/**
 * Cuts an outline toward targetTokens (its rendered size), deterministically: first the oldest
 * decisions, open items and artifacts, heaviest section first; then facts (unless keepFacts):
 * restored `[seq N]` lines whose facts the rest of the outline already states, oldest first, then
 * the longest facts. The goal and the sources are never cut. extractiveOutline uses it with keepFacts.
 */
export function trimOutline(outline: Outline, targetTokens: number, countTokens: CountTokens, options: TrimOptions = {}): Outline {
  // Per-line costs only estimate the rendered total, so re-count after each pass and go on while over.
  let current = outline;
  for (let pass = 0; pass < TRIM_PASSES; pass++) {
    const excess = countTokens(renderOutline(current)) - targetTokens;
    if (excess <= 0) return current;
    let next = dropOldest(current, excess, countTokens);
    if (next === current && !options.keepFacts) next = dropFacts(current, excess, countTokens);
    if (next === current) return current;
    current = next;
  }
  return current;
}

/** Drops the oldest items of the heaviest droppable section until about `excess` tokens are gone. */
function dropOldest(outline: Outline, excess: number, countTokens: CountTokens): Outline {
  const lines = [
    outline.decisions.map((d) => `- ${d.text} (why: ${d.why})`),
    outline.openItems.map((i) => `- ${i}`),
    outline.artifacts.map((a) => `- ${a}`),
  ];
  const costs = lines.map((section) => section.map((line) => countTokens(`${line}\n`)));
  const sums = costs.map((c) => c.reduce((a, b) => a + b, 0));
  const dropped = [0, 0, 0];
  let removed = 0;
  while (removed < excess) {
    // Ties go to the earlier section, for determinism.
    let pick = -1;
    for (let s = 0; s < lines.length; s++) {
      if (dropped[s] < lines[s].length && (pick < 0 || sums[s] > sums[pick])) pick = s;
    }
    if (pick < 0) break;
    const cost = costs[pick][dropped[pick]];
    dropped[pick] += 1;
    sums[pick] -= cost;
    removed += Math.max(cost, 1);
  }
  if (dropped.every((d) => d === 0)) return outline;
  return {
    ...outline,
    decisions: outline.decisions.slice(dropped[0]),
    openItems: outline.openItems.slice(dropped[1]),
    artifacts: outline.artifacts.slice(dropped[2]),
  };
}

/** Drops facts until about `excess` tokens are gone: redundant restored lines first, then the longest. */
function dropFacts(outline: Outline, excess: number, countTokens: CountTokens): Outline {
  const { facts } = outline;
  if (facts.length === 0) return outline;
  const modelText = new FactHaystack([outline.goal, ...facts.filter((f) => !RESTORED_FACT.test(f))].join('\n'));
  const redundant: number[] = [];
  const rest: number[] = [];
  facts.forEach((fact, i) => {
    const match = RESTORED_FACT.exec(fact);
    if (match) {
      const carried = extractHardFacts([{ seq: Number(match[1]), content: fact.slice(match[0].length) }]);
      if (carried.every((f) => modelText.has(f))) {
        redundant.push(i);
        return;
      }
    }
    rest.push(i);
  });
  rest.sort((a, b) => facts[b].length - facts[a].length || a - b);
  const drop = new Set<number>();
  let removed = 0;
  for (const i of [...redundant, ...rest]) {
    if (removed >= excess) break;
    drop.add(i);
    removed += Math.max(countTokens(`- ${facts[i]}\n`), 1);
  }
  return { ...outline, facts: facts.filter((_, i) => !drop.has(i)) };
}
