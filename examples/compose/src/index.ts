/**
 * kind-pipeline-compose: an example of a Dagger module that composes kind-pipeline.
 *
 * It runs kind-pipeline's test path on a project (by default, the repository this module is in) and adds a
 * step of its own on top: a gate on the run's report (the run passed, enough e2e steps ran, none was skipped).
 * The gate is a check, so `dagger check` runs it.
 *
 * `dag.kindPipeline(…)` is the client Dagger generates from this module's dependency on kind-pipeline
 * (dagger.json): one method per kind-pipeline function, in camelCase, required arguments first and the
 * optional ones in a last object.
 */
import { argument, check, dag, Directory, func, object, Secret } from "@dagger.io/dagger";
import { gateProblems } from "./gate.js";

/** A project's CI: kind-pipeline's test path, with this module's gate on top. */
@object()
export class KindPipelineCompose {
  /** The project under test. */
  source: Directory;

  /** Path of its kind-pipeline config, relative to the source. */
  config: string;

  /** Secrets the config names, handed on to kind-pipeline. */
  secrets: Secret[];

  constructor(
    /**
     * The project under test: its kind-pipeline.yaml, Dockerfiles and e2e files. Defaults to the repository
     * this module is in. It is always handed on to kind-pipeline, whose own default is kind-pipeline's
     * repository (its embedded example), not yours.
     */
    @argument({ defaultPath: "/", ignore: ["**/node_modules", ".git"] })
    source: Directory,
    /** Path of the kind-pipeline config, relative to the source. */
    config = "kind-pipeline.yaml",
    /** Secrets the config names (images.*.secrets, e2e[].secrets), as references: --secrets=env://PIP_TOKEN. */
    secrets?: Secret[],
  ) {
    this.source = source;
    this.config = config;
    this.secrets = secrets ?? [];
  }

  /**
   * kind-pipeline's whole test path on the source, as `dagger call test` runs it there: the summary, or an
   * error naming every failed step with its log tail.
   */
  @func({ cache: "never" })
  async test(
    /** Kubernetes versions to test on (MAJOR.MINOR.PATCH); default: every version the config lists. */
    kubernetes?: string[],
  ): Promise<string> {
    return dag.kindPipeline({ source: this.source, config: this.config, secrets: this.secrets }).test({ kubernetes });
  }

  /**
   * The same run's report (summary.md, junit.xml, status, logs, diagnostics), whatever the tests found:
   * `dagger call report export --path=report`.
   */
  @func({ cache: "never" })
  report(
    /** Kubernetes versions to test on (MAJOR.MINOR.PATCH); default: every version the config lists. */
    kubernetes?: string[],
  ): Directory {
    return dag.kindPipeline({ source: this.source, config: this.config, secrets: this.secrets }).testReport({ kubernetes });
  }

  /**
   * This module's own step: kind-pipeline's run, then a gate on its report: the run passed, at least
   * min-tests e2e steps ran, and none was skipped (unless allow-skipped). Returns the run's summary; fails,
   * naming what the gate found, with the summary, otherwise. A check: `dagger check` runs it.
   */
  @func({ cache: "never" })
  @check()
  async gate(
    /** Kubernetes versions to test on (MAJOR.MINOR.PATCH); default: every version the config lists. */
    kubernetes?: string[],
    /** The fewest e2e steps the report must hold, over every Kubernetes version. */
    minTests = 1,
    /** Accept a run in which a step was skipped. */
    allowSkipped = false,
  ): Promise<string> {
    // testReport is never cached: each query of an unsynced result would run the whole test path again.
    // sync() runs it once; the files below are read from that one result.
    const report = await this.report(kubernetes).sync();
    const [status, junit, summary] = await Promise.all([
      report.file("status").contents(),
      report.file("junit.xml").contents(),
      report.file("summary.md").contents(),
    ]);
    const problems = gateProblems(status, junit, { minTests, allowSkipped });
    if (problems.length > 0) throw new Error(`gate: ${problems.join("; ")}\n\n${summary}`);
    return summary;
  }
}
