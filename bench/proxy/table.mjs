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
const get = (t, s) => rows.find((r) => r.target === t && r.scenario === s);
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
row("errors (all scenarios)", (t) =>
  f(scen.reduce((n, s) => n + (get(t, s).run.errors ?? 0) + (get(t, s).run.status_errors ?? 0), 0)));
const held = (t) => rows.find((r) => r.target === t && r.scenario === "hold");
if (held("nginx") || held("switchyard"))
  row("idle SSE streams held at once: completed; RSS with all open, MB", (t) => {
    const h = held(t === "full" ? "" : t);
    return h ? `${f(h.run.completed)} of ${f(h.run.streams)}; ${f(h.run.rss_all_open_mb, 1)}` : "";
  });
console.log(lines.join("\n"));
