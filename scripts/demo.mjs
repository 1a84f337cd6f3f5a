// Drives a small workload through the gateway with the official OpenAI SDK and prints a table.
// Usage: node scripts/demo.mjs http://127.0.0.1:8080/v1
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../tests/e2e/package.json', import.meta.url)));
const OpenAI = require('openai').default ?? require('openai');
const baseURL = process.argv[2] ?? 'http://127.0.0.1:8080/v1';
const client = new OpenAI({ baseURL, apiKey: 'not-needed-for-the-demo', maxRetries: 0 });

const prompts = [
  ['auto', 'What is the capital of Australia?'],
  ['auto', 'Write a Python function that reverses a linked list.'],
  ['sim-large', 'Explain why the sky is blue, step by step.'],
  ['auto', 'Extract {"name","age"} as JSON from: Ada, 36.'],
  ['sim-small', 'Say hi.'],
];

const rows = [];
for (const [model, content] of prompts) {
  const t0 = performance.now();
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content }] })
    .withResponse();
  rows.push({
    requested: model,
    route: response.headers.get('x-switchyard-route'),
    served_by: response.headers.get('x-switchyard-model'),
    attempts: response.headers.get('x-switchyard-attempts'),
    tokens: `${data.usage.prompt_tokens}+${data.usage.completion_tokens}`,
    cost_usd: Number(response.headers.get('x-switchyard-cost-usd')).toFixed(8),
    ms: (performance.now() - t0).toFixed(1),
  });
}

const t0 = performance.now();
let ttft = null;
let streamed = '';
const stream = await client.chat.completions.create({
  model: 'auto', stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'Stream a short answer.' }],
});
for await (const chunk of stream) {
  if (ttft === null) ttft = performance.now() - t0;
  if (chunk.choices.length) streamed += chunk.choices[0].delta.content ?? '';
}

console.log('\nSwitchyard demo: requests through the gateway on the embedded default\n');
console.table(rows);
console.log(`stream via "auto": first chunk after ${ttft.toFixed(1)} ms, ${streamed.split(' ').length} words`);
console.log(`\nTry it yourself with the OpenAI SDK (scripts/demo.sh --keep leaves it running):

  export OPENAI_BASE_URL=${baseURL}
  export OPENAI_API_KEY=unused
  python -c 'from openai import OpenAI; print(OpenAI().chat.completions.create(model="auto", messages=[{"role":"user","content":"hi"}]).choices[0].message.content)'

  curl -s ${baseURL}/chat/completions -d '{"model":"auto","messages":[{"role":"user","content":"hi"}]}'
  curl -s ${baseURL.replace('/v1', '')}/metrics | grep switchyard_
`);
