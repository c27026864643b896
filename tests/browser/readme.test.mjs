// The README's shell examples run as written, in order, against a freshly started orchestrator,
// so the README cannot rot. Every ```bash block runs in one shell (so `$ID` carries from the
// block that creates the stream to the ones that use it), with `localhost:3000` pointed at the
// fresh server. Each curl must answer 2xx, or the status named by a
// `<!-- readme-examples: expect NNN -->` line before its block. A block preceded by
// `<!-- readme-examples: skip (reason) -->` is not run (servers, the test suite, tools CI lacks).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

test("every README example runs as written, in order, on a fresh server", () => {
  const blocks = examples(readFileSync(join(REPO, "README.md"), "utf8"));
  const runnable = blocks.filter((b) => !b.skip);
  const curls = runnable.map((b) => b.code.match(/^\s*(\w+=\$\()?curl /gm)?.length ?? 0);
  const total = curls.reduce((a, b) => a + b, 0);
  assert.ok(runnable.length >= 6 && total >= 12, `the README's REST examples are found (${total})`);
  const statusLog = join(scratch, "statuses.log");
  writeFileSync(statusLog, "");

  const run = spawnSync("bash", ["-c", script(runnable, orchestrator.port, statusLog)], {
    cwd: scratch,
    encoding: "utf8",
    timeout: 120_000,
  });
  const log = readFileSync(statusLog, "utf8");
  writeFileSync(join(artifactsDir(), "readme-examples.txt"), `${run.stdout}\n${run.stderr}\n${log}`);

  const byBlock = statusesByBlock(log);
  const failedAt = runnable[byBlock.length];
  assert.equal(
    run.status,
    0,
    `the example at README line ${failedAt?.line} failed:\n${run.stderr}\n${log}`,
  );
  runnable.forEach((block, index) => {
    const statuses = byBlock[index];
    assert.ok(statuses.length > 0, `README line ${block.line}: the example sends a request`);
    for (const status of statuses) {
      const ok = block.expected === "2xx" ? status.startsWith("2") : status === block.expected;
      assert.ok(ok, `README line ${block.line}: HTTP ${status}, expected ${block.expected}\n${run.stdout}`);
    }
  });
});
