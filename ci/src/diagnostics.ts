/**
 * Diagnostics after a failure on a cluster that is up: what ci/scripts/diagnostics.sh collects (pods,
 * events, nodes, describe and logs of every pod that is not well, `kind export logs`) as a Directory for
 * the report, and the failure signature of every problem pod. Collected only while the cluster service
 * runs: binding a service that died would start a new, empty cluster (Dagger's core/services.go).
 */
import { dag, type Directory } from "@dagger.io/dagger";
import { observing, type LiveCluster } from "./cluster.js";
import { firstLineOf, lastLines } from "./errors.js";
import type { PodSignature } from "./results.js";
import { moduleScripts, SCRIPTS_PATH } from "./scripts.js";
import { podSignatures } from "./signatures.js";
import { withTimeout } from "./waits.js";

const OUT = "/kind-pipeline/diagnostics";

/** Time limit of the whole collection, in seconds: a few kubectl calls of 60 s at most, and `kind export logs`. */
export const DIAGNOSTICS_SECONDS = 600;

/** What the diagnostics found: the files for the report, and one signature per problem pod. */
export interface Diagnostics {
  directory: Directory;
  signatures: PodSignature[];
}

/**
 * Collects the diagnostics of a live cluster. Never throws: when the service is gone, or collecting fails,
 * the directory holds a note saying so, and there are no signatures.
 */
export async function collectDiagnostics(live: LiveCluster, refs: Map<string, string>, limitSeconds = DIAGNOSTICS_SECONDS): Promise<Diagnostics> {
  const note = (text: string): Diagnostics => ({ directory: dag.directory().withNewFile("NOT-COLLECTED.txt", `${text}\n`), signatures: [] });
  try {
    if (!(await live.isLive())) return note(`The cluster service of ${live.cluster.name} was no longer running, so nothing was collected (collecting would have started a new, empty cluster).`);
    const collected = observing(live.client.withMountedDirectory(SCRIPTS_PATH, moduleScripts(["diagnostics.sh"])))
      .withExec(["sh", `${SCRIPTS_PATH}/diagnostics.sh`, live.cluster.name, OUT])
      .directory(OUT);
    return await withTimeout(readSignatures(collected, refs), limitSeconds, () => new Error(`collecting did not finish within ${limitSeconds}s`));
  } catch (error) {
    return note(`Collecting diagnostics of ${live.cluster.name} failed: ${firstLineOf(error)}`);
  }
}

/** The signatures of the collected pods, with the last log lines of each container (logs/<ns>_<pod>_<container>.log). */
async function readSignatures(collected: Directory, refs: Map<string, string>): Promise<Diagnostics> {
  const [pods, logFiles] = await Promise.all([collected.file("pods.json").contents(), collected.directory("logs").entries()]);
  const current = logFiles.filter((name) => name.endsWith(".log") && !name.endsWith(".previous.log"));
  const logs = await Promise.all(
    current.map(async (name) => {
      // Kubernetes names hold no "_", so the separator is unambiguous
      const key = name.slice(0, -".log".length).split("_").join("/");
      return [key, lastLines(await collected.file(`logs/${name}`).contents()).join("\n")] as const;
    }),
  );
  const loaded = [...refs].map(([name, ref]) => ({ name, ref }));
  return { directory: collected, signatures: podSignatures(pods, { loaded, logs: Object.fromEntries(logs) }) };
}
