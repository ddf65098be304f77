import type { UpstreamChunk } from '@so/llm';
import type { SseWriter } from '../sessions/sse';
import type { TurnBegin, TurnStreamSink } from '../sessions/turn.service';
import { Item, itemId, outputTextPart } from './items';

type Body = Record<string, unknown> & { output: Item[]; status: string };

interface OpenItem {
  item: Item;
  index: number;
  text: string;
}

/**
 * A turn streamed as Responses SSE events (response.created, response.in_progress,
 * response.output_item.added, response.content_part.added, response.output_text.delta, ...,
 * response.completed), each with its sequence_number. Item ids are the ones the stored response and
 * the conversation's items carry (the reply's seq is known before the upstream call).
 */
export class ResponseStreamer implements TurnStreamSink {
  private seq = 0;
  private started = false;
  private sessionId: string | null = null;
  private replySeq = 0;
  private indexBase = 0;
  private text: OpenItem | null = null;
  private readonly calls = new Map<number, OpenItem>();
  private nextIndex = 0;

  private inProgress: () => Record<string, unknown> = () => ({});
  private prelude: (info: TurnBegin) => Promise<Item[]> = () => Promise.resolve([]);

  constructor(private readonly sse: SseWriter) {}

  /** `inProgress`: the response as response.created shows it; `prelude`: items known before the reply (a compaction's outline). */
  configure(inProgress: () => Record<string, unknown>, prelude?: (info: TurnBegin) => Promise<Item[]>): void {
    this.inProgress = inProgress;
    if (prelude) this.prelude = prelude;
  }

  private preludeItems: Item[] = [];

  private emit(type: string, fields: Record<string, unknown>): void {
    this.sse.send({ type, ...fields, sequence_number: this.seq++ });
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const r = this.inProgress();
    this.emit('response.created', { response: r });
    this.emit('response.in_progress', { response: r });
    for (const item of this.preludeItems) this.whole(item, this.nextIndex++);
  }

  async begin(info: TurnBegin): Promise<void> {
    this.sessionId = info.sessionId;
    this.replySeq = info.replySeq;
    this.preludeItems = await this.prelude(info);
    this.indexBase = this.preludeItems.length;
    this.nextIndex = this.indexBase;
  }

  chunk(c: UpstreamChunk): void {
    this.start();
    const delta = c.choices[0]?.delta ?? {};
    const content = delta.content;
    if (typeof content === 'string' && content.length > 0 && this.sessionId) {
      if (!this.text) {
        const item: Item = { id: itemId('msg', this.sessionId, this.replySeq), type: 'message', status: 'in_progress', role: 'assistant', content: [] };
        this.text = { item, index: this.nextIndex++, text: '' };
        this.emit('response.output_item.added', { output_index: this.text.index, item });
        this.emit('response.content_part.added', { item_id: item.id, output_index: this.text.index, content_index: 0, part: outputTextPart('') });
      }
      this.text.text += content;
      this.emit('response.output_text.delta', { item_id: this.text.item.id, output_index: this.text.index, content_index: 0, delta: content, logprobs: [] });
    }
    const toolCalls = delta.tool_calls as Array<{ index?: number; id?: string; function?: { name?: string; arguments?: string } }> | undefined;
    for (const tc of toolCalls ?? []) {
      if (!this.sessionId) break;
      const k = tc.index ?? 0;
      let open = this.calls.get(k);
      if (!open) {
        const item: Item = { id: itemId('fc', this.sessionId, this.replySeq, this.calls.size), type: 'function_call', status: 'in_progress', call_id: tc.id ?? '', name: tc.function?.name ?? '', arguments: '' };
        open = { item, index: this.nextIndex++, text: '' };
        this.calls.set(k, open);
        this.emit('response.output_item.added', { output_index: open.index, item });
      }
      const args = tc.function?.arguments;
      if (args) {
        open.text += args;
        this.emit('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.index, delta: args });
      }
    }
  }

  /** Closes what is open with the stored items, streams items not streamed yet (a replay: all of them), then response.completed. */
  finish(body: Body): void {
    this.start();
    const opened = new Map<string, OpenItem>();
    if (this.text) opened.set(this.text.item.id, this.text);
    for (const c of this.calls.values()) opened.set(c.item.id, c);
    const done = new Set(this.preludeItems.map((i) => i.id));
    body.output.forEach((item, index) => {
      if (done.has(item.id)) return;
      const open = opened.get(item.id);
      if (!open) return this.whole(item, index);
      if (item.type === 'message') this.closeText(item, index);
      else if (item.type === 'function_call') this.emit('response.function_call_arguments.done', { item_id: item.id, name: item.name, output_index: index, arguments: item.arguments });
      this.emit('response.output_item.done', { output_index: index, item });
    });
    this.emit(body.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: body });
    this.sse.done();
  }

  /** An item from nothing to done. */
  private whole(item: Item, index: number): void {
    const added = item.type === 'message' ? { ...item, status: 'in_progress', content: [] } : item.type === 'function_call' ? { ...item, status: 'in_progress', arguments: '' } : item;
    this.emit('response.output_item.added', { output_index: index, item: added });
    if (item.type === 'message') {
      const text = textOf(item);
      this.emit('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part: outputTextPart('') });
      if (text) this.emit('response.output_text.delta', { item_id: item.id, output_index: index, content_index: 0, delta: text, logprobs: [] });
      this.closeText(item, index);
    } else if (item.type === 'function_call') {
      if (item.arguments) this.emit('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: item.arguments });
      this.emit('response.function_call_arguments.done', { item_id: item.id, name: item.name, output_index: index, arguments: item.arguments });
    }
    this.emit('response.output_item.done', { output_index: index, item });
  }

  private closeText(item: Item, index: number): void {
    const text = textOf(item);
    this.emit('response.output_text.done', { item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] });
    this.emit('response.content_part.done', { item_id: item.id, output_index: index, content_index: 0, part: outputTextPart(text) });
  }

  get hasStarted(): boolean {
    return this.sse.hasStarted;
  }

  /** A failure after the stream started: an error event, then response.failed (nothing was stored). */
  fail(code: string, message: string, param: string | null): void {
    this.emit('error', { code, message, param });
    this.emit('response.failed', { response: { ...this.inProgress(), status: 'failed', error: { code: 'server_error', message } } });
    this.sse.done();
  }
}

function textOf(item: Item): string {
  const parts = (item.content as Array<{ text?: string }> | undefined) ?? [];
  return parts.map((p) => p.text ?? '').join('');
}
