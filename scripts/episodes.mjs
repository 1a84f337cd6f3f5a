// Drives steady traffic through a running gateway while the sim plays scheduled episodes, and
// reads /metrics once a second: the share of each served model, failed client requests, the
// breakers, and, when the config has client keys, each key's spend against its budget. Prints
// a line per second and, per episode, when the traffic left the model and when it came back:
// by the answers /metrics counted each second (an answer counts when it ends, so a slow model's
// share lags), and by the second each request was sent (x-switchyard-model of its answer), which
// is when the router chose.
// scripts/episodes.sh starts the sim and the gateway for it.
//
//   node scripts/episodes.mjs --gateway http://127.0.0.1:8080 --workload bench/workloads/demo.jsonl \
//       --seconds 150 --episodes 'sim-nano:outage:20:35,sim-nano:error_burst:55:85' \
//       [--concurrency 32] [--rate 40] [--key sk-...] [--header 'x-switchyard-max-latency-ms: 900']
import { readFileSync } from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') ? true : all[i + 1] ?? true]);
    return acc;
  }, []),
);
const gateway = args.gateway ?? 'http://127.0.0.1:8080';
const seconds = Number(args.seconds ?? 60);
const concurrency = Number(args.concurrency ?? 32);
const rate = Number(args.rate ?? 40); // requests per second, at most
const prompts = readFileSync(args.workload, 'utf8').split('\n').filter((l) => l.trim())
  .map((l) => JSON.parse(l).messages);
const episodes = (args.episodes ?? '').split(',').filter(Boolean).map((e) => {
  const [model, type, start, end] = e.split(':');
  return { model, type, start: Number(start), end: Number(end) };
});
const headers = { 'content-type': 'application/json' };
if (args.key) headers.authorization = `Bearer ${args.key}`;
if (args.header) {
  const [name, ...value] = args.header.split(':');
  headers[name.trim()] = value.join(':').trim();
}

// Prometheus text: [{name, labels, value}].
function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? ([^ ]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
async function scrape() {
  const samples = parse(await (await fetch(`${gateway}/metrics`)).text());
  const served = {}; // model -> answered client requests so far
  let failed = 0;
  const breakers = {};
  const spend = [];
  for (const s of samples) {
    if (s.name === 'switchyard_requests_total' && s.labels.route !== 'none') {
      if (s.labels.code === '200') served[s.labels.model] = (served[s.labels.model] ?? 0) + s.value;
      else failed += s.value;
    }
    if (s.name === 'switchyard_breaker_state' && s.value > 0)
      breakers[s.labels.model] = s.value === 1 ? 'open' : 'half-open';
    if (s.name === 'switchyard_client_spend_usd') spend.push(s);
  }
  const budgets = samples.filter((s) => s.name === 'switchyard_client_budget_usd');
  const budget = spend.map((s) => {
    const b = budgets.find((x) => x.labels.client === s.labels.client && x.labels.period === s.labels.period);
    return `${s.labels.client}/${s.labels.period} $${s.value.toFixed(4)}${b ? ` of $${b.value}` : ''}`;
  });
  return { served, failed, breakers, budget };
}

// The load: `concurrency` loops, together at most `rate` requests a second.
let sent = 0;
const bySend = []; // per second sent: {t, delta: model -> answered, total, failed}
let clientErrors = 0;
const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
async function loop(i) {
  for (let n = i; elapsed() < seconds; n += concurrency) {
    const due = t0 + (1000 * sent) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    sent++;
    const t = Math.ceil(elapsed());
    const row = (bySend[t] ??= { t, delta: {}, total: 0, failed: 0 });
    try {
      const r = await fetch(`${gateway}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: args.route ?? 'auto', messages: prompts[n % prompts.length] }),
      });
      await r.arrayBuffer();
      if (r.status !== 200) {
        clientErrors++;
        row.failed++;
      } else {
        const model = r.headers.get('x-switchyard-model') ?? '?';
        row.delta[model] = (row.delta[model] ?? 0) + 1;
        row.total++;
      }
    } catch {
      clientErrors++;
      row.failed++;
    }
  }
}

const rows = [];
let last = await scrape();
const timer = setInterval(async () => {
  const now = await scrape();
  const t = Math.round(elapsed());
  const delta = {};
  let total = 0;
  for (const [m, v] of Object.entries(now.served)) total += delta[m] = v - (last.served[m] ?? 0);
  const failed = now.failed - last.failed;
  rows.push({ t, delta, total, failed });
  const share = Object.entries(delta).filter(([, v]) => v > 0)
    .map(([m, v]) => `${m} ${Math.round((100 * v) / total)}%`).join(', ');
  const active = episodes.filter((e) => t > e.start && t <= e.end).map((e) => `${e.model} ${e.type}`);
  const open = Object.entries(now.breakers).map(([m, s]) => `${m} ${s}`);
  console.log(`${String(t).padStart(4)} s  ${String(total).padStart(3)} ok ${String(failed).padStart(2)} failed | ${share}` +
    (active.length ? ` | episode: ${active.join(', ')}` : '') + (open.length ? ` | breaker: ${open.join(', ')}` : '') +
    (now.budget.length ? ` | ${now.budget.join(', ')}` : ''));
  last = now;
}, 1000);
await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
clearInterval(timer);

// Per episode: the model's share before it, how long until it had held 5% or less of the
// traffic for 3 s, how long after the end until it was back to 90% of its share before, and the
// client requests that failed while it lasted.
const shareIn = (rows) => (model, from, to) => {
  let m = 0, all = 0;
  for (const r of rows.filter((r) => r.t > from && r.t <= to)) { m += r.delta[model] ?? 0; all += r.total; }
  return all ? m / all : 0;
};
const shareOf = shareIn(rows);
const sendRows = bySend.filter(Boolean);
const sentShareOf = shareIn(sendRows);
console.log(`\n${sent} requests, ${clientErrors} failed (${((100 * clientErrors) / Math.max(sent, 1)).toFixed(2)}%)`);
for (const e of episodes) {
  const before = shareOf(e.model, e.start - 10, e.start);
  const left = rows.find((r) => r.t >= e.start + 3 && r.t <= e.end && shareOf(e.model, r.t - 3, r.t) <= 0.05);
  const back = rows.find((r) => r.t > e.end && shareOf(e.model, r.t - 3, r.t) >= 0.9 * before);
  const failed = rows.filter((r) => r.t > e.start && r.t <= e.end).reduce((a, r) => a + r.failed, 0);
  const during = rows.filter((r) => r.t > e.start && r.t <= e.end).reduce((a, r) => a + r.total + r.failed, 0);
  const sentBefore = sentShareOf(e.model, e.start - 10, e.start);
  const sentLeft = sendRows.find((r) => r.t >= e.start + 3 && r.t <= e.end && sentShareOf(e.model, r.t - 3, r.t) <= 0.05);
  const sentBack = sendRows.find((r) => r.t > e.end && sentShareOf(e.model, r.t - 3, r.t) >= 0.9 * sentBefore);
  console.log(`${e.model} ${e.type} ${e.start}-${e.end} s: share before ${(100 * before).toFixed(0)}%, ` +
    `left (3 s at <=5%) ${left ? `${left.t - e.start} s after the start` : 'never'}, ` +
    `back (3 s at >=90% of before) ${back ? `${back.t - e.end} s after the end` : 'not within the run'}, ` +
    `failed ${failed} of ${during}; by the second sent: ` +
    `left ${sentLeft ? `${sentLeft.t - e.start} s` : 'never'}, back ${sentBack ? `${sentBack.t - e.end} s` : 'not within the run'}`);
}
