import type { Who } from './api.js';
import { nodes, type Child } from './dom.js';

/** What every view may read: who is signed in, and a way to report a result or an error. */
export interface Ctx {
  who: Who;
  notify(message: string, kind?: 'ok' | 'error'): void;
  /** Re-render the current view now (after an action). */
  refresh(): void;
}

/** A view renders into its container; `refresh` is called again every `intervalMs` while it is shown. */
export interface View {
  intervalMs: number;
  refresh(ctx: Ctx, el: HTMLElement): Promise<void>;
}

/** Replaces the container's content only when the data changed, keeping keyboard focus where it was. */
export function swap(el: HTMLElement, signature: string, build: () => Child[]): void {
  if (el.dataset.sig === signature) return;
  const active = document.activeElement as HTMLElement | null;
  const focusKey = active && el.contains(active) ? active.dataset.focus : undefined;
  el.replaceChildren(...nodes(build()));
  el.dataset.sig = signature;
  if (focusKey) (el.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`) as HTMLElement | null)?.focus();
}
