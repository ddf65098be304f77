import { SYSTEM_PROMPT_CACHE_MIN_CHARS, SystemPromptCache } from './sessions.repository';

describe('SystemPromptCache (long system prompts the turn lock can leave out)', () => {
  const long = (c: string, n = SYSTEM_PROMPT_CACHE_MIN_CHARS) => c.repeat(n);

  it('keeps a long prompt with its size, and never a short or missing one', () => {
    const c = new SystemPromptCache();
    c.remember('s1', long('a'), SYSTEM_PROMPT_CACHE_MIN_CHARS);
    c.remember('s2', 'Be terse.', 9);
    c.remember('s3', null, null);
    expect(c.get('s1')).toEqual({ text: long('a'), bytes: SYSTEM_PROMPT_CACHE_MIN_CHARS });
    expect(c.get('s2')).toBeUndefined();
    expect(c.get('s3')).toBeUndefined();
  });

  it('replaces a session\'s prompt when it is read again with another text, and forgets it when it is no longer long', () => {
    const c = new SystemPromptCache();
    c.remember('s1', long('a'), 1);
    c.remember('s1', long('b'), 2);
    expect(c.get('s1')).toEqual({ text: long('b'), bytes: 2 });
    c.remember('s1', 'short now', 9);
    expect(c.get('s1')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('starts over rather than pass its bound in characters; a prompt over the bound is not kept', () => {
    const c = new SystemPromptCache(3 * SYSTEM_PROMPT_CACHE_MIN_CHARS);
    c.remember('s1', long('a'), 1);
    c.remember('s2', long('b'), 1);
    c.remember('s3', long('c'), 1);
    expect(c.size).toBe(3);
    c.remember('s4', long('d'), 1);
    expect([c.get('s1'), c.get('s2'), c.get('s3')]).toEqual([undefined, undefined, undefined]);
    expect(c.get('s4')?.text).toBe(long('d'));
    c.remember('s5', long('e', 4 * SYSTEM_PROMPT_CACHE_MIN_CHARS), 1);
    expect(c.get('s5')).toBeUndefined();
    expect(c.get('s4')?.text).toBe(long('d'));
  });
});
