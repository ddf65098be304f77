import { countTokens } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import type { ChatMessage, ToolDefinition } from '@so/domain';
import { countInBoundedPieces } from './bounded-pieces';

/** Chat-format overhead per message (role markers), as OpenAI-style tokenizers count it. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * Local token estimate. Kimi's tokenizer is not published as a package; o200k_base is the closest
 * public BPE by vocabulary size. The upstream's reported `usage` corrects it per session. Counting is
 * linear in the text's length (see bounded-pieces.ts), so no input can stall the event loop.
 */
export class TokenEstimator {
  countText(text: string | null | undefined): number {
    if (!text) return 0;
    // Linear whatever the input: long runs without a break are encoded in bounded pieces.
    return countInBoundedPieces(text, countTokens);
  }

  countMessage(m: Pick<ChatMessage, 'content' | 'name' | 'tool_call_id' | 'tool_calls'>): number {
    let n = MESSAGE_OVERHEAD_TOKENS + this.countText(m.content);
    if (m.name) n += this.countText(m.name);
    if (m.tool_call_id) n += this.countText(m.tool_call_id);
    if (m.tool_calls?.length) n += this.countText(JSON.stringify(m.tool_calls));
    return n;
  }

  countMessages(ms: Array<Pick<ChatMessage, 'content' | 'name' | 'tool_call_id' | 'tool_calls'>>): number {
    let n = 0;
    for (const m of ms) n += this.countMessage(m);
    return n;
  }

  countTools(tools: ToolDefinition[] | null | undefined): number {
    return tools?.length ? this.countText(JSON.stringify(tools)) : 0;
  }
}
