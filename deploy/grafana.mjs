#!/usr/bin/env node
// Checks deploy/grafana/switchyard.json, the Grafana dashboard, against what the gateway exports:
//   - the JSON is a dashboard Grafana can import: a ${datasource} variable that every panel and
//     query uses, unique panel ids, panels inside the 24-column grid and not overlapping, every
//     $variable defined;
//   - every PromQL expression parses (a small PromQL parser below; promtool too, in the test),
//     and every metric it selects is exported, with every label it names: in selectors, by(),
//     without(), on(), ignoring(), group_left(), label_replace() and histogram_quantile()'s `le`,
//     each checked against the labels of the expression it applies to; rate() and increase() on
//     counters and histogram series only; legends name labels the result has. "Exported" is the
//     table of docs/metrics.md, or a gateway's /metrics text (--metrics);
//   - with --prometheus, every query returns data from that Prometheus.
//
//   node deploy/grafana.mjs                                   the JSON and docs/metrics.md
//   node deploy/grafana.mjs --metrics http://127.0.0.1:8080/metrics   and a gateway's /metrics
//   node deploy/grafana.mjs --prometheus http://127.0.0.1:9090        and a Prometheus's data
//     (now, with $__rate_interval = --rate-interval, default 1m; every route and model)
//   node deploy/grafana.mjs --dashboard FILE ...              another dashboard
//
// Exits 0 when there is no problem, 1 otherwise; each problem is one line naming its panel.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const dashboardPath = path.join(repo, "deploy/grafana/switchyard.json");
export const metricsDocPath = path.join(repo, "docs/metrics.md");

// ---------------------------------------------------------------------------------------------
// The dashboard

export function loadDashboard(file = dashboardPath) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Every panel but rows, rows' own (collapsed) panels included. */
export function panelsOf(dash) {
  const out = [];
  for (const p of dash.panels ?? []) {
    if (p.type === "row") out.push(...(p.panels ?? []));
    else out.push(p);
  }
  return out;
}

/** Every query: {panel, where, expr, legendFormat, instant}. */
export function queriesOf(dash) {
  const out = [];
  for (const panel of panelsOf(dash)) {
    for (const t of panel.targets ?? []) {
      out.push({
        panel, expr: t.expr, legendFormat: t.legendFormat, instant: t.instant === true,
        where: `panel ${panel.id} "${panel.title}" query ${t.refId}`,
      });
    }
  }
  return out;
}

/** Template variables whose query is label_values(metric, label): {name, metric, label}. */
export function labelValueVariables(dash) {
  const out = [];
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = /^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)\s*$/
      .exec(q ?? "");
    out.push({ name: v.name, query: q, metric: m?.[1], label: m?.[2] });
  }
  return out;
}

const grafanaVariables = new Set(["__rate_interval", "__interval", "__interval_ms", "__range",
  "__range_s", "__range_ms", "__from", "__to", "__dashboard", "__org", "__user"]);

// $name, ${name}, ${name:format}, [[name]]; not ${1}, a label_replace() replacement's group.
const variablePattern = /\$\{([a-zA-Z_]\w*)(?::\w+)?\}|\$([a-zA-Z_]\w*)|\[\[([a-zA-Z_]\w*)\]\]/g;

/** The expression as a Prometheus would get it from Grafana, each variable given a value. */
export function substitute(expr, values = {}) {
  const v = { __rate_interval: "5s", __interval: "1s", __range: "1m", ...values };
  return expr.replace(variablePattern, (all, a, b, c) => {
    const name = a ?? b ?? c;
    return name in v ? v[name] : ".*";   // a dashboard variable: All
  });
}

const panelTypes = new Set(["timeseries", "stat", "gauge", "bargauge", "table", "state-timeline",
  "status-history", "piechart", "text", "heatmap", "barchart"]);

/** What Grafana needs of the file itself, as problems (none: it imports). */
export function structureProblems(dash) {
  const problems = [];
  const say = (m) => problems.push(m);
  if (typeof dash.title !== "string" || !dash.title) say("no title");
  if (typeof dash.uid !== "string" || !/^[a-zA-Z0-9_-]{1,40}$/.test(dash.uid)) say("bad uid");
  if (!Number.isInteger(dash.schemaVersion) || dash.schemaVersion < 36) {
    say(`schemaVersion ${dash.schemaVersion}: expected 36 or later`);
  }
  const vars = dash.templating?.list ?? [];
  const names = new Set(vars.map((v) => v.name));
  const ds = vars.find((v) => v.name === "datasource");
  if (!ds || ds.type !== "datasource" || ds.query !== "prometheus") {
    say("no templating variable `datasource` of type datasource, query prometheus");
  }
  const isOurs = (d) => d?.uid === "${datasource}" && (d.type ?? "prometheus") === "prometheus";
  for (const v of vars) {
    if (v.type === "query" && !isOurs(v.datasource)) {
      say(`variable ${v.name}: not on \${datasource}`);
    }
  }
  for (const v of labelValueVariables(dash)) {
    if (!v.metric) {
      say(`variable ${v.name}: query ${JSON.stringify(v.query)} is not label_values()`);
    }
  }
  const ids = new Set();
  const cells = new Map();   // "x,y" -> panel id
  for (const p of dash.panels ?? []) {
    const all = p.type === "row" ? [p, ...(p.panels ?? [])] : [p];
    for (const q of all) {
      const where = `panel ${q.id} "${q.title}"`;
      if (!Number.isInteger(q.id) || ids.has(q.id)) say(`${where}: id missing or not unique`);
      ids.add(q.id);
      const g = q.gridPos ?? {};
      if (![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.w < 1 || g.h < 1 ||
          g.x + g.w > 24) {
        say(`${where}: gridPos ${JSON.stringify(q.gridPos)} outside the 24-column grid`);
        continue;
      }
      if (p.type === "row" && p.collapsed && q !== p) continue;   // laid out when expanded
      for (let x = g.x; x < g.x + g.w; ++x) {
        for (let y = g.y; y < g.y + g.h; ++y) {
          const other = cells.get(`${x},${y}`);
          if (other !== undefined) {
            say(`${where}: overlaps panel ${other}`);
            x = Infinity;
            break;
          }
          cells.set(`${x},${y}`, q.id);
        }
      }
    }
  }
  for (const panel of panelsOf(dash)) {
    const where = `panel ${panel.id} "${panel.title}"`;
    if (!panelTypes.has(panel.type)) say(`${where}: unknown panel type ${panel.type}`);
    if (!isOurs(panel.datasource)) say(`${where}: datasource is not \${datasource}`);
    const targets = panel.targets ?? [];
    if (!targets.length) say(`${where}: no queries`);
    const refIds = new Set();
    for (const t of targets) {
      if (!t.refId || refIds.has(t.refId)) say(`${where}: refId missing or repeated`);
      refIds.add(t.refId);
      if (!isOurs(t.datasource)) say(`${where} query ${t.refId}: datasource is not \${datasource}`);
      if (typeof t.expr !== "string" || !t.expr.trim()) say(`${where} query ${t.refId}: no expr`);
      for (const m of String(t.expr).matchAll(variablePattern)) {
        const name = m[1] ?? m[2] ?? m[3];
        if (!names.has(name) && !grafanaVariables.has(name)) {
          say(`${where} query ${t.refId}: undefined variable $${name}`);
        }
      }
      if (/\[\s*\d+[smhdwy]\s*\]/.test(t.expr ?? "") && !/\[\$__range\]/.test(t.expr)) {
        say(`${where} query ${t.refId}: a fixed range; use [$__rate_interval]`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// PromQL: a lexer and a recursive-descent parser for the language's expressions (selectors,
// ranges and subqueries, offset and @, functions, aggregations with by/without, binary operators
// with bool, on/ignoring and group_left/group_right). Grafana's variables are allowed where
// Grafana puts them: in strings, ranges, and as a number.

const aggregations = new Set(["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
  "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"]);
const aggregationsWithParam = new Set(["count_values", "bottomk", "topk", "quantile", "limitk",
  "limit_ratio"]);
// Functions by the type they return: a scalar, or the labels of their first vector argument
// (less __name__). The rest are named in functionEffect.
const scalarFunctions = new Set(["scalar", "time", "pi"]);
const functions = new Set(["abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh",
  "atan", "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos",
  "cosh", "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
  "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
  "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters",
  "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
  "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month",
  "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round",
  "sgn", "sin", "sinh", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt",
  "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "timestamp", "vector",
  "year", ...scalarFunctions]);
const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool",
  "offset", "and", "or", "unless", "atan2"]);
const precedence = { or: 1, and: 2, unless: 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3,
  ">": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, atan2: 5, "^": 6 };
const comparisons = new Set(["==", "!=", "<=", "<", ">=", ">"]);

export function lex(expr) {
  const tokens = [];
  let i = 0;
  const fail = (m) => { throw new Error(`${m} at offset ${i} of ${JSON.stringify(expr)}`); };
  while (i < expr.length) {
    const rest = expr.slice(i);
    let m;
    if ((m = /^\s+/.exec(rest)) || (m = /^#[^\n]*/.exec(rest))) {
      i += m[0].length;
      continue;
    }
    const at = i;
    if (rest[0] === '"' || rest[0] === "'" || rest[0] === "`") {
      const q = rest[0];
      let j = 1;
      while (j < rest.length && rest[j] !== q) j += rest[j] === "\\" && q !== "`" ? 2 : 1;
      if (j >= rest.length) fail("unterminated string");
      tokens.push({ t: "string", v: rest.slice(1, j), at });
      i += j + 1;
    } else if (rest[0] === "[") {
      const j = rest.indexOf("]");
      if (j < 0) fail("unterminated range");
      const body = rest.slice(1, j).trim();
      const dur = String.raw`(?:\d+(?:ms|[smhdwy]))+|\$\w+|\$\{\w+\}`;
      if (!new RegExp(`^(${dur})(\\s*:\\s*(${dur})?)?$`).test(body)) {
        fail(`bad range [${body}]`);
      }
      tokens.push({ t: "range", v: body, at });
      i += j + 1;
    } else if ((m = /^(\$\{\w+(?::\w+)?\}|\$\w+|\[\[\w+\]\])/.exec(rest))) {
      tokens.push({ t: "var", v: m[0], at });
      i += m[0].length;
    } else if ((m = /^(0x[0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)(?![\w.])/.exec(rest))) {
      tokens.push({ t: "number", v: m[0], at });
      i += m[0].length;
    } else if ((m = /^\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*/.exec(rest))) {
      tokens.push({ t: "duration", v: m[0], at });
      i += m[0].length;
    } else if ((m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest))) {
      tokens.push({ t: "ident", v: m[0], at });
      i += m[0].length;
    } else if ((m = /^(==|!=|<=|>=|=~|!~|[-+*/%^<>=(){},@])/.exec(rest))) {
      tokens.push({ t: "op", v: m[0], at });
      i += m[0].length;
    } else {
      fail(`unexpected ${JSON.stringify(rest[0])}`);
    }
  }
  tokens.push({ t: "end", v: "", at: expr.length });
  return tokens;
}

/**
 * The syntax tree of a PromQL expression; throws on a syntax error. Nodes:
 * {type: "selector", name, matchers: [{label, op, value}], range}, {type: "call", fn, args},
 * {type: "aggregate", op, grouping: {mode, labels} | null, param, arg}, {type: "binary", op,
 * bool, matching: {mode, labels, group, include} | null, lhs, rhs}, {type: "unary", op, arg},
 * {type: "number"}, {type: "string", value}, {type: "subquery", arg, range}, {type: "paren",
 * arg}.
 */
export function parsePromQL(expr) {
  const tokens = lex(expr);
  let pos = 0;
  const peek = (k = 0) => tokens[pos + k];
  const next = () => tokens[pos++];
  const fail = (m, tok = peek()) => {
    throw new Error(`${m} at offset ${tok.at} of ${JSON.stringify(expr)}`);
  };
  const isOp = (v, tok = peek()) => tok.t === "op" && tok.v === v;
  const expect = (v) => (isOp(v) ? next() : fail(`expected "${v}", got "${peek().v}"`));

  const labelList = () => {
    expect("(");
    const labels = [];
    while (!isOp(")")) {
      const tok = next();
      if (tok.t !== "ident") fail(`expected a label name, got "${tok.v}"`, tok);
      labels.push(tok.v);
      if (!isOp(")")) expect(",");
    }
    next();
    return labels;
  };

  const matchers = () => {
    expect("{");
    const out = [];
    while (!isOp("}")) {
      const label = next();
      if (label.t !== "ident") fail(`expected a label name, got "${label.v}"`, label);
      const op = next();
      if (!["=", "!=", "=~", "!~"].includes(op.v) || op.t !== "op") {
        fail(`expected a matcher operator, got "${op.v}"`, op);
      }
      const value = next();
      if (value.t !== "string") fail(`expected a string, got "${value.v}"`, value);
      out.push({ label: label.v, op: op.v, value: value.v });
      if (!isOp("}")) expect(",");
    }
    next();
    return out;
  };

  const postfix = (node) => {
    for (;;) {
      const tok = peek();
      if (tok.t === "range") {
        next();
        if (tok.v.includes(":")) node = { type: "subquery", arg: node, range: tok.v };
        else if (node.type === "selector" && !node.range) node.range = tok.v;
        else fail("a range needs a plain selector (or name a subquery's step with `:`)", tok);
      } else if (tok.t === "ident" && tok.v === "offset") {
        next();
        if (isOp("-")) next();
        if (!["duration", "var"].includes(peek().t)) fail("expected a duration after offset");
        next();
      } else if (isOp("@")) {
        next();
        if (peek().t === "ident" && ["start", "end"].includes(peek().v)) {
          next();
          expect("(");
          expect(")");
        } else if (peek().t === "number") {
          next();
        } else {
          fail("expected a time after @");
        }
      } else {
        return node;
      }
    }
  };

  const primary = () => {
    const tok = next();
    if (tok.t === "number" || tok.t === "var") return postfix({ type: "number" });
    if (tok.t === "string") return { type: "string", value: tok.v };
    if (tok.t === "op" && (tok.v === "-" || tok.v === "+")) {
      return { type: "unary", op: tok.v, arg: binary(precedence["^"]) };
    }
    if (tok.t === "op" && tok.v === "(") {
      const arg = expression();
      expect(")");
      return postfix({ type: "paren", arg });
    }
    if (tok.t === "op" && tok.v === "{") {
      pos--;
      return postfix({ type: "selector", name: null, matchers: matchers() });
    }
    if (tok.t !== "ident") fail(`unexpected "${tok.v}"`, tok);
    if (/^(Inf|NaN)$/i.test(tok.v)) return { type: "number" };
    if (aggregations.has(tok.v)) {
      let grouping = null;
      if (peek().t === "ident" && (peek().v === "by" || peek().v === "without")) {
        grouping = { mode: next().v, labels: labelList() };
      }
      expect("(");
      const args = [expression()];
      while (isOp(",")) {
        next();
        args.push(expression());
      }
      expect(")");
      if (peek().t === "ident" && (peek().v === "by" || peek().v === "without")) {
        if (grouping) fail("a second by/without");
        grouping = { mode: next().v, labels: labelList() };
      }
      const wantArgs = aggregationsWithParam.has(tok.v) ? 2 : 1;
      if (args.length !== wantArgs) fail(`${tok.v} takes ${wantArgs} argument(s)`, tok);
      return postfix({ type: "aggregate", op: tok.v, grouping,
        param: wantArgs === 2 ? args[0] : null, arg: args[wantArgs - 1] });
    }
    if (isOp("(")) {
      if (!functions.has(tok.v)) fail(`unknown function ${tok.v}`, tok);
      next();
      const args = [];
      while (!isOp(")")) {
        args.push(expression());
        if (!isOp(")")) expect(",");
      }
      next();
      return postfix({ type: "call", fn: tok.v, args });
    }
    if (keywords.has(tok.v)) fail(`unexpected keyword ${tok.v}`, tok);
    const node = { type: "selector", name: tok.v, matchers: [] };
    if (isOp("{")) node.matchers = matchers();
    return postfix(node);
  };

  const binaryOp = () => {
    const tok = peek();
    if (tok.t === "op" && tok.v in precedence) return tok.v;
    if (tok.t === "ident" && ["and", "or", "unless", "atan2"].includes(tok.v)) return tok.v;
    return null;
  };

  const binary = (minPrec) => {
    let lhs = primary();
    for (;;) {
      const op = binaryOp();
      if (!op || precedence[op] < minPrec) return lhs;
      next();
      let bool = false;
      if (peek().t === "ident" && peek().v === "bool") {
        if (!comparisons.has(op)) fail("bool only after a comparison");
        next();
        bool = true;
      }
      let matching = null;
      if (peek().t === "ident" && (peek().v === "on" || peek().v === "ignoring")) {
        matching = { mode: next().v, labels: labelList(), group: null, include: [] };
        if (peek().t === "ident" && (peek().v === "group_left" || peek().v === "group_right")) {
          matching.group = next().v;
          if (isOp("(")) matching.include = labelList();
        }
      }
      // ^ is right-associative; the others are left-associative.
      const rhs = binary(op === "^" ? precedence[op] : precedence[op] + 1);
      lhs = { type: "binary", op, bool, matching, lhs, rhs };
    }
  };

  const expression = () => binary(1);
  const tree = expression();
  if (peek().t !== "end") fail(`unexpected "${peek().v}"`);
  return tree;
}

/** Every selector of a tree. */
export function selectorsOf(node, out = []) {
  if (!node || typeof node !== "object") return out;
  if (node.type === "selector") out.push(node);
  for (const child of [node.param, node.arg, node.lhs, node.rhs, ...(node.args ?? [])]) {
    selectorsOf(child, out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What is exported: a gateway's /metrics text, or docs/metrics.md's table, in one shape:
// {types: Map family -> counter|gauge|histogram, samples: Map sample name -> {family, labels}}.

export function parseExposition(text) {
  const types = new Map();
  const samples = new Map();
  for (const line of text.split("\n")) {
    let m;
    if ((m = /^# TYPE (\S+) (\S+)/.exec(line))) {
      types.set(m[1], m[2]);
      continue;
    }
    if (!line.trim() || line.startsWith("#")) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/.exec(line);
    if (!m) continue;
    const name = m[1];
    if (!samples.has(name)) samples.set(name, { family: familyOf(name, types), labels: new Set() });
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) {
      samples.get(name).labels.add(l[1]);
    }
  }
  return { types, samples };
}

function familyOf(sample, types) {
  if (types.has(sample)) return sample;
  const m = /^(.*)_(bucket|sum|count|total|created)$/.exec(sample);
  return m && types.has(m[1]) ? m[1] : sample;
}

/** docs/metrics.md's table as exported samples. */
export function documentedMetrics(markdown = fs.readFileSync(metricsDocPath, "utf8")) {
  const types = new Map();
  const samples = new Map();
  let previous = [];
  for (const line of markdown.split("\n")) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram) \|([^|]*)\|/.exec(line);
    if (!m) continue;
    const [, name, type, labelText] = m;
    const labels = labelText.trim() === "as above" ? previous
      : labelText.split(",").map((s) => s.trim()).filter(Boolean);
    previous = labels;
    if (type === "histogram") {
      types.set(name, type);
      samples.set(`${name}_bucket`, { family: name, labels: new Set([...labels, "le"]) });
      samples.set(`${name}_sum`, { family: name, labels: new Set(labels) });
      samples.set(`${name}_count`, { family: name, labels: new Set(labels) });
    } else {
      const family = type === "counter" ? name.replace(/_total$/, "") : name;
      types.set(family, type);
      samples.set(name, { family, labels: new Set(labels) });
    }
  }
  return { types, samples };
}

// ---------------------------------------------------------------------------------------------
// Checking an expression against what is exported: the labels each part of it has.

const counterFunctions = new Set(["rate", "irate", "increase", "resets"]);
// Prometheus adds these to every series it scrapes.
const targetLabels = ["job", "instance"];

/**
 * Problems of one parsed expression against `exported` (parseExposition's or documentedMetrics'
 * shape), and the labels its result has (null for a scalar).
 */
export function expressionProblems(tree, exported) {
  const problems = [];
  const say = (m) => problems.push(m);
  let unknownMetric = false;   // then its labels are unknown too: say nothing of them
  const missing = (need, have, what) => {
    for (const l of need) if (!have.has(l) && !unknownMetric) say(`${what}: no label ${l}`);
  };

  const visit = (node, fn = null) => {
    switch (node.type) {
      case "number": return null;
      case "string": return null;
      case "paren": return visit(node.arg, fn);
      case "unary": return visit(node.arg, fn);
      case "subquery": return visit(node.arg, null);
      case "selector": {
        const nameMatcher = node.matchers.find((m) => m.label === "__name__" && m.op === "=");
        const name = node.name ?? nameMatcher?.value;
        if (!name) {
          say("a selector without a metric name");
          return new Set();
        }
        const sample = exported.samples.get(name);
        if (!sample) {
          unknownMetric = true;
          const type = exported.types.get(name);
          if (type === "histogram") {
            say(`${name} is a histogram: select ${name}_bucket, ${name}_sum or ${name}_count`);
          } else {
            say(`metric ${name} is not exported`);
          }
          return new Set();
        }
        const labels = new Set([...sample.labels, ...targetLabels]);
        missing(node.matchers.map((m) => m.label).filter((l) => l !== "__name__"), labels,
          name);
        const type = exported.types.get(sample.family);
        if (counterFunctions.has(fn) && type !== "counter" && type !== "histogram") {
          say(`${fn}() of ${name}, a ${type ?? "metric of unknown type"}: only counters`);
        }
        if (!counterFunctions.has(fn) && node.range && type === "counter" &&
            !/_over_time$|^(changes|resets|delta)$/.test(fn ?? "")) {
          say(`${name}[…]: a counter's range without rate() or increase()`);
        }
        if (type === "counter" && !node.range && fn !== "resets") {
          say(`${name}: a counter used without rate() or increase()`);
        }
        return labels;
      }
      case "call": {
        const args = node.args.map((a) => visit(a, node.fn));
        const vec = args.find((a) => a instanceof Set) ?? null;
        const strings = node.args.map((a) => (a.type === "string" ? a.value : undefined));
        if (node.fn === "label_replace" || node.fn === "label_join") {
          if (!vec) return null;
          const src = node.fn === "label_replace" ? [strings[3]] : strings.slice(3);
          missing(src.filter((s) => s), vec, `${node.fn}()`);
          return new Set([...vec, strings[1]]);
        }
        if (node.fn === "histogram_quantile" || node.fn === "histogram_fraction") {
          if (!vec) return null;
          missing(["le"], vec, `${node.fn}()`);
          return new Set([...vec].filter((l) => l !== "le"));
        }
        if (node.fn === "vector" || node.fn === "absent" || node.fn === "absent_over_time") {
          return new Set();
        }
        if (scalarFunctions.has(node.fn)) return null;
        return vec;
      }
      case "aggregate": {
        if (node.param) visit(node.param);
        const arg = visit(node.arg);
        if (!arg) {
          say(`${node.op}() of a scalar`);
          return new Set();
        }
        const g = node.grouping;
        if (g) missing(g.labels, arg, `${node.op} ${g.mode} (${g.labels.join(", ")})`);
        let out;
        if (!g) out = new Set();
        else if (g.mode === "by") out = new Set(g.labels);
        else out = new Set([...arg].filter((l) => !g.labels.includes(l)));
        if (["topk", "bottomk", "limitk", "limit_ratio"].includes(node.op)) out = new Set(arg);
        if (node.op === "count_values" && node.param.type === "string") out.add(node.param.value);
        return out;
      }
      case "binary": {
        const l = visit(node.lhs);
        const r = visit(node.rhs);
        if (!l || !r) return l ?? r;   // with a scalar: the vector's labels, or a scalar
        const m = node.matching;
        if (m) {
          const what = `${m.mode} (${m.labels.join(", ")})`;
          if (m.mode === "on") {
            missing(m.labels, l, `${what}, left side`);
            missing(m.labels, r, `${what}, right side`);
          }
          if (m.group) missing(m.include, m.group === "group_left" ? r : l, m.group);
        }
        if (["and", "unless"].includes(node.op)) return l;
        if (node.op === "or") return new Set([...l, ...r]);
        if (m?.group === "group_left") return new Set([...l, ...m.include]);
        if (m?.group === "group_right") return new Set([...r, ...m.include]);
        if (m?.mode === "on") return new Set(m.labels);
        const ignored = m?.mode === "ignoring" ? m.labels : [];
        const lk = [...l].filter((x) => !ignored.includes(x)).sort().join(",");
        const rk = [...r].filter((x) => !ignored.includes(x)).sort().join(",");
        if (lk !== rk) {
          say(`"${node.op}" matches {${lk}} with {${rk}}: no series would match one to one`);
        }
        return new Set([...l].filter((x) => !ignored.includes(x)));
      }
      default:
        say(`unknown node ${node.type}`);
        return null;
    }
  };
  const labels = visit(tree);
  return { problems, labels: unknownMetric ? undefined : labels };
}

/**
 * Every problem of the dashboard: its structure, and each expression and variable against
 * `exported` (default: docs/metrics.md).
 */
export function dashboardProblems(dash, exported = documentedMetrics()) {
  const problems = structureProblems(dash);
  for (const q of queriesOf(dash)) {
    let tree;
    try {
      tree = parsePromQL(q.expr);
    } catch (e) {
      problems.push(`${q.where}: ${e.message}`);
      continue;
    }
    const { problems: found, labels } = expressionProblems(tree, exported);
    for (const m of found) problems.push(`${q.where}: ${m}`);
    for (const l of String(q.legendFormat ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
      if (labels === undefined) break;   // a metric it selects is not exported
      if (!labels || !labels.has(l[1])) {
        problems.push(`${q.where}: legend {{${l[1]}}} is not a label of the result`);
      }
    }
  }
  for (const v of labelValueVariables(dash)) {
    if (!v.metric) continue;
    const sample = exported.samples.get(v.metric);
    if (!sample) problems.push(`variable ${v.name}: metric ${v.metric} is not exported`);
    else if (!sample.labels.has(v.label)) {
      problems.push(`variable ${v.name}: ${v.metric} has no label ${v.label}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// A Prometheus's data

async function getJson(url, timeoutMs = 5000) {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await r.json();
  if (body.status !== "success") throw new Error(`${url}: ${body.error ?? r.status}`);
  return body.data;
}

/**
 * Each query of the dashboard against a Prometheus at `base` (http://host:port), at `time`
 * (seconds; default now): problems (a query that fails, returns nothing or only NaN, unless its
 * panel is in `mayBeEmpty`) and the number of series each returned.
 */
export async function prometheusProblems(dash, base, options = {}) {
  const { time, values = {}, mayBeEmpty = new Map() } = options;
  const problems = [];
  const results = [];
  for (const q of queriesOf(dash)) {
    const promql = substitute(q.expr, values);
    const url = new URL("/api/v1/query", base);
    url.searchParams.set("query", promql);
    if (time !== undefined) url.searchParams.set("time", String(time));
    let data;
    try {
      data = await getJson(url);
    } catch (e) {
      problems.push(`${q.where}: ${e.message}`);
      continue;
    }
    const series = data.resultType === "scalar" ? [{ value: data.result }] : data.result;
    const finite = series.filter((s) => Number.isFinite(Number(s.value?.[1])));
    const nonZero = finite.filter((s) => Number(s.value[1]) !== 0).length;
    results.push({ panel: q.panel.title, where: q.where, promql, series: series.length,
      finite: finite.length, nonZero });
    if (!finite.length && !mayBeEmpty.has(q.panel.title)) {
      problems.push(`${q.where}: no data (${series.length} series, none a number): ${promql}`);
    }
  }
  for (const v of labelValueVariables(dash)) {
    if (!v.metric) continue;
    const url = new URL(`/api/v1/label/${v.label}/values`, base);
    url.searchParams.append("match[]", v.metric);
    try {
      const values = await getJson(url);
      if (!values.length) problems.push(`variable ${v.name}: ${v.query} has no values`);
    } catch (e) {
      problems.push(`variable ${v.name}: ${e.message}`);
    }
  }
  return { problems, results };
}

// ---------------------------------------------------------------------------------------------

async function main(argv) {
  let file = dashboardPath;
  let metrics;
  let prometheus;
  let rateInterval = "1m";
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "--dashboard") file = argv[++i];
    else if (argv[i] === "--metrics") metrics = argv[++i];
    else if (argv[i] === "--prometheus") prometheus = argv[++i];
    else if (argv[i] === "--rate-interval") rateInterval = argv[++i];
    else {
      console.error("usage: grafana.mjs [--dashboard FILE] [--metrics URL|FILE] " +
        "[--prometheus URL [--rate-interval DURATION]]");
      return 2;
    }
  }
  let problems = [];
  let dash;
  try {
    dash = loadDashboard(file);
  } catch (e) {
    console.log(`problem: ${file}: ${e.message}`);
    return 1;
  }
  problems.push(...dashboardProblems(dash).map((m) => `docs/metrics.md: ${m}`));
  if (metrics) {
    const text = /^https?:/.test(metrics)
      ? await (await fetch(metrics, { signal: AbortSignal.timeout(5000) })).text()
      : fs.readFileSync(metrics, "utf8");
    problems.push(...dashboardProblems(dash, parseExposition(text))
      .filter((m) => !problems.includes(`docs/metrics.md: ${m}`))
      .map((m) => `${metrics}: ${m}`));
  }
  if (prometheus) {
    const r = await prometheusProblems(dash, prometheus,
      { values: { __rate_interval: rateInterval, __range: "1h" } });
    problems.push(...r.problems.map((m) => `${prometheus}: ${m}`));
  }
  console.log(`checked ${queriesOf(dash).length} queries of ${panelsOf(dash).length} panels`);
  for (const m of problems) console.log(`problem: ${m}`);
  console.log(problems.length ? `${problems.length} problem(s)` : "no problems");
  return problems.length ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
