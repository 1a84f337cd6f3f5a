// End to end: the real binaries (switchyard, switchyard-sim) as separate processes, driven by the
// official OpenAI SDK, with /metrics checked by the real promtool. Run by scripts/test.sh:
//   SWITCHYARD_BUILD=build/release node --test tests/e2e/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitHttp } from './support.mjs';
import OpenAI from 'openai';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const build = resolve(root, process.env.SWITCHYARD_BUILD ?? 'build/release');
const gatewayBin = join(build, 'switchyard');
const simBin = join(build, 'switchyard-sim');

const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
const procs = [];
let gatewayPort;
let client;

function start(bin, args) {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.output = '';
  p.stdout.on('data', (d) => (p.output += d));
  p.stderr.on('data', (d) => (p.output += d));
  procs.push(p);
  return p;
}

function config(simPort, listen) {
  return `server:
  listen: ${listen}
  workers: 2
upstreams:
  - name: sim
    base_url: http://127.0.0.1:${simPort}/v1
    models:
      - name: small
        id: "small;tokens=6;token_interval_ms=5"
        price_usd_per_mtok: {input: 0.15, output: 0.60}
      - name: large
        id: "large;tokens=12"
        price_usd_per_mtok: {input: 2.5, output: 10}
      - name: embed
        price_usd_per_mtok: {input: 0.02, output: 0}
  - name: dead
    base_url: http://127.0.0.1:1/v1
    models:
      - name: gone
routes:
  auto:
    stages:
      - type: static
        models: [small, large]
`;
}

before(async () => {
  const simPort = await freePort();
  gatewayPort = await freePort();
  start(simBin, ['--listen', `127.0.0.1:${simPort}`]);
  writeFileSync(join(dir, 'switchyard.yaml'), config(simPort, `127.0.0.1:${gatewayPort}`));
  start(gatewayBin, ['--config', join(dir, 'switchyard.yaml')]);
  await waitHttp(`http://127.0.0.1:${simPort}/healthz`);
  await waitHttp(`http://127.0.0.1:${gatewayPort}/readyz`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${gatewayPort}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('chat completion through the auto route', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'auto', messages: [{ role: 'user', content: 'Hello there' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.ok(data.choices[0].message.content.length > 0);
  assert.equal(data.usage.completion_tokens, 6);
  assert.equal(response.headers.get('x-switchyard-route'), 'auto');
  assert.equal(response.headers.get('x-switchyard-model'), 'small');
  assert.ok(Number(response.headers.get('x-switchyard-cost-usd')) > 0);
});

test('streaming with include_usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'large',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Stream please' }],
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) text += chunk.choices[0].delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.split(' ').length >= 12, text);
  assert.equal(usage.completion_tokens, 12);
  // What the answer cost, in-band: 2.5 $/Mtok in, 10 $/Mtok out.
  const expected = (usage.prompt_tokens * 2.5 + usage.completion_tokens * 10) / 1e6;
  assert.ok(Math.abs(usage.cost - expected) < 1e-8, `usage.cost ${usage.cost}, expected ${expected}`);
});

test('a request every candidate failed says x-should-retry: false, so the SDK does not retry', async () => {
  const metrics = async () => (await fetch(`http://127.0.0.1:${gatewayPort}/metrics`)).text();
  const count = (text) => Number(/switchyard_requests_total\{code="502",model="gone",route="passthrough"\} (\S+)/.exec(text)[1]);
  const before = count(await metrics());
  const retrying = new OpenAI({ baseURL: `http://127.0.0.1:${gatewayPort}/v1`, apiKey: 'unused', maxRetries: 2 });
  await assert.rejects(
    retrying.chat.completions.create({ model: 'gone', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 502 && e.headers.get('x-should-retry') === 'false');
  let after = before;
  for (let i = 0; i < 50 && after === before; ++i) {
    after = count(await metrics());
    if (after === before) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(after - before, 1, 'the SDK sent the request more than once');
});

test('models list shows models and routes', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['small', 'large', 'embed', 'gone', 'auto']);
});

test('embeddings', async () => {
  const r = await client.embeddings.create({ model: 'embed', input: ['a cat', 'a cat!'] });
  assert.equal(r.data.length, 2);
  assert.ok(r.data[0].embedding.length > 0);
});

test('unknown model is an SDK NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /does not exist/.test(e.message),
  );
});

test('/metrics passes promtool check metrics', async () => {
  const text = await (await fetch(`http://127.0.0.1:${gatewayPort}/metrics`)).text();
  assert.match(text, /switchyard_requests_total\{code="200",model="small",route="auto"\}/);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('--validate-config exits 0 for a good file and 1 naming the path for a bad one', () => {
  const good = spawnSync(gatewayBin, ['--validate-config', '--config', join(dir, 'switchyard.yaml')]);
  assert.equal(good.status, 0);
  writeFileSync(join(dir, 'bad.yaml'), 'upstreams:\n  - name: a\n    base_url: http://x\n    models: [{name: m, pirce: 1}]\n');
  const bad = spawnSync(gatewayBin, ['--validate-config', '--config', join(dir, 'bad.yaml')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /upstreams\[0\]\.models\[0\]\.pirce: unknown key/);
});

test('SIGHUP and a changed file both reload the config', async () => {
  const port = await freePort();
  const simPort = await freePort();
  start(simBin, ['--listen', `127.0.0.1:${simPort}`]);
  const path = join(dir, 'reload.yaml');
  writeFileSync(path, config(simPort, `127.0.0.1:${port}`));
  const gw = start(gatewayBin, ['--config', path]);
  await waitHttp(`http://127.0.0.1:${simPort}/healthz`);
  await waitHttp(`http://127.0.0.1:${port}/readyz`);
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ids = async () => { const out = []; for await (const m of c.models.list()) out.push(m.id); return out; };
  assert.ok(!(await ids()).includes('extra'));

  // SIGHUP: rename a model, signal, and it is served at once.
  writeFileSync(path, config(simPort, `127.0.0.1:${port}`).replace('- name: embed', '- name: extra'));
  gw.kill('SIGHUP');
  const until = Date.now() + 5000;
  while (!(await ids()).includes('extra') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok((await ids()).includes('extra'), gw.output);

  // No signal: the file watcher (server.reload_poll_ms, default 1 s) picks the change up.
  writeFileSync(path, config(simPort, `127.0.0.1:${port}`).replace('- name: embed', '- name: watched'));
  const until2 = Date.now() + 5000;
  while (!(await ids()).includes('watched') && Date.now() < until2) await new Promise((r) => setTimeout(r, 100));
  assert.ok((await ids()).includes('watched'), gw.output);
  gw.kill('SIGTERM');
});

test('SIGTERM drains and exits 0', async () => {
  const port = await freePort();
  const simPort = await freePort();
  start(simBin, ['--listen', `127.0.0.1:${simPort}`]);
  writeFileSync(join(dir, 'drain.yaml'), config(simPort, `127.0.0.1:${port}`).replace('tokens=12', 'tokens=10;token_interval_ms=60'));
  const gw = start(gatewayBin, ['--config', join(dir, 'drain.yaml')]);
  await waitHttp(`http://127.0.0.1:${simPort}/healthz`);
  await waitHttp(`http://127.0.0.1:${port}/readyz`);
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await c.chat.completions.create({
    model: 'large', stream: true, messages: [{ role: 'user', content: 'long answer' }],
  });
  const exited = new Promise((ok) => gw.on('exit', (code, signal) => ok({ code, signal })));
  let chunks = 0;
  for await (const chunk of stream) {
    if (chunks++ === 1) gw.kill('SIGTERM');  // mid-stream
  }
  assert.ok(chunks >= 11, `stream was cut after ${chunks} chunks`);
  const { code } = await exited;
  assert.equal(code, 0, gw.output);
});

test('--health probes the admin listener: 0 while it answers, 1 once it is gone', async () => {
  const port = await freePort();
  const adminPort = await freePort();
  const simPort = await freePort();
  const path = join(dir, 'health.yaml');
  writeFileSync(path, config(simPort, `127.0.0.1:${port}`)
    .replace('  workers: 2\n', `  workers: 1\n  admin_listen: 127.0.0.1:${adminPort}\n`));
  const gw = start(gatewayBin, ['--config', path]);
  await waitHttp(`http://127.0.0.1:${adminPort}/healthz`);
  const up = spawnSync(gatewayBin, ['--health', '--config', path], { encoding: 'utf8' });
  assert.equal(up.status, 0, up.stderr);
  const exited = new Promise((ok) => gw.on('exit', ok));
  gw.kill('SIGTERM');
  await exited;
  const down = spawnSync(gatewayBin, ['--health', '--config', path], { encoding: 'utf8' });
  assert.equal(down.status, 1);
  assert.match(down.stderr, new RegExp(`unhealthy: GET http://127.0.0.1:${adminPort}/healthz`));
});

test('--log-format json: stdout is one JSON object per line, names with quotes included', async () => {
  const port = await freePort();
  const simPort = await freePort();
  start(simBin, ['--listen', `127.0.0.1:${simPort}`]);
  const path = join(dir, 'jsonlog.yaml');
  writeFileSync(path, config(simPort, `127.0.0.1:${port}`).replace('  auto:', `  'say "hi"\\':`));
  const gw = spawn(gatewayBin, ['--config', path, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(gw);
  let stdout = '';
  let stderr = '';
  gw.stdout.on('data', (d) => (stdout += d));
  gw.stderr.on('data', (d) => (stderr += d));
  await waitHttp(`http://127.0.0.1:${simPort}/healthz`);
  await waitHttp(`http://127.0.0.1:${port}/readyz`);
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  await c.chat.completions.create({ model: 'say "hi"\\', messages: [{ role: 'user', content: 'hi' }] });
  await assert.rejects(c.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }));
  const exited = new Promise((ok) => gw.on('exit', ok));
  gw.kill('SIGTERM');
  await exited;
  const lines = stdout.split('\n').filter((l) => l.length);
  assert.ok(lines.length >= 2, stdout);
  const records = lines.map((l) => JSON.parse(l));  // throws on a line that is not JSON
  assert.ok(records.some((r) => r.route === 'say "hi"\\' && r.status === 200), stdout);
  assert.ok(records.some((r) => r.status === 404), stdout);
  assert.match(stderr, /listening on/);  // the plain log lines went to stderr
});
