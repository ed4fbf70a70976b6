/**
 * The schema of kind-pipeline.yaml. It is the contract with users: keys are strict (a typo is an error,
 * never silently ignored), and `npm run schema` turns it into kind-pipeline.schema.json for editors.
 * Values are normalized on the way in: paths lose `./` and trailing slashes, versions lose their `v`,
 * durations become seconds.
 */
import { posix } from "node:path";
import { z } from "zod";
import { DEFAULT_KIND_VERSION, KIND_RELEASES, KIND_VERSIONS } from "./releases.js";

/** A DNS-1123 label: image names and e2e step names become Kubernetes names and image tags. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const DNS_LABEL_MESSAGE = "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
const dnsLabel = z.string().max(63, "must be at most 63 characters (a DNS-1123 label)").regex(DNS_LABEL, DNS_LABEL_MESSAGE);

/** A path inside the source tree, normalized; absolute paths and `..` escapes are refused. */
const sourcePath = z
  .string()
  .min(1, "must not be empty")
  .refine((p) => !posix.isAbsolute(p) && !/^[A-Za-z]:[\\/]/.test(p), "must be relative to the source directory, not absolute")
  // Stryker disable next-line Regex,StringLiteral,LogicalOperator: posix.normalize leaves at most one trailing slash and never an empty path here
  .transform((p) => posix.normalize(p).replace(/\/+$/, "") || ".")
  .refine((p) => p !== ".." && !p.startsWith("../"), "must stay inside the source directory (no '..')");

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name: letters, digits and '_', not starting with a digit");

const stringValue = z.string({
  error: (issue) =>
    typeof issue.input === "number" || typeof issue.input === "boolean"
      ? `must be a string, not ${typeof issue.input} ${String(issue.input)} as YAML read it: quote the value so that it is kept exactly as written`
      : undefined,
});

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)$/;

/** A Kubernetes version `MAJOR.MINOR.PATCH`, with or without a leading `v`; normalized without it. */
export const kubernetesVersion = z
  .string({
    error: (issue) =>
      typeof issue.input === "number"
        ? `must be a string, not number ${issue.input} as YAML read it: quote it and give all three parts, e.g. "${issue.input}.0"`
        : undefined,
  })
  .regex(VERSION, 'must be a Kubernetes version MAJOR.MINOR.PATCH, e.g. "1.37.0"')
  // Stryker disable next-line Regex: VERSION admits a "v" only at the start
  .transform((v) => v.replace(/^v/, ""));

const DURATION = /^(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A duration such as `0s`, `90s`, `10m`, `1h` or `1h30m`, as whole seconds, at most a day. */
const duration = z
  .string({
    error: (issue) =>
      typeof issue.input === "number" ? `must be a duration with its unit, e.g. "${issue.input}s" or "${issue.input}m": a bare number has none` : undefined,
  })
  .regex(DURATION, 'must be a duration such as "90s", "10m", "1h" or "1h30m"')
  .transform((d) => {
    // Stryker disable next-line StringLiteral,ArrayDeclaration: Number("") is 0 like Number("0"), and DURATION.exec cannot fail after .regex(DURATION)
    const [, h = "0", m = "0", s = "0"] = DURATION.exec(d) ?? [];
    return Number(h) * 3600 + Number(m) * 60 + Number(s);
  })
  .refine((seconds) => seconds <= 86_400, "must be at most 24h");

/** A time limit: a duration longer than 0s (every wait has a bound; none means a stuck run never ends). */
const timeLimit = duration.refine((seconds) => seconds > 0, 'a time limit is required: 0s would mean none; give one such as "10m"');

/** A Dagger secret reference: where Dagger reads a secret at call time, never the secret itself. */
const secretReference = z
  .string()
  .regex(
    /^(env|file|cmd|op|vault|libsecret):\/\/.+$/,
    'must be a Dagger secret reference such as "env://NPM_TOKEN" or "file://./token", never the secret itself',
  );

/**
 * An image reference `[registry[:port]/]repository[:tag][@sha256:digest]` (the grammar of
 * distribution/reference, lowercase repository), parsed into its parts.
 */
const IMAGE_REFERENCE =
  /^(?:((?:[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*(?::\d+)?)\/)??([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

/** The tag and digest of an image reference, or undefined when it is not one. */
export function imageReferenceParts(ref: string): { tag?: string; digest?: string } | undefined {
  const match = IMAGE_REFERENCE.exec(ref);
  return match ? { tag: match[5], digest: match[6] } : undefined;
}

const LATEST_REASON =
  "Kubernetes pulls such an image (imagePullPolicy: Always), so the loaded one ends in ImagePullBackOff";

/** A reference with an explicit tag other than `latest`: what a pod can use without pulling. */
const taggedReference = (example: (name: string) => string) =>
  z.string().superRefine((ref, ctx) => {
    const parts = imageReferenceParts(ref);
    const name = ref.split("@")[0]!;
    if (!parts) ctx.addIssue({ code: "custom", message: `must be an image reference such as ${example("ghcr.io/example/manager")}` });
    else if (!parts.tag) ctx.addIssue({ code: "custom", message: `must carry a tag (e.g. ${example(name)}): an untagged reference means :latest, and ${LATEST_REASON}` });
    else if (parts.tag === "latest") ctx.addIssue({ code: "custom", message: `must not be tagged latest: ${LATEST_REASON}; use a tag such as ${example(name.replace(/:[^:/]*$/, ""))}` });
  });

/** A platform an image is built and published for. */
const platform = z
  .string()
  .regex(/^linux\/(amd64|arm64|arm\/v7|arm\/v6|ppc64le|s390x|riscv64|386)$/, "must be a platform such as linux/amd64 or linux/arm64");

/** Platforms to publish for, each once. */
const platformList = z
  .array(platform)
  .min(1, "must list at least one platform")
  .refine((list) => new Set(list).size === list.length, "lists a platform twice");

/** The values a publish call gives (`--revision`, `--pull-request`, `--version`), which tags and build args can take. */
export const PUBLISH_VALUES = ["revision", "pullRequest", "version"] as const;

/** Where a computed build arg's value comes from: a file of the source, or a value of the publish call. */
const buildArgSource = z
  .strictObject({
    file: sourcePath
      .optional()
      .describe("A file of the source, relative to the source root (not the context); its content, trimmed, is the value (e.g. frontend/.nvmrc)."),
    arg: z
      .enum(PUBLISH_VALUES, { error: `must be one of ${PUBLISH_VALUES.join(", ")}` })
      .optional()
      .describe("A value of the publish call: revision (--revision, in full), version (--version, as given) or pullRequest (--pull-request)."),
  })
  .refine((source) => (source.file === undefined) !== (source.arg === undefined), "must name one source: { file: <path> } or { arg: revision | version | pullRequest }");

const imageSchema = z
  .strictObject({
    context: sourcePath.describe("Build context: a directory inside the source; only it is sent to the build."),
    dockerfile: z
      .string()
      .min(1, "must not be empty")
      .refine((p) => !posix.isAbsolute(p), "must be relative to the context, not absolute")
      .transform((p) => posix.normalize(p))
      .refine(
        (p) => p !== ".." && !p.startsWith("../"),
        "must stay inside the context (no '..'): only the context is sent to the build; widen the context (e.g. context: .) and give the Dockerfile's path from there",
      )
      .prefault("Dockerfile")
      .describe("Dockerfile path, relative to the context (e.g. cmd/manager/Dockerfile with context: .)."),
    buildArgs: z.record(envName, stringValue).default({}).describe("Build arguments (ARG) as strings."),
    target: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be a build stage name from the Dockerfile (FROM … AS <name>)")
      .optional()
      .describe("Build stage to stop at (FROM … AS <target>)."),
    secrets: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "must be a secret id as used in RUN --mount=type=secret,id=<id>"), secretReference)
      .default({})
      .describe("Build secrets: id (as in RUN --mount=type=secret,id=<id>) → where Dagger reads it (env://, file://, cmd://, op://, vault://)."),
    optional: z
      .boolean()
      .default(false)
      .describe("Built, loaded and tested only when selected (--images), not by default."),
    ref: taggedReference((name) => `${name}:test`)
      .refine((ref) => !imageReferenceParts(ref)?.digest, "must not carry a digest: the image is built here, so its digest is not known in advance")
      .optional()
      .describe(
        "The reference the image carries inside the cluster, as the project's manifests use it (e.g. ghcr.io/example/manager:test); " +
          "steps get it as IMAGE_<NAME>. Default: kind-pipeline.local/<name>:build-<hash of the build's inputs>. Never latest.",
      ),
    buildArgsFrom: z
      .record(envName, buildArgSource)
      .default({})
      .describe(
        "Build arguments computed from the source or the call: NAME → { file: <path> } (the file's trimmed content, read when the config is) " +
          "or { arg: revision | version | pullRequest } (given by publish; the test path without publish leaves them to the Dockerfile's ARG default).",
      ),
    platforms: platformList
      .optional()
      .describe(
        "Platforms to publish the image for: one build per platform, pushed as one manifest list; default: publish.platforms, else the engine's platform. " +
          "The tests run the engine's platform only. With several, read TARGETARCH in the Dockerfile, never a fixed ARCH build arg.",
      ),
    publish: z.boolean().default(true).describe("false: built and tested, never pushed."),
  })
  .describe("A container image built from a Dockerfile.");

const kubernetesFields = z.strictObject({
    versions: z
      .array(kubernetesVersion)
      .min(1, "must list at least one version")
      .default([KIND_RELEASES[DEFAULT_KIND_VERSION].defaultKubernetes])
      .describe("Kubernetes versions to test on; the first is the default."),
    kind: z
      .enum(KIND_VERSIONS, { error: `must be a kind release this module pins: ${KIND_VERSIONS.join(", ")}` })
      .default(DEFAULT_KIND_VERSION)
      .describe("kind release (pinned by checksum, with its published node images)."),
    nodeImageFallback: z
      .enum(["build", "fail"], { error: 'must be "build" or "fail"' })
      .default("build")
      .describe("When kind publishes no node image for a version: build one (kind build node-image) or fail."),
});
const kubernetesSchema = kubernetesFields.prefault({});

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;

/** Labels in the kubernetes.io and k8s.io namespaces the kubelet may set on its node (kubernetes' IsKubeletLabel). */
const KUBELET_LABELS = new Set([
  "kubernetes.io/hostname",
  "kubernetes.io/os",
  "kubernetes.io/arch",
  "beta.kubernetes.io/os",
  "beta.kubernetes.io/arch",
  "beta.kubernetes.io/instance-type",
  "node.kubernetes.io/instance-type",
  "topology.kubernetes.io/zone",
  "topology.kubernetes.io/region",
  "failure-domain.beta.kubernetes.io/zone",
  "failure-domain.beta.kubernetes.io/region",
]);

/** Whether the kubelet sets a label of these namespaces: a known one, or any in (a subdomain of) kubelet.kubernetes.io or node.kubernetes.io. */
function isKubeletLabel(key: string): boolean {
  // Stryker disable next-line StringLiteral: isKubeletLabel is only asked about keys with a "/" (the namespace pattern requires one)
  const namespace = key.includes("/") ? key.slice(0, key.indexOf("/")) : "";
  return KUBELET_LABELS.has(key) || ["kubelet.kubernetes.io", "node.kubernetes.io"].some((allowed) => namespace === allowed || namespace.endsWith(`.${allowed}`));
}

/** Node labels, as the kubelet accepts them. */
const nodeLabels = z.record(
  z
    .string()
    .regex(LABEL_KEY, "must be a Kubernetes label key such as example.com/role")
    .refine(
      (key) => !/^([^/]*\.)?(kubernetes\.io|k8s\.io)\//.test(key) || isKubeletLabel(key),
      "is in the kubernetes.io or k8s.io namespaces, where the kubelet sets only its own labels (topology.kubernetes.io/zone, node.kubernetes.io/*, kubernetes.io/os …) and refuses this one; use your own prefix, e.g. example.com/role",
    ),
  stringValue.regex(LABEL_VALUE, "must be a Kubernetes label value (63 characters at most)"),
);

/** A field of kind's config the module owns: present at all, it is refused with the reason. */
const owned = (reason: string) =>
  z
    .unknown()
    .refine((value) => value === undefined, `is set by kind-pipeline: ${reason}`)
    .optional();

/** kubeadm config patches, each a YAML document (kind's `kubeadmConfigPatches`). */
const kubeadmPatches = z.array(z.string().min(1, "must not be empty")).describe("kubeadm config patches (YAML documents, e.g. a ClusterConfiguration).");
/** RFC 6902 patches of kind's JSON6902 form: group, version, kind and a patch (a YAML string). */
const json6902Patches = z.array(
  z.strictObject({ group: z.string(), version: z.string(), kind: z.string(), patch: z.string().min(1, "must not be empty") }),
);

const kindNodeSchema = z.strictObject({
  role: z.enum(["control-plane", "worker"], { error: 'must be "control-plane" or "worker"' }),
  labels: nodeLabels.optional().describe("Labels of this node."),
  kubeadmConfigPatches: kubeadmPatches.optional(),
  kubeadmConfigPatchesJSON6902: json6902Patches.optional(),
  image: owned("the node image comes from kubernetes.versions and kubernetes.kind (pinned by digest, or built)"),
  extraPortMappings: owned("only the API server port is reachable, through the Dagger service (`cluster up --ports 6443:6443`)"),
  extraMounts: owned("host paths would be paths inside the Docker-in-Docker service, not on your machine"),
});

/**
 * A partial kind `Cluster` (kind.x-k8s.io/v1alpha4) merged into the one the module generates: the fields
 * kind documents for nodes, kubeadm, feature gates, runtime config, containerd and networking. What the
 * module must own (the name, the API server's address and port, the node image) is refused with the reason.
 */
const kindConfigSchema = z
  .strictObject({
    kind: owned("the config is a kind Cluster"),
    apiVersion: owned("kind.x-k8s.io/v1alpha4"),
    name: owned("the cluster is <cluster.name>-<version>"),
    nodes: z
      .array(kindNodeSchema)
      .min(1, "must list at least one node")
      .refine((nodes) => nodes.some((n) => n.role === "control-plane"), "must have a control-plane node")
      .refine((nodes) => nodes.length <= 9, "must have at most 9 nodes: every node is a container in one Docker-in-Docker service")
      .optional()
      .describe("The nodes, with roles and per-node labels and patches; replaces cluster.workers and cluster.nodeLabels."),
    kubeadmConfigPatches: kubeadmPatches.optional(),
    kubeadmConfigPatchesJSON6902: json6902Patches.optional(),
    featureGates: z
      .record(z.string().regex(/^[A-Z][A-Za-z0-9]*$/, "must be a feature gate name such as JobManagedBy"), z.boolean())
      .optional()
      .describe("Kubernetes feature gates, for every component."),
    runtimeConfig: z.record(z.string(), z.string()).optional().describe('API groups to enable or disable, e.g. { "api/alpha": "true" }.'),
    containerdConfigPatches: z.array(z.string().min(1, "must not be empty")).optional().describe("containerd config patches (TOML)."),
    containerdConfigPatchesJSON6902: z.array(z.string().min(1, "must not be empty")).optional(),
    networking: z
      .strictObject({
        ipFamily: z.enum(["ipv4", "ipv6", "dual"], { error: 'must be "ipv4", "ipv6" or "dual"' }).optional(),
        podSubnet: z.string().optional(),
        serviceSubnet: z.string().optional(),
        disableDefaultCNI: z.boolean().optional(),
        kubeProxyMode: z.enum(["iptables", "ipvs", "nftables", "none"], { error: 'must be "iptables", "ipvs", "nftables" or "none"' }).optional(),
        dnsSearch: z.array(z.string()).optional(),
        apiServerAddress: owned("the API server listens on 0.0.0.0 so that bound containers and `cluster up` reach it"),
        apiServerPort: owned("the API server is on 6443, the port the service exposes"),
      })
      .optional(),
  })
  .describe("A partial kind Cluster (kind.x-k8s.io/v1alpha4) merged into the generated one.");

/**
 * A lane: the steps run again on a cluster of their own, per Kubernetes version, with other environment
 * values (an axis such as cache on/off × two Argo versions, one lane per combination) or another cluster
 * shape (a GPU lane). The plain cluster is the lane named default.
 */
const laneSchema = z
  .strictObject({
    name: dnsLabel
      .max(12, "must be at most 12 characters: it becomes part of the lane's cluster names")
      .refine((name) => name !== "default", "default is the plain cluster's lane; give this one another name")
      .describe("Lane name: in cluster names (<cluster.name>-<lane>-<version>), reports and e2e[].lanes."),
    env: z.record(envName, stringValue).default({}).describe("Environment variables every step of the lane gets (over the step's own)."),
    kindConfig: kindConfigSchema.optional().describe("The lane's cluster shape, instead of cluster.kindConfig."),
    kubernetes: z.array(kubernetesVersion).min(1, "must list at least one version, or be left out").optional().describe("Versions to run the lane on (default: every version of the run)."),
  })
  .describe("Another cell of the matrix: the steps on a cluster of its own, with other environment values or another shape.");

/** The validated `cluster.kindConfig`. */
export type KindConfigPatch = z.output<typeof kindConfigSchema>;

const clusterFields = z
  .strictObject({
    name: z
      .string()
      .max(40, "must be at most 40 characters: kind adds the version and node role (…-1-37-0-control-plane) within its 63")
      .regex(DNS_LABEL, DNS_LABEL_MESSAGE)
      .default("kind-pipeline")
      .describe("Kind cluster name; a version suffix is added per Kubernetes version. Give each project its own when several share an engine."),
    workers: z
      .number()
      .int("must be a whole number")
      .min(0, "must be 0 or more")
      .max(8, "must be at most 8: every node is a container in one Docker-in-Docker service")
      .default(1)
      .describe("Worker nodes besides the control plane."),
    nodeLabels: nodeLabels.default({}).describe("Labels put on every worker node (on the control plane when there are no workers)."),
    parallel: z
      .number()
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(16, "must be at most 16")
      .optional()
      .describe("Clusters (Kubernetes versions) run at once; default: as many as the engine's memory holds (4 GiB for one with a worker, 1 GiB more per further worker) and its CPUs (2 each)."),
    kindConfig: kindConfigSchema.optional(),
  });
const clusterSchema = clusterFields.prefault({});

const buildSchema = z
  .strictObject({
    retries: z
      .number()
      .int("must be a whole number")
      .min(0, "must be 0 or more")
      .max(5, "must be at most 5")
      .default(1)
      .describe("Retries per image after a transient registry or network failure; build errors are never retried."),
    retryDelay: duration.prefault("5s").describe("Wait before a retry."),
    timeout: timeLimit.prefault("30m").describe("Time limit of one image's build (each attempt)."),
  })
  .prefault({});

const stepSchema = z
  .strictObject({
    name: dnsLabel.describe("Step name, unique."),
    needs: z.array(dnsLabel).default([]).describe("Images the step uses; it runs only when all of them are selected."),
    after: z
      .array(dnsLabel)
      .default([])
      .describe("Steps that must pass first (e.g. a deploy step); if one fails or is skipped, this step is skipped."),
    run: z
      .array(z.string().min(1, "must not be empty"), {
        error: (issue) =>
          typeof issue.input === "string"
            ? `must be a list of arguments, not a string: split it (e.g. [make, test-e2e]), or for a shell line write [sh, -c, ${JSON.stringify(issue.input)}]`
            : undefined,
      })
      .min(1, "must be a command as a list of arguments, e.g. [sh, test/e2e/run.sh, jax]")
      .describe(
        "Command as an argument list, run from the source root with KUBECONFIG, IMAGE_<NAME>, KIND_CLUSTER_NAME, " +
          "KUBERNETES_VERSION and KIND_PIPELINE_ARTIFACTS (a directory whose files land in the report) set.",
      ),
    timeout: timeLimit.prefault("10m").describe("Time limit, e.g. 10m; the step is stopped and reported as timed out past it."),
    env: z.record(envName, stringValue).default({}).describe("Extra environment variables."),
    secrets: z
      .record(envName, secretReference)
      .default({})
      .describe("Secret environment variables: name → Dagger secret reference, passed by the caller with --secrets."),
    kubernetes: z
      .array(kubernetesVersion)
      .min(1, "must list at least one version, or be left out to run on every version")
      .optional()
      .describe("Kubernetes versions to run this step on (default: every version of the run)."),
    lanes: z
      .array(dnsLabel)
      .min(1, "must list at least one lane (default is the lane of the plain cluster), or be left out to run in every lane")
      .optional()
      .describe("Lanes to run this step in: default (the plain cluster) and names from lanes (default: every lane)."),
    image: z
      .string()
      .refine((ref) => imageReferenceParts(ref) !== undefined, "must be an image reference such as golang:1.24 or ghcr.io/example/tests:v1")
      .optional()
      .describe(
        "Container image to run the step in (kubectl is added; it needs a `timeout` program, as every coreutils or busybox image has); " +
          "default: a pinned image with kubectl, kind, helm, kustomize and the docker CLI.",
      ),
  })
  .describe("An end-to-end step (a deploy or a test suite), run against the cluster after the images are loaded, one at a time.");

const REGISTRY = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d+)?$/;
const REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;

/** The engine keeps one credential per registry host for a whole session (auth/registry.go), so Docker Hub's names are one host. */
export const DOCKER_HUB = "docker.io";

const registrySchema = z
  .strictObject({
    registry: z
      .string()
      .regex(REGISTRY, "must be a registry host such as ghcr.io, docker.io or registry.example.com:5000")
      .describe("Registry host: ghcr.io, docker.io, registry.example.com:5000."),
    repository: z
      .string()
      .regex(REPOSITORY, "must be a lowercase repository path such as example/kind-pipeline")
      .describe("Images are pushed as <registry>/<repository>/<image>:<tag>."),
    username: z.string().min(1, "must not be empty").describe("The registry user the token belongs to."),
    token: secretReference
      .optional()
      .describe("The token's Dagger secret reference (env://DOCKERHUB_TOKEN), passed by the caller with publish --tokens; default: the publish --token argument."),
  })
  .describe("A registry to push every published image to, with its credentials.");

/** A placeholder of a tag template: `{revision}`, `{pullRequest}`, `{version}`. */
const TAG_PLACEHOLDER = /\{([^{}]*)\}/g;

/** An image tag as registries accept it (distribution/reference's tag grammar). */
export const IMAGE_TAG = /^[\w][\w.-]{0,127}$/;

/** A tag of the policy: a literal tag, or a template whose placeholders the publish call's values fill in. */
const tagTemplate = z.string().superRefine((template, ctx) => {
  const unknown = [...template.matchAll(TAG_PLACEHOLDER)].map((m) => m[1]!).filter((name) => !(PUBLISH_VALUES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    ctx.addIssue({ code: "custom", message: `unknown placeholder {${unknown[0]}}: use {revision}, {pullRequest} or {version}` });
  } else if (!IMAGE_TAG.test(template.replace(TAG_PLACEHOLDER, "x"))) {
    ctx.addIssue({ code: "custom", message: "must be an image tag (letters, digits, '_', '.' and '-', not starting with '.' or '-', 128 at most), with {revision}, {pullRequest} or {version} where the call's values go" });
  }
});

/** The default tag policy: the commit, the pull request and the version, each when the call gives it; never latest. */
export const DEFAULT_TAGS = ["sha-{revision}", "pr-{pullRequest}", "{version}"];

const publishSchema = z.strictObject({
  registries: z.array(registrySchema).min(1, "must list at least one registry").describe("Registries to push to (ghcr.io and docker.io at once, say); every published image goes to each."),
  tags: z
    .array(tagTemplate)
    .min(1, "must list at least one tag")
    .refine((tags) => new Set(tags).size === tags.length, "lists a tag twice")
    .default(DEFAULT_TAGS)
    .describe(
      "Tag policy: literal tags and templates with {revision} (the first 7 characters of --revision), {pullRequest} (--pull-request) and " +
        "{version} (--version without its leading v; write v{version} to keep one). A template whose value the call does not give is left out; " +
        "latest only when listed. Tags with {version} are never pushed over unless --overwrite.",
    ),
  platforms: platformList.optional().describe("Platforms of every published image without its own (images.<name>.platforms); default: the engine's platform."),
});

/** The whole kind-pipeline.yaml. */
export const configSchema = z
  .strictObject({
    images: z
      .record(dnsLabel, imageSchema)
      .refine((images) => Object.keys(images).length > 0, "must define at least one image")
      .describe("Images to build, by name."),
    kubernetes: kubernetesSchema.describe("Kubernetes versions and the kind release that runs them."),
    cluster: clusterSchema.describe("Shape of the Kind cluster."),
    build: buildSchema.describe("Image build policy."),
    e2e: z.array(stepSchema).default([]).describe("End-to-end steps, run one at a time per cluster, in `after` order then file order."),
    lanes: z
      .array(laneSchema)
      .default([])
      .describe("More cells of the matrix besides the plain cluster (lane default): each its own cluster per version, with other environment values or another shape."),
    preload: z
      .array(taggedReference((name) => `${name}:<its version>@sha256:<digest>`))
      .default([])
      .describe("Outside images pulled by the engine and loaded into every node before any step; pin them by digest (name:tag@sha256:…)."),
    publish: publishSchema.optional().describe("Where images are published."),
  })
  .describe("kind-pipeline: build images, start a Kind cluster for each Kubernetes version, load the images, run e2e steps.");

/** The schemas of the parts that are checked again after the whole file (see config.ts). */
export const partSchemas = { image: imageSchema, kubernetes: kubernetesFields, step: stepSchema, publish: publishSchema, lane: laneSchema, cluster: clusterFields };

/** A validated, normalized config. */
export type PipelineConfig = z.output<typeof configSchema>;
/** One image of the config. */
export type ImageConfig = z.output<typeof imageSchema>;
/** The publish section of the config. */
export type PublishConfig = z.output<typeof publishSchema>;

/** The JSON Schema of kind-pipeline.yaml as users write it (defaulted keys optional), formatted. */
export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input" });
  return `${JSON.stringify({ ...schema, title: "kind-pipeline.yaml" }, null, 2)}\n`;
}
