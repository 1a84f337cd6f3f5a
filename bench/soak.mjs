// Bounded soak client: N mixed requests (JSON, streams with and without usage, unknown models),
// C at a time, one in seven aborted by the client mid-flight. Loopback only.
//   node bench/soak.mjs http://127.0.0.1:18080 [requests=3000] [concurrency=64]
const [base, total = '3000', concurrency = '64'] = process.argv.slice(2);
const bodies = [
  { model: 'sim-small', messages: [{ role: 'user', content: 'hi' }] },
  { model: 'auto', stream: true, messages: [{ role: 'user', content: 'stream' }] },
  { model: 'sim-large', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] },
  { model: 'nope', messages: [{ role: 'user', content: 'x' }] },
];
const counts = { answered: 0, upstream_errors: 0, aborted: 0, other: 0 };
let next = 0;
async function worker() {
  while (next < Number(total)) {
    const n = next++;
    const ctl = new AbortController();
    if (n % 7 === 0) setTimeout(() => ctl.abort(), 5 + (n % 20));
    try {
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST', body: JSON.stringify(bodies[n % bodies.length]), signal: ctl.signal,
        headers: { 'content-type': 'application/json' },
      });
      await r.text();
      if (r.status === 200 || r.status === 404) counts.answered++;
      else if (r.status >= 500) counts.upstream_errors++;
      else counts.other++;
    } catch {
      counts.aborted++;
    }
  }
}
const t0 = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
console.log(JSON.stringify({ ...counts, seconds: (Date.now() - t0) / 1000 }));
if (counts.other > 0) process.exit(1);
