import { get } from './api.js';
import { fmtInt, fmtTime, fmtUsd, h, s } from './dom.js';
import { swap, type View } from './state.js';

interface Bucket {
  account_id: string;
  bucket_start: number;
  purpose: string;
  calls: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
}

const PURPOSES = ['chat', 'passthrough', 'compress', 'merge', 'final'];
const RANGES: Array<[number, number, string]> = [
  [1, 5, 'last hour'],
  [6, 15, 'last 6 hours'],
  [24, 60, 'last 24 hours'],
  [168, 360, 'last 7 days'],
];
let range = 2;

function chart(rows: Bucket[], bucketMinutes: number, hours: number): SVGElement {
  const w = 600;
  const hgt = 120;
  const n = Math.ceil((hours * 60) / bucketMinutes) + 1; // the current, partial bucket too
  const bw = w / n;
  const now = Math.floor(Date.now() / 1000);
  const start = Math.floor((now - hours * 3600) / (bucketMinutes * 60)) * bucketMinutes * 60;
  const byBucket = new Map<number, Bucket[]>();
  for (const r of rows) byBucket.set(r.bucket_start, [...(byBucket.get(r.bucket_start) ?? []), r]);
  const max = Math.max(1, ...[...byBucket.values()].map((l) => l.reduce((a, b) => a + b.total_tokens, 0)));
  const bars: SVGElement[] = [];
  for (const [b, list] of byBucket) {
    const x = ((b - start) / (bucketMinutes * 60)) * bw;
    let y = hgt;
    for (const p of PURPOSES) {
      const r = list.find((l) => l.purpose === p);
      if (!r) continue;
      const bh = (r.total_tokens / max) * (hgt - 4);
      y -= bh;
      bars.push(s('rect', { x: x.toFixed(1), y: y.toFixed(1), width: Math.max(1, bw - 1).toFixed(1), height: bh.toFixed(1), class: `p-${p}` }, s('title', {}, `${fmtTime(b)} ${p}: ${r.total_tokens} tokens, $${r.cost_usd}`)));
    }
  }
  return s('svg', { class: 'usage-chart', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Tokens per ${bucketMinutes} minutes by purpose; peak ${max}` }, s('line', { x1: 0, x2: w, y1: hgt - 0.5, y2: hgt - 0.5, class: 'axis' }), bars);
}

export const usageView: View = {
  intervalMs: 5000,
  async refresh(ctx, el) {
    const [hours, bucket] = RANGES[range];
    const admin = ctx.who.kind === 'admin';
    const res = await get<{ data: Bucket[] }>(`${admin ? '/admin' : '/v1'}/usage/timeline?hours=${hours}&bucket_minutes=${bucket}`);
    const names = new Map<string, string>();
    if (admin) for (const p of (await get<{ data: Array<{ account_id: string; name: string }> }>('/admin/pool')).data) names.set(p.account_id, p.name);
    else names.set(ctx.who.account_id!, ctx.who.name ?? 'this account');
    const accounts = [...new Set(res.data.map((r) => r.account_id))];
    swap(ctx, el, JSON.stringify([range, res.data, [...names]]), () => [
      h('h2', {}, 'Usage'),
      h(
        'p',
        {},
        h('label', { for: 'usage-range' }, 'Range '),
        (() => {
          const sel = h('select', { id: 'usage-range', 'data-testid': 'usage-range', 'data-focus': 'usage-range', onchange: (ev: Event) => ((range = Number((ev.target as HTMLSelectElement).value)), ctx.refresh()) }, RANGES.map(([, , label], i) => h('option', { value: i, selected: i === range }, label)));
          return sel;
        })(),
      ),
      h('ul', { class: 'legend' }, PURPOSES.map((p) => h('li', {}, h('span', { class: `swatch p-${p}` }), p))),
      accounts.length === 0 ? h('p', { class: 'hint', 'data-testid': 'usage-empty' }, 'No upstream calls in this range.') : null,
      accounts.map((a) => {
        const rows = res.data.filter((r) => r.account_id === a);
        const per = PURPOSES.map((p) => {
          const l = rows.filter((r) => r.purpose === p);
          return { p, calls: l.reduce((x, r) => x + r.calls, 0), tokens: l.reduce((x, r) => x + r.total_tokens, 0), cached: l.reduce((x, r) => x + r.cached_tokens, 0), cost: l.reduce((x, r) => x + r.cost_usd, 0) };
        }).filter((x) => x.calls > 0);
        return h(
          'section',
          { class: 'card wide-card', 'data-testid': 'usage-account', 'data-account-id': a, 'aria-label': `Usage of ${names.get(a) ?? a}` },
          h('h3', {}, names.get(a) ?? a),
          chart(rows, bucket, hours),
          h('div', { class: 'axis-labels' }, h('span', {}, RANGES[range][2].replace('last ', '') + ' ago'), h('span', {}, 'now')),
          h(
            'details',
            {},
            h('summary', {}, `Per ${bucket} minutes`),
            h(
              'table',
              { class: 'grid' },
              h('thead', {}, h('tr', {}, ['From', 'Purpose', 'Calls', 'Tokens', 'Cached', 'Cost'].map((c) => h('th', { scope: 'col' }, c)))),
              h('tbody', {}, rows.map((r) => h('tr', { 'data-testid': 'usage-bucket' }, h('td', {}, fmtTime(r.bucket_start)), h('td', {}, r.purpose), h('td', {}, fmtInt(r.calls)), h('td', {}, fmtInt(r.total_tokens)), h('td', {}, fmtInt(r.cached_tokens)), h('td', {}, fmtUsd(r.cost_usd))))),
            ),
          ),
          h(
            'table',
            { class: 'grid' },
            h('thead', {}, h('tr', {}, ['Purpose', 'Calls', 'Tokens', 'Cached', 'Cost'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              per.map((x) => h('tr', { 'data-testid': 'usage-row', 'data-purpose': x.p }, h('td', {}, x.p), h('td', {}, fmtInt(x.calls)), h('td', {}, fmtInt(x.tokens)), h('td', {}, fmtInt(x.cached)), h('td', {}, fmtUsd(x.cost)))),
              h('tr', { class: 'total' }, h('td', {}, 'total'), h('td', {}, fmtInt(per.reduce((a2, x) => a2 + x.calls, 0))), h('td', {}, fmtInt(per.reduce((a2, x) => a2 + x.tokens, 0))), h('td', {}, fmtInt(per.reduce((a2, x) => a2 + x.cached, 0))), h('td', {}, fmtUsd(per.reduce((a2, x) => a2 + x.cost, 0)))),
            ),
          ),
        );
      }),
    ]);
  },
};
