import { ApiFailure, api, storeKey, storedKey, type Who } from './api.js';
import { h } from './dom.js';
import { lineageView } from './lineage.js';
import { poolView } from './pool.js';
import { sessionView, sessionsView } from './session.js';
import type { Ctx, View } from './state.js';
import { taskDetailView, tasksView } from './tasks.js';
import { usageView } from './usage.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let ctx: Ctx | null = null;
let current: { route: string; view: View } | null = null;
let timer: number | undefined;
let generation = 0;

function notify(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = $('notice');
  el.replaceChildren(message ? h('p', { class: `notice ${kind}`, 'data-kind': kind }, message) : '');
}

function viewFor(route: string): View {
  const [name, id] = route.split('/');
  if (name === 'tasks') return tasksView;
  if (name === 'task' && id) return taskDetailView(id);
  if (name === 'lineage' && id) return lineageView(id);
  if (name === 'session' && id) return sessionView(id);
  if (name === 'sessions') return sessionsView;
  if (name === 'usage') return usageView;
  return poolView;
}

/** Runs the current view's refresh now and then every intervalMs, never two at once. */
async function tick(gen: number): Promise<void> {
  if (!ctx || !current || gen !== generation) return;
  // A hidden tab does not poll; it refreshes when shown again (visibilitychange).
  if (document.hidden) return;
  const el = $('view');
  try {
    await current.view.refresh({ ...ctx, live: () => gen === generation }, el);
    if (gen !== generation) return;
    el.removeAttribute('aria-busy');
    if ($('notice').querySelector('[data-kind="stale"]')) notify('');
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof ApiFailure && e.status === 401) return signOut('The key is no longer valid.');
    const msg = e instanceof ApiFailure && e.status === 404 ? 'Not found (or not visible to this key).' : (e as Error).message;
    $('notice').replaceChildren(h('p', { class: 'notice error', 'data-kind': 'stale' }, msg));
  }
  if (gen === generation) timer = window.setTimeout(() => void tick(gen), current.view.intervalMs);
}

function route(): void {
  const hash = location.hash.replace(/^#/, '');
  if (hash === 'main') return;
  const r = hash || 'pool';
  window.clearTimeout(timer);
  generation++;
  const el = $('view');
  if (current?.route !== r) {
    el.replaceChildren(h('p', { class: 'hint' }, 'Loading…'));
    el.setAttribute('aria-busy', 'true');
    delete el.dataset.sig;
    notify('');
  }
  current = { route: r, view: viewFor(r) };
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    if (r.startsWith(a.dataset.view!) || (a.dataset.view === 'tasks' && r.startsWith('task/')) || (a.dataset.view === 'sessions' && /^(session|lineage)\//.test(r))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  void tick(generation);
}

function signOut(message = ''): void {
  storeKey(null);
  sessionStorage.removeItem(SCOPE);
  ctx = null;
  current = null;
  generation++;
  window.clearTimeout(timer);
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  notify('');
  $<HTMLInputElement>('signin-key').focus();
}

async function signIn(key: string): Promise<boolean> {
  let who: Who;
  try {
    who = await api<Who>('GET', '/v1/whoami', undefined, key);
  } catch (e) {
    signOut(e instanceof ApiFailure && e.status === 401 ? 'That key is not valid here.' : (e as Error).message);
    return false;
  }
  storeKey(key);
  const c: Ctx = {
    who,
    scope: who.kind === 'account' ? who.account_id : sessionStorage.getItem(SCOPE),
    canWrite: who.kind === 'account',
    path: (v1) => (who.kind === 'account' ? v1 : `/admin/accounts/${encodeURIComponent(c.scope ?? '')}/${v1.replace(/^\/v1\//, '')}`),
    setScope: (id) => {
      c.scope = id;
      if (id) sessionStorage.setItem(SCOPE, id);
      else sessionStorage.removeItem(SCOPE);
      $<HTMLSelectElement>('scope').value = id ?? '';
      delete $('view').dataset.sig;
      route();
    },
    notify,
    live: () => true,
    refresh: () => route(),
  };
  ctx = c;
  if (who.kind === 'admin') await fillScopePicker(c);
  $('scope-wrap').hidden = who.kind !== 'admin';
  $('signin').hidden = true;
  $('signin-error').textContent = '';
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who-label').textContent = who.kind === 'admin' ? 'admin (every account)' : `account ${who.name}`;
  $('who-label').dataset.kind = who.kind;
  route();
  return true;
}

const SCOPE = 'so.dashboard.scope';

/** The admin's account list (from the pool figures, which name every account). */
async function fillScopePicker(c: Ctx): Promise<void> {
  const sel = $<HTMLSelectElement>('scope');
  let accounts: Array<{ account_id: string; name: string }> = [];
  try {
    accounts = (await api<{ data: Array<{ account_id: string; name: string }> }>('GET', '/admin/pool')).data;
  } catch (e) {
    notify((e as Error).message, 'error');
  }
  if (c.scope && !accounts.some((a) => a.account_id === c.scope)) c.scope = null;
  sel.replaceChildren(h('option', { value: '' }, '(pick one)'), ...accounts.map((a) => h('option', { value: a.account_id }, a.name)));
  sel.value = c.scope ?? '';
}

/** A `#key=...` fragment: the key, taken out of the address bar (the fragment never reaches the server). */
function takeKeyFromHash(): string | null {
  const m = /^#key=(.+)$/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', `${location.pathname}#pool`);
  return decodeURIComponent(m[1]);
}

function start(): void {
  $<HTMLSelectElement>('scope').addEventListener('change', (ev) => ctx?.setScope((ev.target as HTMLSelectElement).value || null));
  const key = takeKeyFromHash() ?? storedKey();
  $('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $<HTMLInputElement>('signin-key').value.trim();
    if (v) void signIn(v).then((ok) => ok && ($<HTMLInputElement>('signin-key').value = ''));
  });
  $('signout').addEventListener('click', () => signOut());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && ctx) route();
  });
  window.addEventListener('hashchange', () => {
    const given = takeKeyFromHash();
    if (given) void signIn(given);
    else if (ctx) route();
  });
  if (key) void signIn(key);
  else signOut();
}

start();
