// The shell examples of the README and of every page in docs/ run as written, in order, against
// a freshly started orchestrator, so the documents cannot rot. Each page's ```bash blocks run in
// one shell of their own (so `$ID` carries from the block that creates the stream to the ones
// that use it, and a page never depends on another), with `localhost:3000` pointed at the
// fresh server. Each curl must answer 2xx, or the status named by a
// `<!-- readme-examples: expect NNN -->` line before its block. A block preceded by
// `<!-- readme-examples: skip (reason) -->` is not run (servers, the test suite, tools CI lacks).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { REPO, artifactsDir, startOrchestrator } from "./support.mjs";

const MARKER = /^<!--\s*readme-examples:\s*(skip|expect)\b\s*(.*?)\s*-->$/;
const FENCE = /^```bash\s*$/;

/** The README's bash blocks, with the line each starts on and what it must answer. */
function examples(readme) {
  const lines = readme.split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (!FENCE.test(lines[i])) continue;
    const end = lines.indexOf("```", i + 1);
    assert.ok(end > i, `the block at README line ${i + 1} is closed`);
    const before = lines.slice(0, i).reverse().find((l) => l.trim() !== "") ?? "";
    const marker = before.trim().match(MARKER);
    blocks.push({
      line: i + 1,
      code: lines.slice(i + 1, end).join("\n"),
      skip: marker?.[1] === "skip",
      expected: marker?.[1] === "expect" ? marker[2] : "2xx",
    });
    i = end;
  }
  return blocks;
}

/** One shell script running every block; curl reports each status to `statusLog`. */
function script(blocks, port, statusLog) {
  const prelude = [
    "set -euo pipefail",
    "curl() {",
    `  command curl --show-error --write-out '%{stderr}readme-status %{http_code}\\n' "$@" 2>>'${statusLog}'`,
    "}",
  ];
  const body = blocks.flatMap((block, index) => [
    `printf '\\n== README line %s\\n' ${block.line}`,
    block.code.replaceAll("localhost:3000", `127.0.0.1:${port}`),
    `echo "readme-block ${index}" >>'${statusLog}'`,
  ]);
  return [...prelude, ...body, ""].join("\n");
}

/** The statuses each block's curls answered, in block order. */
function statusesByBlock(log) {
  const byBlock = [];
  let current = [];
  for (const line of log.split("\n")) {
    const status = line.match(/^readme-status (\d{3})$/);
    if (status) current.push(status[1]);
    if (/^readme-block \d+$/.test(line)) {
      byBlock.push(current);
      current = [];
    }
  }
  return byBlock;
}

let orchestrator, scratch;
before(async () => {
  orchestrator = await startOrchestrator();
  scratch = mkdtempSync(join(tmpdir(), "readme-examples-"));
});
after(async () => {
  await orchestrator?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The README, then the pages of docs/ in name order: every document a reader runs commands from. */
function pages() {
  const docs = readdirSync(join(REPO, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** Runs `page`'s examples; answers how many requests they sent. */
function runPage(page) {
  const blocks = examples(readFileSync(join(REPO, page), "utf8"));
  const runnable = blocks.filter((b) => !b.skip);
  if (runnable.length === 0) return 0;
  const statusLog = join(scratch, `${page.replaceAll("/", "_")}.statuses.log`);
  writeFileSync(statusLog, "");

  const run = spawnSync("bash", ["-c", script(runnable, orchestrator.port, statusLog)], {
    cwd: scratch,
    encoding: "utf8",
    timeout: 120_000,
  });
  const log = readFileSync(statusLog, "utf8");
  const report = `${page.replaceAll("/", "_")}-examples.txt`;
  writeFileSync(join(artifactsDir(), report), `${run.stdout}\n${run.stderr}\n${log}`);

  const byBlock = statusesByBlock(log);
  const failedAt = runnable[byBlock.length];
  assert.equal(
    run.status,
    0,
    `the example at ${page} line ${failedAt?.line} failed:\n${run.stderr}\n${log}`,
  );
  let sent = 0;
  runnable.forEach((block, index) => {
    const statuses = byBlock[index];
    assert.ok(statuses.length > 0, `${page} line ${block.line}: the example sends a request`);
    for (const status of statuses) {
      const ok = block.expected === "2xx" ? status.startsWith("2") : status === block.expected;
      assert.ok(ok, `${page} line ${block.line}: HTTP ${status}, expected ${block.expected}\n${run.stdout}`);
    }
    sent += statuses.length;
  });
  return sent;
}

test("every example of the README and of docs/ runs as written, in order, on a fresh server", () => {
  const sent = {};
  for (const page of pages()) sent[page] = runPage(page);

  assert.ok(sent["README.md"] >= 8, `the README's tour sends its requests (${sent["README.md"]})`);
  assert.ok(sent["docs/rest-api.md"] >= 12, `the REST reference's examples run (${sent["docs/rest-api.md"]})`);
  assert.ok(sent["docs/broadcast.md"] >= 5, `the broadcast examples run (${sent["docs/broadcast.md"]})`);
});
