// The tolerant outline reader: what a real model answers (JSON, loose markdown, prose) read into an
// Outline, with what had to be guessed or dropped listed. The strict parser (readOutline) is unchanged.
import Ajv, { type ErrorObject } from 'ajv';
import { extractHardFacts } from './facts';
import { EMPTY_ITEM, NOT_STATED, type Outline, type OutlineDecision, type OutlineProvenance, PROVENANCE_LINE, readOutline } from './outline';
import { OUTLINE_JSON_SCHEMA } from './outline-schema';
import { ARTIFACT_PATTERN, clipGoal, DECISION_PATTERN, OPEN_PATTERN, oneLine, sentencesOf, splitDecision } from './outline-text';

export type OutlineReadForm = 'canonical' | 'markdown' | 'json' | 'prose' | 'empty';

export interface OutlineRead {
  outline: Outline | null;
  /** canonical: the strict parser accepts it; markdown / json / prose: read tolerantly; empty: nothing to read. */
  form: OutlineReadForm;
  /** What was guessed, repaired or dropped (empty for a canonical outline). */
  problems: string[];
  /** Whether anything had to be guessed or dropped. */
  salvaged: boolean;
}

type SectionKey = 'goal' | 'decisions' | 'facts' | 'openItems' | 'artifacts' | 'sources';

const SECTION_NAMES: Record<string, SectionKey> = {};
const define = (key: SectionKey, names: string): void => {
  for (const name of names.split('|')) SECTION_NAMES[name] = key;
};
define('goal', 'goal|goals|objective|objectives|summary|task|the goal|main goal|overall goal|primary goal|user goal|current goal|purpose|conversation summary|session summary');
define('decisions', 'decisions|decision|key decisions|decisions made|decisions and rationale|decisions and reasons|decisions with why|design decisions');
define(
  'facts',
  'facts|key facts|facts and identifiers|identifiers|key details|details|important facts|important details|key information|key identifiers|identifiers and facts|facts and figures|facts identifiers',
);
define(
  'openItems',
  'open items|open questions|next steps|todo|todos|to do|pending|pending items|open issues|action items|remaining work|unresolved|outstanding|outstanding items|open items and next steps|open questions and next steps',
);
define('artifacts', 'artifacts|artefacts|files|files touched|artifacts and files|files and artifacts|files changed|files modified|code artifacts|relevant files');
define('sources', 'sources');

/** Synonyms rank below the canonical name when a reply has both (e.g. a "Summary" title and a "Goal"). */
const CANONICAL_NAMES = new Set(['goal', 'decisions', 'facts and identifiers', 'open items', 'artifacts', 'sources']);

const SECTION_TITLES: Record<Exclude<SectionKey, 'sources'>, string> = {
  goal: 'Goal',
  decisions: 'Decisions',
  facts: 'Facts and identifiers',
  openItems: 'Open items',
  artifacts: 'Artifacts',
};

function normalizeName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[*_`]/g, '')
    .replace(/\([^)]*\)/g, ' ')
    .replace(/&/g, ' and ')
    .replace(/[/-]/g, ' ')
    .replace(/^[^\p{L}]+/u, '')
    .replace(/[^\p{L}]+$/u, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function sectionOf(name: string): SectionKey | 'title' | null {
  const norm = normalizeName(name);
  if (SECTION_NAMES[norm]) return SECTION_NAMES[norm];
  if (/\boutline\b/.test(norm) && norm.split(' ').length <= 6) return 'title';
  return null;
}

// ---- entry point ---------------------------------------------------------------------------

/**
 * Reads a summarizer's reply liberally: the canonical format, JSON (whole, fenced or the first
 * balanced object, repaired when cut off), loose markdown (any heading style, synonyms, any bullet),
 * and as a last resort prose. Never throws.
 */
export function readOutlineTolerant(text: string): OutlineRead {
  const clean = text.replace(/\r\n?/g, '\n');
  if (clean.trim() === '') return { outline: null, form: 'empty', problems: ['the reply is empty'], salvaged: false };
  const strict = readOutline(clean);
  if (strict.outline) return { outline: strict.outline, form: 'canonical', problems: [], salvaged: false };

  const json = findJson(clean, false);
  if (json) return json;
  const markdown = readMarkdown(clean);
  if (markdown) return markdown;
  const embedded = findJson(clean, true);
  if (embedded) return embedded;
  return readProse(clean);
}

function result(outline: Outline, form: OutlineReadForm, problems: string[]): OutlineRead {
  return { outline, form, problems, salvaged: form === 'prose' || problems.length > 0 };
}

// ---- items ---------------------------------------------------------------------------------

const NONE_ITEM =
  /^(?:none|n\/a|na|nil|nothing|-|—|–|none yet|none so far|nothing yet|not applicable|no (?:open items|open questions|decisions|artifacts|facts|files|items)(?: yet)?)\.?$/i;
const REMARK =
  /^(?:let me know|i hope|hope this|feel free|if you (?:need|want|have|would)|happy to|would you like|is there anything|this (?:outline|summary) (?:captures|covers|keeps|should)|i(?:'ve| have) (?:kept|preserved|included)|that's (?:it|all)|(?:all|every) (?:facts|identifiers|numbers)[^.]* (?:are|were|have been) (?:kept|preserved))/i;

function cleanItem(text: string): string {
  return oneLine(text.replace(/\*\*/g, ''));
}

function isNone(item: string): boolean {
  return NONE_ITEM.test(item.replace(/[*_`()]/g, '').trim());
}

function hasHardFact(text: string): boolean {
  return extractHardFacts([{ seq: 0, content: text }]).length > 0;
}

/** One decision read from a line: why from "(why: …)", "— why: …", " - reason: …", "; why: …", "because …". */
export function readDecisionLine(line: string): OutlineDecision {
  let text = cleanItem(line).replace(/^decision\s*:\s*/i, '');
  const finish = (what: string, why: string): OutlineDecision => {
    const reason = why.replace(/^[\s:–—-]+/, '').replace(/[.\s]+$/, '').trim();
    return { text: what.replace(/[\s,;:.—–-]+$/, '').trim() || text, why: reason === '' ? NOT_STATED : reason };
  };
  let m = /^(.*\S)\s*\((?:why|reason|rationale|because)\b\s*[:\-–—]?\s*(.*?)\s*\)\.?$/i.exec(text);
  if (m) return finish(m[1], m[2]);
  m = /^(.*?\S)\s*(?:[—–]|-{1,2}|;|,|\.)?\s+(?:why|reason|rationale)\s*[:\-–—]\s*(.+)$/i.exec(text);
  if (m) return finish(m[1], m[2]);
  m = /^(.*?\S)\s*(?:[—–]|-{1,2})\s*(?:because)\s+(.+)$/i.exec(text);
  if (m) return finish(m[1], m[2]);
  text = text.replace(/\s*\(why:\s*\)$/i, '');
  return splitDecision(text);
}

const BULLET = /^(\s*)(?:[-*+•·◦▪‣–—]|\d{1,3}[.)]|[a-zA-Z][.)])\s+(.*)$/;

interface ListRead {
  items: string[];
  dropped: string[];
}

/** Items of a list section: bullets of any kind, sub-bullets joined to their item, wrapped lines joined, remarks dropped. */
function readList(lines: readonly string[]): ListRead {
  const items: string[] = [];
  const dropped: string[] = [];
  let baseIndent = -1;
  let gap = false;
  for (const raw of lines) {
    const line = raw.replace(/\t/g, '    ');
    if (line.trim() === '') {
      gap = true;
      continue;
    }
    const bullet = BULLET.exec(line);
    if (bullet) {
      const indent = bullet[1].length;
      const body = cleanItem(bullet[2]);
      if (items.length > 0 && baseIndent >= 0 && indent > baseIndent) {
        const last = items[items.length - 1];
        items[items.length - 1] = last.endsWith(':') ? `${last} ${body}` : `${last}; ${body}`;
      } else {
        items.push(body);
        baseIndent = indent;
      }
    } else if (items.length > 0 && !gap) {
      items[items.length - 1] = `${items[items.length - 1]} ${cleanItem(line)}`;
    } else if (items.length === 0) {
      items.push(cleanItem(line));
      baseIndent = line.length - line.trimStart().length;
    } else {
      const body = cleanItem(line);
      if (!REMARK.test(body) && hasHardFact(body)) items.push(body);
      else dropped.push(body);
    }
    gap = false;
  }
  return { items: items.filter((i) => i !== '' && !isNone(i)), dropped };
}

// ---- markdown ------------------------------------------------------------------------------

interface Heading {
  key: SectionKey | 'title' | null;
  name: string;
  rest: string;
  canonical: boolean;
}

const MD_HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const BOLD_HEADING = /^\s*([-*+•]\s+)?(?:\*\*|__)(.+?)(?:\*\*|__)\s*(.*)$/;
const COLON_HEADING = /^\s*(\p{L}[\p{L} &/-]{0,40}?)\s*:\s*(.*)$/u;

function makeHeading(name: string, rest: string): Heading {
  const key = sectionOf(name);
  return { key, name: name.trim(), rest: rest.trim(), canonical: CANONICAL_NAMES.has(normalizeName(name)) };
}

function headingOf(line: string, seen: ReadonlySet<SectionKey | 'title'>): Heading | null {
  const md = MD_HEADING.exec(line);
  if (md) {
    const text = md[1].replace(/\*\*|__/g, '').trim();
    const colon = /^([^:]{1,40}):\s*(.*)$/.exec(text);
    if (colon && sectionOf(colon[1]) && !sectionOf(text)) return makeHeading(colon[1], colon[2]);
    return makeHeading(text, '');
  }
  const bold = BOLD_HEADING.exec(line);
  if (bold) {
    let name = bold[2].trim();
    let rest = bold[3];
    if (name.endsWith(':')) name = name.slice(0, -1);
    else if (rest.startsWith(':')) rest = rest.slice(1);
    else if (rest !== '') return null;
    const key = sectionOf(name);
    if (key) {
      if (bold[1] && (line.search(/\S/) > 0 || seen.has(key))) return null;
      return makeHeading(name, rest);
    }
    if (!bold[1] && rest.trim() === '' && name.split(/\s+/).length <= 5) return makeHeading(name, '');
    return null;
  }
  if (BULLET.test(line)) return null;
  const colon = COLON_HEADING.exec(line);
  if (colon) {
    const key = sectionOf(colon[1]);
    if (key) return makeHeading(colon[1], colon[2]);
    if (colon[2] === '' && /^\p{Lu}/u.test(colon[1]) && colon[1].split(/\s+/).length <= 4 && line.trim().endsWith(':')) {
      return makeHeading(colon[1], '');
    }
    return null;
  }
  const plain = line.trim();
  if (plain.length <= 40 && sectionOf(plain) && sectionOf(plain) !== 'title') return makeHeading(plain, '');
  return null;
}

interface Section {
  heading: Heading;
  lines: string[];
}

function readMarkdown(text: string): OutlineRead | null {
  const lines = text.split('\n').filter((l) => !/^\s*(?:```|~~~)/.test(l));
  const sections: Section[] = [];
  const preamble: string[] = [];
  const seen = new Set<SectionKey | 'title'>();
  let started = false;
  for (const line of lines) {
    const heading = headingOf(line, seen);
    if (heading) {
      started = true;
      if (heading.key) seen.add(heading.key);
      sections.push({ heading, lines: heading.rest ? [heading.rest] : [] });
    } else if (!started) {
      if (line.trim() !== '') preamble.push(line.trim());
    } else {
      sections[sections.length - 1].lines.push(line);
    }
  }
  const known = sections.filter((s) => s.heading.key && s.heading.key !== 'title');
  if (known.length === 0) return null;

  const problems: string[] = [];
  if (preamble.length > 0) problems.push(`dropped ${preamble.length} line(s) before the first section: "${clip(preamble[0])}"`);
  const outline: Outline = { goal: '', decisions: [], facts: [], openItems: [], artifacts: [] };
  const unknownFacts: string[] = [];

  // The goal: the canonical section first, then synonyms; its lines joined.
  const goals = sections
    .filter((s) => s.heading.key === 'goal')
    .sort((a, b) => Number(b.heading.canonical) - Number(a.heading.canonical));
  for (const s of goals) {
    const parts = s.lines
      .map((l) => cleanItem(BULLET.exec(l)?.[2] ?? l))
      .filter((l) => l !== '' && !isNone(l));
    if (parts.length > 0) {
      outline.goal = parts.join(s.lines.some((l) => BULLET.test(l)) ? '; ' : ' ');
      break;
    }
  }

  for (const s of sections) {
    const key = s.heading.key;
    if (key === 'goal' || key === 'title') {
      if (key === 'title' && s.lines.some((l) => l.trim() !== '')) {
        problems.push(`dropped text under the title "${clip(s.heading.name)}"`);
      }
      continue;
    }
    const list = readList(s.lines);
    if (key === null) {
      const moved = list.items.filter(hasHardFact);
      unknownFacts.push(...moved);
      const lost = list.items.length - moved.length + list.dropped.length;
      problems.push(`unknown section "${s.heading.name}": ${moved.length} item(s) with hard facts moved to facts, ${lost} dropped`);
      continue;
    }
    for (const remark of list.dropped) problems.push(`dropped a remark that is not an item: "${clip(remark)}"`);
    if (key === 'decisions') outline.decisions.push(...list.items.map(readDecisionLine));
    else if (key === 'sources') outline.provenance = [...(outline.provenance ?? []), ...readSources(list.items, problems)];
    else outline[key].push(...(key === 'artifacts' ? list.items.flatMap(splitArtifacts) : list.items));
  }
  outline.facts.push(...unknownFacts);

  for (const key of ['goal', 'decisions', 'facts', 'openItems', 'artifacts'] as const) {
    if (!seen.has(key)) problems.push(`missing section "${SECTION_TITLES[key]}" (read as empty)`);
  }
  if (outline.goal === '') outline.goal = NOT_STATED;
  return result(outline, 'markdown', problems);
}

/** "a.ts, b.ts" on one artifacts line: one artifact each, when every piece is a file name. */
function splitArtifacts(item: string): string[] {
  const pieces = item.split(/\s*[,;]\s+/);
  if (pieces.length > 1 && pieces.every((p) => new RegExp(ARTIFACT_PATTERN.source, 'i').test(p) && !/\s/.test(p.replace(/`/g, '')))) return pieces;
  return [item];
}

function readSources(items: readonly string[], problems: string[]): OutlineProvenance[] {
  return items.flatMap((line) => {
    const match = PROVENANCE_LINE.exec(line.replace(/^-\s+/, '').trim());
    if (!match) {
      problems.push(`unreadable source "${clip(line)}"`);
      return [];
    }
    return [{ sessionId: match[1], snapshotId: match[2] === EMPTY_ITEM ? null : match[2], fromSeq: Number(match[3]), toSeq: Number(match[4]) }];
  });
}

// ---- JSON ----------------------------------------------------------------------------------

const JSON_KEYS: Record<string, 'goal' | 'decisions' | 'facts' | 'open_items' | 'artifacts' | 'sources'> = {};
const defineJson = (key: (typeof JSON_KEYS)[string], names: string): void => {
  for (const name of names.split('|')) JSON_KEYS[name] = key;
};
defineJson('goal', 'goal|summary|objective|task|purpose');
defineJson('decisions', 'decisions|key_decisions|decisions_made');
defineJson('facts', 'facts|key_facts|facts_and_identifiers|identifiers|key_details|details|important_facts');
defineJson('open_items', 'open_items|open_questions|next_steps|todo|todos|to_do|pending|action_items');
defineJson('artifacts', 'artifacts|files|files_touched|artifacts_and_files|artefacts');
defineJson('sources', 'sources');
const DECISION_TEXT_KEYS = ['decision', 'text', 'what', 'title', 'choice', 'description'];
const DECISION_WHY_KEYS = ['why', 'reason', 'rationale', 'because', 'justification'];

let validator: ReturnType<Ajv['compile']> | null = null;
function validateJson(value: unknown): ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: false }).compile(OUTLINE_JSON_SCHEMA as unknown as object);
  return validator(value) ? [] : [...(validator.errors ?? [])];
}

function normalizeKey(key: string): string {
  return key.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The outline JSON in a text, or null. `embedded`: also the first balanced object anywhere in the text. */
function findJson(text: string, embedded: boolean): OutlineRead | null {
  const candidates: string[] = [];
  const trimmed = text.trim();
  if (!embedded) {
    if (trimmed.startsWith('{')) candidates.push(trimmed);
    for (const m of text.matchAll(/```[ \t]*(?:json5?|jsonc)?[ \t]*\n([\s\S]*?)(?:\n[ \t]*```|$)/gi)) {
      if (m[1].trim().startsWith('{')) candidates.push(m[1].trim());
    }
  } else {
    const at = text.indexOf('{');
    if (at >= 0) candidates.push(balancedObject(text, at));
  }
  for (const candidate of candidates) {
    const parsed = parseJsonLoosely(candidate);
    if (!parsed) continue;
    const read = readJsonOutline(parsed.value, parsed.repaired);
    if (read) return read;
  }
  return null;
}

/** The text of the object opening at `at`, up to its matching brace (or the end of the text when cut off). */
function balancedObject(text: string, at: number): string {
  let depth = 0;
  let inString = false;
  for (let i = at; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return text.slice(at, i + 1);
    }
  }
  return text.slice(at);
}

function parseJsonLoosely(text: string): { value: unknown; repaired: boolean } | null {
  try {
    return { value: JSON.parse(text), repaired: false };
  } catch {
    const repaired = repairJson(text);
    return repaired === undefined ? null : { value: repaired, repaired: true };
  }
}

/** Closes a JSON text cut off mid-way (open string, dangling key or comma, open brackets); undefined when it cannot. */
function repairJson(text: string): unknown {
  const cuts: number[] = [text.length];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === ',') cuts.push(i);
  }
  const tries = cuts.sort((a, b) => b - a).slice(0, 40);
  for (const cut of tries) {
    const closed = closeJson(text.slice(0, cut));
    try {
      return JSON.parse(closed);
    } catch {
      // try a shorter prefix
    }
  }
  return undefined;
}

function closeJson(prefix: string): string {
  const stack: string[] = [];
  let inString = false;
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') stack.push('}');
    else if (c === '[') stack.push(']');
    else if (c === '}' || c === ']') stack.pop();
  }
  let out = prefix.replace(/\\$/, '');
  if (inString) out += '"';
  out = out.replace(/\s+$/, '');
  if (out.endsWith(',')) out = out.slice(0, -1);
  if (out.endsWith(':')) out += 'null';
  return out + stack.reverse().join('');
}

function readJsonOutline(value: unknown, repaired: boolean): OutlineRead | null {
  let root = value;
  if (isObject(root) && !Object.keys(root).some((k) => JSON_KEYS[normalizeKey(k)])) {
    const nested = Object.values(root).filter(isObject);
    root = nested.find((n) => Object.keys(n).some((k) => JSON_KEYS[normalizeKey(k)]));
  }
  if (!isObject(root)) return null;
  const problems: string[] = [];
  if (repaired) problems.push('the JSON was cut off or malformed; closed it and kept what parsed');

  // Canonical keys first, so {"goal", "summary"} takes "goal".
  const mapped: Record<string, unknown> = {};
  const entries = Object.entries(root).sort(
    ([a], [b]) => Number(JSON_KEYS[normalizeKey(a)] !== normalizeKey(a)) - Number(JSON_KEYS[normalizeKey(b)] !== normalizeKey(b)),
  );
  const extraFacts: string[] = [];
  for (const [rawKey, v] of entries) {
    const key = JSON_KEYS[normalizeKey(rawKey)];
    if (!key) {
      const texts = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
      const moved = texts.filter(hasHardFact);
      extraFacts.push(...moved);
      problems.push(`unknown key "${rawKey}": ${moved.length} item(s) with hard facts moved to facts`);
      continue;
    }
    if (!(key in mapped)) {
      mapped[key] = key === 'decisions' && Array.isArray(v) ? v.map(normalizeDecisionObject) : v;
    } else if (Array.isArray(mapped[key]) && Array.isArray(v)) {
      mapped[key] = [...(mapped[key] as unknown[]), ...(key === 'decisions' ? v.map(normalizeDecisionObject) : (v as unknown[]))];
    } else {
      problems.push(`key "${rawKey}" repeats "${key}"; ignored`);
    }
  }
  if (!Object.keys(mapped).some((k) => k !== 'sources')) return null;

  const badFields = new Set<string>();
  const badItems = new Set<string>();
  for (const error of validateJson(mapped)) {
    const path = error.instancePath.split('/').filter(Boolean);
    if (path.length === 0 && error.keyword === 'required') {
      problems.push(`missing field "${String((error.params as { missingProperty?: string }).missingProperty)}" (read as empty)`);
    } else if (path.length === 1) {
      if (!badFields.has(path[0])) problems.push(`field "${path[0]}" ${error.message ?? 'is invalid'}; read as empty`);
      badFields.add(path[0]);
    } else if (path.length >= 2) {
      const id = `${path[0]}/${path[1]}`;
      if (!badItems.has(id)) problems.push(`${path[0]}[${path[1]}] ${error.message ?? 'is invalid'}; coerced`);
      badItems.add(id);
    }
  }

  const list = (field: string): unknown[] => (badFields.has(field) || !Array.isArray(mapped[field]) ? [] : (mapped[field] as unknown[]));
  const strings = (field: string): string[] =>
    list(field)
      .map((item) => (typeof item === 'string' ? cleanItem(item) : flatten(item)))
      .filter((item) => item !== '' && !isNone(item));
  const goal = !badFields.has('goal') && typeof mapped.goal === 'string' ? oneLine(mapped.goal) : '';
  const outline: Outline = {
    goal: goal === '' || isNone(goal) ? NOT_STATED : goal,
    decisions: list('decisions').flatMap((item): OutlineDecision[] => {
      if (typeof item === 'string') return isNone(item) || item.trim() === '' ? [] : [readDecisionLine(item)];
      if (isObject(item)) {
        const text = typeof item.decision === 'string' ? oneLine(item.decision) : flatten(item);
        const why = typeof item.why === 'string' && oneLine(item.why) !== '' ? oneLine(item.why) : NOT_STATED;
        return text === '' ? [] : [{ text, why }];
      }
      const text = flatten(item);
      return text === '' ? [] : [{ text, why: NOT_STATED }];
    }),
    facts: [...strings('facts'), ...extraFacts],
    openItems: strings('open_items'),
    artifacts: strings('artifacts'),
  };
  if (Array.isArray(mapped.sources)) {
    const provenance = readSources(mapped.sources.filter((s): s is string => typeof s === 'string'), problems);
    if (provenance.length > 0) outline.provenance = provenance;
  }
  return result(outline, 'json', problems);
}

/** Decision objects with any key case and the usual synonyms, as {decision, why}. */
function normalizeDecisionObject(item: unknown): unknown {
  if (!isObject(item)) return item;
  const lower = new Map(Object.entries(item).map(([k, v]) => [normalizeKey(k), v]));
  const text = DECISION_TEXT_KEYS.map((k) => lower.get(k)).find((v) => typeof v === 'string');
  const why = DECISION_WHY_KEYS.map((k) => lower.get(k)).find((v) => typeof v === 'string');
  if (text === undefined) return item;
  return why === undefined ? { decision: text } : { decision: text, why };
}

/** A wrong-typed item as text: numbers and booleans as written, objects as "key: value; …". */
function flatten(item: unknown): string {
  if (typeof item === 'string') return cleanItem(item);
  if (typeof item === 'number' || typeof item === 'boolean') return String(item);
  if (Array.isArray(item)) return item.map(flatten).filter(Boolean).join('; ');
  if (isObject(item)) {
    return Object.entries(item)
      .map(([k, v]) => `${k}: ${flatten(v)}`)
      .join('; ');
  }
  return '';
}

// ---- prose ---------------------------------------------------------------------------------

const PREAMBLE = /^(?:sure|certainly|of course|okay|ok|absolutely|here(?:'s| is| are)|below is|i(?:'ve| have) (?:summarized|compressed|condensed))\b/i;

/** No recognizable section: the first sentence as the goal, fact sentences as facts, decision sentences as decisions. */
function readProse(text: string): OutlineRead {
  const plain = text
    .split('\n')
    .filter((l) => !/^\s*(?:```|~~~)/.test(l))
    .map((l) => l.replace(/^\s{0,3}#{1,6}\s+/, '').replace(/\*\*|__/g, ''))
    .join('\n');
  const sentences = sentencesOf(plain).filter((s) => !REMARK.test(s));
  const body = sentences.filter((s, i) => !(i === 0 && (PREAMBLE.test(s) || s.endsWith(':'))));
  if (body.length === 0) return { outline: null, form: 'empty', problems: ['the reply holds no outline text'], salvaged: false };
  const outline: Outline = { goal: clipGoal(body[0]), decisions: [], facts: [], openItems: [], artifacts: [] };
  const artifacts = new Set<string>();
  for (const sentence of body.slice(1)) {
    for (const match of sentence.matchAll(ARTIFACT_PATTERN)) artifacts.add(match[1]);
    if (hasHardFact(sentence)) outline.facts.push(sentence);
    else if (DECISION_PATTERN.test(sentence)) outline.decisions.push(splitDecision(sentence));
    else if (OPEN_PATTERN.test(sentence)) outline.openItems.push(sentence);
  }
  for (const match of body[0].matchAll(ARTIFACT_PATTERN)) artifacts.add(match[1]);
  outline.artifacts = [...artifacts];
  return result(outline, 'prose', ['no recognizable section: read as prose (goal = first sentence, facts = sentences with hard facts)']);
}

function clip(text: string): string {
  const line = text.trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
