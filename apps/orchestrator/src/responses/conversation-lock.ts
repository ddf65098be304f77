import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../common/api-error';
import { SessionBusyError } from '../sessions/turn.service';

/**
 * Runs a turn on a conversation; while another turn holds it, waits for it (polling, up to waitMs),
 * instead of OpenAI's immediate `conversation_locked` failure. With waitMs 0, or past it, 409 conversation_locked.
 */
export async function waitForConversation<T>(waitMs: number, conversation: string, run: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  let pause = 25;
  for (;;) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof SessionBusyError)) throw err;
      if (Date.now() + pause > deadline) {
        throw new ApiError('conversation_locked', `Another request is in progress on conversation '${conversation}'${waitMs > 0 ? ` (waited ${waitMs} ms)` : ''}; retry when it has finished.`, 'conversation');
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 250);
    }
  }
}
