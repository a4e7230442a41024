// The official SDKs against lineage's gateway, as agents written with them call it: OpenAI's Chat
// Completions and Responses API and Anthropic's Messages, each plain and streaming, text and tool calls.
// tests/llm/sdk_test.cc starts the fake model server and a gateway in front of it, then runs this with
// LINEAGE_GATEWAY_URL and LINEAGE_GATEWAY_TOKEN set. The fake model answers "say hello" with
// "Hello from the model." and "use the tool" with a call of bash {"command": "ls -la"}, streaming when
// asked (16 bytes a piece), and "break midway" with a stream it cuts off halfway.
// Exits 1 after printing every check that failed.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const url = process.env.LINEAGE_GATEWAY_URL;
const token = process.env.LINEAGE_GATEWAY_TOKEN;
const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: url, apiKey: token, maxRetries: 0 });

const HELLO = 'Hello from the model.';
const failures = [];
function check(name, ok, got) {
  if (!ok) failures.push(`${name}: got ${JSON.stringify(got)}`);
  else console.log(`ok ${name}`);
}

const bashTool = {
  name: 'bash',
  description: 'Run a shell command',
  parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
};

async function chatCompletions() {
  const plain = await openai.chat.completions.create({
    model: 'default', messages: [{ role: 'user', content: 'say hello' }],
  });
  check('chat: plain text', plain.choices[0].message.content === HELLO, plain.choices[0].message);

  const stream = await openai.chat.completions.create({
    model: 'default', messages: [{ role: 'user', content: 'say hello' }], stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let pieces = 0;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0 && chunk.choices[0].delta.content) {
      text += chunk.choices[0].delta.content;
      pieces += 1;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  check('chat: streamed text', text === HELLO, text);
  check('chat: streamed as the upstream sent it, in pieces', pieces >= 2, pieces);
  check('chat: streamed usage (include_usage)', usage !== null && usage.completion_tokens > 0, usage);

  // The SDK's helper merges tool-call fragments by index.
  const runner = openai.chat.completions.stream({
    model: 'default', messages: [{ role: 'user', content: 'use the tool' }],
    tools: [{ type: 'function', function: bashTool }],
  });
  const done = await runner.finalChatCompletion();
  const call = done.choices[0].message.tool_calls?.[0];
  check('chat: streamed tool call', call?.function.name === 'bash' &&
        JSON.parse(call.function.arguments).command === 'ls -la' && done.choices[0].finish_reason === 'tool_calls', done.choices[0]);
}

// A stream the provider cuts off halfway ends with an error each SDK raises, after the pieces before it.
async function cutShort() {
  let text = '';
  let raised = null;
  try {
    const stream = await openai.chat.completions.create({
      model: 'default', messages: [{ role: 'user', content: 'break midway' }], stream: true,
    });
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  } catch (error) {
    raised = error;
  }
  check('chat: a stream cut short raises an APIError after its first pieces',
        raised instanceof OpenAI.APIError && text.length > 0, { text, raised: String(raised) });

  raised = null;
  try {
    await anthropic.messages.stream({
      model: 'default', max_tokens: 256, messages: [{ role: 'user', content: 'break midway' }],
    }).finalMessage();
  } catch (error) {
    raised = error;
  }
  check('messages: a stream cut short raises an APIError', raised instanceof Anthropic.APIError, String(raised));

  const events = [];
  const stream = await openai.responses.create({ model: 'default', input: 'break midway', stream: true });
  try {
    for await (const event of stream) events.push(event.type);
  } catch (error) {
    events.push(`raised ${error?.constructor?.name}`);
  }
  check('responses: a stream cut short ends with an error event', events.includes('response.output_text.delta') &&
        events.at(-1) === 'error' && !events.includes('response.completed'), events);
}

async function responses() {
  const plain = await openai.responses.create({ model: 'default', input: 'say hello' });
  check('responses: plain text (output_text)', plain.output_text === HELLO, plain.output);

  const call = await openai.responses.create({
    model: 'default', input: 'use the tool', tools: [{ type: 'function', ...bashTool }],
  });
  const fc = call.output.find((item) => item.type === 'function_call');
  check('responses: function call', fc?.name === 'bash' && JSON.parse(fc.arguments).command === 'ls -la', call.output);

  // The tool's output goes back as an item, with the call it answers.
  const next = await openai.responses.create({
    model: 'default', tools: [{ type: 'function', ...bashTool }],
    input: [
      { role: 'user', content: 'use the tool' },
      fc,
      { type: 'function_call_output', call_id: fc.call_id, output: 'total 0; now say hello' },
    ],
  });
  check('responses: function_call_output answered', next.output_text === HELLO, next.output);

  const stream = await openai.responses.create({ model: 'default', input: 'say hello', stream: true });
  let text = '';
  let completed = null;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  check('responses: streamed text', text === HELLO && completed?.status === 'completed', { text, completed });

  const helper = openai.responses.stream({
    model: 'default', input: 'use the tool', tools: [{ type: 'function', ...bashTool }],
  });
  const final = await helper.finalResponse();
  const streamedCall = final.output.find((item) => item.type === 'function_call');
  check('responses: streamed function call', streamedCall?.name === 'bash', final.output);
}

async function messages() {
  const plain = await anthropic.messages.create({
    model: 'default', max_tokens: 256, messages: [{ role: 'user', content: 'say hello' }],
  });
  check('messages: plain text', plain.content[0].text === HELLO, plain.content);

  let text = '';
  const stream = anthropic.messages.stream({
    model: 'default', max_tokens: 256, messages: [{ role: 'user', content: 'say hello' }],
  });
  stream.on('text', (delta) => { text += delta; });
  const final = await stream.finalMessage();
  check('messages: streamed text', text === HELLO && final.stop_reason === 'end_turn', { text, final });
  check('messages: streamed usage', final.usage.output_tokens > 0, final.usage);

  const tool = await anthropic.messages.stream({
    model: 'default', max_tokens: 256, messages: [{ role: 'user', content: 'use the tool' }],
    tools: [{ name: 'bash', description: bashTool.description, input_schema: bashTool.parameters }],
  }).finalMessage();
  const use = tool.content.find((b) => b.type === 'tool_use');
  check('messages: streamed tool use (input_json_delta)', use?.name === 'bash' && use.input.command === 'ls -la' &&
        tool.stop_reason === 'tool_use', tool.content);

  // Raw events, as an agent iterating the stream itself sees them.
  const raw = await anthropic.messages.create({
    model: 'default', max_tokens: 256, messages: [{ role: 'user', content: 'say hello' }], stream: true,
  });
  const types = [];
  for await (const event of raw) types.push(event.type);
  check('messages: event order', types[0] === 'message_start' && types.at(-1) === 'message_stop' &&
        types.includes('content_block_delta') && types.includes('message_delta'), types);
}

// Prompt caching: the second call of the same long prefix reads it from the cache, whether the caller
// marked a breakpoint (Anthropic's cache_control) or not (the gateway marks them for an Anthropic
// upstream; OpenAI caches prefixes by itself).
async function caching() {
  const rules = 'Follow the house rules. '.repeat(200);
  const explicit = () => anthropic.messages.create({
    model: 'default', max_tokens: 64,
    system: [{ type: 'text', text: rules, cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'say hello' }],
  });
  await explicit();
  const again = await explicit();
  check('caching: explicit cache_control is read back', again.usage.cache_read_input_tokens > 0, again.usage);

  const automatic = () => openai.chat.completions.create({
    model: 'default', messages: [{ role: 'system', content: `${rules} (automatic)` }, { role: 'user', content: 'say hello' }],
  });
  await automatic();
  const cached = await automatic();
  check('caching: an unmarked prompt is cached too', cached.usage.prompt_tokens_details?.cached_tokens > 0, cached.usage);
}

for (const [name, run] of [['chat completions', chatCompletions], ['responses', responses], ['messages', messages],
                           ['caching', caching], ['cut short', cutShort]]) {
  try {
    await run();
  } catch (error) {
    failures.push(`${name}: threw ${error?.constructor?.name}: ${error?.message}`);
  }
}
if (failures.length > 0) {
  console.log(failures.map((f) => `FAIL ${f}`).join('\n'));
  process.exit(1);
}
console.log('all SDK checks passed');
