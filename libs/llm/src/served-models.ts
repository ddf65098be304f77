import type { UpstreamTarget } from './upstream';

/** The ids an upstream serves (`GET {base}/models`), or why it could not be asked. */
export type ServedModels = { ok: true; ids: string[] } | { ok: false; status: number | null; error: string };

/**
 * Asks the upstream which models it serves, with a short deadline. Never throws: a down upstream at
 * start is a warning, not a reason to stop.
 */
export async function fetchServedModels(target: UpstreamTarget, timeoutMs: number): Promise<ServedModels> {
  try {
    const r = await fetch(`${target.baseUrl.replace(/\/+$/, '')}/models`, {
      headers: { authorization: `Bearer ${target.apiKey}`, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!r.ok) {
      await r.body?.cancel().catch(() => undefined);
      return { ok: false, status: r.status, error: `HTTP ${r.status}` };
    }
    const body = (await r.json().catch(() => null)) as { data?: unknown } | null;
    if (!body || !Array.isArray(body.data)) return { ok: false, status: r.status, error: 'the answer is not a model list' };
    const ids = body.data.map((m) => (m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined)).filter((id): id is string => typeof id === 'string');
    return { ok: true, ids };
  } catch (err) {
    const e = err as Error & { cause?: { message?: string } };
    const message = e?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e?.cause?.message ?? e?.message ?? String(err);
    return { ok: false, status: null, error: message };
  }
}
