#!/usr/bin/env node
// Checks what deploy/ ships, with no cluster and no network:
//   - renders every overlay of deploy/kubernetes with `kubectl kustomize`;
//   - validates each object against the Kubernetes schemas (kubernetes-models, and
//     @kubernetes-models/prometheus-operator for ServiceMonitor), strictly: a field the schema
//     does not know (a typo such as `readinesProbe`) is an error, as `kubectl apply
//     --validate=strict` would make it;
//   - checks each Switchyard container against the rules docs/deploy.md gives: hardening,
//     resources, probes on the admin listener, the config mounted as a directory, a grace period
//     longer than the preStop pause plus server.drain_timeout_s, a native sidecar's restartPolicy;
//   - runs `switchyard --validate-config` on the config each Switchyard container loads, with
//     dummy values for exactly the environment variables that container defines;
//   - lints docker/Dockerfile (dockerfile-utils, the VS Code Docker language server's validator)
//     and checks it against the project: the same CMake preset as scripts/test.sh, a
//     HEALTHCHECK, and a runtime package for every shared library the built binary links.
//
//   node deploy/validate.mjs                  all of the above
//   node deploy/validate.mjs --manifests F... these manifest files as they are (no kustomize)
//   node deploy/validate.mjs --dockerfile F   lint this Dockerfile
//
// Environment: KUBECTL (default kubectl), SWITCHYARD_BUILD (default build/release).
// Exits 0 when there is no problem, 1 otherwise; each problem is one line naming its source.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { validate as lintDockerfile } from "dockerfile-utils";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const kubernetesDir = path.join(repo, "deploy/kubernetes");
export const dockerfilePath = path.join(repo, "docker/Dockerfile");

// ---------------------------------------------------------------------------------------------
// Rendering

/** Every overlay: each folder of deploy/kubernetes/overlays with a kustomization.yaml. */
export function overlays() {
  const dir = path.join(kubernetesDir, "overlays");
  return fs.readdirSync(dir)
    .filter((d) => fs.existsSync(path.join(dir, d, "kustomization.yaml")))
    .sort()
    .map((d) => path.join(dir, d));
}

export function render(dir) {
  const kubectl = process.env.KUBECTL || "kubectl";
  const r = spawnSync(kubectl, ["kustomize", dir], { encoding: "utf8" });
  if (r.error) throw new Error(`${kubectl} kustomize ${dir}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${kubectl} kustomize ${dir} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Objects of a multi-document YAML text, each as {obj, source}. */
export function parseManifests(text, source) {
  const out = [];
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true });
  docs.forEach((doc, i) => {
    if (doc.errors.length) {
      throw new Error(`${source}: document ${i + 1}: ${doc.errors[0].message}`);
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return;
    const name = obj?.metadata?.name ?? `document ${i + 1}`;
    out.push({ obj, source: `${source}: ${obj?.kind ?? "?"}/${name}` });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Schemas

const schemaModules = new Map();

async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  let spec;
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    spec = `@kubernetes-models/prometheus-operator/${apiVersion}`;
  } else {
    spec = `kubernetes-models/${apiVersion}`;  // "v1" and "apps/v1" alike
  }
  if (!schemaModules.has(spec)) {
    schemaModules.set(spec, await import(spec).catch(() => null));
  }
  const mod = schemaModules.get(spec);
  const cls = mod?.[kind];
  return typeof cls === "function" && typeof cls.prototype.validate === "function" ? cls : null;
}

/**
 * The schema's errors for obj, then every field the schema does not know.
 *
 * kubernetes-models' validators are compiled JSON Schemas that accept unknown fields (as the API
 * server does without strict validation). Each one reads, from every object it checks, each
 * property its schema defines (and every key of a map), and only those. So obj is validated
 * through proxies that record each property read, and a property never read is one the schema
 * does not have.
 */
export async function schemaProblems(obj) {
  const cls = await modelClass(obj?.apiVersion, obj?.kind);
  if (!cls) return [`no schema for apiVersion ${obj?.apiVersion}, kind ${obj?.kind}`];
  const read = new WeakMap();      // object -> Set of its keys the validator read
  const proxies = new WeakMap();   // object -> its proxy (one each: identity stays stable)
  const wrap = (target) => {
    if (target === null || typeof target !== "object") return target;
    if (proxies.has(target)) return proxies.get(target);
    read.set(target, new Set());
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        if (typeof key === "string" && Object.prototype.hasOwnProperty.call(t, key)) {
          read.get(t).add(key);
        }
        return wrap(Reflect.get(t, key, receiver));
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };
  try {
    cls.prototype.validate.call(wrap(obj));
  } catch (e) {
    // Unknown fields are only reliable once the rest is valid; report the schema's own errors.
    return (e.message || String(e)).split(", data").map((m, i) => (i ? "data" + m : m));
  }
  const problems = [];
  const walk = (value, where) => {
    if (value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${where}[${i}]`));
      return;
    }
    const seen = read.get(value);
    for (const key of Object.keys(value)) {
      if (!seen || !seen.has(key)) {
        const field = where ? `${where}.${key}` : key;
        problems.push(`${field}: unknown field (not in the ${obj.kind} schema)`);
      } else {
        walk(value[key], where ? `${where}.${key}` : key);
      }
    }
  };
  walk(obj, "");
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Switchyard's own rules

const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

function podSpecOf(obj) {
  if (obj.kind === "Pod") return obj.spec;
  if (workloadKinds.has(obj.kind)) return obj.spec?.template?.spec;
  if (obj.kind === "CronJob") return obj.spec?.jobTemplate?.spec?.template?.spec;
  return null;
}

function isSwitchyard(container) {
  const image = String(container.image ?? "");
  const repoName = image.split("@")[0].replace(/:[^/:]*$/, "").split("/").pop();
  const argv0 = (container.command ?? [])[0];
  return repoName === "switchyard" || path.posix.basename(String(argv0 ?? "")) === "switchyard";
}

/** A preStop hook's pause in seconds: the sleep action, or exec ["sleep", N]. */
function preStopSeconds(container) {
  const p = container.lifecycle?.preStop;
  if (!p) return 0;
  if (p.sleep) return Number(p.sleep.seconds) || 0;
  const cmd = p.exec?.command ?? [];
  if (cmd[0] === "sleep" || cmd[0] === "/bin/sleep" || cmd[0] === "/usr/bin/sleep") {
    return Number(cmd[1]) || 0;
  }
  return 0;
}

function optionValue(argv, name) {
  const i = argv.indexOf(name);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(name + "="));
  return eq ? eq.slice(name.length + 1) : undefined;
}

function portOf(listen) {
  const m = /:(\d+)$/.exec(String(listen ?? ""));
  return m ? Number(m[1]) : undefined;
}

/**
 * The Switchyard containers of every workload in objs (all from one rendering, so ConfigMaps
 * resolve by namespace and name), each with the config it will load.
 */
export function switchyardContainers(objs) {
  const configMaps = new Map();
  for (const { obj } of objs) {
    if (obj.kind === "ConfigMap") {
      configMaps.set(`${obj.metadata?.namespace ?? ""}/${obj.metadata?.name}`, obj);
    }
  }
  const found = [];
  for (const { obj, source } of objs) {
    const pod = podSpecOf(obj);
    if (!pod) continue;
    const all = [
      ...(pod.initContainers ?? []).map((c) => ({ c, init: true })),
      ...(pod.containers ?? []).map((c) => ({ c, init: false })),
    ];
    for (const { c, init } of all) {
      if (!isSwitchyard(c)) continue;
      const where = `${source}: ${init ? "initContainers" : "containers"}/${c.name}`;
      const problems = [];
      const argv = [...(c.command ?? []), ...(c.args ?? [])];
      let config;
      const configPath = optionValue(argv, "--config");
      if (!configPath) {
        problems.push("no --config in command/args: " +
          "the config would depend on the image's default command");
      } else {
        const dir = path.posix.dirname(configPath);
        const mount = (c.volumeMounts ?? []).find((m) => m.mountPath.replace(/\/$/, "") === dir);
        const fileMount = (c.volumeMounts ?? []).find((m) => m.mountPath === configPath);
        if (fileMount) {
          problems.push(`${configPath} is mounted as a single file` +
            (fileMount.subPath ? " (subPath)" : "") +
            ": a subPath mount never sees ConfigMap updates; mount the ConfigMap as a directory");
        } else if (!mount) {
          problems.push(`no volumeMount at ${dir} for --config ${configPath}`);
        } else if (mount.subPath || mount.subPathExpr) {
          problems.push(`the config mount at ${dir} uses subPath, which never reloads`);
        } else {
          const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
          const cmName = volume?.configMap?.name;
          const key = path.posix.basename(configPath);
          if (!cmName) {
            problems.push(`volume ${mount.name} (config at ${dir}) is not a ConfigMap`);
          } else {
            const cm = configMaps.get(`${obj.metadata?.namespace ?? ""}/${cmName}`);
            const items = volume.configMap.items;
            const itemKey = items ? items.find((it) => it.path === key)?.key : key;
            if (!cm) {
              problems.push(`ConfigMap ${cmName} is not in the manifests`);
            } else if (itemKey === undefined || cm.data?.[itemKey] === undefined) {
              problems.push(`ConfigMap ${cmName} has no key ${itemKey ?? key} for ${configPath}`);
            } else {
              config = { text: cm.data[itemKey], name: `ConfigMap ${cmName} key ${itemKey}` };
            }
          }
        }
      }
      found.push({ where, container: c, init, pod, obj, config, problems });
    }
  }
  return found;
}

/** The rules docs/deploy.md states, for every Switchyard container. */
export function policyProblems(objs) {
  const problems = [];
  for (const sy of switchyardContainers(objs)) {
    const { container: c, pod, init, where } = sy;
    const p = (msg) => problems.push(`${where}: ${msg}`);
    sy.problems.forEach(p);

    if (init && c.restartPolicy !== "Always") {
      p("an init container without restartPolicy: Always would block the pod " +
        "(the gateway never exits)");
    }
    const sc = c.securityContext ?? {};
    const psc = pod.securityContext ?? {};
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) p("runAsNonRoot is not true");
    if (sc.readOnlyRootFilesystem !== true) p("readOnlyRootFilesystem is not true");
    if (sc.allowPrivilegeEscalation !== false) p("allowPrivilegeEscalation is not false");
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) p("capabilities do not drop ALL");
    if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") {
      p("seccompProfile is not RuntimeDefault");
    }
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) {
        if (c.resources?.[kind]?.[r] === undefined) p(`no resources.${kind}.${r}`);
      }
    }

    // Probes: on the admin listener (it stays open while draining), the right paths.
    let server = {};
    if (sy.config) {
      try {
        server = YAML.parse(sy.config.text)?.server ?? {};
      } catch (e) {
        p(`${sy.config.name}: not YAML: ${e.message}`);
      }
    }
    const adminPort = portOf(server.admin_listen);
    if (sy.config && adminPort === undefined) {
      p("the config has no server.admin_listen: probes would hit the API listener, " +
        "which closes on SIGTERM");
    }
    const want = { startupProbe: "/readyz", readinessProbe: "/readyz", livenessProbe: "/healthz" };
    for (const [probe, wantPath] of Object.entries(want)) {
      const get = c[probe]?.httpGet;
      if (!c[probe]) { p(`no ${probe}`); continue; }
      if (!get) continue;  // exec (switchyard --health) or tcp: the path cannot be checked
      if (get.path !== wantPath) p(`${probe} GETs ${get.path}, expected ${wantPath}`);
      const port = typeof get.port === "number" ? get.port
        : (c.ports ?? []).find((cp) => cp.name === get.port)?.containerPort;
      if (port === undefined) p(`${probe} port ${get.port} is not a port of the container`);
      else if (adminPort !== undefined && port !== adminPort) {
        p(`${probe} probes port ${port}, not server.admin_listen's ${adminPort}`);
      }
    }

    // Drain: every preStop pause of the pod, then drain_timeout_s, within the grace period.
    const drain = typeof server.drain_timeout_s === "number" ? server.drain_timeout_s : 30;
    const pauses = [...(pod.initContainers ?? []), ...(pod.containers ?? [])].map(preStopSeconds);
    const pause = Math.max(0, ...pauses);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (!(grace > pause + drain)) {
      p(`terminationGracePeriodSeconds ${grace} is not above ` +
        `preStop ${pause} s + drain_timeout_s ${drain}`);
    }
    if (!init && preStopSeconds(c) === 0) {
      p("no preStop pause: the pod would stop accepting before its endpoints are removed");
    }
  }
  return problems;
}

/** `switchyard --validate-config` on each Switchyard container's config. */
export function configProblems(objs) {
  const build = process.env.SWITCHYARD_BUILD || "build/release";
  const binary = path.resolve(repo, build, "switchyard");
  if (!fs.existsSync(binary)) return [`${binary} not found (build it, or set SWITCHYARD_BUILD)`];
  const problems = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-deploy-"));
  try {
    switchyardContainers(objs).forEach((sy, i) => {
      if (!sy.config) return;
      const file = path.join(tmp, `config-${i}.yaml`);
      fs.writeFileSync(file, sy.config.text);
      // Exactly the container's environment: a ${VAR} the pod does not set fails, as it would
      // at start. Secret values are stand-ins.
      const env = { PATH: process.env.PATH };
      for (const e of sy.container.env ?? []) {
        env[e.name] = e.value !== undefined ? e.value : `dummy-${e.name.toLowerCase()}`;
      }
      if ((sy.container.envFrom ?? []).length) {
        problems.push(`${sy.where}: envFrom: its variables cannot be known here; use env entries`);
      }
      const r = spawnSync(binary, ["--validate-config", "--config", file],
        { env, encoding: "utf8" });
      if (r.status !== 0) {
        const why = (r.stderr || r.stdout || r.error?.message || "").trim()
          .replaceAll(file, sy.config.name);
        problems.push(`${sy.where}: ${why}`);
      }
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return problems;
}

/** Every problem of a set of objects from one rendering (or one file). */
export async function manifestProblems(objs) {
  const problems = [];
  for (const { obj, source } of objs) {
    for (const m of await schemaProblems(obj)) problems.push(`${source}: ${m}`);
  }
  problems.push(...policyProblems(objs), ...configProblems(objs));
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

// Libraries every debian:12-slim has (Essential or Priority required packages).
const slimPackages = new Set(["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]);

/** The Debian packages of the shared libraries binary links, or null without ldd or dpkg. */
export function runtimePackages(binary) {
  let ldd;
  try {
    ldd = execFileSync("ldd", [binary], { encoding: "utf8" });
  } catch {
    return null;
  }
  // Each library as ldd names it and as its real path: with merged /usr, dpkg knows some only
  // as /lib/..., others only as /usr/lib/...
  const libs = [...ldd.matchAll(/=>\s*(\/\S+)/g)].map((m) => [m[1], fs.realpathSync(m[1])]);
  if (!libs.length) return null;
  // "libre2-9:amd64: /usr/lib/x86_64-linux-gnu/libre2.so.9.0.0", one line per path found; the
  // exit status is 1 when any path is not, so it is not looked at.
  const r = spawnSync("dpkg", ["-S", ...libs.flat()], { encoding: "utf8" });
  if (r.error) return null;
  const owner = new Map();
  for (const line of r.stdout.split("\n")) {
    const m = /^([^:\s,]+)(?::[^:\s]+)?: (\/.*)$/.exec(line);
    if (m) owner.set(m[2], m[1]);
  }
  const packages = new Set();
  for (const [named, real] of libs) {
    const pkg = owner.get(named) ?? owner.get(real);
    if (!pkg) return null;  // a library no package owns (a /usr/local build): cannot tell
    packages.add(pkg);
  }
  return packages;
}

let builtPackagesCache;
/** The runtime packages of the built switchyard and switchyard-sim, or null if unknown. */
export function builtPackages() {
  if (builtPackagesCache !== undefined) return builtPackagesCache;
  builtPackagesCache = builtPackagesUncached();
  return builtPackagesCache;
}

function builtPackagesUncached() {
  const build = path.resolve(repo, process.env.SWITCHYARD_BUILD || "build/release");
  const all = new Set();
  for (const name of ["switchyard", "switchyard-sim"]) {
    const binary = path.join(build, name);
    if (!fs.existsSync(binary)) return null;
    const packages = runtimePackages(binary);
    if (!packages) return null;
    packages.forEach((p) => all.add(p));
  }
  return all;
}

/**
 * dockerfile-utils' diagnostics, warnings included, and the project's rules: the release
 * preset of scripts/test.sh, a HEALTHCHECK, a non-root USER, apt hygiene, and (given the
 * runtime packages of the built binary) each of them installed in the final stage.
 */
export function dockerfileProblems(text, { packages } = {}) {
  const problems = [];
  for (const d of lintDockerfile(text)) {
    problems.push(`line ${d.range.start.line + 1}: ${d.message}`);
  }
  // Instructions, with continuation lines joined; comments dropped.
  const instructions = [];
  let current = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw) && !current) continue;
    if (/^\s*#/.test(raw)) continue;
    current += raw.replace(/\\\s*$/, " ");
    if (/\\\s*$/.test(raw)) continue;
    if (current.trim()) instructions.push(current.trim());
    current = "";
  }
  if (current.trim()) instructions.push(current.trim());
  const stages = [];
  for (const ins of instructions) {
    if (/^FROM\s/i.test(ins)) stages.push([]);
    if (stages.length) stages[stages.length - 1].push(ins);
  }
  if (!stages.length) return [...problems, "no FROM"];
  const final = stages[stages.length - 1];

  const testSh = fs.readFileSync(path.join(repo, "scripts/test.sh"), "utf8");
  const preset =
    /cmake --build --preset (\S+) --target switchyard\b/.exec(testSh)?.[1] ?? "release";
  const configure = instructions.find((i) => /^RUN\s/i.test(i) && /cmake\s+(--preset|-S)/.test(i));
  if (!configure || !new RegExp(`cmake --preset ${preset}\\b`).test(configure)) {
    problems.push(`the build does not configure with \`cmake --preset ${preset}\` ` +
      "as scripts/test.sh builds");
  } else if (!new RegExp(`cmake --build --preset ${preset}\\b`).test(configure)) {
    problems.push(`the build does not run \`cmake --build --preset ${preset}\``);
  }
  // An exec form that is not valid JSON silently becomes a shell command: ["switchyard", ...
  // run by /bin/sh, which the lint above lets through.
  for (const ins of instructions) {
    const m = /^(?:CMD|ENTRYPOINT|RUN|HEALTHCHECK\s+(?:--\S+\s+)*CMD)\s+(\[.*)$/i.exec(ins);
    if (!m) continue;
    let ok = false;
    try {
      const argv = JSON.parse(m[1]);
      ok = Array.isArray(argv) && argv.every((a) => typeof a === "string");
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`not a JSON array of strings, so run by a shell: ${ins.slice(0, 60)}`);
  }
  if (!final.some((i) => /^HEALTHCHECK\s/i.test(i) && /--health\b/.test(i))) {
    problems.push("the final stage has no HEALTHCHECK running `switchyard --health`");
  }
  const user = final.filter((i) => /^USER\s/i.test(i)).pop();
  if (!user || /^USER\s+(root|0)(:|\s|$)/i.test(user)) {
    problems.push("the final stage does not run as a non-root USER");
  }
  for (const ins of instructions.filter((i) => /^RUN\s/i.test(i))) {
    if (/apt-get (-\S+ )*install/.test(ins)) {
      if (!/--no-install-recommends/.test(ins)) {
        problems.push(`apt-get install without --no-install-recommends: ${ins.slice(0, 60)}`);
      }
      if (!/install (.* )?-y\b|-y .*install|--yes/.test(ins)) {
        problems.push(`apt-get install without -y: ${ins.slice(0, 60)}`);
      }
    }
    if (/apt-get update/.test(ins) && !/rm -rf \/var\/lib\/apt\/lists/.test(ins)) {
      problems.push("apt-get update without rm -rf /var/lib/apt/lists/* in the same layer: " +
        ins.slice(0, 60));
    }
  }
  if (packages) {
    const finalText = final.join("\n");
    for (const pkg of [...packages].sort()) {
      if (slimPackages.has(pkg)) continue;
      if (!new RegExp(`(^|\\s)${pkg.replace(/[.+]/g, "\\$&")}(\\s|$)`, "m").test(finalText)) {
        problems.push(`the final stage does not install ${pkg}, which the built binaries link`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------

/** Every overlay rendered and checked, then the Dockerfile: problems, and what was checked. */
export async function checkAll() {
  const problems = [];
  const checked = [];
  for (const dir of overlays()) {
    const name = path.relative(repo, dir);
    let objs;
    try {
      objs = parseManifests(render(dir), name);
    } catch (e) {
      problems.push(e.message);
      continue;
    }
    const sy = switchyardContainers(objs);
    checked.push(`${name}: ${objs.length} objects, ${sy.filter((s) => s.config).length} configs`);
    problems.push(...await manifestProblems(objs));
  }
  const packages = builtPackages();
  const docker = dockerfileProblems(fs.readFileSync(dockerfilePath, "utf8"), { packages });
  problems.push(...docker.map((m) => `docker/Dockerfile: ${m}`));
  checked.push(`docker/Dockerfile: lint${packages ? `, ${packages.size} runtime packages` : ""}`);
  return { problems, checked };
}

async function main(argv) {
  let problems = [];
  if (argv[0] === "--manifests") {
    for (const file of argv.slice(1)) {
      let objs;
      try {
        objs = parseManifests(fs.readFileSync(file, "utf8"), file);
      } catch (e) {
        problems.push(e.message);
        continue;
      }
      problems.push(...await manifestProblems(objs));
    }
  } else if (argv[0] === "--dockerfile") {
    const text = fs.readFileSync(argv[1], "utf8");
    problems = dockerfileProblems(text, { packages: builtPackages() })
      .map((m) => `${argv[1]}: ${m}`);
  } else if (argv.length === 0) {
    const r = await checkAll();
    problems = r.problems;
    for (const c of r.checked) console.log(`checked ${c}`);
  } else {
    console.error("usage: validate.mjs [--manifests FILE... | --dockerfile FILE]");
    return 2;
  }
  for (const m of problems) console.log(`problem: ${m}`);
  console.log(problems.length ? `${problems.length} problem(s)` : "no problems");
  return problems.length ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
