// deploy/validate.mjs on what deploy/ ships (every overlay, docker/Dockerfile), and on broken
// copies of it, so that each check is shown to catch what it is for.
//   SWITCHYARD_BUILD=build/release node --test deploy/
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import {
  checkAll, dockerfilePath, dockerfileProblems, builtPackages, manifestProblems, overlays,
  parseManifests, render, repo,
} from "./validate.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const rendered = new Map();   // overlay name -> its YAML text
const copy = (name) => parseManifests(rendered.get(name), name);  // fresh objects each time
const find = (objs, kind, name) =>
  objs.find((o) => o.obj.kind === kind && (!name || o.obj.metadata.name === name)).obj;
const podOf = (objs, name) => find(objs, "Deployment", name).spec.template.spec;

before(() => {
  for (const dir of overlays()) rendered.set(path.basename(dir), render(dir));
});

describe("what deploy/ ships", () => {
  test("every overlay and the Dockerfile pass every check", async () => {
    const { problems, checked } = await checkAll();
    assert.deepEqual(problems, []);
    assert.ok(checked.length >= 4, checked.join("\n"));
  });

  test("the overlays hold what docs/deploy.md describes", () => {
    assert.deepEqual([...rendered.keys()], ["quickstart", "shared", "sidecar"]);
    const kinds = (name) => copy(name).map((o) => o.obj.kind).sort();
    assert.deepEqual(kinds("shared"), ["ConfigMap", "Deployment", "HorizontalPodAutoscaler",
      "Namespace", "PodDisruptionBudget", "Service", "ServiceMonitor"]);
    assert.ok(!kinds("quickstart").includes("ServiceMonitor"));  // no Prometheus Operator needed
    const sidecar = podOf(copy("sidecar"), "example-app");
    assert.equal(sidecar.initContainers[0].name, "switchyard");
    assert.equal(sidecar.initContainers[0].restartPolicy, "Always");
    const shared = podOf(copy("shared"), "switchyard");
    assert.equal(find(copy("shared"), "Deployment").spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.equal(find(copy("shared"), "Deployment").spec.replicas, undefined);  // the HPA's
    assert.equal(shared.volumes[0].configMap.name, "switchyard-config");
  });
});

describe("a broken manifest fails", () => {
  const fixture = path.join(here, "testdata/broken-deployment.yaml");

  test("validate.mjs --manifests exits 1 on testdata/broken-deployment.yaml", () => {
    const r = spawnSync(process.execPath, [path.join(here, "validate.mjs"), "--manifests", fixture],
      { encoding: "utf8", cwd: repo });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /containers\[0\]\.readinesProbe: unknown field/);
    assert.match(r.stdout,
      /terminationGracePeriodSeconds 10 is not above preStop 5 s \+ drain_timeout_s 20/);
  });

  test("the fixture is broken by its two defects only", async () => {
    const text = fs.readFileSync(fixture, "utf8")
      .replace("readinesProbe:", "readinessProbe:")
      .replace("terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds: 30");
    assert.deepEqual(await manifestProblems(parseManifests(text, "fixed")), []);
  });

  test("a misspelt field anywhere is an unknown field", async () => {
    const objs = copy("shared");
    const pod = podOf(objs, "switchyard");
    pod.containers[0].securityContext.readOnlyRootFileSystem = true;   // capital S
    find(objs, "Service").spec.ports[0].targetPorts = "http";
    find(objs, "ServiceMonitor").spec.endpoints[0].scrapeTimout = "5s";
    find(objs, "HorizontalPodAutoscaler").spec.minReplica = 1;
    const problems = (await manifestProblems(objs)).join("\n");
    assert.match(problems,
      /containers\[0\]\.securityContext\.readOnlyRootFileSystem: unknown field/);
    assert.match(problems, /Service\/switchyard: spec\.ports\[0\]\.targetPorts: unknown field/);
    assert.match(problems,
      /ServiceMonitor\/switchyard: spec\.endpoints\[0\]\.scrapeTimout: unknown field/);
    assert.match(problems, /HorizontalPodAutoscaler\/switchyard: spec\.minReplica: unknown field/);
  });

  test("a wrong type or value, and a kind with no schema, fail", async () => {
    const objs = copy("sidecar");
    podOf(objs, "example-app").initContainers[0].startupProbe.failureThreshold = "30";
    podOf(objs, "example-app").containers[0].imagePullPolicy = "Sometimes";
    const widget = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } };
    objs.push({ obj: widget, source: "w" });
    const problems = (await manifestProblems(objs)).join("\n");
    assert.match(problems, /initContainers\/0\/startupProbe\/failureThreshold must be integer/);
    assert.match(problems,
      /containers\/0\/imagePullPolicy must be equal to one of the allowed values/);
    assert.match(problems, /no schema for apiVersion example.com\/v1, kind Widget/);
  });

  test("the rules of docs/deploy.md", async () => {
    const objs = copy("sidecar");
    const pod = podOf(objs, "example-app");
    const sy = pod.initContainers[0];
    delete sy.restartPolicy;                        // a blocking init container
    sy.securityContext.readOnlyRootFilesystem = false;
    sy.securityContext.capabilities.drop = ["NET_RAW"];
    delete sy.resources.limits;
    sy.livenessProbe.httpGet.path = "/readyz";      // would restart a draining gateway
    sy.volumeMounts[0] = { name: "switchyard-config", mountPath: "/etc/switchyard/switchyard.yaml",
      subPath: "switchyard.yaml", readOnly: true };
    pod.terminationGracePeriodSeconds = 30;         // < 5 s preStop + the default 30 s drain
    const problems = (await manifestProblems(objs)).join("\n");
    for (const re of [/without restartPolicy: Always would block the pod/,
      /readOnlyRootFilesystem is not true/, /capabilities do not drop ALL/,
      /no resources\.limits\.cpu/, /livenessProbe GETs \/readyz, expected \/healthz/,
      /mounted as a single file \(subPath\)/, /terminationGracePeriodSeconds 30 is not above/]) {
      assert.match(problems, re);
    }
  });

  test("probes must reach the admin listener", async () => {
    const objs = copy("shared");
    const c = podOf(objs, "switchyard").containers[0];
    c.readinessProbe.httpGet.port = "http";         // the API listener closes on SIGTERM
    const problems = (await manifestProblems(objs)).join("\n");
    assert.match(problems, /readinessProbe probes port 8080, not server.admin_listen's 9090/);
  });

  test("an embedded config the gateway refuses fails", async () => {
    const objs = copy("shared");
    const cm = find(objs, "ConfigMap");
    cm.data["switchyard.yaml"] =
      cm.data["switchyard.yaml"].replace("reload_poll_ms:", "reload_pol_ms:");
    let problems = (await manifestProblems(objs)).join("\n");
    assert.match(problems,
      /ConfigMap switchyard-config key switchyard.yaml: server.reload_pol_ms: unknown key/);

    // A ${VAR} of the config that the container does not set.
    const objs2 = copy("shared");
    const c = podOf(objs2, "switchyard").containers[0];
    c.env = c.env.filter((e) => e.name !== "OPENAI_API_KEY");
    problems = (await manifestProblems(objs2)).join("\n");
    assert.match(problems, /environment variable OPENAI_API_KEY is not set/);
  });
});

describe("docker/Dockerfile", () => {
  const shipped = fs.readFileSync(dockerfilePath, "utf8");

  test("a syntax error fails the lint", () => {
    const broken = shipped.replace("HEALTHCHECK --interval", "HEALTHCHECK --intervall")
      .replace("EXPOSE 8080", "EXPOSE 8080/tpc");
    const problems = dockerfileProblems(broken).join("\n");
    assert.match(problems, /Unknown flag: intervall/);
    assert.match(problems, /Invalid proto: tpc/);
  });

  test("an exec form that is not JSON fails", () => {
    const broken = shipped.replace('"0.0.0.0:8080"]\nENTRYPOINT', '"0.0.0.0:8080"\nENTRYPOINT')
      .replace('CMD ["--config"', "CMD ['--config'");
    const problems = dockerfileProblems(broken).join("\n");
    assert.match(problems, /not a JSON array of strings, so run by a shell: HEALTHCHECK/);
    assert.match(problems, /not a JSON array of strings, so run by a shell: CMD/);
  });

  test("the image must build with scripts/test.sh's preset and have a HEALTHCHECK", () => {
    const broken = shipped.replaceAll("--preset release", "--preset debug")
      .replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/m, "");
    const problems = dockerfileProblems(broken).join("\n");
    assert.match(problems, /does not configure with `cmake --preset release`/);
    assert.match(problems, /no HEALTHCHECK running `switchyard --health`/);
  });

  test("the runtime stage must install every library the binaries link", (t) => {
    const packages = builtPackages();
    if (!packages) return t.skip("no built binaries, or no ldd/dpkg");
    assert.ok(packages.has("libre2-9"), [...packages].join(" "));
    const problems = dockerfileProblems(shipped.replace(" libre2-9", ""), { packages });
    assert.deepEqual(problems,
      ["the final stage does not install libre2-9, which the built binaries link"]);
  });

  test("apt hygiene", () => {
    const broken = shipped
      .replace(" --no-install-recommends \\\n      libyaml", " \\\n      libyaml")
      .replace(" \\\n && apt-get clean && rm -rf /var/lib/apt/lists/*\nCOPY --from", "\nCOPY --from");
    const problems = dockerfileProblems(broken).join("\n");
    assert.match(problems, /apt-get install without --no-install-recommends/);
    assert.match(problems, /apt-get update without rm -rf \/var\/lib\/apt\/lists/);
  });
});
