import { get, post } from './api.js';
import { fmtDuration, fmtInt, fmtTime, fmtUsd, h, shortId } from './dom.js';
import { FINISHED, progressBar, type TaskProgress } from './progress.js';
import type { LineageNode } from './lineage.js';
import { swap, type Ctx, type View } from './state.js';

export interface Task {
  id: string;
  status: string;
  goal: string;
  master_session_id: string;
  progress: TaskProgress;
  result: string | null;
  failures: Array<Record<string, unknown>>;
  created_at: number;
  finished_at: number | null;
}

export function accountOnly(ctx: Ctx, what: string): Node[] | null {
  if (ctx.scope) return null;
  return [h('h2', {}, what), h('p', { class: 'hint', 'data-testid': 'account-only' }, `${what} belong to an account: pick one in the Account list above (read-only for the admin key).`)];
}

function cancelButton(ctx: Ctx, t: Task): HTMLElement | null {
  if (FINISHED.includes(t.status) || !ctx.canWrite) return null;
  return h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-testid': 'task-cancel',
      'data-focus': `cancel-${t.id}`,
      'aria-label': `Cancel task ${t.goal}`,
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- DOM click handler; it catches its own errors
      onclick: async () => {
        try {
          await post(`/v1/tasks/${t.id}/cancel`);
          ctx.notify('Task cancelled.');
        } catch (e) {
          ctx.notify((e as Error).message, 'error');
        }
        ctx.refresh();
      },
    },
    'Cancel',
  );
}

export const tasksView: View = {
  intervalMs: 1000,
  async refresh(ctx, el) {
    const denied = accountOnly(ctx, 'Tasks');
    if (denied) return swap(ctx, el, 'denied', () => denied);
    const res = await get<{ data: Task[] }>(ctx.path('/v1/tasks?limit=50'));
    const now = Math.floor(Date.now() / 1000);
    swap(ctx, el, JSON.stringify(res.data) + (res.data.some((t) => !FINISHED.includes(t.status)) ? now : ''), () => [
      h('h2', {}, 'Tasks'),
      res.data.length === 0
        ? h('p', {}, 'No tasks yet. POST /v1/tasks starts one.')
        : h(
            'table',
            { class: 'grid', 'data-testid': 'task-table' },
            h('caption', { class: 'sr-only' }, 'Running and recent tasks, newest first'),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Goal'), h('th', { scope: 'col' }, 'Progress'), h('th', { scope: 'col' }, 'Started'), h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, ''))),
            h(
              'tbody',
              {},
              res.data.map((t) =>
                h(
                  'tr',
                  { 'data-testid': 'task-row', 'data-task-id': t.id, 'data-status': t.status },
                  h('td', {}, h('a', { href: `#task/${t.id}`, 'data-focus': `open-${t.id}`, 'data-testid': 'task-open' }, t.goal.length > 80 ? `${t.goal.slice(0, 80)}…` : t.goal)),
                  h('td', { class: 'wide' }, progressBar(t.status, t.progress)),
                  h('td', {}, fmtTime(t.created_at)),
                  h('td', {}, fmtDuration(t.created_at, t.finished_at)),
                  h('td', {}, cancelButton(ctx, t)),
                ),
              ),
            ),
          ),
    ]);
  },
};

/** One task: progress, each child's state and timing (from the master's lineage), the final answer. */
export function taskDetailView(id: string): View {
  return {
    intervalMs: 1000,
    async refresh(ctx, el) {
      const denied = accountOnly(ctx, 'Tasks');
      if (denied) return swap(ctx, el, 'denied', () => denied);
      const t = await get<Task>(ctx.path(`/v1/tasks/${encodeURIComponent(id)}`));
      const lineage = await get<{ root: LineageNode }>(ctx.path(`/v1/sessions/${t.master_session_id}/lineage`));
      const children = lineage.root.children.filter((c) => c.role === 'child');
      const master = lineage.root;
      const live = !FINISHED.includes(t.status) ? Math.floor(Date.now() / 1000) : '';
      swap(ctx, el, JSON.stringify([t, lineage]) + live, () => [
        h('p', {}, h('a', { href: '#tasks' }, '← Tasks')),
        h('h2', {}, `Task ${shortId(t.id)}`),
        h('p', { class: 'goal' }, t.goal),
        h('div', { class: 'row', 'data-testid': 'task-row', 'data-task-id': t.id, 'data-status': t.status }, progressBar(t.status, t.progress), cancelButton(ctx, t)),
        h(
          'p',
          {},
          'Master session ',
          h('a', { href: `#session/${t.master_session_id}` }, shortId(t.master_session_id)),
          ' · ',
          h('a', { href: `#lineage/${t.master_session_id}`, 'data-testid': 'task-lineage-link' }, 'lineage tree'),
          ` · started ${fmtTime(t.created_at)} · ${fmtDuration(t.created_at, t.finished_at)} · master ${fmtInt(master.usage?.total_tokens)} tokens, ${fmtUsd(master.usage?.cost_usd)}`,
        ),
        h('h3', {}, `Children (${children.length})`),
        h(
          'table',
          { class: 'grid' },
          h('thead', {}, h('tr', {}, ['#', 'Child', 'State', 'Started', 'Time', 'Tokens', 'Cost'].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            children.map((c, i) =>
              h(
                'tr',
                { 'data-testid': 'task-child', 'data-session-id': c.id, 'data-status': c.status },
                h('td', {}, i + 1),
                h('td', {}, h('a', { href: `#session/${c.id}` }, c.title ?? shortId(c.id))),
                h('td', {}, h('span', { class: `badge ${c.status}` }, c.status)),
                h('td', {}, fmtTime(c.created_at)),
                h('td', {}, fmtDuration(c.created_at, c.closed_at)),
                h('td', {}, fmtInt(c.usage?.total_tokens)),
                h('td', {}, fmtUsd(c.usage?.cost_usd)),
              ),
            ),
          ),
        ),
        t.failures.length ? h('h3', {}, 'Failures') : null,
        t.failures.length ? h('pre', { class: 'answer' }, JSON.stringify(t.failures, null, 2)) : null,
        h('h3', {}, 'Final answer'),
        t.result !== null ? h('pre', { class: 'answer', 'data-testid': 'task-result', tabindex: 0 }, t.result) : h('p', { class: 'hint' }, FINISHED.includes(t.status) ? 'No answer.' : 'Not yet: the master writes it after merging the children.'),
      ]);
    },
  };
}
