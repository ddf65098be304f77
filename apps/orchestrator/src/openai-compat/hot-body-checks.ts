import { array, bool, dtoCheck, int, nested, nestedArray, num, object, oneOf, optional, str, value } from '../common/fast-validation';
import type { FastBodyChecks } from '../common/validation';
import {
  AppendMessagesDto,
  FunctionDto,
  InputMessageDto,
  isMessageContent,
  isMetadata,
  isResponseFormat,
  isToolChoice,
  ToolCallDto,
  ToolCallFunctionDto,
  ToolDto,
} from '../sessions/sessions.dto';
import { ChatCompletionDto, ChatInputMessageDto, isStopSequences, StreamOptionsDto } from './chat-completions.dto';

// The class-validator rules of the two hot bodies (POST /v1/chat/completions, POST /v1/sessions/:id/messages),
// written out: a body they accept skips class-transformer and class-validator. Keep in step with the DTOs
// (hot-body-checks.spec.ts compares both ways on valid and invalid bodies).

const toolCallFunction = dtoCheck(ToolCallFunctionDto, { name: value(str(64, true)), arguments: value(str(400_000)) }, ['name', 'arguments']);
const toolCall = dtoCheck(ToolCallDto, { id: value(str(200, true)), type: value(oneOf(['function'])), function: nested(toolCallFunction) }, ['id', 'type', 'function']);

const inputMessageFields = {
  role: value(oneOf(['system', 'user', 'assistant', 'tool'])),
  content: value(isMessageContent),
  name: optional(value(str(64))),
  tool_call_id: optional(value(str(200, true))),
  tool_calls: optional(nestedArray(toolCall, 0, 64)),
};
const inputMessage = dtoCheck(InputMessageDto, inputMessageFields, ['role']);
const chatInputMessage = dtoCheck(
  ChatInputMessageDto,
  {
    ...inputMessageFields,
    refusal: optional(value(str(100_000))),
    annotations: optional(value(array)),
    audio: optional(value(object)),
    function_call: optional(value(object)),
  },
  ['role'],
);

const fn = dtoCheck(FunctionDto, { name: value(str(64, true)), description: optional(value(str(4000))), parameters: optional(value(object)), strict: optional(value(bool)) }, ['name']);
const tool = dtoCheck(ToolDto, { type: value(oneOf(['function'])), function: nested(fn) }, ['type', 'function']);
const streamOptions = dtoCheck(StreamOptionsDto, { include_usage: optional(value(bool)) });

const chatCompletion = dtoCheck(
  ChatCompletionDto,
  {
    model: optional(value(str(200, true))),
    messages: nestedArray(chatInputMessage, 1, 100_000),
    session_id: optional(value(str(200))),
    stream: optional(value(bool)),
    stream_options: optional(nested(streamOptions)),
    max_tokens: optional(value(int(1))),
    max_completion_tokens: optional(value(int(1))),
    temperature: optional(value(num(0, 2))),
    top_p: optional(value(num(0, 1))),
    n: optional(value(int(1, 1))),
    stop: optional(value(isStopSequences)),
    presence_penalty: optional(value(num(-2, 2))),
    frequency_penalty: optional(value(num(-2, 2))),
    tools: optional(nestedArray(tool, 0, 128)),
    tool_choice: optional(value(isToolChoice)),
    parallel_tool_calls: optional(value(bool)),
    response_format: optional(value(isResponseFormat)),
    seed: optional(value(int())),
    user: optional(value(str(256))),
    metadata: optional(value(isMetadata)),
    store: optional(value(bool)),
  },
  ['messages'],
);

const appendMessages = dtoCheck(
  AppendMessagesDto,
  {
    messages: nestedArray(inputMessage, 1, 256),
    generate: optional(value(bool)),
    max_tokens: optional(value(int(1))),
    temperature: optional(value(num(0, 2))),
    top_p: optional(value(num(0, 1))),
    tool_choice: optional(value(isToolChoice)),
    response_format: optional(value(isResponseFormat)),
    stream: optional(value(bool)),
  },
  ['messages'],
);

export const HOT_BODY_CHECKS: FastBodyChecks = new Map<abstract new () => object, (v: unknown) => unknown>([
  [ChatCompletionDto, chatCompletion],
  [AppendMessagesDto, appendMessages],
]);
