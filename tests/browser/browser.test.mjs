// A page served from another origin calls every REST route with fetch and follows a stream over
// the WebSocket, in headless Chromium (Debian's `chromium`, driven by playwright-core), against a
// freshly started orchestrator in production mode that allows exactly that origin: with an
// operator API key (Authorization: Bearer) on every call, and a WebSocket ticket from
// POST /ws-tickets on the handshake (browsers cannot set headers on a WebSocket). Production
// refuses the embedded LiveKit emulator, so the standalone emulator stands in for LiveKit. The
// same page from a third origin is refused. A screenshot of the page is kept under
// target/browser-checks/.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { createHash, randomBytes } from "node:crypto";

import { HERE, artifactsDir, startLiveKitEmulator, startOrchestrator } from "./support.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const PAGE = readFileSync(join(HERE, "client.html"));

/** Serves the client page on a free loopback port: one origin per server. */
async function pageServer() {
  const server = createServer((req, res) => {
    if (req.url.startsWith("/client.html")) {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

let allowedPages, otherPages, orchestrator, livekit, context, profile;

/** An operator key, as `orchestrator generate-keys` makes one, and its configured entry. */
const KEY = `lso_${randomBytes(32).toString("hex")}`;
const ENTRY = `sha256:${createHash("sha256").update(KEY).digest("hex")}`;

before(async () => {
  allowedPages = await pageServer();
  otherPages = await pageServer();
  const [apiKey, apiSecret] = ["browser-check-key", randomBytes(24).toString("hex")];
  livekit = await startLiveKitEmulator(apiKey, apiSecret);
  // Production's defaults (no browser origin, keys required), plus the page's origin and a
  // key, as an operator would.
  orchestrator = await startOrchestrator({
    APP_ENV: "production",
    CORS_ALLOWED_ORIGINS: allowedPages.origin,
    API_KEYS: ENTRY,
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: apiKey,
    LIVEKIT_API_SECRET: apiSecret,
  });
  profile = mkdtempSync(join(tmpdir(), "orchestrator-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await orchestrator?.stop();
  await livekit?.stop();
  allowedPages?.close();
  otherPages?.close();
});

/** Opens the page of `origin` against the orchestrator and returns its checks once done. */
async function runPage(origin, mode, screenshot) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  const api = encodeURIComponent(orchestrator.base);
  await page.goto(`${origin}/client.html?api=${api}&mode=${mode}&key=${KEY}`);
  await page.waitForFunction(() => window.done === true, null, { timeout: 60_000 });
  const checks = await page.evaluate(() => window.checks);
  await page.screenshot({ path: join(artifactsDir(), screenshot), fullPage: true });
  await page.close();
  assert.deepEqual(errors, [], "no script error on the page");
  return checks;
}

function assertAllPassed(checks, expectedCount) {
  const failed = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  assert.deepEqual(failed, [], "every check of the page passes");
  assert.equal(checks.length, expectedCount, "every check ran");
}

test("a page of an allowed origin calls every REST route and follows the WebSocket", async () => {
  const checks = await runPage(allowedPages.origin, "routes", "client.png");

  for (const c of checks) console.log(`  ${c.ok ? "pass" : "FAIL"}  ${c.name} — ${c.detail}`);
  assertAllPassed(checks, 18);
});

test("a page of another origin can neither call the API nor open its WebSocket", async () => {
  const checks = await runPage(otherPages.origin, "refused", "client-refused-origin.png");

  assertAllPassed(checks, 2);
});
