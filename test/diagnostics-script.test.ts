/**
 * ci/scripts/diagnostics.sh run for real with stub kubectl, kind and timeout: what it collects, for which
 * pods, and that one failing command never stops the rest.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/projects.js";
import { runScript, scratch } from "./support/shell.js";

const SCRIPT = join(REPO_ROOT, "ci/scripts/diagnostics.sh");

/** Pods as `kubectl get pods -A --no-headers -o custom-columns=…` prints them: ns, name, phase, ready, containers, init containers. */
const PODS = [
  "kube-system coredns-1 Running true coredns <none>",
  "e2e jax-smoke-x1 Pending <none> train <none>",
  "e2e crashy-1 Running false,true app,sidecar setup",
  "e2e done-1 Succeeded false train <none>",
].join("\n");

/** kubectl answers by its arguments: the pod listing above, and an echo of everything else. */
const KUBECTL = `
case "$*" in
  *custom-columns*) echo "${PODS}" ;;
  *"-o json"*) echo '{"items": []}' ;;
  *--previous*) case "$*" in *crashy-1*app*) echo "previous run of app" ;; *) exit 1 ;; esac ;;
  *) echo "kubectl $*" ;;
esac`;
const STUBS = { kubectl: KUBECTL, kind: 'echo "kind $*"', timeout: 'shift; exec "$@"' };

async function collect(stubs: Record<string, string> = STUBS) {
  const dir = scratch();
  const out = join(dir, "out");
  const run = await runScript(SCRIPT, ["kind-pipeline-1-37-0", out], { stubs, dir });
  return { run, out, read: (path: string) => readFileSync(join(out, path), "utf8") };
}

describe("diagnostics.sh", () => {
  it("collects pods, events, nodes and kind's logs, with a time limit on every command", async () => {
    const { run, out, read } = await collect();
    expect(run.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["describe", "events.txt", "kind-export-logs.txt", "logs", "nodes-describe.txt", "nodes.txt", "pods.json", "pods.txt"]);
    expect(read("pods.txt")).toBe("kubectl --request-timeout=30s get pods --all-namespaces -o wide\n");
    expect(read("events.txt")).toBe("kubectl --request-timeout=30s get events --all-namespaces --sort-by=.lastTimestamp\n");
    expect(run.calls).toContain("kind export logs " + join(out, "kind") + " --name kind-pipeline-1-37-0");
    // every kubectl and kind call goes through timeout, 60 s by default (kind export logs: 3 times that)
    const timeouts = run.calls.filter((c) => c.startsWith("timeout "));
    expect(timeouts.filter((c) => c.startsWith("timeout 60 kubectl"))).toHaveLength(run.calls.filter((c) => c.startsWith("kubectl ")).length);
    expect(timeouts).toContain(`timeout 180 kind export logs ${join(out, "kind")} --name kind-pipeline-1-37-0`);
  });

  it("describes and logs only the pods that are not well: pending, or running with a container not ready", async () => {
    const { out, read } = await collect();
    expect(readdirSync(join(out, "describe")).sort()).toEqual(["e2e_crashy-1.txt", "e2e_jax-smoke-x1.txt"]);
    expect(readdirSync(join(out, "logs")).sort()).toEqual([
      "e2e_crashy-1_app.log",
      "e2e_crashy-1_app.previous.log",
      "e2e_crashy-1_setup.log",
      "e2e_crashy-1_sidecar.log",
      "e2e_jax-smoke-x1_train.log",
    ]);
    expect(read("logs/e2e_crashy-1_app.log")).toBe("kubectl --request-timeout=30s logs --namespace e2e crashy-1 --container app --tail=200\n");
    expect(read("logs/e2e_crashy-1_app.previous.log")).toBe("previous run of app\n");
  });

  it("goes on when a command fails, and leaves an empty pod list when kubectl cannot list pods", async () => {
    const { run, read, out } = await collect({ ...STUBS, kubectl: 'echo "The connection to the server was refused" >&2; exit 1' });
    expect(run.code).toBe(0);
    expect(read("pods.json")).toBe('{"items": []}\n');
    expect(read("pods.json.error")).toContain("connection to the server was refused");
    expect(read("events.txt")).toContain("connection to the server was refused");
    expect(existsSync(join(out, "kind-export-logs.txt"))).toBe(true);
  });

  it("refuses to run without its two arguments", async () => {
    const run = await runScript(SCRIPT, ["only-one"], { stubs: STUBS });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("usage: diagnostics.sh <cluster name> <output dir>");
  });
});
