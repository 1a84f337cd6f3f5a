// Issue 6's resource probes against the real `switchyard` binary, as an attacker would send them:
// a deeply nested body, bodies that amplify into memory, and more idle connections than the
// process has descriptors. Processes are stopped by PID. Run by scripts/test.sh:
//   SWITCHYARD_BUILD=build/release node --test tests/e2e/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, waitHttp } from './support.mjs';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const build = resolve(root, process.env.SWITCHYARD_BUILD ?? 'build/release');
const gatewayBin = join(build, 'switchyard');
const dir = mkdtempSync(join(tmpdir(), 'switchyard-hostile-'));
// Sanitizer builds keep shadow memory: their RSS says nothing about the gateway's own.
const sanitized = /san/.test(build);
const procs = [];

// The gateway, optionally under a descriptor limit (ulimit -n sets soft and hard).
function startGateway(port, deadPort, nofile, serverExtra = '') {
  const cfg = join(dir, `gw-${port}.yaml`);
  writeFileSync(cfg, `server:
  listen: 127.0.0.1:${port}
  workers: 1
${serverExtra}upstreams:
  - name: dead
    base_url: http://127.0.0.1:${deadPort}/v1
    connect_timeout_ms: 200
    models:
      - name: sim-nano
`);
  const cmd = nofile ? `ulimit -n ${nofile} && exec "${gatewayBin}" --config "${cfg}"`
                     : `exec "${gatewayBin}" --config "${cfg}"`;
  const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.output = '';
  p.stdout.on('data', (d) => (p.output += d));
  p.stderr.on('data', (d) => (p.output += d));
  procs.push(p);
  return p;
}

function status(pid) {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}
function kib(pid, field) {
  return Number(status(pid).match(new RegExp(`${field}:\\s+(\\d+) kB`))[1]);
}
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime + stime, in clock ticks
}

// `n` connections that send nothing: idle keep-alive connections, as the gateway sees them.
function openIdle(port, n) {
  return Array.from({ length: n }, () => net.connect(port, '127.0.0.1').on('error', () => {}));
}

let port;
let gw;

before(async () => {
  port = await freePort();
  gw = startGateway(port, await freePort());
  await waitHttp(`http://127.0.0.1:${port}/readyz`);
});

after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function post(body) {
  return fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

test('a body nested 70,000 levels deep is a 400, and the gateway lives', async () => {
  const n = 70000;
  const r = await post('{"model":"sim-nano","messages":[' + '['.repeat(n) + ']'.repeat(n) + ']}');
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /nested more than 64 levels/);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  assert.equal(gw.exitCode, null);
});

test('16 concurrent 4 MB bodies of [{},{},…] cost a few copies of the body, not a DOM', async () => {
  const items = Math.floor((4 * 1024 * 1024 - 64) / 3);
  const body = '{"model":"sim-nano","messages":[' + '{},'.repeat(items - 1) + '{}]}';
  const pid = gw.pid;  // bash exec'd into the gateway: same PID
  const rssBefore = kib(pid, 'VmRSS');
  const cpuBefore = cpuSeconds(pid);
  const answers = await Promise.all(Array.from({ length: 16 }, () => post(body)));
  // Parsed and forwarded: the dead upstream makes each a 502, after the body was handled.
  for (const r of answers) assert.equal(r.status, 502, await r.text());
  const peak = kib(pid, 'VmHWM');
  const cpu = cpuSeconds(pid) - cpuBefore;
  const perRequestMiB = (peak - rssBefore) / 1024 / 16;
  console.log(`# 16 x ${(body.length / 1048576).toFixed(1)} MiB: peak RSS +${((peak - rssBefore) / 1024).toFixed(0)} MiB` +
              ` (${perRequestMiB.toFixed(1)} MiB per request), CPU ${(cpu * 1000 / 16).toFixed(0)} ms per request`);
  // A DOM of this body was ~100 MB; holding it (received, forwarded) is ~8 MiB.
  if (!sanitized)
    assert.ok(perRequestMiB < 16, `peak RSS grew ${perRequestMiB.toFixed(1)} MiB per request`);
});

test('more idle connections than descriptors: health checks still answer', async () => {
  const p2 = await freePort();
  const limited = startGateway(p2, await freePort(), 256);
  await waitHttp(`http://127.0.0.1:${p2}/readyz`);
  const sockets = openIdle(p2, 400);
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  const r = await fetch(`http://127.0.0.1:${p2}/healthz`, { signal: AbortSignal.timeout(3000) });
  assert.equal(r.status, 200);
  assert.ok(Date.now() - started < 3000);
  const metrics = await (await fetch(`http://127.0.0.1:${p2}/metrics`)).text();
  const shed = Number(metrics.match(/switchyard_connections_closed_total\{reason="shed_idle"\} (\d+)/)[1]);
  assert.ok(shed >= 400 - 64, `only ${shed} idle connections were shed`);
  for (const s of sockets) s.destroy();
  // accept() never hit EMFILE, or if it did, said so rarely.
  const lines = limited.output.split('\n').filter((l) => l.includes('accept failed')).length;
  assert.ok(lines <= 2, limited.output);
  assert.equal(limited.exitCode, null);
});

test('out of descriptors: accept backs off, says so rarely, and recovers', async () => {
  const p3 = await freePort();
  // A cap above the descriptor limit, so that accept() itself runs out.
  const gw3 = startGateway(p3, await freePort(), 256, '  max_connections: 100000\n');
  await waitHttp(`http://127.0.0.1:${p3}/readyz`);
  const sockets = openIdle(p3, 400);
  await new Promise((r) => setTimeout(r, 1500));
  for (const s of sockets) s.destroy();
  await waitHttp(`http://127.0.0.1:${p3}/healthz`, 5000);
  const metrics = await (await fetch(`http://127.0.0.1:${p3}/metrics`)).text();
  const failures = Number(metrics.match(/switchyard_accept_errors_total (\d+)/)[1]);
  assert.ok(failures > 0, 'accept() never ran out of descriptors: the probe proved nothing');
  const lines = gw3.output.split('\n').filter((l) => l.includes('accept failed')).length;
  assert.ok(lines >= 1 && lines <= 2, gw3.output);
  assert.equal(gw3.exitCode, null);
});
