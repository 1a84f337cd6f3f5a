// Sends the same requests through a plain route and a hedged one of a running gateway
// (bench/hedge.sh starts it, with the sim), alternating between them so that both see the same
// sim, and prints each route's latency percentiles and cost per request, and the hedges the
// gateway counted. Warm-up requests (not measured) give the hedge its live percentile first.
//   node bench/hedge.mjs --gateway http://127.0.0.1:8091 [--requests 4000] [--concurrency 8]
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const gateway = args.gateway ?? 'http://127.0.0.1:8091';
const requests = Number(args.requests ?? 4000); // per route
const concurrency = Number(args.concurrency ?? 8);
const warmup = Number(args.warmup ?? 300); // per route
const routes = ['plain', 'hedged'];

async function ask(route, i) {
  const start = performance.now();
  const res = await fetch(`${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: route, messages: [{ role: 'user', content: `question ${i}` }] }),
  });
  await res.arrayBuffer();
  return { ms: performance.now() - start, ok: res.status === 200,
           usd: Number(res.headers.get('x-switchyard-cost-usd') ?? 0) };
}

// n requests per route, alternating, `concurrency` at a time.
async function drive(n, results) {
  let next = 0;
  const total = n * routes.length;
  async function worker() {
    for (let i = next++; i < total; i = next++) {
      const route = routes[i % routes.length];
      const r = await ask(route, i);
      results?.[route].push(r);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

await drive(warmup, null);
const results = Object.fromEntries(routes.map((r) => [r, []]));
const t0 = performance.now();
await drive(requests, results);
const seconds = (performance.now() - t0) / 1000;

const metrics = await (await fetch(`${gateway}/metrics`)).text();
const hedges = {};
for (const m of metrics.matchAll(/^switchyard_hedges_total\{outcome="([a-z_]+)",route="hedged"\} (\S+)$/gm))
  hedges[m[1]] = Number(m[2]);

const rows = routes.map((route) => {
  const rs = results[route];
  const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
  const usd = rs.reduce((s, r) => s + r.usd, 0) / rs.length;
  return { route, n: rs.length, failed: rs.filter((r) => !r.ok).length, p50: quantile(ms, 0.5),
           p90: quantile(ms, 0.9), p99: quantile(ms, 0.99), usd };
});
const base = rows[0];
console.log(`${requests} requests per route after ${warmup} warm-up, ${concurrency} at a time, ${seconds.toFixed(1)} s`);
console.log('| route | requests | failed | p50 ms | p90 ms | p99 ms | USD per request | p99 vs plain | cost vs plain |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.route} | ${r.n} | ${r.failed} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.p99.toFixed(1)} | ` +
              `${r.usd.toExponential(3)} | ${(base.p99 / r.p99).toFixed(2)}x lower | ${((r.usd / base.usd - 1) * 100).toFixed(1)}% |`);
console.log(`hedges (whole run, warm-up included): fired ${hedges.fired ?? 0}, won ${hedges.won ?? 0}, ` +
            `over budget ${hedges.over_budget ?? 0}`);
if (rows.some((r) => r.failed)) process.exitCode = 1;
