/**
 * The preflight of a matrix: how many Kind clusters the engine can hold at once, from its memory and CPUs,
 * read before any cluster starts. Too little for even one cluster is an error that says what is missing.
 */
import type { Container } from "@dagger.io/dagger";
import { observing } from "./cluster.js";
import { StageError } from "./stage-error.js";

const GIB = 1024 ** 3;

/**
 * What the engine's host has for clusters: its CPUs and the memory available now, as an exec sees them.
 * A limit set on the engine's own container is not visible from an exec (each gets its own cgroup
 * namespace, with no limit: internal/buildkit/executor/oci/spec.go): set cluster.parallel under one.
 */
export interface EngineResources {
  cpus: number;
  memoryBytes: number;
}

/** The preflight refused the run: the engine cannot hold even one cluster of this shape. */
export class PreflightError extends StageError {
  override readonly name = "PreflightError";

  constructor(summary: string) {
    super("preflight", summary, "Give the Dagger engine's host more memory (Docker Desktop: Settings → Resources), or use fewer workers (cluster.workers).");
  }
}

/**
 * Memory one Kind cluster needs: 4 GiB with its control plane and one worker (kind's own guidance for
 * a usable cluster), 1 GiB more for each further worker, never less than 4 GiB.
 */
export function clusterMemoryBytes(workers: number): number {
  return (3 + Math.max(workers, 1)) * GIB;
}

/** CPUs one Kind cluster needs to start its control plane in time: 2. */
export const CLUSTER_CPUS = 2;

/**
 * How many clusters run at once: `cluster.parallel` when the config sets it, else as many as the engine's
 * memory and CPUs hold (at least one), never more than there are clusters. Throws PreflightError when not
 * even one cluster fits.
 */
export function parallelClusters(resources: EngineResources, workers: number, clusters: number, configured?: number): number {
  const memoryFits = Math.floor(resources.memoryBytes / clusterMemoryBytes(workers));
  if (memoryFits < 1) {
    const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;
    throw new PreflightError(`the engine has ${gib(resources.memoryBytes)} of memory available; one Kind cluster with ${workers} worker${workers === 1 ? "" : "s"} needs ${gib(clusterMemoryBytes(workers))}. Nothing was started.`);
  }
  const fits = Math.max(1, Math.min(memoryFits, Math.floor(resources.cpus / CLUSTER_CPUS)));
  return Math.min(configured ?? fits, clusters);
}

/** The engine host's CPUs (`nproc`) and available memory (/proc/meminfo), read now (never from the cache). */
export async function engineResources(toolbox: Container): Promise<EngineResources> {
  const probe = observing(toolbox);
  const [cpus, meminfo] = await Promise.all([probe.withExec(["nproc"]).stdout(), probe.withExec(["cat", "/proc/meminfo"]).stdout()]);
  // parseInt reads past nproc's newline
  return { cpus: Number.parseInt(cpus, 10) || 1, memoryBytes: availableMemory(meminfo) };
}

/** MemAvailable from /proc/meminfo (kB), in bytes. */
export function availableMemory(meminfo: string): number {
  return Number(/MemAvailable:\s+(\d+) kB/.exec(meminfo)?.[1] ?? 0) * 1024;
}
