// deploy/grafana/switchyard.json, the Grafana dashboard: its file (deploy/grafana.mjs on it, and
// on broken copies of it, so that each check is shown to catch what it is for), then against
// the real binaries: a gateway in front of switchyard-sim, driven with traffic that exercises
// every panel (a classifier, a cascade that escalates, a race, a hedge, a cache, a failing and a
// timing-out model and their circuit breakers, client keys with a rate limit and budgets shared
// through Debian's redis-server, feedback, an upstream that reports no usage, a config reload),
// scraped every second by Debian's real `prometheus` on loopback.
//   SWITCHYARD_BUILD=build/release node --test deploy/
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../tests/e2e/support.mjs";
import {
  dashboardProblems, documentedMetrics, expressionProblems, loadDashboard, parseExposition,
  parsePromQL, prometheusProblems, queriesOf, selectorsOf, structureProblems, substitute,
} from "./grafana.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, "..");
const build = path.resolve(repo, process.env.SWITCHYARD_BUILD ?? "build/release");
const prometheusBin = process.env.PROMETHEUS ?? "prometheus";
const copy = () => loadDashboard();   // a fresh object each time
const panel = (dash, title) => {
  for (const p of dash.panels) {
    for (const q of p.type === "row" ? p.panels ?? [] : [p]) if (q.title === title) return q;
  }
  throw new Error(`no panel "${title}"`);
};

describe("the dashboard file", () => {
  test("loads, and has what Grafana needs to import it", () => {
    const dash = copy();
    assert.deepEqual(structureProblems(dash), []);
    assert.equal(dash.uid, "switchyard");
    assert.deepEqual(dash.templating.list.map((v) => v.name), ["datasource", "route", "model"]);
  });

  test("every query parses and names only metrics and labels of docs/metrics.md", () => {
    assert.deepEqual(dashboardProblems(copy()), []);
  });

  test("promtool parses every query too", () => {
    const rules = queriesOf(copy()).map((q, i) => ({ record: `dashboard:query_${i}`,
      expr: substitute(q.expr) }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-grafana-"));
    try {
      const file = path.join(dir, "rules.yaml");   // JSON is YAML
      fs.writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
      const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      assert.equal(r.status, 0, r.error?.message ?? r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the parser reads PromQL the dashboard does not use yet, and knows each result's labels",
    () => {
      const documented = documentedMetrics();
      const labelsOf = (expr) => {
        const { problems, labels } = expressionProblems(parsePromQL(expr), documented);
        assert.deepEqual(problems, [], expr);
        return labels && [...labels].filter((l) => l !== "job" && l !== "instance").sort();
      };
      const cases = [
        ["sum(rate(switchyard_requests_total[5m] offset 1h)) by (route)", ["route"]],
        ["rate(switchyard_requests_total[5m] @ end())", ["code", "model", "route"]],
        ["max_over_time(rate(switchyard_cost_usd_total[1m])[10m:1m])",
          ["model", "route", "upstream"]],
        ["switchyard_breaker_state > bool 0", ["model", "upstream"]],
        ["topk(3, sum by (route, model) (rate(switchyard_cost_usd_total[5m])))",
          ["model", "route"]],
        ['count_values("state", switchyard_breaker_state)', ["state"]],
        ['label_join(switchyard_breaker_state, "target", "/", "upstream", "model")',
          ["model", "target", "upstream"]],
        ["-2 ^ 2 * switchyard_connections # a comment", []],
        ["switchyard_client_spend_usd / on (client, period) group_left " +
          "switchyard_client_budget_usd", ["client", "period"]],
        ["sum without (code) (rate(switchyard_requests_total[5m]))", ["model", "route"]],
        ['{__name__="switchyard_connections"}', []],
        ["scalar(sum(switchyard_connections)) * 2", null],
      ];
      for (const [expr, labels] of cases) assert.deepEqual(labelsOf(expr), labels, expr);
    });

  test("it shows what the issue asks for", () => {
    const used = new Set(queriesOf(copy()).flatMap((q) => selectorsOf(parsePromQL(q.expr))
      .map((s) => s.name)));
    for (const name of [
      "switchyard_requests_total", "switchyard_cost_usd_total",
      "switchyard_route_baseline_usd_total", "switchyard_route_spent_usd_total",
      "gen_ai_client_operation_duration_seconds_bucket",
      "gen_ai_server_time_to_first_token_seconds_bucket", "switchyard_cascade_escalations_total",
      "switchyard_race_wasted_usd_total", "switchyard_race_calls_total", "switchyard_hedges_total",
      "switchyard_cache_requests_total", "switchyard_breaker_state", "switchyard_client_spend_usd",
      "switchyard_client_budget_usd", "switchyard_upstream_errors_total",
      "switchyard_requests_in_flight", "switchyard_connections",
      "switchyard_gateway_overhead_seconds_bucket", "gen_ai_client_token_usage_sum",
    ]) assert.ok(used.has(name), `no panel uses ${name}`);
    const documented = documentedMetrics();
    const families = new Set([...used].map((n) => documented.samples.get(n)?.family));
    assert.ok(families.size >= 30, `${families.size} families of ${documented.types.size}`);
  });
});

// A copy of the dashboard with one query of `title` changed by edit(expr).
function withQuery(title, edit, dash = copy()) {
  const t = panel(dash, title).targets[0];
  t.expr = edit(t.expr);
  return dash;
}
const misspelt = () => withQuery("Cost per hour by route and model",
  (e) => e.replace("switchyard_cost_usd_total", "switchyard_cost_usd_totl"));

// Each of `expected` is (a part of) one line of `problems`.
function assertProblems(problems, expected) {
  for (const part of expected) {
    assert.ok(problems.some((p) => p.includes(part)),
      `no problem says ${JSON.stringify(part)}:\n${problems.join("\n")}`);
  }
}

describe("a broken dashboard fails", () => {
  test("a misspelt metric", () => {
    assertProblems(dashboardProblems(misspelt()), ['"Cost per hour by route and model" query A: ' +
      "metric switchyard_cost_usd_totl is not exported"]);
  });

  test("a misspelt label, or one of another family, in a selector, by() or a legend", () => {
    const dash = withQuery("Requests by route and model",
      (e) => e.replace("sum by (route, model)", "sum by (route, modle)"));
    withQuery("p99 latency", (e) => e.replace("gen_ai_response_model=~", "model=~"), dash);
    panel(dash, "Hedges").targets[0].legendFormat = "{{route}} {{result}}";
    assertProblems(dashboardProblems(dash), [
      '"Requests by route and model" query A: sum by (route, modle): no label modle',
      '"Requests by route and model" query A: legend {{model}} is not a label of the result',
      '"p99 latency" query A: gen_ai_client_operation_duration_seconds_bucket: no label model',
      '"Hedges" query A: legend {{result}} is not a label of the result',
    ]);
  });

  test("a histogram without _bucket, a gauge in rate(), a counter without it", () => {
    const dash = withQuery("p99 latency", (e) => e.replace("seconds_bucket", "seconds"));
    withQuery("In flight and connections",
      () => "rate(switchyard_requests_in_flight[$__rate_interval])", dash);
    withQuery("Spend by client", () => "switchyard_cost_usd_total", dash);
    assertProblems(dashboardProblems(dash), [
      "gen_ai_client_operation_duration_seconds is a histogram: select " +
        "gen_ai_client_operation_duration_seconds_bucket",
      "rate() of switchyard_requests_in_flight, a gauge: only counters",
      "switchyard_cost_usd_total: a counter used without rate() or increase()",
    ]);
  });

  test("a syntax error, an unknown function, vectors that cannot match", () => {
    const dash = withQuery("Hedges", () => "sum by (route (rate(switchyard_hedges_total[5m]))");
    withQuery("Cache lookups",
      () => "sum by (route) (rates(switchyard_cache_requests_total[$__rate_interval]))", dash);
    withQuery("Escalations per request", () =>
      "sum by (route) (rate(switchyard_cascade_escalations_total[$__rate_interval]))\n/\n" +
      "sum by (model) (rate(switchyard_requests_total[$__rate_interval]))", dash);
    assertProblems(dashboardProblems(dash), [
      '"Hedges" query A: expected ",", got "(" at offset 14 of "sum by (route',
      '"Hedges" query A: a fixed range; use [$__rate_interval]',
      '"Cache lookups" query A: unknown function rates',
      '"Escalations per request" query A: "/" matches {route} with {model}',
    ]);
  });

  test("a panel off ${datasource}, an undefined variable, overlapping panels", () => {
    const dash = withQuery("Hedges", (e) => e.replace("$route", "$routes"));
    const hedges = panel(dash, "Hedges");
    hedges.datasource = { type: "prometheus", uid: "P1809F7CD0C75ACF3" };
    panel(dash, "Cache lookups").gridPos = { ...hedges.gridPos };
    assertProblems(dashboardProblems(dash), [
      '"Hedges": datasource is not ${datasource}',
      '"Hedges" query A: undefined variable $routes',
      '"Cache lookups": overlaps panel',
    ]);
  });

  test("grafana.mjs --dashboard on a broken copy exits 1 and names the metric", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-grafana-"));
    try {
      const file = path.join(dir, "broken.json");
      fs.writeFileSync(file, JSON.stringify(misspelt()));
      const cli = path.join(here, "grafana.mjs");
      const r = spawnSync(process.execPath, [cli, "--dashboard", file], { encoding: "utf8" });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.ok(r.stdout.includes("metric switchyard_cost_usd_totl is not exported"), r.stdout);
      const ok = spawnSync(process.execPath, [cli], { encoding: "utf8" });
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real thing: gateway, sim, Prometheus.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url, what, procs, deadlineMs = 15000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {}
    const dead = procs.find((p) => p.exitCode !== null || p.failed);
    if (dead) throw new Error(`${dead.name} exited ${dead.exitCode}:\n${dead.output}`);
    await sleep(50);
  }
  throw new Error(`${what} (${url}) did not come up`);
}

async function waitRedis(port, procs, deadlineMs = 10000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const pong = await new Promise((ok) => {
      const s = net.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
      s.setTimeout(500, () => s.destroy());
      s.on("data", (d) => { ok(String(d).startsWith("+PONG")); s.destroy(); });
      s.on("error", () => ok(false));
      s.on("close", () => ok(false));
    });
    if (pong) return;
    const dead = procs.find((p) => p.exitCode !== null || p.failed);
    if (dead) throw new Error(`${dead.name} exited ${dead.exitCode}:\n${dead.output}`);
    await sleep(50);
  }
  throw new Error(`redis-server did not come up on port ${port}`);
}

const sha256 = (s) => createHash("sha256").update(s).digest("hex");

function gatewayConfig(simPort, gatewayPort, redisPort) {
  // Prices per 1M tokens. The sim answers any model id, with the directives after `;`.
  return `server:
  listen: 127.0.0.1:${gatewayPort}
  workers: 1
  reload_poll_ms: 0
upstreams:
  - name: sim
    base_url: http://127.0.0.1:${simPort}/v1
    models:
      - {name: small, id: "small;tokens=8;token_interval_ms=2",
         price_usd_per_mtok: {input: 0.15, output: 0.6}}
      - {name: medium, id: "medium;tokens=12;no_usage", price_usd_per_mtok: {input: 1, output: 4}}
      - {name: large, id: "large;tokens=16;delay_ms=20",
         price_usd_per_mtok: {input: 5, output: 15}}
      - {name: slow, id: "slow;tokens=8;delay_ms=150",
         price_usd_per_mtok: {input: 0.1, output: 0.4}}
      - {name: embed, price_usd_per_mtok: {input: 0.02, output: 0}}
  - name: flaky     # the same sim: a model that fails, one that times out; breakers reopen fast
    base_url: http://127.0.0.1:${simPort}/v1
    first_token_timeout_ms: 100
    breaker: {open_ms: 300, max_open_ms: 600}
    models:
      - {name: broken, id: "broken;status=500", price_usd_per_mtok: {input: 0.1, output: 0.4}}
      - {name: stuck, id: "stuck;delay_ms=1000", price_usd_per_mtok: {input: 0.1, output: 0.4}}
routes:
  auto:
    stages:
      - type: classifier
        rules:
          - {label: code, when: {keywords: [python]}}
        tiers:
          code: [large, medium]
        default: [small, large]
  cascade:
    stages:
      - {type: static, models: [small, large]}
    dispatcher:
      type: cascade
      tiers:
        - {models: [small], gates: {finish_reason: [length]}}
        - {models: [large]}
  race:
    stages:
      - {type: static, models: [slow, medium]}
    dispatcher: {type: race, mode: first_acceptable, max_calls: 2}
  hedge:
    stages:
      - {type: static, models: [slow, small]}
    dispatcher: {type: hedge, delay: fixed, delay_ms: 30, budget: 1}
  cached:
    stages:
      - {type: cache}
      - {type: static, models: [small]}
  fragile:
    stages:
      - {type: static, models: [broken, stuck, small]}
clients:
  keys:
    - {name: team, key_sha256: ${sha256("sk-team")}, budget_usd_per_day: 1,
       budget_usd_per_month: 20}
    - {name: trial, key_sha256: ${sha256("sk-trial")}, requests_per_minute: 5}
    - {name: capped, key_sha256: ${sha256("sk-capped")}, budget_usd_per_day: 0.000001}
redis: {host: 127.0.0.1, port: ${redisPort}}
`;
}

// One request of each kind per round: every route, streams and not, 4xx, 429s and 5xx.
const chat = (model, content, extra = {}) => ({ path: "chat/completions",
  body: { model, messages: [{ role: "user", content }], ...extra } });
const kinds = [
  { ...chat("auto", "Hello there"), feedback: 0.9 },
  chat("auto", "Write a python function", { stream: true }),
  { ...chat("cascade", "Tell me a story", { max_tokens: 3 }), feedback: 0.4 },   // escalates
  chat("cascade", "Tell me a joke", { stream: true }),
  { ...chat("race", "Which is faster?"), feedback: 0.7 },
  chat("hedge", "Answer quickly", { stream: true }),
  chat("cached", "What is the capital of France?", { temperature: 0 }),
  chat("cached", "What is the capital of Spain?", { temperature: 0, stream: true }),
  chat("fragile", "Try the broken one first"),
  chat("broken", "Nothing but the broken one"),                                  // 502
  { ...chat("auto", "Over my rate"), key: "sk-trial" },                          // 429
  { ...chat("auto", "Over my budget"), key: "sk-capped" },                       // 429
  { path: "embeddings", body: { model: "embed", input: ["a cat", "a dog"] } },
  chat("medium", "No usage from this one", { stream: true }),                    // estimated
  chat("nope", "No such model"),                                                 // 404
];

async function send(base, kind, i, counts) {
  const key = kind.key ?? "sk-team";
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const body = { ...kind.body };
  if (body.messages && !body.temperature && body.temperature !== 0) {
    body.messages = [{ role: "user", content: `${body.messages[0].content} (${i})` }];
  }
  try {
    const r = await fetch(`${base}/v1/${kind.path}`, { method: "POST", headers,
      body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    await r.text();
    counts[r.status] = (counts[r.status] ?? 0) + 1;
    const id = r.headers.get("x-request-id");
    if (r.status === 200 && kind.feedback !== undefined && id) {
      const f = await fetch(`${base}/v1/feedback`, { method: "POST", headers,
        body: JSON.stringify({ request_id: id, score: kind.feedback }),
        signal: AbortSignal.timeout(5000) });
      await f.text();
      counts[`feedback ${f.status}`] = (counts[`feedback ${f.status}`] ?? 0) + 1;
    }
  } catch (e) {
    counts[e.name] = (counts[e.name] ?? 0) + 1;
  }
}

describe("against a gateway under traffic, scraped by Prometheus", { timeout: 60000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-grafana-"));
  const procs = [];
  const counts = {};
  let gatewayBase;
  let promBase;
  let trafficEnd;   // seconds, the time of every query

  const start = (name, bin, args) => {
    const p = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    p.name = name;
    p.output = "";
    const keep = (d) => { p.output = (p.output + d).slice(-20000); };
    p.stdout.on("data", keep);
    p.stderr.on("data", keep);
    p.on("error", (e) => {
      p.failed = true;
      p.output += `\n${e.message}`;
    });
    procs.push(p);
    return p;
  };

  before(async () => {
    const which = spawnSync(prometheusBin, ["--version"], { encoding: "utf8" });
    assert.equal(which.status, 0,
      `${prometheusBin} --version: ${which.error?.message ?? which.stderr} ` +
      "(Debian's prometheus package: scripts/install-deps.sh)");
    const ports = [];
    for (let i = 0; i < 4; ++i) ports.push(await freePort());
    const [simPort, gatewayPort, promPort, redisPort] = ports;
    gatewayBase = `http://127.0.0.1:${gatewayPort}`;
    promBase = `http://127.0.0.1:${promPort}`;
    fs.writeFileSync(path.join(dir, "switchyard.yaml"),
      gatewayConfig(simPort, gatewayPort, redisPort));
    fs.writeFileSync(path.join(dir, "prometheus.yml"), `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: ["127.0.0.1:${gatewayPort}"]
`);
    start("redis-server", "redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1",
      "--save", "", "--appendonly", "no", "--logfile", ""]);
    await waitRedis(redisPort, procs);   // before the gateway connects to it
    start("switchyard-sim", path.join(build, "switchyard-sim"),
      ["--listen", `127.0.0.1:${simPort}`]);
    const gateway = start("switchyard", path.join(build, "switchyard"),
      ["--config", path.join(dir, "switchyard.yaml")]);
    start("prometheus", prometheusBin, [`--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${promPort}`,
      "--log.level=warn"]);
    await waitHttp(`http://127.0.0.1:${simPort}/healthz`, "switchyard-sim", procs);
    await waitHttp(`${gatewayBase}/readyz`, "switchyard", procs);
    await waitHttp(`${promBase}/-/ready`, "prometheus", procs);

    // Prometheus scrapes a new target first up to 5 s after it starts (its discovery manager
    // sends updates every 5 s). About 20 requests a second, each kind in turn, none awaited
    // before the next, from now until 6 s after that first scrape, with a config reload
    // (SIGHUP) in between; so each 5 s window at the end has five scrapes of traffic.
    const lastScrape = async () => {
      const url = new URL("/api/v1/query", promBase);
      url.searchParams.set("query", 'timestamp(up{job="switchyard"})');
      const r = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).json();
      return Number(r.data?.result?.[0]?.value?.[1] ?? 0) * 1000;
    };
    let firstScrape;
    const t0 = Date.now();
    const deadline = t0 + 20000;
    const watch = (async () => {
      while (!firstScrape && Date.now() < deadline) {
        firstScrape = (await lastScrape().catch(() => 0)) || undefined;
        if (!firstScrape) await sleep(200);
      }
    })();
    const pending = [];
    let reloaded = false;
    for (let i = 0; !firstScrape || Date.now() < firstScrape + 6000; ++i) {
      if (Date.now() > deadline) {
        throw new Error(`prometheus did not scrape:\n${procs.at(-1).output}`);
      }
      if (!reloaded && firstScrape && Date.now() > firstScrape + 2500) {
        gateway.kill("SIGHUP");   // a config reload
        reloaded = true;
      }
      pending.push(send(gatewayBase, kinds[i % kinds.length], i, counts));
      await sleep(Math.max(0, t0 + (i + 1) * 50 - Date.now()));
    }
    trafficEnd = Date.now() / 1000;
    await Promise.all([watch, ...pending]);
    // Wait for a scrape after the traffic.
    while ((await lastScrape()) <= trafficEnd * 1000) {
      if (Date.now() > deadline + 5000) throw new Error("no scrape after the traffic");
      await sleep(200);
    }
  }, { timeout: 45000 });

  after(async () => {
    // Each process by its own PID: SIGTERM, then SIGKILL after 5 s.
    const running = procs.filter((p) => !p.failed && p.exitCode === null && p.signalCode === null);
    const exited = running.map((p) => new Promise((r) => p.once("exit", r)));
    for (const p of running) p.kill("SIGTERM");
    await Promise.race([Promise.all(exited), sleep(5000)]);
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the traffic got the answers it was meant to", () => {
    assert.ok(counts[200] >= 100, JSON.stringify(counts));
    for (const code of [404, 429, 502]) assert.ok(counts[code] > 0, JSON.stringify(counts));
    assert.ok(counts["feedback 200"] > 0, JSON.stringify(counts));
  });

  test("/metrics exports every metric and label the dashboard names", async () => {
    const text = await (await fetch(`${gatewayBase}/metrics`)).text();
    const exported = parseExposition(text);
    assert.deepEqual(dashboardProblems(copy(), exported), []);
    assertProblems(dashboardProblems(misspelt(), exported),
      ["metric switchyard_cost_usd_totl is not exported"]);
  });

  test("every query returns data in Prometheus", async (t) => {
    const up = await (await fetch(`${promBase}/api/v1/query?query=up`)).json();
    assert.equal(up.data.result[0]?.value[1], "1", JSON.stringify(up));
    // Grafana's $__rate_interval for a 1 s scrape interval is at least 4 s; $route and $model
    // are All (.*).
    const { problems, results } = await prometheusProblems(copy(), promBase,
      { time: trafficEnd, values: { __rate_interval: "5s", __range: "1m" } });
    assert.deepEqual(problems, []);
    assert.equal(results.length, queriesOf(copy()).length);
    const sum = (f) => results.reduce((n, r) => n + r[f], 0);
    t.diagnostic(`${results.length} queries: ${sum("series")} series, ${sum("nonZero")} not 0; ` +
      `requests: ${JSON.stringify(counts)}`);
    // And every query but these has a value that is not 0, so that the traffic is shown to have
    // exercised what each panel is for.
    const mayBeZero = new Map([
      ['"In flight and connections" query A', "requests in flight: maybe none at the last scrape"],
      ['"In flight and connections" query C', "upstream calls in flight: the same"],
      ['"Connections closed and accept errors" query A', "no connection limit is reached"],
      ['"Connections closed and accept errors" query B', "nor the descriptor limit"],
      ['"Requests refused at the HTTP layer" query A', "fetch() sends well-formed HTTP"],
      ['"Shared store (Redis)" query B', "Redis stays up"],
      ['"Breakers open" query A', "breakers open now: one may have closed by the last scrape"],
    ]);
    const zero = results.filter((r) => r.nonZero === 0)
      .map((r) => r.where.replace(/^panel \d+ /, ""));
    assert.deepEqual(zero.filter((w) => !mayBeZero.has(w)), []);
  });
});
