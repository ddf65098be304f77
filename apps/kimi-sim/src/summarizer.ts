// How a summarizing model writes an outline: one of several styles, some of them careless (verbose,
// lossy, truncated), chosen per request. The simulator must not flatter the service: real models rarely
// follow an output format to the letter.
import { gatherMaterial, hash32, IDENTIFIER, outlineTargetTokens, selectContent, splitCompressionInput, systemAsksForJson, type OutlineContent, type OutlineMaterial, type ParsedTranscript } from './outline';
import { seededRandom } from './random';
import type { TokenCounter } from './token-counter';

export const SUMMARIZER_STYLES = ['exact', 'markdown-loose', 'bold', 'prose', 'json', 'verbose', 'lossy', 'truncated'] as const;
export type SummarizerStyle = (typeof SUMMARIZER_STYLES)[number];
/** What the option and the `x-sim-summarizer-style` header accept. */
export type SummarizerStyleOption = SummarizerStyle | 'mix';
export const SUMMARIZER_STYLE_OPTIONS: readonly SummarizerStyleOption[] = [...SUMMARIZER_STYLES, 'mix'];

/** `mix` draws among these (weights in percent); `truncated` is only ever chosen explicitly. */
export const MIX_WEIGHTS: readonly (readonly [SummarizerStyle, number])[] = [
  ['markdown-loose', 25],
  ['bold', 20],
  ['prose', 10],
  ['json', 15],
  ['exact', 10],
  ['verbose', 10],
  ['lossy', 10],
];
const MIX_TOTAL = MIX_WEIGHTS.reduce((n, [, w]) => n + w, 0);

export function isSummarizerStyleOption(v: unknown): v is SummarizerStyleOption {
  return typeof v === 'string' && (SUMMARIZER_STYLE_OPTIONS as readonly string[]).includes(v);
}

/** `mix` resolves from the seed and a digest of the request, so an identical request gets the same style. */
export function chooseStyle(option: SummarizerStyleOption, seed: number, requestDigest: string): SummarizerStyle {
  if (option !== 'mix') return option;
  let r = hash32('mix', seed, requestDigest) % MIX_TOTAL;
  for (const [style, weight] of MIX_WEIGHTS) {
    if (r < weight) return style;
    r -= weight;
  }
  return 'markdown-loose';
}

export interface SummaryInput {
  /** Where the target length and the format come from (the system prompt, or the in-context instruction). */
  systemText: string;
  /** A transcript request's user text: optional `Previous outline:` and the `Transcript:` lines. */
  userText: string;
  /** An in-context compression's conversation; when set, `userText` is not read. */
  conversation?: { transcript: ParsedTranscript; previousOutlines: readonly string[] };
  /** `response_format: {"type": "json_object"}`: every style but `truncated` answers plain JSON. */
  jsonMode: boolean;
  maxTokens: number | undefined;
  style: SummarizerStyle;
  /** Drives the deterministic variations (heading names, bullets, fences, fill level). */
  variantSeed: number;
  lossyDropShare: number;
  counter: TokenCounter;
}

export interface Summary {
  text: string;
  style: SummarizerStyle;
  targetTokens: number;
  /** For `truncated`: where the reply stops (max_tokens, or the target when none was given). */
  cutAt: number | null;
}

type Rng = () => number;
const pick = <T>(rnd: Rng, options: readonly T[]): T => options[Math.floor(rnd() * options.length)];

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0].toLowerCase() + s.slice(1) : s;
}

function sentence(s: string): string {
  const t = s.trim();
  return /[.!?…)"'`]$/.test(t) ? t : `${t}.`;
}

function noteItems(c: OutlineContent): string[] {
  return [...c.facts, ...c.context];
}

// ---------------------------------------------------------------- exact

function renderExact(c: OutlineContent): string {
  const bullets = (items: string[]) => (items.length ? items.map((i) => `- ${i}`) : ['- none']);
  return [
    '# Outline',
    '## Goal',
    c.goal ?? '- none',
    '## Decisions',
    ...bullets(c.decisions.map((d) => `${d.text} (why: ${d.why ?? 'not stated'})`)),
    '## Facts and identifiers',
    ...bullets(noteItems(c)),
    '## Open items',
    ...bullets(c.openItems),
    '## Artifacts',
    ...bullets(c.artifacts),
  ].join('\n');
}

// ---------------------------------------------------------------- markdown-loose

interface LooseVariant {
  level: string;
  decisionsName: string;
  factsName: string;
  openName: string;
  bullet: '*' | '-' | '1.';
  omitEmpty: boolean;
  why: (text: string, why: string | null) => string;
  blankLines: boolean;
}

function looseVariant(rnd: Rng): LooseVariant {
  const whyStyle = pick(rnd, ['dash', 'paren', 'reason'] as const);
  return {
    level: pick(rnd, ['## ', '## ', '## ', '### ', '# ']),
    decisionsName: pick(rnd, ['Decisions', 'Decisions', 'Key decisions']),
    factsName: pick(rnd, ['Facts', 'Key facts', 'Identifiers']),
    openName: pick(rnd, ['Next steps', 'Open questions']),
    bullet: pick(rnd, ['*', '*', '1.', '-'] as const),
    omitEmpty: rnd() < 0.5,
    why: (text, why) =>
      why === null ? text : whyStyle === 'dash' ? `${text} — because ${why}` : whyStyle === 'paren' ? `${text} (reason: ${why})` : `${text}. Reason: ${why}`,
    blankLines: rnd() < 0.7,
  };
}

function looseSections(c: OutlineContent, v: LooseVariant, comment?: (item: string) => string): string[] {
  const out: string[] = [];
  const section = (name: string, items: string[]) => {
    if (items.length === 0 && v.omitEmpty) return;
    out.push(`${v.level}${name}`);
    if (items.length === 0) out.push('None.');
    items.forEach((item, i) => {
      const marker = v.bullet === '1.' ? `${i + 1}.` : v.bullet;
      out.push(`${marker} ${comment ? comment(item) : item}`);
    });
    if (v.blankLines) out.push('');
  };
  out.push(`${v.level}Goal`, comment && c.goal ? comment(c.goal) : c.goal ?? 'Not stated.');
  if (v.blankLines) out.push('');
  section(v.decisionsName, c.decisions.map((d) => v.why(d.text, d.why)));
  section(v.factsName, noteItems(c));
  section(v.openName, c.openItems);
  section('Files', c.artifacts);
  return out;
}

function renderLoose(c: OutlineContent, rnd: Rng): string {
  return looseSections(c, looseVariant(rnd)).join('\n').trimEnd();
}

// ---------------------------------------------------------------- bold

function renderBold(c: OutlineContent, rnd: Rng): string {
  const preamble = pick(rnd, [
    'Here is a summary of the conversation:',
    "Sure! Here's a summary of the conversation so far:",
    'Here is a structured summary of the conversation:',
  ]);
  const closing = pick(rnd, [
    'Let me know if you need more detail.',
    'Let me know if you would like me to expand on any of these points.',
    'I hope this helps! Let me know if you need more detail.',
  ]);
  const list = (items: string[], numbered: boolean) => items.map((item, i) => `${numbered ? `${i + 1}.` : '•'} ${item}`);
  const block = (title: string, items: string[]) => {
    if (items.length === 0) return [`**${title}:** None.`, ''];
    return [`**${title}:**`, ...list(items, rnd() < 0.4), ''];
  };
  return [
    preamble,
    '',
    `**Goal:** ${c.goal ?? 'Not stated.'}`,
    '',
    ...block(
      pick(rnd, ['Key decisions', 'Decisions made']),
      c.decisions.map((d) => (d.why ? `${d.text}, because ${d.why}` : d.text)),
    ),
    ...block(pick(rnd, ['Important facts', 'Key facts and identifiers', 'Key details']), noteItems(c)),
    ...block(pick(rnd, ['Open questions', 'Next steps']), c.openItems),
    ...block(pick(rnd, ['Files', 'Relevant files']), c.artifacts),
    closing,
  ].join('\n');
}

// ---------------------------------------------------------------- prose

function renderProse(c: OutlineContent, rnd: Rng): string {
  const paragraphs: string[] = [];
  const opener = pick(rnd, ["In this conversation, the user's aim was the following:", 'The conversation centres on this request:', 'The user asked for the following:']);
  paragraphs.push(c.goal ? `${opener} ${sentence(c.goal)}` : 'The conversation has no clearly stated goal.');
  if (c.decisions.length) {
    paragraphs.push(
      `${pick(rnd, ['Along the way, some decisions were made.', 'Several decisions were taken.'])} ${c.decisions
        .map((d) => sentence(d.why ? `${d.text}, because ${d.why}` : d.text))
        .join(' ')}`,
    );
  }
  const notes = noteItems(c);
  if (notes.length) paragraphs.push(`${pick(rnd, ['Important details to keep in mind:', 'The key facts are these.'])} ${notes.map(sentence).join(' ')}`);
  if (c.openItems.length) paragraphs.push(`${pick(rnd, ['Still open:', 'What remains to be done:'])} ${c.openItems.map(sentence).join(' ')}`);
  if (c.artifacts.length) {
    const files = c.artifacts.length === 1 ? c.artifacts[0] : `${c.artifacts.slice(0, -1).join(', ')} and ${c.artifacts[c.artifacts.length - 1]}`;
    paragraphs.push(`The files involved are ${files}.`);
  }
  return paragraphs.join('\n\n');
}

// ---------------------------------------------------------------- json

function jsonObject(c: OutlineContent, rnd: Rng, synonyms: boolean): Record<string, unknown> {
  const asObjects = rnd() < 0.6;
  return {
    goal: c.goal ?? '',
    decisions: c.decisions.map((d) => (asObjects ? { decision: d.text, why: d.why ?? 'not stated' } : d.why ? `${d.text} (because ${d.why})` : d.text)),
    [synonyms ? 'key_facts' : 'facts']: noteItems(c),
    [synonyms ? 'next_steps' : 'open_items']: c.openItems,
    [synonyms ? 'files' : 'artifacts']: c.artifacts,
  };
}

function renderJson(c: OutlineContent, rnd: Rng, jsonMode: boolean, extra?: Record<string, unknown>): string {
  const synonyms = !jsonMode && rnd() < 0.3;
  const fenced = !jsonMode && rnd() < 0.4;
  const indent = rnd() < 0.75 ? 2 : undefined;
  const json = JSON.stringify({ ...jsonObject(c, rnd, synonyms), ...extra }, null, indent);
  return fenced ? `\`\`\`json\n${json}\n\`\`\`` : json;
}

// ---------------------------------------------------------------- lossy

const NUMBER = /(?<![\w.$,:/-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d,.]?\d)(?![A-Za-z_-]*\d)/g;
const APPROXIMATE_BEFORE = /(?:about|around|approximately|roughly|~)\s*$/i;

function roundedNumber(int: string, frac: string | undefined): string | null {
  const value = Number(int.replace(/,/g, '') + (frac ?? ''));
  if (!Number.isFinite(value)) return null;
  let rounded: string;
  if (frac) {
    const digits = frac.length - 1;
    rounded = digits >= 2 ? value.toFixed(1) : value.toFixed(0);
  } else {
    if (value < 100) return null;
    if (!int.includes(',') && int.length === 4 && value >= 1900 && value <= 2100) return null; // a year
    const magnitude = 10 ** (Math.floor(Math.log10(value)) - 1);
    const r = Math.round(value / magnitude) * magnitude;
    rounded = int.includes(',') ? r.toLocaleString('en-US') : String(r);
  }
  return rounded === int + (frac ?? '') ? null : rounded;
}

/** Rounds the numbers of a fact ("3.47 GB" -> "about 3.5 GB") and sometimes garbles an identifier. */
export function lossyFact(fact: string, rnd: Rng): string {
  let out = fact.replace(NUMBER, (m, int: string, frac: string | undefined, offset: number, whole: string) => {
    const rounded = roundedNumber(int, frac);
    if (rounded === null) return m;
    return APPROXIMATE_BEFORE.test(whole.slice(Math.max(0, offset - 16), offset)) ? rounded : `about ${rounded}`;
  });
  out = out.replace(new RegExp(IDENTIFIER.source, 'g'), (id) => {
    const r = rnd();
    if (r < 0.5) return id;
    const [prefix, digits] = [id.slice(0, id.lastIndexOf('-')), id.slice(id.lastIndexOf('-') + 1)];
    if (r < 0.7 && digits.length >= 2 && digits.at(-1) !== digits.at(-2)) return `${prefix}-${digits.slice(0, -2)}${digits.at(-1)}${digits.at(-2)}`;
    if (r < 0.85 && digits.length >= 2) return `${prefix}-${digits.slice(0, -1)}`;
    return `${prefix.toLowerCase()}${digits}`;
  });
  return out;
}

/** Drops `share` of the facts (which ones: by a hash of each), and degrades the ones it keeps. */
export function lossyContent(c: OutlineContent, share: number, seed: number): OutlineContent {
  const rnd = seededRandom(seed ^ 0x5bd1e995);
  const ranked = c.facts.map((f, i) => ({ i, h: hash32('lossy', seed, f) })).sort((a, b) => a.h - b.h || a.i - b.i);
  const dropped = new Set(ranked.slice(0, Math.round(c.facts.length * share)).map((r) => r.i));
  return {
    ...c,
    facts: c.facts.filter((_, i) => !dropped.has(i)).map((f) => lossyFact(f, rnd)),
    // A careless summarizer also forgets side remarks.
    context: c.context.filter((_, i) => hash32('lossy-context', seed, i) % 10 >= 4),
  };
}

// ---------------------------------------------------------------- verbose / truncated

const COMMENTARY = [
  'This matters because the later steps depend on it.',
  'It is worth keeping this in mind, as it shapes the rest of the work.',
  'In other words, this should be treated as settled unless new information comes up.',
  'This point came up in the conversation and was discussed in some detail.',
  'Note that this may need to be revisited as the work progresses.',
  'It is important to be careful here, since getting this wrong would cause problems later on.',
  'The team seemed to agree on this, although it was not always stated explicitly.',
];

/** Every item restated with commentary, then more restating until `minTokens` is reached. */
function renderVerbose(c: OutlineContent, rnd: Rng, minTokens: number, counter: TokenCounter): string {
  const comment = (item: string) => `${sentence(item)} ${pick(rnd, COMMENTARY)}`;
  const lines = [
    'Here is a detailed summary of the conversation, with some context for each point.',
    '',
    ...looseSections(c, { ...looseVariant(rnd), omitEmpty: false, blankLines: true }, comment),
  ];
  let tokens = counter.countText(lines.join('\n'));
  const items = [c.goal ?? '', ...c.decisions.map((d) => (d.why ? `${d.text}, because ${d.why}` : d.text)), ...noteItems(c), ...c.openItems].filter(Boolean);
  if (tokens < minTokens) {
    lines.push('## Further discussion', '');
    tokens += 6;
  }
  let i = 0;
  while (tokens < minTokens) {
    const item = items.length ? items[i % items.length] : 'the conversation did not state much';
    const para = `${pick(rnd, ['To restate an earlier point:', 'Revisiting this once more:', 'As mentioned above,', 'Put differently:'])} ${lowerFirst(sentence(item))} ${pick(rnd, COMMENTARY)} ${pick(rnd, COMMENTARY)}`;
    lines.push(para, '');
    tokens += counter.countText(para) + 1;
    i++;
  }
  return lines.join('\n').trimEnd();
}

function verboseJson(c: OutlineContent, rnd: Rng, jsonMode: boolean, minTokens: number, counter: TokenCounter): string {
  const commentary: string[] = [];
  const commented: OutlineContent = { ...c, facts: c.facts.map((f) => `${sentence(f)} ${pick(rnd, COMMENTARY)}`), context: c.context.map((f) => `${sentence(f)} ${pick(rnd, COMMENTARY)}`) };
  const items = [c.goal ?? '', ...noteItems(c), ...c.openItems].filter(Boolean);
  const base = counter.countText(renderJson(commented, seededRandom(1), jsonMode));
  let tokens = base;
  let i = 0;
  while (tokens < minTokens) {
    const item = items.length ? items[i % items.length] : 'the conversation did not state much';
    const para = `${pick(rnd, ['To restate:', 'Revisiting:', 'As mentioned,'])} ${lowerFirst(sentence(item))} ${pick(rnd, COMMENTARY)}`;
    commentary.push(para);
    tokens += counter.countText(para) + 3;
    i++;
  }
  return renderJson(commented, rnd, jsonMode, { commentary });
}

// ---------------------------------------------------------------- entry point

/** Tokens of formatting a style adds around the items, roughly; subtracted from the item budget. */
const OVERHEAD_TOKENS: Record<SummarizerStyle, number> = {
  exact: 30,
  'markdown-loose': 28,
  bold: 60,
  prose: 40,
  json: 45,
  verbose: 40,
  lossy: 30,
  truncated: 40,
};

export function writeSummary(input: SummaryInput): Summary {
  const { systemText, userText, jsonMode, style, variantSeed, counter } = input;
  let material: OutlineMaterial;
  if (input.conversation) {
    material = gatherMaterial(input.conversation.transcript, input.conversation.previousOutlines);
  } else {
    const { previousOutline, transcript } = splitCompressionInput(userText);
    material = gatherMaterial(transcript, previousOutline);
  }
  const targetTokens = Math.max(16, outlineTargetTokens(systemText) ?? Math.ceil(material.inputEstTokens / 4));
  const wantsJson = style !== 'truncated' && (jsonMode || style === 'json' || systemAsksForJson(systemText));
  const rndFor = () => seededRandom(variantSeed);
  const fill = 0.8 + 0.15 * seededRandom(variantSeed ^ 0x2545f491)();

  if (style === 'verbose' || style === 'truncated') {
    const content = selectContent(material, targetTokens - OVERHEAD_TOKENS[style]);
    const cutAt = style === 'truncated' ? input.maxTokens ?? targetTokens : null;
    const minTokens = Math.ceil(Math.max(targetTokens * (2.5 + 0.4 * fill - 0.32), cutAt === null ? 0 : cutAt * 1.5 + 64));
    const text = wantsJson ? verboseJson(content, rndFor(), jsonMode, minTokens, counter) : renderVerbose(content, rndFor(), minTokens, counter);
    return { text, style, targetTokens, cutAt };
  }

  const render = (c: OutlineContent): string => {
    if (wantsJson) return renderJson(c, rndFor(), jsonMode);
    switch (style) {
      case 'exact':
        return renderExact(c);
      case 'bold':
        return renderBold(c, rndFor());
      case 'prose':
        return renderProse(c, rndFor());
      case 'lossy':
        return variantSeed % 2 === 0 ? renderExact(c) : renderLoose(c, rndFor());
      default:
        return renderLoose(c, rndFor());
    }
  };

  // Fill toward the target: select by estimate, measure, and correct the budget at most twice.
  const desired = Math.max(8, Math.round(targetTokens * fill));
  let budget = Math.max(0, desired - OVERHEAD_TOKENS[style]);
  let content = selectContent(material, budget);
  let text = render(content);
  for (let attempt = 0; attempt < 2; attempt++) {
    const actual = counter.countText(text);
    if (actual <= desired * 1.1 && actual >= desired * 0.8) break;
    const next = Math.max(0, Math.floor(budget * (desired / Math.max(1, actual))));
    if (next === budget) break;
    const nextContent = selectContent(material, next);
    const candidate = render(nextContent);
    if (candidate === text) break;
    budget = next;
    content = nextContent;
    text = candidate;
  }
  // Lossy writes what it selected for the target, then forgets and blurs part of it: it ends up shorter.
  if (style === 'lossy') text = render(lossyContent(content, input.lossyDropShare, variantSeed));
  return { text, style, targetTokens, cutAt: null };
}
