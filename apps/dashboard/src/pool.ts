import { get } from './api.js';
import { fmtInt, fmtMs, h, s } from './dom.js';
import { swap, type View } from './state.js';

interface PoolRow {
  account_id: string;
  name: string;
  limit: number;
  in_use: number;
  waiting: number;
  parked: number;
  acquire_wait_ms: { p50: number | null; p99: number | null; samples: number };
  acquired_total: number;
  refused_total: number;
  reclaimed_total: number;
}

/** In-use samples per account, taken each time the pool is read (the last HISTORY_MS). */
const HISTORY_MS = 5 * 60_000;
const history = new Map<string, Array<{ t: number; v: number }>>();

function remember(rows: PoolRow[]): void {
  const now = Date.now();
  for (const r of rows) {
    const list = history.get(r.account_id) ?? [];
    list.push({ t: now, v: r.in_use });
    while (list.length && list[0].t < now - HISTORY_MS) list.shift();
    history.set(r.account_id, list);
  }
}

function sparkline(r: PoolRow): SVGElement {
  const w = 240;
  const hgt = 64;
  const pts = history.get(r.account_id) ?? [];
  const now = Date.now();
  // The x axis spans what this page has sampled (at least 10 s, at most HISTORY_MS), now at the right edge.
  const span = Math.min(HISTORY_MS, Math.max(10_000, pts.length ? now - pts[0].t : 0));
  // Scaled to the peak seen (the dashed line is the limit, drawn when the peak comes near it).
  const peak = Math.max(0, ...pts.map((p) => p.v));
  const max = Math.min(Math.max(r.limit, 1), Math.max(4, Math.ceil(peak * 1.25)));
  const xy = pts.map((p) => `${(((p.t - (now - span)) / span) * w).toFixed(1)},${(hgt - (p.v / max) * (hgt - 2) - 1).toFixed(1)}`);
  const minutes = pts.length ? Math.max(1, Math.round((now - pts[0].t) / 60_000)) : 0;
  return s(
    'svg',
    { class: 'spark', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `In use over the last ${minutes || '<1'} minutes: now ${r.in_use}, peak ${peak}, scale 0 to ${max}`, 'data-testid': 'pool-history' },
    max >= r.limit ? s('line', { x1: 0, x2: w, y1: 1, y2: 1, class: 'limit' }) : null,
    xy.length ? s('polyline', { points: xy.join(' '), class: 'line' }) : null,
  );
}

function gauge(r: PoolRow): HTMLElement {
  const fill = h('span', { class: 'gauge-fill' });
  fill.style.width = `${r.limit > 0 ? Math.min(100, (r.in_use / r.limit) * 100) : 0}%`;
  if (r.in_use >= r.limit) fill.classList.add('full');
  return h(
    'div',
    { class: 'gauge-wrap' },
    h(
      'div',
      { class: 'gauge', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': r.limit, 'aria-valuenow': r.in_use, 'aria-label': `${r.name}: ${r.in_use} of ${r.limit} sessions in use`, 'data-testid': 'pool-gauge', 'data-account-id': r.account_id, 'data-in-use': r.in_use, 'data-limit': r.limit },
      fill,
    ),
    h('span', { class: 'gauge-label', 'data-testid': 'pool-in-use' }, `${r.in_use} / ${r.limit} in use`),
  );
}

export const poolView: View = {
  intervalMs: 500,
  async refresh(ctx, el) {
    const res = await get<{ data: PoolRow[] }>(ctx.who.kind === 'admin' ? '/admin/pool' : '/v1/pool');
    remember(res.data);
    swap(ctx, el, JSON.stringify([ctx.who.kind, res.data]), () => [
      h('h2', {}, 'Pool'),
      h('p', { class: 'hint' }, ctx.who.kind === 'admin' ? 'Every account. Acquire waits over the last 15 minutes; the line is in-use over the last minutes (sampled by this page).' : 'Your account. Acquire waits over the last 15 minutes; the line is in-use over the last minutes (sampled by this page).'),
      h(
        'div',
        { class: 'cards' },
        res.data.map((r) =>
          h(
            'article',
            { class: 'card', 'data-testid': 'pool-account', 'data-account-id': r.account_id, 'aria-label': `Pool of ${r.name}` },
            h('h3', {}, r.name),
            gauge(r),
            h(
              'dl',
              { class: 'stats' },
              h('dt', {}, 'waiting'), h('dd', { 'data-testid': 'pool-waiting' }, fmtInt(r.waiting)),
              h('dt', {}, 'parked'), h('dd', { 'data-testid': 'pool-parked' }, fmtInt(r.parked)),
              h('dt', {}, 'wait p50'), h('dd', {}, fmtMs(r.acquire_wait_ms.p50)),
              h('dt', {}, 'wait p99'), h('dd', {}, fmtMs(r.acquire_wait_ms.p99)),
              h('dt', {}, 'acquired'), h('dd', {}, fmtInt(r.acquired_total)),
              h('dt', {}, 'refused'), h('dd', {}, fmtInt(r.refused_total)),
              h('dt', {}, 'reclaimed'), h('dd', {}, fmtInt(r.reclaimed_total)),
            ),
            sparkline(r),
            ctx.who.kind === 'admin'
              ? h('p', { class: 'card-actions' }, h('button', { type: 'button', 'data-testid': 'pool-open-account', 'data-focus': `open-${r.account_id}`, onclick: () => (ctx.setScope(r.account_id), (location.hash = '#sessions')) }, 'Tasks and sessions'))
              : null,
          ),
        ),
      ),
      res.data.length ? null : h('p', {}, 'No accounts yet.'),
    ]);
    // The lines move every tick even when the figures do not: redraw them in place (the rest stays, focus too).
    if (ctx.live()) for (const r of res.data) el.querySelector(`[data-testid="pool-account"][data-account-id="${r.account_id}"] [data-testid="pool-history"]`)?.replaceWith(sparkline(r));
  },
};
