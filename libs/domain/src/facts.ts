// Hard facts: the values a summary must keep verbatim (identifiers, numbers with units, dates, times,
// names, paths, URLs, emails, key=value pairs, quoted strings, code symbols, versions). Deterministic:
// every pattern has bounded repetition, so extraction is linear in the length of the text.
import { ARTIFACT_PATTERN, sentencesOf } from './outline-text';
import type { ToolCall } from './types';

export type HardFactKind =
  | 'identifier'
  | 'number'
  | 'date'
  | 'time'
  | 'name'
  | 'path'
  | 'url'
  | 'key_value'
  | 'quoted'
  | 'code'
  | 'email'
  | 'version';

export interface HardFact {
  /** The fact as written in the source (a quoted string without its quotes, a JSON pair as key=value). */
  value: string;
  kind: HardFactKind;
  /** The first message that states it. */
  seq: number;
  /** The sentence of that message that carries it (whitespace collapsed). */
  sentence: string;
}

export interface FactSourceMessage {
  seq: number;
  content: string | null;
  toolCalls?: ToolCall[] | null;
}

// ---- patterns ------------------------------------------------------------------------------

const MONTH =
  '(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)';
const WEEKDAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)';
const DAY = '(?:[0-2]?\\d|3[01])(?:st|nd|rd|th)?';
const NUM = '(?:\\d{1,3}(?:,\\d{3}){1,6}(?:\\.\\d{1,12})?|\\d{1,15}(?:\\.\\d{1,12})?)';
const UNITS = [
  'ms', 'µs', 'us', 'ns', 'seconds?', 'secs?', 's', 'minutes?', 'mins?', 'min', 'hours?', 'hrs?', 'h', 'days?', 'nights?',
  'weeks?', 'months?', 'years?', 'yrs?', '[KMGTP]i?B', 'kB', '[KMGT]b', 'bytes?', 'bits?', 'tokens?', 'k', 'K', 'M', 'bn',
  'million', 'billion', 'thousand', '%', 'percent', 'USD', 'EUR', 'GBP', 'CHF', 'JPY', 'BRL', 'euros?', 'dollars?', 'pounds?',
  'px', 'rpm', 'rps', 'qps', 'req/s', 'ops/s', '°C', '°F', 'GHz', 'MHz', 'kHz', 'Hz', 'cores?', 'vCPUs?', 'CPUs?', 'GPUs?',
  'nodes?', 'replicas?', 'instances?', 'threads?', 'workers?', 'users?', 'people', 'persons?', 'guests?', 'adults?',
  'children', 'kids', 'rooms?', 'seats?', 'tickets?', 'items?', 'pages?', 'lines?', 'files?', 'rows?', 'requests?',
  'errors?', 'retries', 'times', 'x', 'km', 'miles?', 'mi', 'm', 'cm', 'mm', 'kg', 'g', 'lbs?', 'ml', 'l', 'L', 'kWh',
  'kW', 'W', 'mAh', 'fps', 'dpi',
].join('|');

interface PatternDef {
  kind: HardFactKind;
  re: RegExp;
  /** Rewrites the match (e.g. trims trailing punctuation); '' drops it. */
  clean?: (match: RegExpMatchArray) => string;
  /** Only run when the text contains this character (cheap pre-check). */
  needs?: string;
}

const trimPunct = (m: RegExpMatchArray): string => m[0].replace(/[.,;:!?]+$/, '');

// Order matters only for ties (same start, same length): the earlier kind wins.
const PATTERNS: PatternDef[] = [
  { kind: 'url', re: /\b(?:https?|ftp|wss?):\/\/[^\s<>"'`)\]]{1,2000}/g, clean: trimPunct, needs: ':' },
  { kind: 'url', re: /\bwww\.[^\s<>"'`)\]]{1,2000}/g, clean: trimPunct },
  { kind: 'email', re: /\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}\b/g, needs: '@' },
  { kind: 'date', re: /\b\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w-])/g },
  { kind: 'date', re: new RegExp(`\\b(?:${WEEKDAY},?\\s(?:the\\s)?)?${DAY}\\s(?:of\\s)?${MONTH}\\.?(?:,?\\s\\d{4})?\\b`, 'g') },
  { kind: 'date', re: new RegExp(`\\b(?:${WEEKDAY},?\\s)?${MONTH}\\.?\\s${DAY}(?:,?\\s\\d{4})?\\b(?!:)`, 'g') },
  { kind: 'date', re: new RegExp(`\\b${MONTH}\\s\\d{4}\\b`, 'g') },
  { kind: 'date', re: /\b\d{1,2}\/\d{1,2}\/(?:\d{4}|\d{2})\b(?!\/)/g, needs: '/' },
  { kind: 'date', re: /\b\d{4}\/\d{1,2}\/\d{1,2}\b(?!\/)/g, needs: '/' },
  { kind: 'date', re: /\b\d{1,2}\.\d{1,2}\.\d{4}\b(?!\.\d)/g },
  { kind: 'time', re: /\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?(?:[AaPp][Mm]|[ap]\.m\.))?(?![\w])(?:\s?(?:UTC|GMT|CET|CEST|EST|EDT|PST|PDT|BST|WET|WEST|IST|JST)\b)?/g, needs: ':' },
  { kind: 'time', re: /\b\d{1,2}\s?(?:[AaPp][Mm]|[ap]\.m\.)(?![\w])/g },
  { kind: 'path', re: /\b[A-Za-z]:\\(?:[\w.-]{1,255}\\){0,40}[\w.-]{1,255}/g, needs: '\\' },
  { kind: 'path', re: /(?<![\w./:@-])(?:~|\.{1,2})?(?:\/[\w.@+-]{1,255}){1,40}\/?/g, clean: trimPunct, needs: '/' },
  { kind: 'path', re: /(?<![\w./:@-])[\w.@-]{1,255}(?:\/[\w.@-]{1,255}){2,40}\/?/g, clean: trimPunct, needs: '/' },
  { kind: 'path', re: /(?<![\w./:@-])[\w.@-]{1,255}\/[\w.@-]{1,255}\//g, clean: trimPunct, needs: '/' },
  { kind: 'path', re: ARTIFACT_PATTERN, clean: (m) => m[1] },
  { kind: 'identifier', re: /\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g, needs: '-' },
  { kind: 'identifier', re: /\b[A-Z][A-Z0-9]{1,15}(?:[-_][A-Z0-9]{1,15}){0,3}-\d{1,12}\b/g, needs: '-' },
  { kind: 'identifier', re: /(?<![\w&#])#\d{2,12}\b/g, needs: '#' },
  { kind: 'version', re: /\bv\d{1,6}(?:\.\d{1,6}){0,3}(?:-[0-9A-Za-z.]{1,30})?\b/g },
  { kind: 'version', re: /\b\d{1,6}\.\d{1,6}\.\d{1,6}(?:\.\d{1,6})?(?:-[0-9A-Za-z.]{1,30})?\b/g },
  {
    kind: 'key_value',
    re: /(?<![\w.-])[A-Za-z_][\w.-]{0,63}=(?:"[^"\n]{0,200}"|'[^'\n]{0,200}'|[^\s,;)\]}]{1,200})/g,
    clean: trimPunct,
    needs: '=',
  },
  {
    kind: 'key_value',
    re: /"([A-Za-z_][\w.-]{0,63})"\s{0,3}:\s{0,3}("(?:[^"\\\n]|\\.){1,200}"|-?\d{1,15}(?:\.\d{1,12})?|true|false)/g,
    clean: (m) => `${m[1]}=${m[2].replace(/^"|"$/g, '')}`,
    needs: '"',
  },
  {
    kind: 'number',
    re: /(?<![\w.])[$€£¥]\s?(?:\d{1,3}(?:,\d{3}){1,6}|\d{1,15})(?:\.\d{1,12})?(?:\s?(?:k|K|M|bn|million|billion|thousand)\b)?/g,
  },
  { kind: 'number', re: new RegExp(`(?<![\\w.,$€£¥])${NUM}\\s?(?:${UNITS})(?![\\w/])`, 'g') },
  { kind: 'number', re: /(?<![\w.,/:$€£¥-])(?:\d{1,3}(?:,\d{3}){1,6}(?:\.\d{1,12})?|\d{1,15}\.\d{1,12}|\d{3,15})(?![\w])(?![.,]\d)/g },
  { kind: 'identifier', re: /\b(?=[0-9a-f]{0,63}\d)(?=[0-9a-f]{0,63}[a-f])[0-9a-f]{7,64}\b/g },
  { kind: 'identifier', re: /\b[a-z][a-z0-9]{0,30}(?:-[a-z0-9]{1,30}){1,6}\b(?!-)/g, clean: (m) => (/\d/.test(m[0]) ? m[0] : ''), needs: '-' },
  {
    kind: 'identifier',
    re: /\b(?=[A-Za-z]{0,32}\d)(?=\d{0,32}[A-Za-z])[A-Za-z0-9]{3,32}\b/g,
    clean: (m) => (/^\d+(?:st|nd|rd|th|x|s)$/i.test(m[0]) ? '' : m[0]),
  },
  // Two-character codes: a capital and a digit (Z7, Q3, A4).
  { kind: 'identifier', re: /\b[A-Z]\d\b/g },
  { kind: 'code', re: /\b[A-Za-z_$][\w$]{0,60}(?:\.[A-Za-z_$][\w$]{0,60}){1,6}\(\)/g, needs: '(' },
  { kind: 'code', re: /\b[a-z][a-z0-9]{0,40}[A-Z][A-Za-z0-9]{0,60}\b(?:\(\))?/g },
  { kind: 'code', re: /\b[A-Za-z][A-Za-z0-9]{0,40}_[A-Za-z0-9_]{1,80}\b(?:\(\))?/g, needs: '_' },
  { kind: 'code', re: /\b[A-Z][a-z0-9]{1,30}(?:[A-Z][a-z0-9]{0,30}){1,8}\b(?:\(\))?/g },
  { kind: 'code', re: /\b[A-Za-z_$][\w$]{0,60}\(\)/g, needs: '(' },
];

const QUOTED: RegExp[] = [/(?<![\w"])"([^"\n]{3,80})"(?!\s{0,3}:)/g, /(?<![\w'’])'([^'\n]{3,80})'(?![\w'])/g, /`([^`\n]{3,80})`/g];

// ---- names ---------------------------------------------------------------------------------

/** Capitalized words that are not names on their own: function words, sentence openers, calendar words. */
const NAME_STOPWORDS = new Set(
  (
    'a an the this that these those there here it its i i\'m i\'ll i\'ve i\'d me my mine we we\'re we\'ll our ours you you\'re your ' +
    'yours he him his she her hers they them their theirs who whom whose what which when where why how if then than else ' +
    'and or but nor so yet also too not no yes ok okay sure thanks thank please hi hello hey dear welcome sorry great good ' +
    'fine nice cool well maybe perhaps just only still even already again now soon later today tomorrow yesterday tonight ' +
    'morning afternoon evening night noon midnight week weekend month year day is are was were be been being am do does did ' +
    'done have has had can could would should will shall may might must let let\'s lets all any some each every both either ' +
    'neither none one two three four five six seven eight nine ten first second third last next previous new old after ' +
    'before during since until while because as at by for from in into of off on onto out over per to under up upon with ' +
    'within without about above across against along among around behind below beside between beyond near through ' +
    'toward towards via note notes update updates step steps goal goals decision decisions fact facts item items todo ' +
    'summary outline task tasks question questions answer answers issue issues problem problems result results error ' +
    'errors warning warnings info debug done fixed added removed changed use used using call called check checked meet ' +
    'book booked send sent ask asked tell told go went fly flew visit visited move moved fix add update remove make made ' +
    'take took get got set run ran see saw try tried keep kept start started stop stopped open opened close closed ' +
    'confirm confirmed agreed decided chose plan planned following based regarding re fyi btw true false null undefined ' +
    'monday tuesday wednesday thursday friday saturday sunday january february march april may june july august ' +
    'september october november december mr mrs ms dr prof sir madam'
  ).split(/\s+/),
);
const NAME_CONNECTORS = new Set(['de', 'da', 'do', 'dos', 'das', 'van', 'von', 'der', 'den', 'del', 'della', 'di', 'du', 'la', 'le', 'of', 'y']);
const WORD = /\p{L}[\p{L}\p{M}'’-]{0,60}/gu;
const CAPITALIZED = /^\p{Lu}[\p{Ll}\p{M}]/u;
const ALL_CAPS = /^\p{Lu}{2,5}$/u;

interface NameCandidate {
  start: number;
  end: number;
  value: string;
  /** A single word opening the sentence: a name only if it also appears as one elsewhere. */
  needsConfirmation: boolean;
}

function nameCandidates(sentence: string): NameCandidate[] {
  const out: NameCandidate[] = [];
  let run: { start: number; end: number; words: string[]; atStart: boolean } | null = null;
  let pendingConnector: { start: number; end: number; word: string } | null = null;
  let first = true;
  let prevEnd = 0;
  const flush = (): void => {
    if (run) {
      const single = run.words.length === 1;
      if (!(single && ALL_CAPS.test(run.words[0]))) {
        out.push({ start: run.start, end: run.end, value: sentence.slice(run.start, run.end), needsConfirmation: single && run.atStart });
      }
    }
    run = null;
    pendingConnector = null;
  };
  for (const m of sentence.matchAll(WORD)) {
    const start = m.index ?? 0;
    let word = m[0].replace(/['’-]+$/, '');
    word = word.replace(/['’]s$/, '');
    const end = start + word.length;
    const gap = sentence.slice(prevEnd, start);
    const isFirst = first;
    first = false;
    const afterColon = /[:"“(]\s*$/.test(gap);
    prevEnd = start + m[0].length;
    const next = sentence.charAt(start + m[0].length);
    if (/[-'’]$/.test(m[0]) || /[\d_@/]/.test(next)) {
      // Part of an identifier, an email or a path, not a word.
      flush();
      continue;
    }
    const lower = word.toLowerCase();
    const capital = CAPITALIZED.test(word) || (run !== null && ALL_CAPS.test(word));
    const adjacent = gap === ' ';
    if (capital && !NAME_STOPWORDS.has(lower)) {
      const current = run;
      if (current && adjacent) {
        if (pendingConnector) current.words.push((pendingConnector as { word: string }).word);
        current.words.push(word);
        current.end = end;
        pendingConnector = null;
      } else {
        flush();
        run = { start, end, words: [word], atStart: isFirst || afterColon };
      }
      continue;
    }
    if (run && adjacent && pendingConnector === null && NAME_CONNECTORS.has(word) && word === lower) {
      pendingConnector = { start, end, word };
      continue;
    }
    flush();
  }
  flush();
  return out;
}

// ---- extraction ----------------------------------------------------------------------------

interface Candidate {
  start: number;
  end: number;
  kind: HardFactKind;
  value: string;
  rank: number;
  needsConfirmation?: boolean;
}

/** Facts of one sentence, left to right; overlapping matches resolved leftmost-longest. */
function sentenceFacts(sentence: string): Candidate[] {
  const all: Candidate[] = [];
  PATTERNS.forEach((p, rank) => {
    if (p.needs && !sentence.includes(p.needs)) return;
    for (const m of sentence.matchAll(p.re)) {
      const value = p.clean ? p.clean(m) : m[0];
      if (!value) continue;
      const start = (m.index ?? 0) + Math.max(0, m[0].indexOf(value));
      all.push({ start, end: start + value.length, kind: p.kind, value, rank });
    }
  });
  for (const n of nameCandidates(sentence)) {
    all.push({ start: n.start, end: n.end, kind: 'name', value: n.value, rank: PATTERNS.length, needsConfirmation: n.needsConfirmation });
  }
  all.sort((a, b) => a.start - b.start || b.end - b.start - (a.end - a.start) || a.rank - b.rank);
  const chosen: Candidate[] = [];
  let lastEnd = -1;
  for (const c of all) {
    if (c.start >= lastEnd) {
      chosen.push(c);
      lastEnd = c.end;
    }
  }
  // Quoted strings may contain other facts; they are facts of their own as well.
  for (const re of QUOTED) {
    for (const m of sentence.matchAll(re)) {
      const inner = m[1];
      if (inner.trim() !== inner) continue;
      const start = (m.index ?? 0) + 1;
      chosen.push({ start, end: start + inner.length, kind: 'quoted', value: inner, rank: PATTERNS.length + 1 });
    }
  }
  chosen.sort((a, b) => a.start - b.start || a.rank - b.rank);
  return chosen;
}

function messageTexts(m: FactSourceMessage): string[] {
  return [m.content ?? '', ...(m.toolCalls ?? []).map((c) => `${c.function.name}(${c.function.arguments})`)];
}

/**
 * The hard facts of a conversation, in order of first appearance, each once (by normalized value,
 * keeping the first seq). A capitalized word opening a sentence counts as a name only when it
 * also appears as a name inside some sentence.
 */
export function extractHardFacts(messages: ReadonlyArray<FactSourceMessage>): HardFact[] {
  const found: { seq: number; sentence: string; candidate: Candidate }[] = [];
  const confirmedNames = new Set<string>();
  for (const m of messages) {
    for (const sentence of messageTexts(m).flatMap(sentencesOf)) {
      for (const candidate of sentenceFacts(sentence)) {
        found.push({ seq: m.seq, sentence, candidate });
        if (candidate.kind === 'name' && !candidate.needsConfirmation) confirmedNames.add(candidate.value.toLowerCase());
      }
    }
  }
  const seen = new Set<string>();
  const out: HardFact[] = [];
  for (const { seq, sentence, candidate } of found) {
    if (candidate.needsConfirmation && !confirmedNames.has(candidate.value.toLowerCase())) continue;
    const key = normalizeFactText(candidate.value).toLowerCase();
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    out.push({ value: candidate.value, kind: candidate.kind, seq, sentence });
  }
  return out;
}

// ---- presence ------------------------------------------------------------------------------

/**
 * The comparable form of a text: whitespace collapsed, markdown escapes and typographic quotes
 * undone, thousands separators dropped, no space between a number and its unit or currency sign.
 */
export function normalizeFactText(text: string): string {
  return text
    .replace(/\\([_*`#\-.])/g, '$1')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/(\d),(?=\d{3}(?!\d))/g, '$1')
    .replace(UNIT_GAP, '$1')
    .replace(/([$€£¥]) (?=\d)/g, '$1');
}

const UNIT_GAP = new RegExp(`(\\d) (?=(?:${UNITS})(?![\\p{L}\\p{N}_/]))`, 'gu');
const CASE_SENSITIVE: ReadonlySet<HardFactKind> = new Set<HardFactKind>(['code', 'path', 'key_value', 'quoted']);
const WORD_CHAR = /[\p{L}\p{N}_]/u;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A normalized text, ready for many presence checks. */
export class FactHaystack {
  readonly exact: string;
  readonly lower: string;

  constructor(text: string) {
    this.exact = normalizeFactText(text);
    this.lower = this.exact.toLowerCase();
  }

  has(fact: Pick<HardFact, 'value' | 'kind'>): boolean {
    const sensitive = CASE_SENSITIVE.has(fact.kind);
    const hay = sensitive ? this.exact : this.lower;
    const value = sensitive ? normalizeFactText(fact.value) : normalizeFactText(fact.value).toLowerCase();
    if (value === '') return true;
    if (fact.kind === 'key_value') {
      const eq = value.indexOf('=');
      if (eq > 0) {
        const key = value.slice(0, eq);
        const val = value.slice(eq + 1).replace(/^["']|["']$/g, '');
        const re = new RegExp(`${escapeRegExp(key)}["']?\\s?[=:]\\s?["']?${escapeRegExp(val)}`, 'g');
        for (const m of hay.matchAll(re)) if (bounded(hay, m.index ?? 0, m[0])) return true;
        return false;
      }
    }
    let from = 0;
    for (;;) {
      const at = hay.indexOf(value, from);
      if (at < 0) return false;
      if (bounded(hay, at, value)) return true;
      from = at + 1;
    }
  }
}

/** A match counts only as a whole token: "3.5 GB" is not in "13.5 GB", "ABC-12" is not in "ABC-123". */
function bounded(hay: string, at: number, value: string): boolean {
  const before = at > 0 ? hay[at - 1] : '';
  const after = hay.slice(at + value.length, at + value.length + 2);
  if (WORD_CHAR.test(value[0]) && before !== '' && WORD_CHAR.test(before)) return false;
  if (/\d/.test(value[0]) && /[.,]/.test(before) && at > 1 && /\d/.test(hay[at - 2])) return false;
  const last = value[value.length - 1];
  if (WORD_CHAR.test(last) && after !== '' && WORD_CHAR.test(after[0])) return false;
  if (/\d/.test(last) && /^[.,]\d/.test(after)) return false;
  return true;
}

/** Whether a text (e.g. a rendered outline) still states the fact, verbatim up to spacing and case where harmless. */
export function factPresent(fact: Pick<HardFact, 'value' | 'kind'>, text: string): boolean {
  return new FactHaystack(text).has(fact);
}
