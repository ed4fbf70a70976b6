/**
 * What a failure says and whether it is retried, as users meet it: every registry and network failure the
 * README promises to retry (in the engine's message and in a failed RUN's output), what is never retried,
 * and the log tail quoted in errors.
 */
import { ExecError } from "@dagger.io/dagger";
import { describe, expect, test } from "vitest";
import { describeFailure, firstLineOf, isTransient, lastLines, LOG_TAIL_LINES, messageOf } from "../ci/src/errors.js";

/** A failed exec as the SDK reports it. */
function execError(output: { stdout?: string; stderr?: string; cmd?: string[]; exitCode?: number }): ExecError {
  const cmd = output.cmd ?? ["/bin/sh", "-c", "pip install -r requirements.txt"];
  const exitCode = output.exitCode ?? 1;
  return new ExecError(`process "${cmd.join(" ")}" did not complete successfully: exit code: ${exitCode}`, {
    cmd,
    exitCode,
    stdout: output.stdout ?? "",
    stderr: output.stderr ?? "",
  });
}

const numbered = (count: number, prefix = "line") => Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);

/**
 * One real-looking message per kind of transient trouble. Each matches one pattern only, so that losing any
 * pattern fails its case.
 */
const TRANSIENT_MESSAGES: [string, string][] = [
  ["connection reset", 'failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/3.12-slim": read tcp 172.17.0.2:41234->104.16.0.1:443: read: connection reset by peer'],
  ["connection refused", "failed to resolve source metadata for registry.internal/base:1: dial tcp 10.0.0.7:443: connect: connection refused"],
  ["i/o timeout", "failed to do request: Get https://ghcr.io/token: dial tcp 140.82.112.33:443: i/o timeout"],
  ["TLS handshake timeout", 'failed to do request: Head "https://quay.io/v2/prometheus/busybox/manifests/latest": net/http: TLS handshake timeout'],
  ["context deadline exceeded", "failed to copy: httpReadSeeker: failed open: failed to do request: Get https://production.cloudflare.docker.com/x: context deadline exceeded"],
  ["read timed out", "pip._vendor.urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out."],
  ["connect timed out", "java.net.SocketTimeoutException: connect timed out"],
  ["request timed out", "npm ERR! network request to https://registry.npmjs.org/left-pad failed: Request timed out"],
  ["operation timed out", "curl: (28) Operation timed out after 300001 milliseconds with 0 bytes received"],
  ["429", "failed to copy: httpReadSeeker: failed open: unexpected status code https://ghcr.io/v2/x/blobs/sha256:ab: 429"],
  ["too many requests", "GET https://index.docker.io/v2/library/golang/manifests/1.24: Too Many Requests"],
  ["toomanyrequests", "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading"],
  ["500 … Error", "npm ERR! 500 Internal Server Error - GET https://registry.npmjs.org/typescript"],
  ["502 … status", "unexpected 502 status from https://proxy.golang.org/github.com/x/y/@v/list"],
  ["503 … unavailable", "failed to fetch index: HTTP 503 (temporarily unavailable)"],
  ["504 … gateway", "pull failed: 504 from the registry's gateway"],
  ["bad gateway", "fetching https://pypi.org/simple/jax/: Bad Gateway"],
  ["service unavailable", "registry.k8s.io answered: Service Unavailable"],
  ["gateway timeout", "https://dl.k8s.io/release/v1.37.0/bin/linux/amd64/kubelet: Gateway Timeout"],
  ["DNS failure", "Could not resolve host: deb.debian.org: Temporary failure in name resolution"],
  ["DNS server misbehaving", "dial tcp: lookup registry-1.docker.io on 127.0.0.11:53: server misbehaving"],
  ["unexpected EOF", "failed to copy: httpReadSeeker: failed open: unexpected EOF"],
];

/** Failures that must never be retried: they fail the same way every time. */
const PERMANENT_MESSAGES: [string, string][] = [
  ["a Dockerfile syntax error", "failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY"],
  ["an unknown base image", "failed to solve: python:3.12-slimm: failed to resolve source metadata for docker.io/library/python:3.12-slimm: not found"],
  ["a missing file", 'failed to solve: failed to compute cache key: "/requirements.txt": not found'],
  ["401", "failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"],
  ["403", "unexpected status: 403 Forbidden"],
  ["404", "GET https://ghcr.io/v2/x/manifests/1: 404 Not Found error"],
  ["501", "registry answered 501 Not Implemented: this API is not supported (error)"],
  ["a digest that contains 429", "COPY --from=sha256:4290ab1c failed: not found"],
  ["a count of 5000", "lint: 5000 errors"],
  ["a timeout of the user's own command", "FAILED tests/test_train.py::test_epoch - TimeoutError: training timed out"],
];

describe("transient failures are retried: in the engine's own message", () => {
  test.each(TRANSIENT_MESSAGES)("%s", (_, message) => {
    expect(isTransient(new Error(message))).toBe(true);
    expect(isTransient(message)).toBe(true);
  });

  test("case does not matter", () => {
    expect(isTransient(new Error("READ: CONNECTION RESET BY PEER"))).toBe(true);
    expect(isTransient(new Error("net/http: tls handshake timeout"))).toBe(true);
    expect(isTransient(new Error("Unexpected eof"))).toBe(true);
  });
});

describe("transient failures are retried: in the output of a failed RUN", () => {
  test.each(TRANSIENT_MESSAGES)("%s, in stderr", (_, message) => {
    expect(isTransient(execError({ stdout: "Collecting jax==0.6.2\n", stderr: `${message}\n` }))).toBe(true);
  });

  test.each(TRANSIENT_MESSAGES)("%s, in stdout", (_, message) => {
    expect(isTransient(execError({ stdout: `Downloading...\n${message}\n`, stderr: "" }))).toBe(true);
  });

  test("pip hitting a read timeout, as it prints it", () => {
    const error = execError({
      stdout: "Collecting jax==0.6.2\n  Downloading jax-0.6.2-py3-none-any.whl.metadata (13 kB)\n",
      stderr: [
        "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ReadTimeoutError(\"HTTPSConnectionPool(host='pypi.org', port=443): Read timed out. (read timeout=15)\")': /simple/jaxlib/",
        "ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out.",
        "",
      ].join("\n"),
    });
    expect(isTransient(error)).toBe(true);
  });

  test("only the last 20 lines of the output count: a transient warning followed by a real error is not retried", () => {
    const early = execError({ stderr: ["WARNING: Retrying after connection broken by 'Read timed out'", ...numbered(20, "error: cannot compile")].join("\n") });
    expect(isTransient(early)).toBe(false);
    const late = execError({ stderr: ["WARNING: Retrying after connection broken by 'Read timed out'", ...numbered(19, "error: cannot compile")].join("\n") });
    expect(isTransient(late)).toBe(true);
  });

  test("stdout and stderr are one text: the tail is taken over both, stderr last", () => {
    const error = execError({ stdout: "Read timed out\n", stderr: `${numbered(20, "compile error").join("\n")}\n` });
    expect(isTransient(error)).toBe(false);
    expect(isTransient(execError({ stdout: `${numbered(18).join("\n")}\n`, stderr: "Read timed out\n" }))).toBe(true);
  });

  test("a 5xx code and the word error on different lines are not a 5xx answer", () => {
    const pytest = execError({ stdout: "collected 500 items\nERROR tests/test_train.py - ModuleNotFoundError: No module named 'jax'\n" });
    expect(isTransient(pytest)).toBe(false);
  });

  test("the exec's own message (the command line) is not searched, only its output", () => {
    const error = execError({ cmd: ["sh", "-c", "curl https://example.com || echo 'connection refused'"], stdout: "", stderr: "curl: (6) bad URL\n" });
    expect(error.message).toContain("connection refused");
    expect(isTransient(error)).toBe(false);
  });
});

describe("permanent failures are never retried", () => {
  test.each(PERMANENT_MESSAGES)("%s", (_, message) => {
    expect(isTransient(new Error(message))).toBe(false);
    expect(isTransient(execError({ stderr: `${message}\n` }))).toBe(false);
  });

  test("a compile error in a RUN", () => {
    expect(isTransient(execError({ cmd: ["/bin/sh", "-c", "go build ./..."], stderr: "main.go:3:1: syntax error: unexpected }\n" }))).toBe(false);
  });

  test("pip finding no such version", () => {
    expect(isTransient(execError({ stderr: "ERROR: Could not find a version that satisfies the requirement jax==0.0.0\nERROR: No matching distribution found for jax==0.0.0\n" }))).toBe(false);
  });
});

describe("lastLines: the tail an error quotes", () => {
  test("quotes the last 40 lines by default", () => {
    expect(LOG_TAIL_LINES).toBe(40);
    const tail = lastLines(numbered(50).join("\n"));
    expect(tail).toHaveLength(40);
    expect(tail[0]).toBe("line 11");
    expect(tail.at(-1)).toBe("line 50");
  });

  test("quotes the last `count` lines, all of them when there are fewer", () => {
    expect(lastLines("a\nb\nc\nd", 2)).toEqual(["c", "d"]);
    expect(lastLines("a\nb", 5)).toEqual(["a", "b"]);
  });

  test("drops trailing blank lines and trailing whitespace, keeps blank lines inside and leading indentation", () => {
    expect(lastLines("a\n\nb\n\n  \n\t\n")).toEqual(["a", "", "b"]);
    expect(lastLines("  indented\nlast   ")).toEqual(["  indented", "last"]);
    expect(lastLines("a b\nc\n")).toEqual(["a b", "c"]);
  });

  test("a blank first line is a line", () => {
    expect(lastLines("\nfirst error")).toEqual(["", "first error"]);
  });

  test("no output is no lines", () => {
    expect(lastLines("")).toEqual([]);
    expect(lastLines(" \n\t\n")).toEqual([]);
    expect(lastLines("x")).toEqual(["x"]);
  });
});

describe("describeFailure: what an error says about a failed engine call", () => {
  test("an exec: the command, its exit code and the tail of stderr", () => {
    const error = execError({ cmd: ["/bin/sh", "-c", "make"], exitCode: 2, stdout: "building\n", stderr: "make: *** [all] Error 1\n" });
    expect(describeFailure(error)).toEqual([
      "  command: /bin/sh -c make (exit code 2)",
      "  last 1 lines of stderr:",
      "    | make: *** [all] Error 1",
    ]);
  });

  test("quotes at most the last 40 lines", () => {
    const lines = describeFailure(execError({ stderr: numbered(45).join("\n") }));
    expect(lines[1]).toBe("  last 40 lines of stderr:");
    expect(lines.slice(2)).toEqual(numbered(45).slice(5).map((l) => `    | ${l}`));
  });

  test("stdout when stderr is empty, or only whitespace: whitespace never hides the output", () => {
    for (const stderr of ["", "\n", "  \n\t\n"]) {
      expect(describeFailure(execError({ cmd: ["sh", "-c", "./test.sh"], exitCode: 3, stdout: "FAIL: test_train\nexpected 1, got 2\n", stderr }))).toEqual([
        "  command: sh -c ./test.sh (exit code 3)",
        "  last 2 lines of stdout:",
        "    | FAIL: test_train",
        "    | expected 1, got 2",
      ]);
    }
  });

  test("an exec with no output says so", () => {
    expect(describeFailure(execError({ cmd: ["sh", "-c", "exit 3"], exitCode: 3, stderr: " \n" }))).toEqual([
      "  command: sh -c exit 3 (exit code 3)",
      "  (no output)",
    ]);
  });

  test("any other error: the engine's message, later lines quoted", () => {
    expect(describeFailure(new Error("failed to solve: not found\ncaused by: manifest unknown\n"))).toEqual([
      "  error: failed to solve: not found",
      "    | caused by: manifest unknown",
    ]);
    expect(describeFailure("a thrown string")).toEqual(["  error: a thrown string"]);
    expect(describeFailure(new Error(""))).toEqual(["  error: "]);
  });

  test("a long message keeps its last 40 lines", () => {
    const lines = describeFailure(new Error(numbered(45).join("\n")));
    expect(lines).toHaveLength(40);
    expect(lines[0]).toBe("  error: line 6");
    expect(lines.at(-1)).toBe("    | line 45");
  });

  test("under a custom indent", () => {
    expect(describeFailure(new Error("a\nb"), "    ")).toEqual(["    error: a", "      | b"]);
    expect(describeFailure(execError({ cmd: ["x"], exitCode: 1, stdout: "out" }), "")).toEqual(["command: x (exit code 1)", "last 1 lines of stdout:", "  | out"]);
  });
});

describe("messages of anything thrown", () => {
  test("messageOf", () => {
    expect(messageOf(new Error("boom"))).toBe("boom");
    expect(messageOf("plain")).toBe("plain");
    expect(messageOf(42)).toBe("42");
  });

  test("firstLineOf, for one-line status lines", () => {
    expect(firstLineOf(new Error("first\nsecond"))).toBe("first");
    expect(firstLineOf("only")).toBe("only");
    expect(firstLineOf(new Error(""))).toBe("");
  });
});
