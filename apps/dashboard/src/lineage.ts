import { get } from './api.js';
import { fmtInt, fmtUsd, h, shortId } from './dom.js';
import { swap, type View } from './state.js';
import { accountOnly } from './tasks.js';

interface Outline {
  outline_seq: number;
  seq_range: [number, number];
  input_tokens: number;
  output_tokens: number;
  achieved_ratio: number;
  method: string;
  trigger: string;
  snapshot_id: string | null;
}

interface Merge {
  master_seq: number;
  child_index: number;
  child_session_id: string;
  snapshot_id: string | null;
  seq_range: [number, number];
}

export interface LineageNode {
  id: string;
  role: string;
  status: string;
  title: string | null;
  task_id: string | null;
  parent_id: string | null;
  usage?: { window_tokens: number; total_tokens: number; cost_usd: number };
  created_at?: number;
  closed_at?: number | null;
  snapshots: Array<{ id: string; reason: string }>;
  outlines: Outline[];
  merged_outlines: Merge[];
  children: LineageNode[];
}

function node(n: LineageNode, level: number): HTMLElement {
  const kids = n.children.length ? h('ul', { class: 'group', 'aria-label': `children of ${n.title ?? shortId(n.id)}` }, n.children.map((c) => node(c, level + 1))) : null;
  const kind = n.role === 'standalone' && n.parent_id ? 'fork' : n.role;
  return h(
    'li',
    { 'data-level': level, 'data-testid': 'lineage-node', 'data-session-id': n.id, 'data-role': n.role, 'data-status': n.status },
    h(
      'div',
      { class: 'node' },
      h('a', { href: `#session/${n.id}`, 'data-focus': `node-${n.id}`, 'data-testid': 'lineage-open' }, n.title ?? shortId(n.id)),
      ' ',
      h('span', { class: `badge role-${kind}` }, kind),
      ' ',
      h('span', { class: `badge ${n.status}` }, n.status),
      h('span', { class: 'meta' }, ` ${fmtInt(n.usage?.total_tokens)} tokens · window ${fmtInt(n.usage?.window_tokens)} · ${fmtUsd(n.usage?.cost_usd)} · ${n.snapshots.length} snapshots`),
    ),
    n.outlines.length
      ? h(
          'ul',
          { class: 'prov' },
          n.outlines.map((o) => h('li', { 'data-testid': 'lineage-outline' }, `outline at seq ${o.outline_seq} ← seqs ${o.seq_range[0]}–${o.seq_range[1]} (${o.method}, ${o.trigger}; ${fmtInt(o.input_tokens)} → ${fmtInt(o.output_tokens)} tokens, ×${o.achieved_ratio})`)),
        )
      : null,
    n.merged_outlines.length
      ? h(
          'ul',
          { class: 'prov' },
          n.merged_outlines.map((m) =>
            h(
              'li',
              { 'data-testid': 'lineage-merge' },
              `merged at seq ${m.master_seq} ← child #${m.child_index + 1} `,
              h('a', { href: `#session/${m.child_session_id}` }, shortId(m.child_session_id)),
              ` seqs ${m.seq_range[0]}–${m.seq_range[1]}${m.snapshot_id ? ` (snapshot ${shortId(m.snapshot_id)})` : ''}`,
            ),
          ),
        )
      : null,
    kids,
  );
}

export function lineageView(id: string): View {
  return {
    intervalMs: 2000,
    async refresh(ctx, el) {
      const denied = accountOnly(ctx, 'Lineage trees');
      if (denied) return swap(ctx, el, 'denied', () => denied);
      const res = await get<{ root: LineageNode; total_sessions: number }>(ctx.path(`/v1/sessions/${encodeURIComponent(id)}/lineage`));
      swap(ctx, el, JSON.stringify(res), () => [
        h('h2', {}, `Lineage of ${res.root.title ?? shortId(res.root.id)}`),
        h('p', { class: 'hint' }, `${res.total_sessions} sessions: the session, its children and forks. Each outline names the messages it replaced; each merged outline names the child it came from.`),
        h('ul', { class: 'tree', 'aria-label': 'Lineage tree', 'data-testid': 'lineage-tree' }, node(res.root, 1)),
      ]);
    },
  };
}
