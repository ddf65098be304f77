import { isInWindow, type WindowSpec } from '@so/domain';
import type { MessageEntity, SessionEntity } from '@so/persistence';

const unix = (d: Date) => Math.floor(d.getTime() / 1000);
const num = (v: string | number) => Number(v);

export function sessionUsageView(s: SessionEntity) {
  const prompt = num(s.promptTokens);
  const completion = num(s.completionTokens);
  return {
    window_tokens: s.windowTokens,
    total_tokens: prompt + completion,
    prompt_tokens: prompt,
    cached_tokens: num(s.cachedTokens),
    completion_tokens: completion,
    cache_write_tokens: num(s.cacheWriteTokens ?? 0),
    cost_usd: Math.round(num(s.costUsd) * 1e8) / 1e8,
  };
}

export function sessionView(s: SessionEntity) {
  return {
    id: s.id,
    object: 'session' as const,
    status: s.status,
    role: s.role,
    model: s.model,
    title: s.title,
    metadata: s.metadata ?? {},
    parent_id: s.parentId,
    root_id: s.rootId,
    task_id: s.taskId,
    policy: s.policy,
    fragments: (s.fragmentRefs ?? []).map((f) => ({ id: f.id, version: f.version, name: f.name, tokens: f.tokens })),
    usage: sessionUsageView(s),
    last_seq: s.lastSeq,
    created_at: unix(s.createdAt),
    closed_at: s.closedAt ? unix(s.closedAt) : null,
  };
}

export function messageView(sessionId: string, m: Pick<MessageEntity, 'seq' | 'role' | 'content' | 'name' | 'toolCallId' | 'toolCalls' | 'kind' | 'tokens'> & { createdAt?: Date }, window: WindowSpec) {
  return {
    id: `${sessionId}:${m.seq}`,
    object: 'session.message' as const,
    seq: m.seq,
    role: m.role,
    content: m.content,
    name: m.name ?? null,
    tool_call_id: m.toolCallId ?? null,
    tool_calls: m.toolCalls ?? null,
    kind: m.kind,
    tokens: m.tokens,
    in_window: isInWindow(window, m.seq, m.kind),
    created_at: unix(m.createdAt ?? new Date()),
  };
}
