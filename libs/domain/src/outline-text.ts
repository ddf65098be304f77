// Text helpers shared by the outline modules (not part of the public surface): sentence splitting
// and the word patterns that classify a sentence as a decision, an open item or an artifact.
import type { OutlineDecision } from './outline';

export const NOT_STATED_TEXT = 'not stated';

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Sentences of a text, whitespace collapsed, bullets stripped; split at line ends and at . ! ? before a capital. */
export function sentencesOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\n+/)) {
    for (const part of line.split(/(?<=[.!?])\s+(?=[A-Z0-9"'([])/)) {
      const sentence = oneLine(part).replace(/^(?:[-*•]|\d+[.)])\s+/, '');
      if (sentence !== '') out.push(sentence);
    }
  }
  return out;
}

export const DECISION_PATTERN = /\b(?:decide[sd]?|deciding|decision|we will|we'll|chose|choose|chosen|going with|settled on|agreed)\b/i;
export const WHY_PATTERN = /\s*,?\s*\b(?:because|since|so that|due to)\b\s*/i;
export const OPEN_PATTERN = /\bTODO\b|\bFIXME\b|\bopen question\b|\?$/i;
export const ARTIFACT_PATTERN =
  /(?<![\w/.-])((?:\.{1,2}\/|\/)?(?:[\w-]+\/)*[\w-]+(?:\.[\w-]+)*\.(?:ts|tsx|js|jsx|mjs|cjs|json|md|py|go|rs|java|kt|rb|php|cs|c|h|cpp|hpp|sql|yaml|yml|toml|ini|env|txt|csv|log|sh|html|css|scss|xml|proto|lock|tf|ipynb|pdf|png|jpg|svg))(?![\w-])/gi;

/** A decision sentence split at "because / since / so that / due to" into what and why. */
export function splitDecision(sentence: string): OutlineDecision {
  const match = WHY_PATTERN.exec(sentence);
  if (!match || match.index === 0) return { text: sentence, why: NOT_STATED_TEXT };
  const text = sentence.slice(0, match.index).replace(/[,;:\s]+$/, '');
  const why = sentence.slice(match.index + match[0].length).replace(/[.!\s]+$/, '');
  return why === '' ? { text: sentence, why: NOT_STATED_TEXT } : { text, why };
}

export const GOAL_MAX_CHARS = 300;

/** A goal line of at most GOAL_MAX_CHARS, cut at a word. */
export function clipGoal(sentence: string): string {
  if (sentence.length <= GOAL_MAX_CHARS) return sentence || NOT_STATED_TEXT;
  const cut = sentence.slice(0, GOAL_MAX_CHARS);
  const space = cut.lastIndexOf(' ');
  return `${space > GOAL_MAX_CHARS / 2 ? cut.slice(0, space) : cut}...`;
}
