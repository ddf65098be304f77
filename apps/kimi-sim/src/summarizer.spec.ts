import { planReply } from './reply';
import { chooseStyle, lossyFact, MIX_WEIGHTS, SUMMARIZER_STYLES, writeSummary, type SummarizerStyle } from './summarizer';
import { seededRandom } from './random';
import { TokenCounter } from './token-counter';
import type { ChatCompletionRequest } from './wire';

const counter = new TokenCounter();

/** Planted facts whose exact values a careful summarizer keeps. */
const PLANTED = Array.from({ length: 12 }, (_, i) => ({
  line: `FACT ${i + 1}: batch B${i} holds ${i + 2}.4${i} GB, took ${i + 1},2${i}7 ms and is tracked as PAY-${4100 + i * 7}.`,
  values: [`${i + 2}.4${i} GB`, `${i + 1},2${i}7 ms`, `PAY-${4100 + i * 7}`],
}));

function transcript(rounds = 12): string {
  const lines = ['[seq 1] user: Build a billing export for the finance team. It must be reliable and run nightly.'];
  let seq = 2;
  for (let i = 0; i < rounds; i++) {
    lines.push(`[seq ${seq++}] assistant: ${PLANTED[i % PLANTED.length].line}`);
    lines.push(`[seq ${seq++}] user: Please look at the exporter in src/billing/export${i}.ts and check that the retry logic for region ${i} still works after the change we made.`);
    lines.push(`[seq ${seq++}] assistant: We decided to batch region ${i} by customer because finance reconciles per customer.`);
    lines.push(`[seq ${seq++}] assistant: The nightly job for region ${i} reads the ledger, groups rows by customer and writes one file per customer to the outbox folder.`);
    lines.push(`[seq ${seq++}] assistant -> tool read_file({"path":"src/billing/export${i}.ts"})`);
    lines.push(`[seq ${seq++}] tool: export function run${i}() { return ledger.rows().filter(Boolean); }`);
    lines.push(`[seq ${seq++}] user: Should we also email the CSV of region ${i} to the auditors?`);
  }
  return lines.join('\n');
}

const TRANSCRIPT = transcript();
const INPUT_TOKENS = counter.countText(TRANSCRIPT);
const TARGET = Math.round(INPUT_TOKENS / 4);
const SYSTEM = `You compress a conversation. OUTLINE_FORMAT v1\nAnswer in the outline format.\nTarget length: about ${TARGET} tokens`;

const summary = (style: SummarizerStyle, over: { jsonMode?: boolean; maxTokens?: number; variantSeed?: number; system?: string; lossyDropShare?: number } = {}) =>
  writeSummary({
    systemText: over.system ?? SYSTEM,
    userText: `Transcript:\n${TRANSCRIPT}`,
    jsonMode: over.jsonMode ?? false,
    maxTokens: over.maxTokens,
    style,
    variantSeed: over.variantSeed ?? 7,
    lossyDropShare: over.lossyDropShare ?? 0.3,
    counter,
  }).text;

const plantedKept = (text: string) => PLANTED.flatMap((p) => p.values).filter((v) => text.includes(v)).length;
const parseJson = (text: string) => JSON.parse(text.replace(/^```json\n/, '').replace(/\n```$/, '')) as Record<string, unknown>;
const headings = (text: string) => text.split('\n').filter((l) => /^#{1,6} /.test(l));

describe('summarizer styles', () => {
  it('exact writes the canonical outline', () => {
    const text = summary('exact');
    expect(headings(text)).toEqual(['# Outline', '## Goal', '## Decisions', '## Facts and identifiers', '## Open items', '## Artifacts']);
    expect(text.split('\n').filter((l) => l.startsWith('## ') === false && l.startsWith('# ') === false && l !== text.split('\n')[2]).every((l) => l.startsWith('- '))).toBe(true);
  });

  it('fills toward the target length instead of compressing far below it', () => {
    for (const style of ['exact', 'markdown-loose', 'bold', 'prose', 'json'] as const) {
      const tokens = counter.countText(summary(style));
      expect(tokens).toBeGreaterThan(TARGET * 0.6);
      expect(tokens).toBeLessThan(TARGET * 1.25);
    }
  });

  it('keeps the planted facts with their exact values and the decisions with their reason', () => {
    const text = summary('exact');
    expect(plantedKept(text)).toBeGreaterThanOrEqual(PLANTED.length * 3 * 0.8);
    expect(text).toMatch(/- Batch region \d+ by customer \(why: finance reconciles per customer\)/);
  });

  it('markdown-loose drops the title and renames or re-levels sections, with * or numbered bullets', () => {
    const variants = Array.from({ length: 24 }, (_, seed) => summary('markdown-loose', { variantSeed: seed }));
    for (const text of variants) {
      expect(text).not.toContain('# Outline');
      expect(text).not.toContain('Facts and identifiers');
      expect(headings(text).length).toBeGreaterThanOrEqual(3);
    }
    const all = variants.join('\n');
    for (const name of ['Facts', 'Key facts', 'Identifiers', 'Files']) expect(all).toMatch(new RegExp(`^#{1,3} ${name}$`, 'm'));
    expect(all).toMatch(/^\* /m);
    expect(all).toMatch(/^1\. /m);
    expect(all).toMatch(/^### /m);
  });

  it('bold writes a preamble, **bold** headings, • or numbered bullets and a closing remark', () => {
    const text = summary('bold');
    expect(text).toMatch(/^(Here is|Sure!)/);
    expect(text).toContain('**Goal:**');
    expect(text).toMatch(/^\*\*(Key decisions|Decisions made):\*\*/m);
    expect(text).toMatch(/^(• |\d+\. )/m);
    expect(text).toMatch(/Let me know .*\.$/);
    expect(headings(text)).toEqual([]);
  });

  it('prose has no headings and no bullets but still states the facts', () => {
    const text = summary('prose');
    expect(text).not.toMatch(/^\s*(#|[-*•] |\d+\. |\*\*)/m);
    expect(text.split('\n\n').length).toBeGreaterThanOrEqual(3);
    expect(plantedKept(text)).toBeGreaterThan(PLANTED.length * 3 * 0.6);
  });

  it('json answers an object with goal, decisions, facts, open_items and artifacts (fenced or with synonyms sometimes)', () => {
    const variants = Array.from({ length: 24 }, (_, seed) => summary('json', { variantSeed: seed }));
    for (const text of variants) {
      const o = parseJson(text);
      expect(typeof o.goal).toBe('string');
      expect(Array.isArray(o.decisions)).toBe(true);
      expect(Array.isArray(o.facts ?? o.key_facts)).toBe(true);
      expect(Array.isArray(o.open_items ?? o.next_steps)).toBe(true);
      expect(Array.isArray(o.artifacts ?? o.files)).toBe(true);
    }
    expect(variants.some((t) => t.startsWith('```json'))).toBe(true);
    expect(variants.some((t) => 'key_facts' in parseJson(t))).toBe(true);
    expect(variants.some((t) => !t.startsWith('```') && 'facts' in parseJson(t))).toBe(true);
  });

  it('answers plain JSON in every style but truncated when the request is in JSON mode', () => {
    for (const style of SUMMARIZER_STYLES.filter((s) => s !== 'truncated')) {
      for (let seed = 0; seed < 6; seed++) {
        const text = summary(style, { jsonMode: true, variantSeed: seed });
        const o = JSON.parse(text) as Record<string, unknown>;
        expect(Object.keys(o).slice(0, 5)).toEqual(['goal', 'decisions', 'facts', 'open_items', 'artifacts']);
      }
    }
    expect(() => JSON.parse(summary('truncated', { jsonMode: true }))).toThrow();
  });

  it('answers JSON when the system prompt asks for a JSON schema, even without JSON mode', () => {
    const system = `${SYSTEM}\nAnswer with a JSON object matching this JSON schema: {"type":"object"}`;
    expect(() => parseJson(summary('bold', { system }))).not.toThrow();
  });

  it('verbose ignores the target and writes at least twice as much', () => {
    expect(counter.countText(summary('verbose'))).toBeGreaterThanOrEqual(2 * TARGET * 1.15);
    expect(counter.countText(summary('verbose', { jsonMode: true }))).toBeGreaterThanOrEqual(2 * TARGET * 1.15);
  });

  it('lossy keeps fewer of the planted exact values than exact, and more are dropped with a higher share', () => {
    const exact = plantedKept(summary('exact'));
    const lossy = plantedKept(summary('lossy'));
    const lossier = plantedKept(summary('lossy', { lossyDropShare: 0.8 }));
    expect(lossy).toBeLessThan(exact);
    expect(lossier).toBeLessThan(lossy);
  });

  it('lossy rounds numbers and sometimes garbles identifiers', () => {
    const rnd = seededRandom(1);
    expect(lossyFact('The dump is 3.47 GB.', rnd)).toBe('The dump is about 3.5 GB.');
    expect(lossyFact('p99 is 1,234 ms', rnd)).toBe('p99 is about 1,200 ms');
    expect(lossyFact('Released in 2026 as v1.2.3 on port 80', rnd)).toBe('Released in 2026 as v1.2.3 on port 80');
    const ids = Array.from({ length: 20 }, () => lossyFact('ticket ABC-1234', rnd));
    expect(ids).toContain('ticket ABC-1234');
    expect(ids.some((t) => t !== 'ticket ABC-1234')).toBe(true);
  });

  it('is deterministic for the same input and variant seed', () => {
    for (const style of SUMMARIZER_STYLES) expect(summary(style)).toBe(summary(style));
  });

  it('stays linear on a very large transcript', () => {
    const big = transcript(1200);
    const text = writeSummary({
      systemText: 'OUTLINE_FORMAT v1\nTarget length: about 20000 tokens',
      userText: `Transcript:\n${big}`,
      jsonMode: false,
      maxTokens: undefined,
      style: 'exact',
      variantSeed: 1,
      lossyDropShare: 0.3,
      counter,
    }).text;
    expect(big.length).toBeGreaterThan(600_000);
    expect(counter.countText(text)).toBeGreaterThan(14_000);
  });
});

describe('summarizer style through planReply', () => {
  const request = (over: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
    model: 'kimi-k2.6',
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `Transcript:\n${TRANSCRIPT}` },
    ],
    ...over,
  });
  const ctx = { counter, seed: 3, replyTokens: 48 };

  it('truncated stops exactly at max_tokens with finish_reason length', () => {
    const plan = planReply(request({ max_tokens: 200 }), { ...ctx, summarizerStyle: 'truncated' });
    expect(plan.kind === 'text' && plan.finishReason).toBe('length');
    expect(plan.completionTokens).toBe(200);
    expect(plan.summarizerStyle).toBe('truncated');
  });

  it('cuts any style at max_tokens with finish_reason length, and not otherwise', () => {
    const cut = planReply(request({ max_tokens: 50 }), { ...ctx, summarizerStyle: 'exact' });
    const whole = planReply(request(), { ...ctx, summarizerStyle: 'exact' });
    expect([cut.finishReason, cut.completionTokens]).toEqual(['length', 50]);
    expect(whole.finishReason).toBe('stop');
    expect(cut.kind === 'text' && whole.kind === 'text' && whole.content.startsWith(cut.content)).toBe(true);
  });

  it('mix picks the same style for the same request and seed, and several styles over many requests', () => {
    const first = planReply(request(), ctx);
    expect(planReply(request(), ctx)).toEqual(first);
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add(chooseStyle('mix', 11, `request ${i}`));
    expect(seen.size).toBeGreaterThanOrEqual(5);
    expect(seen.has('truncated')).toBe(false);
    expect(chooseStyle('mix', 11, 'request 1')).toBe(chooseStyle('mix', 11, 'request 1'));
    expect(MIX_WEIGHTS.reduce((n, [, w]) => n + w, 0)).toBe(100);
  });

  it('continues an outline from a partial assistant prefix without repeating it', () => {
    const full = planReply(request(), { ...ctx, summarizerStyle: 'exact' });
    const fullText = full.kind === 'text' ? full.content : '';
    const prefix = fullText.slice(0, 300);
    const rest = planReply(
      request({ messages: [...request().messages, { role: 'assistant', content: prefix, partial: true }] }),
      { ...ctx, summarizerStyle: 'exact' },
    );
    expect(rest.kind === 'text' && prefix + rest.content).toBe(fullText);
    expect(rest.finishReason).toBe('stop');
  });
});
