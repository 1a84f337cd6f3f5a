// Prints bench/proxy.sh's results (one JSON line per target and scenario) as one Markdown table:
// a column per target, and each proxy's ratio to nginx where a ratio means something.
import { readFileSync } from "node:fs";

const rows = readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const targets = ["mock", "nginx", "switchyard", "full"].filter((t) => rows.some((r) => r.target === t));
const names = {
  mock: "mock alone",
  nginx: "nginx `proxy_pass`",
  switchyard: "Switchyard passthrough",
  full: "Switchyard full route",
};
const round = (r) => r.round ?? 1;
const get = (t, s, n = 1) => rows.find((r) => r.target === t && r.scenario === s && round(r) === n);
const served = (r) => r.run.requests ?? r.run.ok + r.run.errors;
const perRequest = (r) => (1e6 * r.cpu_s) / Math.max(1, served(r));
const rps = (r) => (r.run.requests !== undefined ? r.run.requests / (r.run.duration_us / 1e6) : r.run.rate);
const f = (x, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const ratio = (t, s, fn) => {
  const a = get(t, s), n = get("nginx", s);
  return n && (t === "switchyard" || t === "full") ? ` (${(fn(a) / fn(n)).toFixed(1)}×)` : "";
};

const lines = [];
const row = (label, cell) =>
  lines.push(`| ${label} | ${targets.map((t) => cell(t)).join(" | ")} |`);
lines.push(`| measure | ${targets.map((t) => names[t]).join(" | ")} |`);
lines.push(`|---|${targets.map(() => "---").join("|")}|`);
for (const [s, label] of [["json32", "JSON, 32 connections"], ["json256", "JSON, 256 connections"],
                          ["sse32", "8-event SSE, 32 connections"], ["slow256", "50 ms mock, 256 connections"]]) {
  row(`${label}: req/s`, (t) => f(rps(get(t, s))));
  row(`${label}: CPU µs per request`, (t) => f(perRequest(get(t, s))) + ratio(t, s, perRequest));
  row(`${label}: p50 / p99 / p99.9 ms`, (t) => {
    const r = get(t, s).run;
    return `${f(r.p50_ms, 2)} / ${f(r.p99_ms, 2)} / ${f(r.p999_ms, 2)}`;
  });
}
for (const [s, label] of [["json32_16k", "JSON with a 16 KB prompt, 32 connections"],
                          ["json32_128k", "JSON with a 128 KB prompt, 32 connections"]]) {
  if (!rows.some((r) => r.scenario === s)) continue;
  row(`${label}: req/s; CPU µs per request`, (t) =>
    `${f(rps(get(t, s)))}; ${f(perRequest(get(t, s)))}${ratio(t, s, perRequest)}`);
}
if (rows.some((r) => r.scenario === "ttft200")) {
  const s = "ttft200", label = "first SSE event at 200 req/s";
  row(`${label}: p50 / p99 ms; added to the mock's`, (t) => {
    const r = get(t, s).run, m = get("mock", s)?.run;
    const added = t === "mock" || !m ? "" : `; +${f(r.p50_ms - m.p50_ms, 2)} / +${f(r.p99_ms - m.p99_ms, 2)}`;
    return `${f(r.p50_ms, 2)} / ${f(r.p99_ms, 2)}${added}`;
  });
}
for (const [s, label] of [["paced200", "200 req/s over 64 connections"], ["paced2000", "2,000 req/s over 64 connections"]]) {
  row(`${label}: p50 / p99 / p99.9 ms`, (t) => {
    const r = get(t, s).run;
    return `${f(r.p50_ms, 2)} / ${f(r.p99_ms, 2)} / ${f(r.p999_ms, 2)}`;
  });
  row(`${label}: added to the mock's p50 / p99 ms`, (t) => {
    if (t === "mock" || !get("mock", s)) return "";
    const r = get(t, s).run, m = get("mock", s).run;
    return `+${f(r.p50_ms - m.p50_ms, 2)} / +${f(r.p99_ms - m.p99_ms, 2)}`;
  });
  row(`${label}: CPU µs per request; missed send slots`, (t) => {
    const r = get(t, s);
    return `${f(perRequest(r))}${ratio(t, s, perRequest)}; ${r.run.missed}`;
  });
}
const scen = ["json32", "json32_16k", "json32_128k", "json256", "sse32", "ttft200", "paced200",
              "paced2000", "slow256"].filter((s) => rows.some((r) => r.scenario === s));
row("RSS idle / under load (any scenario), MB", (t) => {
  const idle = Math.min(...scen.map((s) => get(t, s).rss_idle_kb));
  const load = Math.max(...scen.map((s) => get(t, s).rss_load_kb));
  return `${f(idle / 1024, 1)} / ${f(load / 1024, 1)}`;
});
if (rows.some((r) => r.scenario === "json256"))
  row("RSS under the 256-connection JSON load, MB", (t) => f(get(t, "json256").rss_load_kb / 1024, 1));
row("errors (all scenarios and rounds)", (t) =>
  f(rows.filter((r) => r.target === t && r.scenario !== "hold")
        .reduce((n, r) => n + (r.run.errors ?? 0) + (r.run.status_errors ?? 0), 0)));
const held = (t) => rows.find((r) => r.target === t && r.scenario === "hold");
if (held("nginx") || held("switchyard"))
  row("idle SSE streams held at once: completed; RSS with all open, MB", (t) => {
    const h = held(t === "full" ? "" : t);
    return h ? `${f(h.run.completed)} of ${f(h.run.streams)}; ${f(h.run.rss_all_open_mb, 1)}` : "";
  });
// With BENCH_ROUNDS: each proxy's CPU per request against nginx's in the same round, the median
// over the rounds (and the lowest and highest), for the scenarios every round ran.
const rounds = Math.max(...rows.map(round));
if (rounds > 1 && targets.includes("nginx")) {
  const proxies = targets.filter((t) => t === "switchyard" || t === "full");
  const median = (xs) => {
    const v = [...xs].sort((a, b) => a - b), m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  lines.push("", `| CPU µs per request, ${rounds} rounds: median; ratio to nginx in the same round, ` +
             `median (lowest–highest) | nginx | ${proxies.map((t) => names[t]).join(" | ")} |`);
  lines.push(`|---|---|${proxies.map(() => "---").join("|")}|`);
  for (const [s, label] of [["json32", "JSON, 32 connections"], ["json256", "JSON, 256 connections"],
                            ["sse32", "8-event SSE, 32 connections"]]) {
    const each = (t) => Array.from({ length: rounds }, (_, i) => get(t, s, i + 1)).filter(Boolean);
    const cpu = (t) => f(median(each(t).map(perRequest)));
    const ratios = (t) => each(t).flatMap((r) => {
      const n = get("nginx", s, round(r));
      return n ? [perRequest(r) / perRequest(n)] : [];
    });
    lines.push(`| ${label} | ${cpu("nginx")} | ${proxies.map((t) => {
      const q = ratios(t);
      return `${cpu(t)}; ${median(q).toFixed(2)}× (${Math.min(...q).toFixed(2)}–${Math.max(...q).toFixed(2)})`;
    }).join(" | ")} |`);
  }
}
console.log(lines.join("\n"));
