import { get, post } from './api.js';
import { fmtInt, fmtTime, fmtUsd, h, pct, shortId } from './dom.js';
import { swap, type Ctx, type View } from './state.js';
import { accountOnly } from './tasks.js';

interface Session {
  id: string;
  status: string;
  role: string;
  model: string;
  title: string | null;
  parent_id: string | null;
  root_id: string;
  task_id: string | null;
  last_seq: number;
  created_at: number;
  closed_at: number | null;
  usage: { window_tokens: number; total_tokens: number; prompt_tokens: number; cached_tokens: number; completion_tokens: number; cost_usd: number };
}

interface Context {
  tokens: { pinned: number; outlines: number; recent: number; total: number; headroom: number; reply_reserve: number; context_window: number; trigger_tokens: number };
}

interface SessionEventData {
  method?: string;
  path?: string;
  window_tokens_before?: number;
  window_tokens_after?: number;
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
  facts?: { facts_in?: number; kept_by_model?: number; restored?: number; dropped?: string[] };
  [key: string]: unknown;
}

interface SessionEvent {
  id: number;
  type: string;
  data: SessionEventData;
  created_at: number;
}

interface Snapshot {
  id: string;
  at_seq: number;
  window_tokens: number;
  reason: string;
  label: string | null;
  created_at: number;
}

interface Message {
  seq: number;
  role: string;
  content: unknown;
  in_window: boolean;
}

const COMPACTIONS = ['compaction', 'compression', 'compaction_fallback'];

function windowBar(c: Context['tokens']): HTMLElement {
  const bar = h('div', {
    class: 'window-bar',
    role: 'img',
    'aria-label': `Window: pinned ${c.pinned}, outlines ${c.outlines}, recent ${c.recent}, reply reserve ${c.reply_reserve}, headroom ${c.headroom} of ${c.context_window} tokens`,
    'data-testid': 'window-bar',
    'data-pinned': c.pinned,
    'data-outlines': c.outlines,
    'data-recent': c.recent,
    'data-headroom': c.headroom,
    'data-context-window': c.context_window,
  });
  const parts: Array<[string, number]> = [['pinned', c.pinned], ['outlines', c.outlines], ['recent', c.recent], ['reserve', c.reply_reserve], ['headroom', Math.max(0, c.headroom)]];
  for (const [name, n] of parts) {
    const seg = h('span', { class: `seg ${name}`, title: `${name}: ${n} tokens` });
    seg.style.width = `${c.context_window > 0 ? (n / c.context_window) * 100 : 0}%`;
    bar.append(seg);
  }
  if (c.trigger_tokens > 0 && c.context_window > 0) {
    const mark = h('span', { class: 'trigger', title: `compaction trigger at ${c.trigger_tokens} tokens` });
    mark.style.left = `${Math.min(100, (c.trigger_tokens / c.context_window) * 100)}%`;
    bar.append(mark);
  }
  const toTrigger = c.trigger_tokens > 0 ? Math.min(100, (c.total / c.trigger_tokens) * 100) : 0;
  const fill = h('span', { class: 'gauge-fill' });
  fill.style.width = `${toTrigger}%`;
  return h(
    'div',
    {},
    bar,
    h(
      'div',
      { class: 'gauge-wrap' },
      h('div', { class: 'gauge', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': c.trigger_tokens, 'aria-valuenow': Math.min(c.total, c.trigger_tokens), 'aria-label': `Window ${c.total} of the compaction trigger ${c.trigger_tokens} tokens`, 'data-testid': 'window-trigger' }, fill),
      h('span', { class: 'gauge-label' }, `${fmtInt(c.total)} / ${fmtInt(c.trigger_tokens)} tokens to the compaction trigger`),
    ),
    h('ul', { class: 'legend' }, parts.map(([name, n]) => h('li', {}, h('span', { class: `swatch ${name}` }), `${name} ${fmtInt(n)}`)), h('li', {}, `of ${fmtInt(c.context_window)} · trigger ${fmtInt(c.trigger_tokens)}`)),
  );
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : '')).join(' ');
  return content === null || content === undefined ? '' : JSON.stringify(content);
}

function facts(d: SessionEventData): string {
  const f = d.facts;
  if (!f) return '–';
  return `${f.facts_in ?? 0} in · ${f.kept_by_model ?? 0} kept · ${f.restored ?? 0} restored · ${(f.dropped ?? []).length} dropped`;
}

/** Every event of the session, oldest first (pages of 100, at most 1,000). */
async function allEvents(path: string): Promise<{ data: SessionEvent[] }> {
  const data: SessionEvent[] = [];
  for (let page = 0; page < 10; page++) {
    const res = await get<{ data: SessionEvent[]; has_more: boolean }>(`${path}?limit=100${data.length ? `&after=${data[data.length - 1].id}` : ''}`);
    data.push(...res.data);
    if (!res.has_more) break;
  }
  return { data };
}

async function act(ctx: Ctx, what: () => Promise<string>): Promise<void> {
  try {
    ctx.notify(await what());
  } catch (e) {
    ctx.notify((e as Error).message, 'error');
  }
  ctx.refresh();
}

export function sessionView(id: string): View {
  return {
    intervalMs: 2000,
    async refresh(ctx, el) {
      const denied = accountOnly(ctx, 'Sessions');
      if (denied) return swap(ctx, el, 'denied', () => denied);
      const base = `/v1/sessions/${encodeURIComponent(id)}`;
      const s = await get<Session>(ctx.path(base));
      const [context, events, snapshots, messages] = await Promise.all([
        get<Context>(ctx.path(`${base}/context`)),
        allEvents(ctx.path(`${base}/events`)),
        get<{ data: Snapshot[] }>(ctx.path(`${base}/snapshots?limit=100`)),
        get<{ data: Message[] }>(ctx.path(`${base}/messages?limit=100&after_seq=${Math.max(0, s.last_seq - 100)}`)),
      ]);
      const compactions = events.data.filter((e) => COMPACTIONS.includes(e.type));
      const others = events.data.filter((e) => !COMPACTIONS.includes(e.type));
      const u = s.usage;
      swap(ctx, el, JSON.stringify([s, context.tokens, events, snapshots, messages]), () => [
        h('h2', { 'data-testid': 'session-title' }, s.title ?? `Session ${shortId(s.id)}`),
        h(
          'p',
          { class: 'meta' },
          h('span', { class: `badge ${s.status}`, 'data-testid': 'session-status' }, s.status),
          ` ${s.role} · ${s.model} · created ${fmtTime(s.created_at)} · `,
          h('a', { href: `#lineage/${s.root_id}`, 'data-testid': 'session-lineage-link' }, 'lineage tree'),
          s.parent_id ? [' · parent ', h('a', { href: `#session/${s.parent_id}` }, shortId(s.parent_id))] : null,
        ),
        h('h3', {}, 'Window'),
        windowBar(context.tokens),
        h('h3', {}, 'Usage'),
        h(
          'dl',
          { class: 'stats', 'data-testid': 'session-usage' },
          h('dt', {}, 'prompt'), h('dd', {}, fmtInt(u.prompt_tokens)),
          h('dt', {}, 'cached'), h('dd', {}, fmtInt(u.cached_tokens)),
          h('dt', {}, 'cache-hit share'), h('dd', { 'data-testid': 'cache-hit' }, pct(u.cached_tokens, u.prompt_tokens)),
          h('dt', {}, 'completion'), h('dd', {}, fmtInt(u.completion_tokens)),
          h('dt', {}, 'cost'), h('dd', { 'data-testid': 'session-cost' }, fmtUsd(u.cost_usd)),
        ),
        h('h3', {}, `Compactions (${compactions.length})`),
        compactions.length
          ? h(
              'table',
              { class: 'grid' },
              h('thead', {}, h('tr', {}, ['When', 'Kind', 'Method', 'Window before → after', 'Summarized', 'Cost', 'Facts'].map((c) => h('th', { scope: 'col' }, c)))),
              h(
                'tbody',
                {},
                compactions.map((e) =>
                  h(
                    'tr',
                    { 'data-testid': 'compaction-row', 'data-type': e.type },
                    h('td', {}, fmtTime(e.created_at)),
                    h('td', {}, e.type),
                    h('td', {}, `${e.data.method ?? '–'}${e.data.path ? ` (${e.data.path})` : ''}`),
                    h('td', {}, `${fmtInt(e.data.window_tokens_before)} → ${fmtInt(e.data.window_tokens_after)}`),
                    h('td', {}, `${fmtInt(e.data.input_tokens)} → ${fmtInt(e.data.output_tokens)} tokens`),
                    h('td', {}, fmtUsd(e.data.cost_usd)),
                    h('td', {}, facts(e.data)),
                  ),
                ),
              ),
            )
          : h('p', { class: 'hint' }, 'No compaction yet.'),
        h('h3', {}, `Snapshots (${snapshots.data.length})`),
        h(
          'p',
          { hidden: !ctx.canWrite },
          h('button', { type: 'button', 'data-testid': 'snapshot-create', 'data-focus': 'snapshot-create', onclick: () => void act(ctx, async () => `Snapshot ${shortId((await post<Snapshot>(`${base}/snapshots`, { label: 'from the dashboard' })).id)} taken.`) }, 'Take snapshot'),
        ),
        snapshots.data.length
          ? h(
              'table',
              { class: 'grid' },
              h('thead', {}, h('tr', {}, ['When', 'Reason', 'Label', 'At seq', 'Window', ''].map((c) => h('th', { scope: 'col' }, c)))),
              h(
                'tbody',
                {},
                snapshots.data.map((x) =>
                  h(
                    'tr',
                    { 'data-testid': 'snapshot-row', 'data-snapshot-id': x.id },
                    h('td', {}, fmtTime(x.created_at)),
                    h('td', {}, x.reason),
                    h('td', {}, x.label ?? ''),
                    h('td', {}, x.at_seq),
                    h('td', {}, fmtInt(x.window_tokens)),
                    h(
                      'td',
                      { class: 'actions', hidden: !ctx.canWrite },
                      h('button', { type: 'button', 'data-testid': 'snapshot-restore', 'data-focus': `restore-${x.id}`, 'aria-label': `Restore snapshot at seq ${x.at_seq}`, onclick: () => void act(ctx, async () => (await post(`${base}/restore`, { snapshot_id: x.id }), `Restored the window of snapshot ${shortId(x.id)} (seq ${x.at_seq}); later messages stay in the history.`)) }, 'Restore'),
                      h('button', {
                        type: 'button',
                        'data-testid': 'snapshot-fork',
                        'data-focus': `fork-${x.id}`,
                        'aria-label': `Fork snapshot at seq ${x.at_seq}`,
                        onclick: () =>
                          void act(ctx, async () => {
                            const forked = await post<{ id: string }>(`/v1/snapshots/${x.id}/fork`);
                            location.hash = `#session/${forked.id}`;
                            return `Forked into session ${shortId(forked.id)}.`;
                          }),
                      }, 'Fork'),
                    ),
                  ),
                ),
              ),
            )
          : null,
        others.length ? h('h3', {}, 'Other events') : null,
        others.length ? h('ul', { class: 'events' }, others.map((e) => h('li', { 'data-testid': 'event-row', 'data-type': e.type }, `${fmtTime(e.created_at)} ${e.type} ${JSON.stringify(e.data).slice(0, 200)}`))) : null,
        h('h3', {}, `Messages (last ${messages.data.length} of ${s.last_seq})`),
        h(
          'table',
          { class: 'grid messages' },
          h('thead', {}, h('tr', {}, ['Seq', 'Role', 'In window', 'Content'].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            messages.data.map((m) => {
              const t = text(m.content);
              return h(
                'tr',
                { 'data-testid': 'message-row', 'data-seq': m.seq, 'data-in-window': m.in_window ? 'true' : 'false', class: m.in_window ? '' : 'out' },
                h('td', {}, m.seq),
                h('td', {}, m.role),
                h('td', {}, m.in_window ? 'yes' : 'no'),
                h('td', {}, t.length > 400 ? `${t.slice(0, 400)}…` : t),
              );
            }),
          ),
        ),
      ]);
    },
  };
}

export const sessionsView: View = {
  intervalMs: 2000,
  async refresh(ctx, el) {
    const denied = accountOnly(ctx, 'Sessions');
    if (denied) return swap(ctx, el, 'denied', () => denied);
    const res = await get<{ data: Session[]; has_more: boolean }>(ctx.path('/v1/sessions?limit=100'));
    swap(ctx, el, JSON.stringify(res), () => [
      h('h2', {}, 'Sessions'),
      h(
        'table',
        { class: 'grid' },
        h('caption', { class: 'sr-only' }, 'Sessions, newest first'),
        h('thead', {}, h('tr', {}, ['Session', 'Status', 'Role', 'Window', 'Tokens', 'Cost', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          res.data.map((x) =>
            h(
              'tr',
              { 'data-testid': 'session-row', 'data-session-id': x.id, 'data-status': x.status },
              h('td', {}, h('a', { href: `#session/${x.id}`, 'data-focus': `s-${x.id}`, 'data-testid': 'session-open' }, x.title ?? shortId(x.id))),
              h('td', {}, h('span', { class: `badge ${x.status}` }, x.status)),
              h('td', {}, x.role),
              h('td', {}, fmtInt(x.usage.window_tokens)),
              h('td', {}, fmtInt(x.usage.total_tokens)),
              h('td', {}, fmtUsd(x.usage.cost_usd)),
              h('td', {}, fmtTime(x.created_at)),
              h('td', {}, h('a', { href: `#lineage/${x.root_id}` }, 'lineage')),
            ),
          ),
        ),
      ),
      res.has_more ? h('p', { class: 'hint' }, 'Showing the newest 100.') : null,
    ]);
  },
};
