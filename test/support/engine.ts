/**
 * A stand-in Dagger engine: a local GraphQL endpoint that the real `@dagger.io/dagger` SDK talks to, the
 * way it talks to an engine session (`POST /query`, Basic auth with the session token, one field per level).
 *
 * It records every leaf the SDK asks for (as an ID-expanded chain, with its start and end), answers from
 * scripts matched on the chain, fails exactly as the engine does, and simulates durations. It computes
 * nothing a test could script instead, except directory and file contents, which it reads from real files.
 * A leaf that no script answers fails, and the test with it.
 *
 * It holds the SDK and the tests to what a real engine accepts (schema.ts, execs.ts): a query the engine's
 * schema refuses, an answer of another type than the schema declares, and an exec that would not find its
 * script are answered with the engine's error and recorded as violations, which fail the test in `stop()`.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connection } from "@dagger.io/dagger";
import { parse, type DocumentNode } from "graphql";
import { Call, EnumValue, IdRegistry, parseQuery, type ParsedQuery } from "./calls.js";
import { missingFile } from "./execs.js";
import { applies, type Match, type Reply, type Script, type ScriptOptions } from "./replies.js";
import { answerMismatch, checkQuery, SCHEMA_TAG } from "./schema.js";
import { existsIn, TreeModel } from "./trees.js";

/**
 * How a recorded leaf was answered; `refused`: with an error, because the query or its scripted answer
 * breaks the engine's schema.
 */
export type Outcome = "answer" | "exec-error" | "engine-error" | "unscripted" | "hang" | "refused";

/** Something a real engine would not have done as the test had it: the test fails for it in `stop()`. */
export interface Violation {
  /** A query the schema refuses, an answer of the wrong type, an exec whose file is not in the container. */
  kind: "query" | "answer" | "exec";
  /** Where (the chain's field path) and what: `container.from.withExec.exitCode: declared Int!, scripted "0" (string)`. */
  message: string;
}

/** One leaf the SDK asked for: the unit of every assertion. */
export interface RecordedLeaf {
  /** Order of arrival, from 0. */
  seq: number;
  /** The leaf field: `sync`, `id`, `stdout`… */
  leaf: string;
  /** The whole chain, the leaf included. */
  call: Call;
  /** `call.text`: every argument in full, objects passed by ID expanded. */
  text: string;
  /** Milliseconds since the engine started, when the query arrived and when it was answered. */
  startedAt: number;
  endedAt?: number;
  outcome?: Outcome;
}

/** Leaves whose answer is the object itself (its ID): answered by default without a script. */
const DEFAULT_ANSWERED = new Set(["id", "sync"]);

/** A running stand-in engine. Start one with `StandInEngine.start()`, stop it with `stop()`. */
export class StandInEngine {
  /** Every leaf asked for, in order of arrival. */
  readonly leaves: RecordedLeaf[] = [];
  /** Requests refused for a wrong session token. */
  unauthorized = 0;
  private readonly violations: Violation[] = [];

  private readonly ids = new IdRegistry();
  /** Host paths resolve from the working directory, as the engine resolves them from the client's. */
  private trees = new TreeModel(process.cwd());
  private readonly scripts: Script[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly origin = performance.now();
  private readonly token = randomBytes(16).toString("hex");

  private constructor(private readonly server: Server) {
    server.on("request", (request, response) => void this.handle(request, response));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** Starts an engine on a random port of 127.0.0.1. */
  static async start(): Promise<StandInEngine> {
    const server = createServer();
    const engine = new StandInEngine(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return engine;
  }

  /** The TCP port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The session environment the SDK reads when `connection()` starts. */
  get sessionEnv(): { DAGGER_SESSION_PORT: string; DAGGER_SESSION_TOKEN: string } {
    return { DAGGER_SESSION_PORT: String(this.port), DAGGER_SESSION_TOKEN: this.token };
  }

  /**
   * Runs `fn` inside the real SDK's `connection()`, connected to this engine: `dag` works inside. Like an
   * engine session, each run reads the host's files afresh.
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.trees = new TreeModel(process.cwd());
    const saved = { port: process.env.DAGGER_SESSION_PORT, token: process.env.DAGGER_SESSION_TOKEN };
    Object.assign(process.env, this.sessionEnv);
    let result: { value: T } | undefined;
    try {
      await connection(async () => {
        result = { value: await fn() };
      });
    } finally {
      restoreEnv("DAGGER_SESSION_PORT", saved.port);
      restoreEnv("DAGGER_SESSION_TOKEN", saved.token);
    }
    return result!.value;
  }

  /**
   * Scripts the answer to the leaves that match. The most recently added script that applies answers, so
   * a test can set a general answer first and override it for some leaves, or for the first few (`times`).
   */
  reply(match: Match, reply: Reply, options: ScriptOptions = {}): this {
    this.scripts.push({ match, reply, delayMs: options.delayMs ?? 0, remaining: options.times ?? Infinity });
    return this;
  }

  /** Recorded leaves whose chain matches (substring or RegExp), `id` resolutions left out unless asked for. */
  find(pattern: string | RegExp, options: { leaf?: string; ids?: boolean } = {}): RecordedLeaf[] {
    return this.leaves.filter(
      (l) =>
        (options.leaf === undefined || l.leaf === options.leaf) &&
        (options.ids || l.leaf !== "id" || options.leaf === "id") &&
        matches(l.text, pattern),
    );
  }

  /** Throws, listing what was asked for, if any leaf (`id` resolutions included) mentions the pattern. */
  expectNever(pattern: string | RegExp): void {
    const found = this.leaves.filter((l) => matches(l.text, pattern));
    if (found.length > 0) {
      throw new Error(`expected no call matching ${pattern}, but the SDK asked for:\n${found.map((l) => `  ${l.call.display}`).join("\n")}`);
    }
  }

  /** Leaves no script answered. A test fails when there is any (see harness.ts). */
  get unscripted(): RecordedLeaf[] {
    return this.leaves.filter((l) => l.outcome === "unscripted");
  }

  /**
   * The most leaves matching the pattern that were in flight at once, from their recorded start and end.
   * A leaf that starts exactly when another ends does not overlap it.
   */
  maxConcurrency(pattern: string | RegExp = /./, options: { leaf?: string } = {}): number {
    const events = this.find(pattern, options).flatMap((l) => [
      { at: l.startedAt, delta: 1 },
      { at: l.endedAt ?? Infinity, delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let current = 0;
    let max = 0;
    for (const { delta } of events) max = Math.max(max, (current += delta));
    return max;
  }

  /**
   * A content cache key for a chain: its text, with every directory and file the model can evaluate
   * replaced by its content digest. Equal inputs give equal keys; a changed file changes the key of
   * exactly the chains that include it.
   */
  cacheKey(call: Call): string {
    const content = this.trees.directory(call) ?? this.trees.file(call);
    if (content) return this.trees.digest(content);
    const args = Object.entries(call.args).map(([name, value]) => `${name}:${this.keyOfValue(value)}`);
    return `${call.parent ? `${this.cacheKey(call.parent)}.` : ""}${call.field}(${args.join(",")})`;
  }

  /** The chain an ID this engine handed out stands for (an ID a module function returned, say). */
  callOf(id: string): Call {
    return this.ids.resolve(id);
  }

  /** The files of a directory chain, as the engine would hold them (sorted paths), if the model can tell. */
  files(call: Call): string[] | undefined {
    const tree = this.trees.directory(call);
    return tree && [...tree.keys()].sort();
  }

  /**
   * The violations recorded so far, which no longer fail the test: for a test that shows one on purpose
   * and asserts it.
   */
  takeViolations(): Violation[] {
    return this.violations.splice(0);
  }

  /**
   * Stops listening and drops open connections, hanging queries included. Then throws, listing them, when
   * violations are left: the test fails even if the module swallowed the error the SDK raised.
   */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.violations.length > 0) {
      const lines = this.violations.map((v) => `  ${v.kind}: ${v.message}`);
      throw new Error(`the stand-in engine refused or failed, as a real engine (dagger ${SCHEMA_TAG}) would:\n${lines.join("\n")}`);
    }
  }

  private keyOfValue(value: unknown): string {
    if (value instanceof Call) return `<${this.cacheKey(value)}>`;
    if (value instanceof EnumValue) return value.name;
    if (Array.isArray(value)) return `[${value.map((v) => this.keyOfValue(v)).join(",")}]`;
    if (value !== null && typeof value === "object") {
      return `{${Object.entries(value).map(([k, v]) => `${k}:${this.keyOfValue(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    if (request.method !== "POST" || request.url !== "/query") return send(response, 404, { errors: [{ message: "not found" }] });
    if (request.headers.authorization !== `Basic ${Buffer.from(`${this.token}:`).toString("base64")}`) {
      this.unauthorized++;
      return send(response, 401, { errors: [{ message: "unauthorized: wrong session token" }] });
    }
    let query: string;
    let document: DocumentNode;
    let parsed: ParsedQuery;
    try {
      query = JSON.parse(body).query;
      document = parse(query);
      parsed = parseQuery(document, this.ids);
    } catch (error) {
      return send(response, 200, { data: null, errors: [{ message: `stand-in engine: ${(error as Error).message}` }] });
    }
    const { leaf: call, levels, keys } = parsed;
    const recorded: RecordedLeaf = { seq: this.leaves.length, leaf: call.field, call, text: call.text, startedAt: this.now() };
    this.leaves.push(recorded);
    const { errors, leafType } = checkQuery(query, document);
    if (errors.length > 0) {
      const found = errors.map((e) => `${e.depth > 0 ? fieldPath(levels[e.depth - 1]!) : "(query)"}: ${e.message}`);
      return this.refuse(response, recorded, keys, "query", found, `the query does not validate against the schema of dagger ${SCHEMA_TAG}`);
    }
    const missing = missingFile(call, this.trees);
    if (missing) {
      const { cmd, exitCode, stderr, violation } = missing;
      this.violations.push({ kind: "exec", message: violation });
      return this.answer(response, recorded, keys, { kind: "exec-error", cmd, exitCode, stdout: "", stderr });
    }
    const script = this.scripts.findLast((s) => applies(s, call.field, call.text));
    if (script) script.remaining--;
    if (script?.delayMs) await new Promise((resolve) => setTimeout(resolve, script.delayMs));
    const reply = script?.reply ?? this.defaultReply(call);
    const mismatch = reply?.kind === "answer" && answerMismatch(leafType!, reply.value, script ? "scripted" : "answered by default");
    if (mismatch) {
      return this.refuse(response, recorded, keys, "answer", [`${fieldPath(call)}: ${mismatch}`], `the answer does not have the type the schema of dagger ${SCHEMA_TAG} declares`);
    }
    return this.answer(response, recorded, keys, reply);
  }

  /** Sends a reply as the engine would (or none, for a hang), noting how the leaf was answered. */
  private answer(response: ServerResponse, recorded: RecordedLeaf, keys: string[], reply: Reply | undefined): void {
    const { call } = recorded;
    recorded.outcome = reply?.kind ?? "unscripted";
    if (reply?.kind === "hang") return; // the connection stays open until stop()
    recorded.endedAt = this.now();
    if (!reply) return send(response, 200, errorBody(keys, `stand-in engine: no script answers ${call.field} of ${call.display}`));
    if (reply.kind === "answer") return send(response, 200, { data: nest(keys, reply.value === undefined ? this.ids.idOf(call.parent ?? call) : reply.value) });
    if (reply.kind === "engine-error") return send(response, 200, errorBody(keys, reply.message));
    const cmd = reply.cmd ?? lastExecArgs(call);
    const message = `process "${cmd.join(" ")}" did not complete successfully: exit code: ${reply.exitCode}`;
    return send(response, 200, errorBody(keys, message, { _type: "EXEC_ERROR", cmd, exitCode: reply.exitCode, stdout: reply.stdout, stderr: reply.stderr }));
  }

  /** Answers with an error what a real engine would refuse, and records the violations for `stop()`. */
  private refuse(response: ServerResponse, recorded: RecordedLeaf, keys: string[], kind: Violation["kind"], found: string[], what: string): void {
    this.violations.push(...found.map((message) => ({ kind, message })));
    recorded.outcome = "refused";
    recorded.endedAt = this.now();
    send(response, 200, errorBody(keys, `stand-in engine: ${what}: ${found.join("; ")}`));
  }

  /** The engine's own answers: IDs, and what the directory model knows. Undefined when a test must script it. */
  private defaultReply(call: Call): Reply | undefined {
    const receiver = call.parent;
    if (DEFAULT_ANSWERED.has(call.field)) return { kind: "answer" };
    if (!receiver) return undefined;
    const tree = this.trees.directory(receiver);
    if (tree && call.field === "exists" && typeof call.args.path === "string") {
      const expected = call.args.expectedType instanceof EnumValue ? call.args.expectedType.name : undefined;
      return { kind: "answer", value: existsIn(tree, call.args.path, expected) };
    }
    const content = call.field === "digest" ? (tree ?? this.trees.file(receiver)) : undefined;
    if (content) return { kind: "answer", value: this.trees.digest(content) };
    const file = call.field === "contents" ? this.trees.file(receiver) : undefined;
    if (file) return { kind: "answer", value: file.toString("utf8") };
    return undefined;
  }

  /** Milliseconds since the engine started: the clock of every recorded start and end. */
  now(): number {
    return performance.now() - this.origin;
  }
}

/** The fields of a chain, root first (`container.from.withExec.exitCode`): where a violation is. */
function fieldPath(call: Call): string {
  return call.path.map((c) => c.field).join(".");
}

function matches(text: string, pattern: string | RegExp): boolean {
  return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
}

function lastExecArgs(call: Call): string[] {
  const args = call.nearest("withExec")?.args.args;
  return Array.isArray(args) ? args.map(String) : [];
}

/** `{a: {b: {c: value}}}` for keys a, b, c: the SDK expects exactly one key per level. */
function nest(keys: string[], value: unknown): unknown {
  return keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

function errorBody(keys: string[], message: string, extensions?: Record<string, unknown>) {
  return { data: null, errors: [{ message, path: keys, ...(extensions && { extensions }) }] };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
