import OpenAI, { type ClientOptions } from 'openai';
import type { Stream } from 'openai/streaming';
import type {
  AppendMessagesDto,
  AppendResponse,
  CreateSessionDto,
  ListMessagesQuery,
  ListSessionsQuery,
  MessageListResponse,
  SessionListResponse,
  SessionResponse,
} from '../../../apps/orchestrator/src/sessions/sessions.dto';
import type {
  CompressDto,
  CompressResponse,
  ContextResponse,
  CreateSnapshotDto,
  EventsQuery,
  ForkDto,
  SessionEventListResponse,
  RevokeShareResponse,
  ShareDto,
  ShareResponse,
  SnapshotListResponse,
  SnapshotResponse,
} from '../../../apps/orchestrator/src/session-state/session-state.dto';
import type { CreateFragmentDto, FragmentListResponse, FragmentResponse, UpdateFragmentDto } from '../../../apps/orchestrator/src/fragments/fragments.dto';
import type { CreateTaskDto, TaskResponse } from '../../../apps/orchestrator/src/tasks/tasks.dto';

// Request and response shapes are the server's own DTO classes (type-only imports): no hand-copied shapes.
export type {
  AppendMessagesDto,
  AppendResponse,
  CompressDto,
  CompressResponse,
  ContextResponse,
  CreateFragmentDto,
  CreateSessionDto,
  CreateSnapshotDto,
  CreateTaskDto,
  ForkDto,
  FragmentResponse,
  MessageListResponse,
  SessionEventListResponse,
  SessionResponse,
  RevokeShareResponse,
  ShareResponse,
  SnapshotResponse,
  TaskResponse,
};

/** Plain data of a DTO class (what goes over the wire). */
type Body<T> = { [K in keyof T]: T[K] };

export interface AppendStreamChunk extends OpenAI.Chat.Completions.ChatCompletionChunk {
  /** Present on the closing chunk. */
  session_usage?: AppendResponse['session_usage'];
  compaction?: Record<string, unknown> | null;
  turn_id?: string;
  seqs?: number[];
}

export interface LineageNode {
  id: string;
  role: string;
  status: string;
  title: string | null;
  task_id: string | null;
  parent_id: string | null;
  snapshots: SnapshotResponse[];
  outlines: Array<{ outline_seq: number; session_id: string; snapshot_id: string; seq_range: [number, number]; input_tokens: number; output_tokens: number; achieved_ratio: number; method: string; trigger: string }>;
  merged_outlines: Array<{ master_seq: number; child_index: number; child_session_id: string; snapshot_id: string | null; seq_range: [number, number] }>;
  children: LineageNode[];
}

abstract class Resource {
  constructor(protected readonly client: SessionOrchestrator) {}
}

export class SessionSnapshots extends Resource {
  create(sessionId: string, body: Body<CreateSnapshotDto> = {}): Promise<SnapshotResponse> {
    return this.client.post(`/sessions/${sessionId}/snapshots`, { body });
  }

  list(sessionId: string, query: { limit?: number; after?: string } = {}): Promise<Body<SnapshotListResponse>> {
    return this.client.get(`/sessions/${sessionId}/snapshots`, { query });
  }
}

export class Sessions extends Resource {
  readonly snapshots = new SessionSnapshots(this.client);

  create(body: Body<CreateSessionDto> = {}): Promise<SessionResponse> {
    return this.client.post('/sessions', { body });
  }

  retrieve(id: string): Promise<SessionResponse> {
    return this.client.get(`/sessions/${id}`);
  }

  list(query: Body<ListSessionsQuery> = {}): Promise<Body<SessionListResponse>> {
    return this.client.get('/sessions', { query });
  }

  /** Closes the session: its pool slot is released, its data kept. */
  close(id: string): Promise<SessionResponse> {
    return this.client.delete(`/sessions/${id}`);
  }

  /** Appends messages and (by default) returns the model's reply. */
  append(id: string, body: Omit<Body<AppendMessagesDto>, 'stream'>, opts: { idempotencyKey?: string } = {}): Promise<AppendResponse> {
    return this.client.post(`/sessions/${id}/messages`, { body: { ...body, stream: false }, headers: idempotencyHeader(opts.idempotencyKey) });
  }

  /** The same, streamed: OpenAI chunks, the last one carrying usage, session_usage and compaction. */
  appendStream(id: string, body: Omit<Body<AppendMessagesDto>, 'stream'>, opts: { idempotencyKey?: string } = {}): Promise<Stream<AppendStreamChunk>> {
    return this.client.post(`/sessions/${id}/messages`, { body: { ...body, stream: true }, headers: idempotencyHeader(opts.idempotencyKey), stream: true }) as unknown as Promise<Stream<AppendStreamChunk>>;
  }

  messages(id: string, query: Body<ListMessagesQuery> = {}): Promise<Body<MessageListResponse>> {
    return this.client.get(`/sessions/${id}/messages`, { query });
  }

  context(id: string): Promise<ContextResponse> {
    return this.client.get(`/sessions/${id}/context`);
  }

  truncate(id: string, body: { preserve_len: number }): Promise<ContextResponse> {
    return this.client.post(`/sessions/${id}/truncate`, { body });
  }

  compress(id: string, body: Body<CompressDto> = {}): Promise<CompressResponse> {
    return this.client.post(`/sessions/${id}/compress`, { body });
  }

  restore(id: string, body: { snapshot_id: string }): Promise<SessionResponse & { restored_snapshot_id: string; pre_restore_snapshot_id: string }> {
    return this.client.post(`/sessions/${id}/restore`, { body });
  }

  events(id: string, query: Body<EventsQuery> = {}): Promise<Body<SessionEventListResponse>> {
    return this.client.get(`/sessions/${id}/events`, { query });
  }

  lineage(id: string): Promise<{ object: 'session.lineage'; root: LineageNode; total_sessions: number }> {
    return this.client.get(`/sessions/${id}/lineage`);
  }

  upgradeFragments(id: string): Promise<SessionResponse & { upgraded: Array<{ id: string; version: number }> }> {
    return this.client.post(`/sessions/${id}/fragments/upgrade`);
  }
}

export class Snapshots extends Resource {
  fork(snapshotId: string, body: Body<ForkDto> = {}): Promise<SessionResponse> {
    return this.client.post(`/snapshots/${snapshotId}/fork`, { body });
  }

  /** A token another account forks with; `expires_in` seconds (default: the service's SHARE_TTL_S). */
  share(snapshotId: string, body: Body<ShareDto> = {}): Promise<ShareResponse> {
    return this.client.post(`/snapshots/${snapshotId}/share`, { body });
  }

  /** The token stops working at once. */
  revokeShare(snapshotId: string): Promise<RevokeShareResponse> {
    return this.client.delete(`/snapshots/${snapshotId}/share`);
  }
}

export class Fragments extends Resource {
  create(body: Body<CreateFragmentDto>): Promise<FragmentResponse> {
    return this.client.post('/fragments', { body });
  }

  retrieve(id: string): Promise<FragmentResponse> {
    return this.client.get(`/fragments/${id}`);
  }

  list(query: { limit?: number; after?: string } = {}): Promise<Body<FragmentListResponse>> {
    return this.client.get('/fragments', { query });
  }

  update(id: string, body: Body<UpdateFragmentDto>): Promise<FragmentResponse> {
    return this.client.put(`/fragments/${id}`, { body });
  }

  del(id: string): Promise<{ id: string; deleted: boolean }> {
    return this.client.delete(`/fragments/${id}`);
  }
}

export class Tasks extends Resource {
  create(body: Body<CreateTaskDto>): Promise<TaskResponse> {
    return this.client.post('/tasks', { body });
  }

  retrieve(id: string): Promise<TaskResponse> {
    return this.client.get(`/tasks/${id}`);
  }

  list(query: { limit?: number; after?: string } = {}): Promise<{ object: 'list'; data: TaskResponse[]; has_more: boolean; last_id: string | null }> {
    return this.client.get('/tasks', { query });
  }

  cancel(id: string): Promise<TaskResponse> {
    return this.client.post(`/tasks/${id}/cancel`);
  }

  /** Progress as an async iterator: one task object per change, ending when the task ends. */
  async *events(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<TaskResponse & { event: 'progress' | 'done' }> {
    const res = await fetch(`${this.client.baseURL.replace(/\/$/, '')}/tasks/${id}/events`, {
      headers: { authorization: `Bearer ${this.client.apiKey}`, accept: 'text/event-stream' },
      signal: opts.signal,
    });
    if (!res.ok || !res.body) {
      const body = await res.text();
      throw OpenAI.APIError.generate(res.status, safeJson(body), undefined, res.headers);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(part, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of raw.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (!data.length) continue;
        const task = JSON.parse(data.join('\n')) as TaskResponse;
        yield { ...task, event: event === 'done' ? 'done' : 'progress' };
        if (event === 'done') return;
      }
    }
  }
}

/**
 * The official `openai` client, pointed at session-orchestrator, plus its session operations.
 * `client.chat.completions.create({..., session_id})` appends to a session; `client.sessions.*`,
 * `client.snapshots.*`, `client.fragments.*`, `client.tasks.*` call the rest of the API.
 */
export class SessionOrchestrator extends OpenAI {
  readonly sessions: Sessions;
  readonly snapshots: Snapshots;
  readonly fragments: Fragments;
  readonly tasks: Tasks;

  constructor(opts: ClientOptions = {}) {
    super({
      ...opts,
      apiKey: opts.apiKey ?? process.env.SO_API_KEY,
      baseURL: opts.baseURL ?? process.env.SO_BASE_URL ?? 'http://localhost:3000/v1',
    });
    this.sessions = new Sessions(this);
    this.snapshots = new Snapshots(this);
    this.fragments = new Fragments(this);
    this.tasks = new Tasks(this);
  }
}

function idempotencyHeader(key: string | undefined): Record<string, string> | undefined {
  return key ? { 'Idempotency-Key': key } : undefined;
}

function safeJson(s: string): object | undefined {
  try {
    return JSON.parse(s) as object;
  } catch {
    return undefined;
  }
}
