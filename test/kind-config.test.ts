/**
 * cluster.kindConfig: a partial kind Cluster merged into the generated one, validated against kind's
 * fields, with what the module owns refused and said why.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { definitionInputs } from "../ci/src/cluster.js";
import { ConfigError, validateConfig } from "../ci/src/config.js";
import { planPipeline, renderPlan } from "../ci/src/plan.js";
import { localSourceTree } from "../cli/local-source-tree.js";
import { projectTree } from "./support/projects.js";

const tree = localSourceTree(projectTree({ "images/jax/Dockerfile": "FROM python:3.12-slim\n" }));
const JAX = "images:\n  jax: { context: images/jax }\n";

/** JobSet's scheduling lane and descheduler's topology tests, in one cluster shape. */
const SHAPED = `${JAX}cluster:
  kindConfig:
    featureGates: { JobManagedBy: true }
    runtimeConfig: { "api/alpha": "true" }
    kubeadmConfigPatches:
      - |
        kind: ClusterConfiguration
        scheduler:
          extraArgs: { v: "4" }
    containerdConfigPatches:
      - |
        [plugins."io.containerd.grpc.v1.cri".registry]
          config_path = "/etc/containerd/certs.d"
    networking: { kubeProxyMode: nftables, podSubnet: 10.244.0.0/16 }
    nodes:
      - role: control-plane
      - { role: worker, labels: { topology.kubernetes.io/zone: zone-a } }
      - { role: worker, labels: { topology.kubernetes.io/zone: zone-b, example.com/pool: gpu } }
`;

async function generated(yaml: string) {
  const plan = planPipeline(await validateConfig(yaml, tree));
  const cluster = plan.clusters[0]!;
  return { plan, cluster, config: parse((definitionInputs(cluster, plan.kind) as { kindConfig: string }).kindConfig) };
}

async function problems(yaml: string): Promise<string[]> {
  const error = await validateConfig(yaml, tree).catch((e: unknown) => e);
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("cluster.kindConfig", () => {
  it("is merged into the generated config: the module's fields kept, its certificate SANs patch first, the nodes as written", async () => {
    const { config, cluster } = await generated(SHAPED);
    expect(config).toEqual({
      featureGates: { JobManagedBy: true },
      runtimeConfig: { "api/alpha": "true" },
      containerdConfigPatches: ['[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'],
      kind: "Cluster",
      apiVersion: "kind.x-k8s.io/v1alpha4",
      name: "kind-pipeline-1-37-0",
      networking: { kubeProxyMode: "nftables", podSubnet: "10.244.0.0/16", apiServerAddress: "0.0.0.0", apiServerPort: 6443 },
      kubeadmConfigPatches: [expect.stringContaining("certSANs"), 'kind: ClusterConfiguration\nscheduler:\n  extraArgs: { v: "4" }\n'],
      nodes: [
        { role: "control-plane" },
        { role: "worker", labels: { "topology.kubernetes.io/zone": "zone-a" } },
        { role: "worker", labels: { "topology.kubernetes.io/zone": "zone-b", "example.com/pool": "gpu" } },
      ],
    });
    expect(parse(config.kubeadmConfigPatches[0]).apiServer.certSANs).toEqual(["kind-pipeline-1-37-0", "localhost", "127.0.0.1"]);
    // readiness waits for every node of the shape
    expect(cluster.workers).toBe(2);
  });

  it("changes the cluster's definition, so another shape is another service and Docker volume", async () => {
    const plain = await generated(JAX);
    const shaped = await generated(SHAPED);
    expect(JSON.stringify(definitionInputs(shaped.cluster, shaped.plan.kind))).not.toBe(JSON.stringify(definitionInputs(plain.cluster, plain.plan.kind)));
  });

  it("shows in the plan", async () => {
    expect(renderPlan((await generated(SHAPED)).plan)).toContain("kind-pipeline-1-37-0, control-plane, worker, worker (cluster.kindConfig), node image");
  });

  it("refuses what the module owns, saying why, and what kind does not know", async () => {
    const yaml = `${JAX}cluster:
  kindConfig:
    name: mine
    networking: { apiServerPort: 7443, ipFamily: ipv5 }
    featureGates: { jobManagedBy: true }
    nodes:
      - { role: worker, image: "kindest/node:v1.30.0", extraMounts: [] }
    kubeadmPatches: []
`;
    expect((await problems(yaml)).sort()).toEqual([
      "cluster.kindConfig.name: is set by kind-pipeline: the cluster is <cluster.name>-<version>",
      'cluster.kindConfig.networking.apiServerPort: is set by kind-pipeline: the API server is on 6443, the port the service exposes',
      'cluster.kindConfig.networking.ipFamily: must be "ipv4", "ipv6" or "dual"',
      "cluster.kindConfig.featureGates.jobManagedBy: must be a feature gate name such as JobManagedBy",
      "cluster.kindConfig.nodes.0.image: is set by kind-pipeline: the node image comes from kubernetes.versions and kubernetes.kind (pinned by digest, or built)",
      "cluster.kindConfig.nodes.0.extraMounts: is set by kind-pipeline: host paths would be paths inside the Docker-in-Docker service, not on your machine",
      "cluster.kindConfig.nodes: must have a control-plane node",
      'cluster.kindConfig.kubeadmPatches: unknown key (did you mean "kubeadmConfigPatches"?)',
    ].sort());
  });

  it("refuses cluster.workers or cluster.nodeLabels beside kindConfig.nodes, which list every node", async () => {
    const yaml = `${JAX}cluster:\n  workers: 2\n  nodeLabels: { example.com/a: b }\n  kindConfig:\n    nodes: [{ role: control-plane }]\n`;
    expect((await problems(yaml)).sort()).toEqual([
      "cluster.nodeLabels: cannot be combined with cluster.kindConfig.nodes, which lists every node with its labels: set them there",
      "cluster.workers: cannot be combined with cluster.kindConfig.nodes, which lists every node with its labels: set them there",
    ]);
  });
});
