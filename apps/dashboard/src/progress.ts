import { h } from './dom.js';

export interface TaskProgress {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export const FINISHED = ['succeeded', 'partial', 'failed', 'cancelled'];

/** A task's children as one stacked bar: succeeded, failed, cancelled, running, queued. */
export function progressBar(status: string, p: TaskProgress): HTMLElement {
  const done = p.succeeded + p.failed + p.cancelled;
  const finished = FINISHED.includes(status);
  const bar = h('div', {
    class: 'progress',
    role: 'progressbar',
    'aria-valuemin': 0,
    'aria-valuemax': p.total,
    'aria-valuenow': done,
    'aria-label': `${done} of ${p.total} children done`,
    'data-testid': 'task-progress',
    'data-status': status,
    'data-done': finished ? 'true' : 'false',
    'data-total': p.total,
    'data-succeeded': p.succeeded,
    'data-failed': p.failed,
    'data-running': p.running,
    'data-queued': p.queued,
  });
  const seg = (cls: string, n: number) => {
    if (n <= 0 || p.total <= 0) return;
    const s = h('span', { class: `seg ${cls}`, title: `${n} ${cls}` });
    s.style.width = `${(n / p.total) * 100}%`;
    bar.append(s);
  };
  seg('succeeded', p.succeeded);
  seg('failed', p.failed);
  seg('cancelled', p.cancelled);
  seg('running', p.running);
  seg('queued', p.queued);
  const label = h('span', { class: 'progress-label' }, `${done}/${p.total} done`, p.running ? ` · ${p.running} running` : '', p.queued ? ` · ${p.queued} queued` : '', p.failed ? ` · ${p.failed} failed` : '', ` · ${status}`);
  return h('div', { class: 'progress-wrap' }, bar, label);
}
