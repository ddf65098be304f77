// What a summarizing model reads out of a compression request: the target length, an optional previous
// outline and the transcript, and which parts of it are worth keeping. Rendering (the styles a model
// writes in) lives in summarizer.ts. Everything here is deterministic and linear in the input size.
import { createHash } from 'node:crypto';

/** A system message containing this marker switches a request to compression: the reply is an outline. */
export const OUTLINE_MARKER = 'OUTLINE_FORMAT v1';

/** Section names of the canonical (`exact`) format. */
export const OUTLINE_SECTIONS = ['Goal', 'Decisions', 'Facts and identifiers', 'Open items', 'Artifacts'] as const;

const TARGET_LENGTH = /Target length: about (\d+) tokens/;
/** A system prompt that asks for a JSON answer (a schema, or plain words). */
const ASKS_FOR_JSON = /json schema|"\$schema"|"type"\s*:\s*"object"|answer (?:with|in) json|json object/i;

export function outlineTargetTokens(systemText: string): number | null {
  const m = TARGET_LENGTH.exec(systemText);
  return m ? Number(m[1]) : null;
}

export function systemAsksForJson(systemText: string): boolean {
  return ASKS_FOR_JSON.test(systemText);
}

/** One transcript entry: a message (continuation lines joined) or a tool call. */
export interface TranscriptEntry {
  seq: number | null;
  role: string;
  text: string;
  tool?: { name: string; args: string };
}

const MESSAGE_LINE = /^\[seq\s+(\d+)\]\s*([a-z_]+)\s*:\s?(.*)$/i;
const TOOL_LINE = /^\[seq\s+(\d+)\]\s*([a-z_]+)\s*->\s*tool\s+([^\s(]+)\((.*)\)\s*$/i;
const PLAIN_ROLE_LINE = /^(user|assistant|system|tool)\s*:\s?(.*)$/i;

export function parseTranscript(transcript: string): TranscriptEntry[] {
  const entries: TranscriptEntry[] = [];
  let current: TranscriptEntry | null = null;
  for (const line of transcript.split('\n')) {
    const raw = line.endsWith('\r') ? line.slice(0, -1) : line;
    const tool = TOOL_LINE.exec(raw);
    if (tool) {
      current = null;
      entries.push({ seq: Number(tool[1]), role: tool[2].toLowerCase(), text: '', tool: { name: tool[3], args: tool[4] } });
      continue;
    }
    const msg = MESSAGE_LINE.exec(raw) ?? null;
    const plain = msg ? null : PLAIN_ROLE_LINE.exec(raw);
    if (msg || plain) {
      current = msg
        ? { seq: Number(msg[1]), role: msg[2].toLowerCase(), text: msg[3] }
        : { seq: null, role: plain![1].toLowerCase(), text: plain![2] };
      entries.push(current);
      continue;
    }
    if (current) current.text += `\n${raw}`;
    else if (raw.trim() !== '') {
      current = { seq: null, role: 'user', text: raw };
      entries.push(current);
    }
  }
  return entries;
}

/** The user message of a compression request, split into the previous outline (if any) and the transcript. */
export function splitCompressionInput(userText: string): { previousOutline: string | null; transcript: string } {
  const prevAt = userText.startsWith('Previous outline:') ? 0 : userText.indexOf('\nPrevious outline:');
  const transcriptMarker = /(?:^|\n)Transcript:[ \t]*\r?\n/.exec(userText);
  if (!transcriptMarker) return { previousOutline: null, transcript: userText };
  const transcript = userText.slice(transcriptMarker.index + transcriptMarker[0].length);
  if (prevAt < 0 || prevAt > transcriptMarker.index) return { previousOutline: null, transcript };
  const start = userText.indexOf('Previous outline:', prevAt) + 'Previous outline:'.length;
  const previousOutline = userText.slice(start, transcriptMarker.index).trim();
  return { previousOutline: previousOutline || null, transcript };
}

export type ItemKind = 'fact' | 'decision' | 'open' | 'context';

export interface Candidate {
  kind: ItemKind;
  text: string;
  why: string | null;
  /** 0..99, higher is kept first. */
  score: number;
  /** Position in the input, for rendering in transcript order. */
  order: number;
  /** Rough token estimate (chars / 4), so selection never runs the tokenizer over the whole input. */
  estTokens: number;
}

export interface OutlineMaterial {
  goal: string | null;
  candidates: Candidate[];
  /** File paths and names in order of first mention, with how often they were mentioned. */
  artifacts: { path: string; mentions: number; order: number }[];
  /** Rough size of the whole input in tokens (chars / 4). */
  inputEstTokens: number;
}

export const FACT_MARKER = /(?<![a-z])fact(?![a-z])/i;
export const IDENTIFIER = /\b[A-Z][A-Z0-9]+-\d+\b/;
const KEY_EQUALS_VALUE = /[A-Za-z_][\w.-]*=\S/;
const LABELLED_VALUE = /\b(?:port|host|region|version|id|url|email|user(?:name)?|account|endpoint|bucket|table|database|branch|tag|key|limit|timeout|owner|deadline|budget)\b[^.]{0,20}?(?:is|=|:)\s*\S*\d/i;
const NUMBER_WITH_UNIT =
  /\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:%|(?:ms|s|sec|secs|seconds?|mins?|minutes?|h|hrs?|hours?|days?|weeks?|months?|years?|b|kb|mb|gb|tb|kib|mib|gib|k|tokens?|rps|qps|req\/s|usd|eur|px|cores?|gbps|mbps|x|rows|users|requests)\b)|\$\d|\bv?\d+\.\d+(?:\.\d+)*\b|\b\d{3,}\b/i;
const EMAIL_OR_URL = /\b[\w.+-]+@[\w-]+\.[\w.]+\b|https?:\/\/\S+/;
const DECISION =
  /\b(?:decided|decide to|decision|we will|we'll|let's|chose|chosen|going with|go with|agreed|settled on|we use|switch(?:ed)? to|opted)\b/i;
const REASON = /[,;]?\s*\b(?:because|since|so that|due to|given that|as it|as they)\b\s+(.+?)[.!]*$/i;
const OPEN_ITEM = /\?\s*$|\bTODO\b|\bopen question\b|\bstill (?:need|have) to\b|\bnot yet\b|\bpending\b|\bnext step\b|\bfollow[- ]up\b|\bremaining\b/i;
const ARTIFACT =
  /(?:[\w.@-]+\/)+[\w@-]+\.[A-Za-z]\w{0,9}\b|\b[\w-]+\.(?:ts|tsx|js|jsx|mjs|cjs|json|md|py|go|rs|java|kt|rb|php|c|h|cc|cpp|hpp|cs|swift|sql|yaml|yml|toml|ini|env|sh|txt|csv|html|css|scss|xml|proto|lock|conf|cfg|log|png|jpg|svg|pdf)\b/g;
const SENTENCE_BREAK = /(?<=[.!?])\s+(?=["'([]?[A-Z0-9])/;
const LEADING_MARKUP = /^\s*(?:#{1,6}\s+|[-*•]\s+|\d+[.)]\s+|>\s+)+/;
const LEADING_FILLER = /^(?:ok(?:ay)?|so|well|alright|right|sure|yes|yeah|great|perfect|thanks|thank you|hmm|hi|hello|basically|actually|also|anyway)\b[,!.:]?\s+/i;
const INLINE_FILLER = /\s*\b(?:basically|actually|really|just|very|quite|simply|of course|I think that|I think|I guess|please|kind of|sort of)\b,?/gi;
const DECISION_LEAD_IN = /^(?:so\s+)?(?:we(?:'ve| have)?\s+)?(?:decided(?: to)?|will|'ll|agreed(?: to| on)?|chose(?: to)?|settled on|are going with|go with|opted(?: to| for)?)\s+|^let's\s+|^we'll\s+|^we will\s+/i;
const BORING_WORDS = new Set(['nothing', 'particular', 'filler', 'whatever', 'stuff', 'thing', 'things', 'okay', 'thanks', 'sure', 'anyway', 'random', 'lorem', 'ipsum']);
const MAX_SENTENCE_CHARS = 600;
const CONTEXT_MAX_WORDS = 28;
const GOAL_MAX_WORDS = 40;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function clampScore(n: number): number {
  return Math.max(0, Math.min(99, Math.round(n)));
}

function capitalize(s: string): string {
  return s.length ? s[0].toUpperCase() + s.slice(1) : s;
}

function endSentence(s: string): string {
  return /[.!?…)"'`]$/.test(s) ? s : `${s}.`;
}

/** Light paraphrase: discourse fillers out, whitespace collapsed, long sentences cut at a clause. */
export function paraphrase(sentence: string, maxWords = CONTEXT_MAX_WORDS): string {
  let s = sentence.replace(LEADING_MARKUP, '');
  for (let i = 0; i < 3 && LEADING_FILLER.test(s); i++) s = s.replace(LEADING_FILLER, '');
  s = s.replace(INLINE_FILLER, '').replace(/\s+/g, ' ').trim();
  const words = s.split(' ');
  if (words.length > maxWords) {
    let cut = maxWords;
    for (let i = maxWords - 1; i >= Math.floor(maxWords / 2); i--) {
      if (/[,;:]$/.test(words[i])) {
        cut = i + 1;
        break;
      }
    }
    s = words.slice(0, cut).join(' ').replace(/[,;:]$/, '');
  }
  return capitalize(endSentence(s));
}

/** Facts keep their exact values: only surrounding markup and whitespace go. */
function factText(sentence: string): string {
  return sentence.replace(LEADING_MARKUP, '').replace(/\s+/g, ' ').trim();
}

function decisionOf(sentence: string): { text: string; why: string | null } {
  const clean = sentence.replace(LEADING_MARKUP, '').replace(/\s+/g, ' ').trim();
  const reason = REASON.exec(clean);
  const why = reason ? reason[1].replace(/[.!]+$/, '').trim() : null;
  let what = reason ? clean.slice(0, reason.index).trim() : clean;
  what = paraphrase(what, 24).replace(/[.!]+$/, '');
  const stripped = what.replace(DECISION_LEAD_IN, '');
  if (stripped.split(' ').length >= 2) what = stripped;
  const because = why ? paraphrase(why, 20).replace(/[.!]+$/, '') : null;
  return { text: capitalize(what), why: because && /^[A-Z][a-z]/.test(because) ? because[0].toLowerCase() + because.slice(1) : because };
}

function isFactLike(sentence: string): boolean {
  return (
    FACT_MARKER.test(sentence) ||
    IDENTIFIER.test(sentence) ||
    KEY_EQUALS_VALUE.test(sentence) ||
    NUMBER_WITH_UNIT.test(sentence) ||
    EMAIL_OR_URL.test(sentence) ||
    LABELLED_VALUE.test(sentence)
  );
}

/** Digits replaced, so "filler line 3" and "filler line 4" share a template. */
function templateOf(sentence: string): string {
  return sentence.toLowerCase().replace(/\d+/g, '#').slice(0, 120);
}

function sentencesOf(text: string): string[] {
  const out: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    // A line that announces a fact is kept whole, even when it runs over several sentences.
    const parts = FACT_MARKER.test(line) && line.length <= MAX_SENTENCE_CHARS ? [line] : line.split(SENTENCE_BREAK);
    for (const p of parts) {
      const s = p.trim();
      if (s) out.push(s.length > MAX_SENTENCE_CHARS ? s.slice(0, MAX_SENTENCE_CHARS) : s);
    }
  }
  return out;
}

interface PreviousOutlineItems {
  goal: string | null;
  items: { kind: ItemKind; text: string; why: string | null }[];
  artifacts: string[];
}

const SECTION_NAME = /^(?:#{1,6}\s*|\*\*)?\s*([A-Za-z][A-Za-z &/-]{1,40}?)\s*(?::\*\*|\*\*:?|:)?\s*$/;

function sectionKind(name: string): ItemKind | 'goal' | 'artifact' | null {
  const n = name.toLowerCase();
  if (/goal|objective|task/.test(n)) return 'goal';
  if (/decision/.test(n)) return 'decision';
  if (/fact|identifier|detail/.test(n)) return 'fact';
  if (/open|next|question|todo|pending/.test(n)) return 'open';
  if (/artifact|file/.test(n)) return 'artifact';
  return null;
}

/** Reads a previous outline in whatever shape it came (markdown, bold headings, JSON) into items. */
export function readPreviousOutline(text: string): PreviousOutlineItems {
  const result: PreviousOutlineItems = { goal: null, items: [], artifacts: [] };
  const unfenced = text.replace(/^```(?:json)?\s*\n?/, '').replace(/\n?```\s*$/, '').trim();
  if (unfenced.startsWith('{')) {
    try {
      const o = JSON.parse(unfenced) as Record<string, unknown>;
      const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);
      if (typeof o.goal === 'string') result.goal = o.goal;
      for (const d of list(o.decisions)) {
        if (typeof d === 'string') result.items.push({ kind: 'decision', text: d, why: null });
        else if (d && typeof d === 'object') {
          const r = d as Record<string, unknown>;
          // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a model's JSON outline: String() is the intended rendering of any value
          result.items.push({ kind: 'decision', text: String(r.decision ?? r.text ?? ''), why: typeof r.why === 'string' ? r.why : null });
        }
      }
      for (const f of [...list(o.facts), ...list(o.key_facts)]) result.items.push({ kind: 'fact', text: String(f), why: null });
      for (const f of [...list(o.open_items), ...list(o.next_steps)]) result.items.push({ kind: 'open', text: String(f), why: null });
      for (const f of [...list(o.artifacts), ...list(o.files)]) result.artifacts.push(String(f));
      return result;
    } catch {
      // Not JSON after all: read it as text.
    }
  }
  let section: ReturnType<typeof sectionKind> = null;
  for (const rawLine of unfenced.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    const inlineGoal = /^\*\*(?:Goal|Objective):\*\*\s*(.+)$/i.exec(line);
    if (inlineGoal) {
      result.goal = inlineGoal[1];
      section = null;
      continue;
    }
    const heading = LEADING_MARKUP.test(line) && !/^#/.test(line) ? null : SECTION_NAME.exec(line);
    if (heading && (line.startsWith('#') || line.startsWith('**') || line.endsWith(':'))) {
      const kind = sectionKind(heading[1]);
      if (kind || line.startsWith('#')) {
        section = kind;
        continue;
      }
    }
    const item = line.replace(LEADING_MARKUP, '').trim();
    if (!item || /^(?:none|n\/a)\.?$/i.test(item) || item === '# Outline') continue;
    if (section === 'goal') result.goal ??= item;
    else if (section === 'artifact') result.artifacts.push(item);
    else if (section === 'decision') {
      const why = /\((?:why|reason): ([^)]*)\)\s*$/.exec(item);
      result.items.push({ kind: 'decision', text: why ? item.slice(0, why.index).trim() : item, why: why && why[1] !== 'not stated' ? why[1] : null });
    } else if (section) result.items.push({ kind: section, text: item, why: null });
    else result.items.push({ kind: isFactLike(item) ? 'fact' : 'context', text: item, why: null });
  }
  return result;
}

/**
 * Reads what a model would consider worth keeping, with a salience score per candidate. Two passes over
 * the sentences (the first counts templates, so boilerplate repeated with different numbers scores low).
 */
/** A transcript already split into entries (in-context compression builds it from the messages). */
export interface ParsedTranscript {
  /** The rendered `[seq N] role: text` lines; only its length is used (input size). */
  text: string;
  entries: TranscriptEntry[];
}

/**
 * `transcript` is the `[seq N] role: text` text, or entries built from messages. `previousOutline` is one
 * outline or several (in-context compression merging earlier outline messages), oldest first.
 */
export function gatherMaterial(transcript: string | ParsedTranscript, previousOutline: string | readonly string[] | null): OutlineMaterial {
  const entries = typeof transcript === 'string' ? parseTranscript(transcript) : transcript.entries;
  const candidates: Candidate[] = [];
  const artifacts = new Map<string, { path: string; mentions: number; order: number }>();
  const seen = new Set<string>();
  let order = 0;
  let goal: string | null = null;
  let inputChars = typeof transcript === 'string' ? transcript.length : transcript.text.length;

  const addArtifacts = (text: string) => {
    for (const m of text.matchAll(ARTIFACT)) {
      const a = artifacts.get(m[0]);
      if (a) a.mentions++;
      else artifacts.set(m[0], { path: m[0], mentions: 1, order: order++ });
    }
  };
  const add = (c: Omit<Candidate, 'order' | 'estTokens'>) => {
    const key = c.text.toLowerCase();
    if (seen.has(key)) return;
    seen.add(key);
    candidates.push({ ...c, order: order++, estTokens: estimateTokens(c.text) + 2 });
  };

  const previousOutlines = previousOutline === null ? [] : typeof previousOutline === 'string' ? [previousOutline] : previousOutline;
  for (const outline of previousOutlines) {
    if (!outline) continue;
    inputChars += outline.length;
    const prev = readPreviousOutline(outline);
    goal ??= prev.goal;
    for (const item of prev.items) {
      const base = item.kind === 'fact' ? 80 : item.kind === 'decision' ? 75 : item.kind === 'open' ? 60 : 45;
      add({ kind: item.kind, text: item.text.trim(), why: item.why, score: base });
    }
    for (const a of prev.artifacts) artifacts.set(a, { path: a, mentions: 3, order: order++ });
  }

  // First pass: sentences and how often each template occurs.
  const sentences: { role: string; text: string; index: number }[] = [];
  const templates = new Map<string, number>();
  entries.forEach((e, index) => {
    if (e.tool) {
      addArtifacts(e.tool.args);
      sentences.push({ role: 'tool-call', text: `Called ${e.tool.name}(${e.tool.args.slice(0, 120)})`, index });
      return;
    }
    addArtifacts(e.text);
    for (const s of sentencesOf(e.text)) {
      sentences.push({ role: e.role, text: s, index });
      const t = templateOf(s);
      templates.set(t, (templates.get(t) ?? 0) + 1);
    }
  });

  const firstUser = entries.find((e) => e.role === 'user' && !e.tool && e.text.trim());
  if (goal === null && firstUser) {
    const first = sentencesOf(firstUser.text).slice(0, 2).join(' ');
    goal = paraphrase(first, GOAL_MAX_WORDS);
  }

  const recentFrom = Math.floor(entries.length * 0.8);
  for (const s of sentences) {
    const roleBonus = s.role === 'user' ? 8 : s.role === 'tool' ? -12 : s.role === 'tool-call' ? -5 : 0;
    const recency = s.index >= recentFrom ? 5 : 0;
    const words = s.text.split(/\s+/);
    const boring = words.reduce((n, w) => n + (BORING_WORDS.has(w.toLowerCase().replace(/[^a-z]/g, '')) ? 1 : 0), 0);
    const repeated = (templates.get(templateOf(s.text)) ?? 1) > 2;
    if (s.role === 'tool-call') {
      const m = /^Called ([^(]+)\((.*)\)$/.exec(s.text);
      const firstArtifact = m ? /(?:[\w.@-]+\/)*[\w@-]+\.[A-Za-z]\w{0,9}/.exec(m[2])?.[0] : undefined;
      const text = m ? (firstArtifact ? `Ran ${m[1]} on ${firstArtifact}.` : `Ran ${m[1]}.`) : s.text;
      add({ kind: 'context', text, why: null, score: clampScore(22 + recency) });
      continue;
    }
    if (isFactLike(s.text)) {
      const marked = FACT_MARKER.test(s.text) ? 12 : 0;
      const values = Math.min(6, (s.text.match(/\d+/g) ?? []).length);
      add({ kind: 'fact', text: factText(s.text), why: null, score: clampScore(58 + marked + values + roleBonus + recency - boring * 5) });
    } else if (DECISION.test(s.text)) {
      const d = decisionOf(s.text);
      add({ kind: 'decision', text: d.text, why: d.why, score: clampScore(55 + roleBonus + recency + (d.why ? 5 : 0)) });
    } else if (OPEN_ITEM.test(s.text)) {
      add({ kind: 'open', text: paraphrase(s.text), why: null, score: clampScore(45 + roleBonus + recency * 2) });
    } else {
      if (words.length < 4) continue;
      // Already said by the goal.
      if (goal !== null && goal.toLowerCase().includes(paraphrase(s.text).replace(/[.!?]$/, '').toLowerCase())) continue;
      const length = Math.min(8, Math.floor(words.length / 4));
      add({
        kind: 'context',
        text: paraphrase(s.text),
        why: null,
        score: clampScore(20 + length + roleBonus + recency - boring * 6 - (repeated ? 15 : 0)),
      });
    }
  }

  if (goal !== null && goal.length === 0) goal = null;
  return { goal, candidates, artifacts: [...artifacts.values()], inputEstTokens: Math.ceil(inputChars / 4) };
}

export interface OutlineDecision {
  text: string;
  why: string | null;
}

/** What an outline says, before a style renders it. Lists are in transcript order. */
export interface OutlineContent {
  goal: string | null;
  decisions: OutlineDecision[];
  facts: string[];
  /** Salient sentences that are neither facts nor decisions; styles fold them into facts or prose. */
  context: string[];
  openItems: string[];
  artifacts: string[];
}

/**
 * Picks the most salient candidates whose estimated size fits `budgetTokens` (a counting sort over the
 * 0..99 scores, so linear), then lists them in transcript order.
 */
export function selectContent(material: OutlineMaterial, budgetTokens: number): OutlineContent {
  const buckets: Candidate[][] = Array.from({ length: 100 }, () => []);
  for (const c of material.candidates) buckets[c.score].push(c);
  const goalTokens = material.goal ? estimateTokens(material.goal) + 4 : 0;
  let left = Math.max(0, budgetTokens - goalTokens);

  // Artifacts are short and useful: up to an eighth of the budget, most mentioned first.
  const artifactBudget = Math.floor(left / 8);
  const byMentions = [...material.artifacts].sort((a, b) => b.mentions - a.mentions || a.order - b.order);
  const keptArtifacts: typeof material.artifacts = [];
  let artifactTokens = 0;
  for (const a of byMentions) {
    const t = estimateTokens(a.path) + 2;
    if (artifactTokens + t > artifactBudget) continue;
    artifactTokens += t;
    keptArtifacts.push(a);
  }
  left -= artifactTokens;

  const kept: Candidate[] = [];
  for (let score = 99; score >= 0 && left > 0; score--) {
    for (const c of buckets[score]) {
      if (c.estTokens > left) continue;
      kept.push(c);
      left -= c.estTokens;
    }
  }
  kept.sort((a, b) => a.order - b.order);
  keptArtifacts.sort((a, b) => a.order - b.order);
  return {
    goal: material.goal,
    decisions: kept.filter((c) => c.kind === 'decision').map((c) => ({ text: c.text, why: c.why })),
    facts: kept.filter((c) => c.kind === 'fact').map((c) => c.text),
    context: kept.filter((c) => c.kind === 'context').map((c) => c.text),
    openItems: kept.filter((c) => c.kind === 'open').map((c) => c.text),
    artifacts: keptArtifacts.map((a) => a.path),
  };
}

/** A 32-bit number from a string, for deterministic choices. */
export function hash32(...parts: (string | number)[]): number {
  const h = createHash('sha1');
  for (const p of parts) h.update(String(p)).update('\u0000');
  return h.digest().readUInt32BE(0);
}
