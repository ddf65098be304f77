import { ApiError } from '../common/api-error';
import { conversationId, inputToMessages, itemsOf, parseItemId, sessionIdOfConversation, toChatToolChoice, toChatTools } from './items';

const SID = '01a22f87-9115-7389-8b73-53f01e5072f0';

describe('Responses items <-> session messages', () => {
  it('a conversation id is the session id and back; anything else is not one', () => {
    expect(conversationId(SID)).toBe('conv_01a22f87911573898b7353f01e5072f0');
    expect(sessionIdOfConversation(conversationId(SID))).toBe(SID);
    for (const bad of ['conv_xyz', SID, 'conv_01A22F87911573898B7353F01E5072F0', '']) expect(sessionIdOfConversation(bad)).toBeNull();
  });

  it('item ids name the session, the seq and the call index', () => {
    const [msg, fc] = itemsOf(SID, { seq: 7, role: 'assistant', content: 'hi', toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }], kind: 'message' });
    expect(parseItemId(msg.id)).toEqual({ prefix: 'msg', sessionId: SID, seq: 7, index: null });
    expect(parseItemId(fc.id)).toEqual({ prefix: 'fc', sessionId: SID, seq: 7, index: 0 });
    expect(parseItemId('msg_nothex_1')).toBeNull();
  });

  it('maps each kind of message to its items', () => {
    expect(itemsOf(SID, { seq: 1, role: 'user', content: 'q', kind: 'message' })).toEqual([
      { id: expect.any(String), type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_text', text: 'q' }] },
    ]);
    expect(itemsOf(SID, { seq: 2, role: 'assistant', content: null, toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }], kind: 'message' })).toEqual([
      { id: expect.stringMatching(/^fc_/), type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"a":1}', status: 'completed' },
    ]);
    expect(itemsOf(SID, { seq: 3, role: 'tool', content: 'out', toolCallId: 'c1', kind: 'message' })).toEqual([
      { id: expect.stringMatching(/^fco_/), type: 'function_call_output', call_id: 'c1', output: 'out', status: 'completed' },
    ]);
    const [cmp] = itemsOf(SID, { seq: 4, role: 'system', content: 'Goal: x', kind: 'outline' });
    expect(cmp).toMatchObject({ type: 'compaction', encrypted_content: 'Goal: x' });
    expect(itemsOf(SID, { seq: 5, role: 'assistant', content: 'cut', kind: 'message' }, 'incomplete')[0].status).toBe('incomplete');
  });

  it('reads input: a string, messages with text parts, developer as system, function calls joined to their assistant message', () => {
    expect(inputToMessages('hello')).toEqual([{ role: 'user', content: 'hello' }]);
    expect(
      inputToMessages([
        { role: 'developer', content: 'rules' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_text', text: 'b' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'calling' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'two' }] },
        { type: 'function_call', call_id: 'c3', name: 'f', arguments: '{}' },
      ]),
    ).toEqual([
      { role: 'system', content: 'rules' },
      { role: 'user', content: 'ab' },
      {
        role: 'assistant',
        content: 'calling',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'g', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c2', content: 'two' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c3', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    ]);
  });

  it.each([
    [[], 'input'],
    ['', 'input'],
    [[{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }], 'input[0].content[0].type'],
    [[{ type: 'item_reference', id: 'msg_1' }], 'input[0].type'],
    [[{ role: 'tool', content: 'x' }], 'input[0].role'],
    [[{ type: 'function_call', name: 'f', arguments: '{}' }], 'input[0].call_id'],
    [['text'], 'input[0]'],
  ])('refuses bad input %j at %s', (input, param) => {
    let err: unknown;
    try {
      inputToMessages(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).param).toBe(param);
  });

  it('function tools and tool_choice in the chat shapes', () => {
    const tools = toChatTools([{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: true }]);
    expect(tools).toEqual([{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }]);
    expect(toChatToolChoice({ type: 'function', name: 'f' }, tools)).toEqual({ type: 'function', function: { name: 'f' } });
    expect(toChatToolChoice('required', tools)).toBe('required');
    expect(() => toChatToolChoice({ type: 'function', name: 'g' }, tools)).toThrow(ApiError);
    expect(() => toChatTools([{ type: 'web_search' }])).toThrow(ApiError);
    expect(() => toChatTools([{ type: 'function', name: 'f' }, { type: 'function', name: 'f' }])).toThrow(ApiError);
  });
});
