// A tiny DOM helper: h('div', {class: 'x', 'data-testid': 'y', onclick: fn}, child, 'text').
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US');
}

export function fmtUsd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n === 0 ? '$0' : n < 0.01 ? `$${n.toFixed(6)}` : `$${n.toFixed(4)}`;
}

export function fmtMs(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : `${Math.round(n)} ms`;
}

export function fmtTime(unix: number | null | undefined): string {
  if (!unix) return '–';
  return new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

export function fmtDuration(from: number | null | undefined, to: number | null | undefined): string {
  if (!from) return '–';
  const end = to ?? Math.floor(Date.now() / 1000);
  const s = Math.max(0, end - from);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

export function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 1000) / 10}%` : '–';
}

/** The last 8 hex digits: ids are UUIDv7, whose first 8 are the time (shared by everything made within a minute). */
export function shortId(id: string | null | undefined): string {
  return id ? id.replace(/-/g, '').slice(-8) : '–';
}

/** Children flattened to nodes (null, undefined and false dropped). */
export function nodes(children: Child[]): Node[] {
  const out: Node[] = [];
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) out.push(...nodes(c));
    else out.push(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return out;
}
