import type { Who } from './api.js';
import { nodes, type Child } from './dom.js';

/** What every view may read: who is signed in, and a way to report a result or an error. */
export interface Ctx {
  who: Who;
  /** The account whose tasks and sessions are shown: the key's own, or the one the admin picked (null: none yet). */
  scope: string | null;
  /** Whether actions (cancel, restore, fork, snapshot) are offered: an account key only; the admin view is read-only. */
  canWrite: boolean;
  /** An account route (`/v1/...`) for the current scope: the admin reads it under /admin/accounts/{id}/... */
  path(v1: string): string;
  /** The admin picks the account whose tasks and sessions to show. */
  setScope(accountId: string | null): void;
  notify(message: string, kind?: 'ok' | 'error'): void;
  /** False once the page moved on (another route, account or key): a late answer must not be drawn. */
  live(): boolean;
  /** Re-render the current view now (after an action). */
  refresh(): void;
}

/** A view renders into its container; `refresh` is called again every `intervalMs` while it is shown. */
export interface View {
  intervalMs: number;
  refresh(ctx: Ctx, el: HTMLElement): Promise<void>;
}

/** Replaces the container's content only when the data changed, keeping keyboard focus where it was. */
export function swap(ctx: Ctx, el: HTMLElement, signature: string, build: () => Child[]): void {
  if (!ctx.live() || el.dataset.sig === signature) return;
  const active = document.activeElement as HTMLElement | null;
  const focusKey = active && el.contains(active) ? active.dataset.focus : undefined;
  el.replaceChildren(...nodes(build()));
  el.dataset.sig = signature;
  if (focusKey) el.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focusKey)}"]`)?.focus();
}
