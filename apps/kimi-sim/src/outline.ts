import type { TokenCounter } from './token-counter';

/** A system message containing this marker switches a request to compression: the reply is an outline. */
export const OUTLINE_MARKER = 'OUTLINE_FORMAT v1';

export const OUTLINE_SECTIONS = ['Goal', 'Decisions', 'Facts and identifiers', 'Open items', 'Artifacts'] as const;

const TARGET_LENGTH = /Target length: about (\d+) tokens/;
const SEQ_PREFIX = /^\s*\[seq\s+\d+\]\s*([a-z_]+)?(?:\s*\([^)]*\))?\s*:\s*/i;
const ROLE_PREFIX = /^\s*(user|assistant|system|tool)\s*:\s*/i;
const BULLET = /^\s*[-*]\s+/;
const HEADER = /^\s*#{1,6}\s/;
const SENTENCE_END = /(?<=[.!?])\s+(?=\S)/;

const FACT_MARKER = /(?<![a-z])fact(?![a-z])/i;
const IDENTIFIER = /\b[A-Z][A-Z0-9]+-\d+\b/;
const KEY_EQUALS_VALUE = /[A-Za-z_][\w.-]*=\S/;
const KEY_COLON_VALUE = /(?:^|[\s(])([A-Za-z_][\w.-]*(?: [A-Za-z_][\w.-]*){0,2}):\s+\S/g;
// Labels that introduce a decision, a question or a speaker are not facts by themselves.
const NOT_A_FACT_KEY = /^(?:decision|decisions|decided|todo|open question|question|goal|why|user|assistant|system|tool)$/i;
const NUMBER_WITH_UNIT =
  /\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:%|(?:ms|s|sec|secs|seconds?|mins?|minutes?|h|hrs?|hours?|days?|weeks?|months?|years?|b|kb|mb|gb|tb|kib|mib|gib|k|tokens?|rps|qps|req\/s|usd|eur|px|cores?|gbps|mbps|x)\b)|\$\d|\bv?\d+\.\d+(?:\.\d+)*\b/i;
const DECISION = /\b(?:decide|decided|decides|decision|decisions|we will|we'll|chose|chosen)\b/i;
const REASON = /\b(?:because|since|so that|due to|given that)\s+(.+?)[.!?]*$/i;
const HAS_REASON = /\(why: [^)]*\)\s*$/;
const OPEN_ITEM = /\bTODO\b|\bopen question\b/i;
const ARTIFACT =
  /(?:[\w.@-]+\/)+[\w@-]+\.[A-Za-z][\w]{0,9}\b|\b[\w-]+\.(?:ts|tsx|js|jsx|mjs|cjs|json|md|py|go|rs|java|kt|rb|php|c|h|cc|cpp|hpp|cs|swift|sql|yaml|yml|toml|ini|env|sh|txt|csv|html|css|scss|xml|proto|lock|conf|cfg|log|png|jpg|svg|pdf)\b/g;
const GOAL_MAX_CHARS = 300;

export function outlineTargetTokens(systemText: string): number | null {
  const m = TARGET_LENGTH.exec(systemText);
  return m ? Number(m[1]) : null;
}

interface TranscriptLine {
  role: string | null;
  text: string;
}

function transcriptLines(transcript: string): TranscriptLine[] {
  const lines: TranscriptLine[] = [];
  for (const raw of transcript.split(/\r?\n/)) {
    let role: string | null = null;
    let text = raw;
    const seq = SEQ_PREFIX.exec(text);
    if (seq) {
      role = seq[1]?.toLowerCase() ?? null;
      text = text.slice(seq[0].length);
    } else {
      const plain = ROLE_PREFIX.exec(text);
      if (plain) {
        role = plain[1].toLowerCase();
        text = text.slice(plain[0].length);
      }
    }
    if (HEADER.test(text)) continue;
    text = text.replace(BULLET, '').trim();
    if (text === '' || text === 'none') continue;
    lines.push({ role, text });
  }
  return lines;
}

function isFact(sentence: string): boolean {
  if (FACT_MARKER.test(sentence) || IDENTIFIER.test(sentence) || KEY_EQUALS_VALUE.test(sentence) || NUMBER_WITH_UNIT.test(sentence)) {
    return true;
  }
  for (const m of sentence.matchAll(KEY_COLON_VALUE)) {
    if (!NOT_A_FACT_KEY.test(m[1])) return true;
  }
  return false;
}

function asDecision(sentence: string): string {
  if (HAS_REASON.test(sentence)) return sentence;
  const reason = REASON.exec(sentence)?.[1]?.trim();
  return `${sentence} (why: ${reason || 'not stated'})`;
}

/** The sections' items before trimming; facts are the sentences that must survive verbatim. */
export interface OutlineContent {
  goal: string | null;
  decisions: string[];
  facts: string[];
  openItems: string[];
  artifacts: string[];
}

/** Extracts outline items from a `[seq N] role: text` transcript. Deterministic and linear in its size. */
export function extractOutline(transcript: string): OutlineContent {
  const decisions = new Set<string>();
  const facts = new Set<string>();
  const openItems = new Set<string>();
  const artifacts = new Set<string>();
  let goal: string | null = null;
  let firstSentence: string | null = null;

  for (const line of transcriptLines(transcript)) {
    for (const a of line.text.matchAll(ARTIFACT)) artifacts.add(a[0]);
    // A planted FACT line is kept whole, even when it runs over several sentences.
    const sentences = FACT_MARKER.test(line.text) ? [line.text] : line.text.split(SENTENCE_END);
    for (const raw of sentences) {
      const sentence = raw.trim();
      if (!sentence) continue;
      firstSentence ??= sentence;
      if (goal === null && line.role === 'user') goal = sentence;
      if (isFact(sentence)) facts.add(sentence);
      else if (DECISION.test(sentence)) decisions.add(asDecision(sentence));
      else if (OPEN_ITEM.test(sentence) || sentence.endsWith('?')) openItems.add(sentence);
    }
  }
  goal ??= firstSentence;
  if (goal && goal.length > GOAL_MAX_CHARS) goal = `${goal.slice(0, GOAL_MAX_CHARS)}...`;
  return { goal, decisions: [...decisions], facts: [...facts], openItems: [...openItems], artifacts: [...artifacts] };
}

function bulletLines(items: string[]): string[] {
  return items.length ? items.map((i) => `- ${i}`) : ['- none'];
}

export function renderOutline(c: OutlineContent): string {
  return [
    '# Outline',
    '## Goal',
    c.goal ?? '- none',
    '## Decisions',
    ...bulletLines(c.decisions),
    '## Facts and identifiers',
    ...bulletLines(c.facts),
    '## Open items',
    ...bulletLines(c.openItems),
    '## Artifacts',
    ...bulletLines(c.artifacts),
  ].join('\n');
}

/**
 * Drops the last items of the longest trimmable section (artifacts, open items, decisions) until the
 * outline fits `targetTokens`; facts are never dropped, so the result may stay above the target.
 */
export function trimOutline(c: OutlineContent, targetTokens: number, counter: TokenCounter): OutlineContent {
  const lineTokens = (item: string) => counter.countText(`- ${item}\n`);
  let total = counter.countText(renderOutline(c));
  if (total <= targetTokens) return c;
  const trimmed = { ...c, decisions: [...c.decisions], openItems: [...c.openItems], artifacts: [...c.artifacts] };
  const trimmable = [trimmed.artifacts, trimmed.openItems, trimmed.decisions];
  while (total > targetTokens) {
    const longest = trimmable.reduce((a, b) => (b.length > a.length ? b : a));
    if (longest.length === 0) break;
    total -= lineTokens(longest.pop() as string);
  }
  return trimmed;
}

export function buildOutline(transcript: string, targetTokens: number | null, counter: TokenCounter): string {
  const content = extractOutline(transcript);
  return renderOutline(targetTokens === null ? content : trimOutline(content, targetTokens, counter));
}
