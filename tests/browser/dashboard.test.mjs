// The dashboard at /dashboard, as an operator uses it, in headless Chromium (Debian's
// `chromium`, driven by playwright-core) against a freshly started orchestrator with zero
// configuration: streams changed through the REST API show up live, a dropped WebSocket is
// resumed without losing or repeating an event, the page's own forms create, update, join and
// stop, a stream's participants are paged, the search finds streams, and a service with API
// keys asks for one. Screenshots are kept under target/browser-checks/.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { artifactsDir, startLiveKitEmulator, startOrchestrator } from "./support.mjs";

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
/** How long the page may take to show a change (it polls for new streams every 2 s). */
const SHOWN_WITHIN_MS = 15_000;

let orchestrator, context, profile;

before(async () => {
  orchestrator = await startOrchestrator();
  profile = mkdtempSync(join(tmpdir(), "orchestrator-dashboard-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 960 },
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await orchestrator?.stop();
});

// ---- The REST API, as another client (not the page) uses it --------------------------------

async function call(method, path, body, base = orchestrator.base, key = undefined) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path} → ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const createStream = (fields) => call("POST", "/streams", fields);
const joinAs = (id, participantName, role = "viewer") =>
  call("POST", `/streams/${id}/join`, { participantName, role });
const leave = (id, participantName) => call("POST", `/streams/${id}/leave`, { participantName });

/** Connects a media client with a join token to the (embedded) LiveKit emulator, which tells
 * the orchestrator by webhook, as LiveKit would. */
async function connectMedia(ticket) {
  const livekit = new URL(ticket.wsUrl);
  livekit.protocol = livekit.protocol === "wss:" ? "https:" : "http:";
  const response = await fetch(new URL("/emulator/connect", livekit), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: ticket.token }),
  });
  assert.ok(response.ok, `emulator connect → ${response.status}`);
}

// ---- The page ---------------------------------------------------------------------------------

/**
 * Opens the dashboard with these settings (as saved by its Settings dialog) and waits for its
 * WebSocket. Collects script errors and console errors (CSP violations are reported there),
 * except Chromium's note of each non-2xx answer (refusals the page shows are part of the checks)
 * and of reconnection attempts while a check holds the browser offline.
 */
async function openDashboard(settings = {}, hash = "", base = orchestrator.base, live = true) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err}`));
  page.on("console", (m) => {
    const text = m.text();
    const expected =
      text.startsWith("Failed to load resource") || text.includes("net::ERR_INTERNET_DISCONNECTED");
    if (m.type() === "error" && !expected) problems.push(`console: ${text}`);
  });
  await page.addInitScript((saved) => {
    localStorage.setItem("orchestrator.dashboard.settings", JSON.stringify(saved));
  }, settings);
  const response = await page.goto(`${base}/dashboard${hash}`);
  if (live) await page.locator('#connection[data-state="live"]').waitFor({ timeout: SHOWN_WITHIN_MS });
  return { page, response, problems };
}

const row = (page, id) => page.locator(`tr[data-stream-id="${id}"]`);
const cell = (page, id, field) => row(page, id).locator(`[data-field="${field}"]`);

/** Waits until `locator` shows `text` (a string: contained; a number: exactly that number). */
async function shows(locator, text) {
  const hasText = typeof text === "number" ? new RegExp(`^\\s*${text}\\s*$`) : text;
  await locator.filter({ hasText }).first().waitFor({ timeout: SHOWN_WITHIN_MS });
}

/** The seqs the selected stream's event log shows, oldest first. */
async function loggedSeqs(page) {
  const seqs = await page.locator("#event-log li[data-seq]").evaluateAll((items) =>
    items.map((item) => Number(item.dataset.seq)),
  );
  return seqs.reverse();
}

async function waitForLogThrough(page, seq) {
  await page.waitForFunction(
    (last) => Number(document.querySelector("#event-log li[data-seq]")?.dataset.seq) >= last,
    seq,
    { timeout: SHOWN_WITHIN_MS },
  );
}

const feedStats = (page) => page.evaluate(() => ({ ...window.dashboard.feed.stats }));

// ---- Checks -----------------------------------------------------------------------------------

test("the page is served from the binary with a restrictive policy and no script error", async () => {
  const { page, response, problems } = await openDashboard();

  const headers = response.headers();
  assert.equal(response.status(), 200);
  assert.match(headers["content-security-policy"], /default-src 'none'/);
  assert.match(headers["content-security-policy"], /connect-src 'self'/);
  assert.equal(headers["cache-control"], "no-cache");
  assert.ok(headers.etag, "an ETag to revalidate against");
  assert.equal(await page.title(), "Dashboard · Livestream Orchestrator");
  assert.deepEqual(problems, []);
  await page.close();
});

test("streams changed through the API show live, and a dropped WebSocket resumes without a gap", async () => {
  const { page, problems } = await openDashboard();

  // Created through the REST API, not the page: it appears without a reload.
  const stream = await createStream({ roomName: "launch-day", metadata: { title: "Launch day keynote" } });
  await row(page, stream.id).waitFor({ timeout: SHOWN_WITHIN_MS });
  await row(page, stream.id).click();
  await shows(page.locator("#d-title"), "Launch day keynote");

  // A join updates its count.
  await joinAs(stream.id, "ada", "host");
  await shows(cell(page, stream.id, "active"), 1);
  await shows(cell(page, stream.id, "roles"), "1 host · 0 viewers");

  // The WebSocket drops (and the browser stays offline, so it cannot reconnect yet); the stream
  // changes while the page cannot hear it.
  const before = await feedStats(page);
  await context.setOffline(true);
  await page.evaluate(() => window.dashboard.feed.socket.close());
  await page.locator('#connection[data-state="reconnecting"]').waitFor();
  for (const name of ["bob", "cy", "dee"]) await joinAs(stream.id, name);
  await leave(stream.id, "bob");
  await call("PATCH", `/streams/${stream.id}`, { metadata: { stage: "main" } });
  assert.equal((await feedStats(page)).connects, before.connects, "still disconnected");
  await context.setOffline(false);

  // Resumed from the last seq seen: every seq exactly once, and the counts are current.
  const { seq } = await call("GET", `/streams/${stream.id}/state`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: SHOWN_WITHIN_MS });
  await waitForLogThrough(page, seq);
  assert.deepEqual(await loggedSeqs(page), Array.from({ length: seq }, (_, i) => i + 1));
  await shows(cell(page, stream.id, "active"), 3);
  const stats = await feedStats(page);
  assert.ok(stats.resumed >= 1, `the feed reconnected (${JSON.stringify(stats)})`);
  assert.equal(stats.duplicates, 0, "no event delivered twice");
  assert.equal(stats.gaps, 0, "no event skipped");

  // A second stream with some audience, so the screenshot shows a working dashboard.
  const other = await createStream({ roomName: "backstage", metadata: { title: "Backstage" } });
  await joinAs(other.id, "eve", "host");
  await row(page, other.id).waitFor({ timeout: SHOWN_WITHIN_MS });
  await page.screenshot({ path: join(artifactsDir(), "dashboard.png"), fullPage: true });

  // Stopping it (through the API) updates the page.
  await call("DELETE", `/streams/${stream.id}`);
  await shows(cell(page, stream.id, "status"), "stopped");
  await shows(page.locator("#d-status"), "stopped");
  await shows(page.locator("#event-log li"), "stream_stopped");
  await shows(cell(page, stream.id, "active"), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the page's own forms create, update, join with a token and stop; API errors are shown", async () => {
  const { page, problems } = await openDashboard({ apiKey: "k-dashboard-test" });
  const authorizations = [];
  page.on("request", (r) => r.url().includes("/streams") && authorizations.push(r.headers().authorization));

  await page.click("#new-stream");
  await page.fill("#c-room", "townhall");
  await page.fill("#c-metadata", '{"title": "Town hall", "tier": 1}');
  await page.click("#create-form button[type=submit]");
  await shows(page.locator("#d-title"), "Town hall");
  const id = await page.evaluate(() => window.dashboard.selected);
  assert.equal((await call("GET", `/streams/${id}`)).roomName, "townhall");

  // Metadata edited as a whole document: the page sends the merge patch (tier removed).
  await page.fill("#u-metadata", '{"title": "Town hall (live)"}');
  await page.click("#update-form button[type=submit]");
  await shows(page.locator("#d-title"), "Town hall (live)");
  assert.deepEqual((await call("GET", `/streams/${id}`)).metadata, { title: "Town hall (live)" });

  await page.fill("#j-identity", "grace");
  await page.selectOption("#j-role", "host");
  await page.click("#join-form button[type=submit]");
  await page.locator("#j-output").waitFor();
  assert.match(await page.inputValue("#j-token"), /^[\w-]+\.[\w-]+\.[\w-]+$/, "a JWT to copy");
  await shows(page.locator("#j-who"), "grace as host");
  await shows(cell(page, id, "active"), 1);

  // Stop takes two clicks; afterwards a join is refused, in the API's own words.
  await page.click("#stop");
  await page.click("#stop");
  await shows(cell(page, id, "status"), "stopped");
  assert.equal((await call("GET", `/streams/${id}`)).status, "stopped");
  await page.click("#join-form button[type=submit]");
  await shows(page.locator("#j-error"), "not active");

  assert.ok(authorizations.length > 0);
  assert.ok(authorizations.every((value) => value === "Bearer k-dashboard-test"), "the API key is sent");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a big stream's viewers are folded into audience updates", async () => {
  const { page, problems } = await openDashboard({ foldAbove: 0 });
  const stream = await createStream({ roomName: "stadium" });
  await row(page, stream.id).waitFor({ timeout: SHOWN_WITHIN_MS });
  await row(page, stream.id).click();

  for (const name of ["v1", "v2", "v3"]) await joinAs(stream.id, name);

  await shows(cell(page, stream.id, "active"), 3);
  await shows(page.locator("#event-log li"), "audience");
  const folded = await page.evaluate((id) => window.dashboard.feed.subs.get(id).interval, stream.id);
  assert.equal(folded, 1000, "subscribed with audienceIntervalMs");
  assert.deepEqual(problems, []);
  await page.close();
});

test("the list is read a page at a time, following the Link header", async () => {
  const { page, problems } = await openDashboard({}, "");
  const created = await Promise.all(
    Array.from({ length: 30 }, (_, i) => createStream({ roomName: `paged-${i}` })),
  );
  const { length: total } = await call("GET", "/streams?limit=1000");
  await page.reload();
  await page.locator("#stream-rows tr").first().waitFor();

  assert.equal(await page.locator("#stream-rows tr").count(), 25, "one page of 25");
  await page.click("#load-more");
  await page.waitForFunction((n) => document.querySelectorAll("#stream-rows tr").length >= n, Math.min(total, 50));
  assert.ok(total > 25 && created.length === 30);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a position the event log no longer holds is reloaded over REST, not skipped", async () => {
  // A log that keeps 3 events per stream: the page's first subscription (with history) asks
  // for a position it no longer holds.
  const small = await startOrchestrator({ APP__STORE__MAX_EVENTS_PER_STREAM: "3" });
  try {
    const stream = await call("POST", "/streams", { roomName: "long-running" }, small.base);
    for (const name of ["a", "b", "c", "d", "e"]) {
      await call("POST", `/streams/${stream.id}/join`, { participantName: name }, small.base);
    }
    const { page, problems } = await openDashboard({}, `#stream=${stream.id}`, small.base);

    await shows(page.locator("#event-log li"), "resync");
    await shows(cell(page, stream.id, "active"), 5);
    await call("POST", `/streams/${stream.id}/join`, { participantName: "f" }, small.base);
    await shows(cell(page, stream.id, "active"), 6);
    await shows(page.locator("#event-log li"), "f (viewer) joined");
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await small.stop();
  }
});

test("in production the page works from its own address with an operator key, its WebSocket on a ticket", async () => {
  // Production's defaults: keys required, no browser origin configured; the page is served by
  // the service itself, so its own origin needs no entry.
  const key = `lso_${randomBytes(32).toString("hex")}`;
  const [apiKey, apiSecret] = ["dashboard-check-key", randomBytes(24).toString("hex")];
  const livekit = await startLiveKitEmulator(apiKey, apiSecret);
  const production = await startOrchestrator({
    APP_ENV: "production",
    API_KEYS: `sha256:${createHash("sha256").update(key).digest("hex")}`,
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: apiKey,
    LIVEKIT_API_SECRET: apiSecret,
  });
  try {
    const base = production.base;
    const { page, problems } = await openDashboard({ apiKey: key }, "", base);
    const first = await page.evaluate(() => window.dashboard.feed.socket.url);

    const stream = await call("POST", "/streams", { roomName: "prod-room" }, base, key);
    await row(page, stream.id).waitFor({ timeout: SHOWN_WITHIN_MS });
    await call("POST", `/streams/${stream.id}/join`, { participantName: "ada" }, base, key);
    await shows(cell(page, stream.id, "active"), 1);
    const reconnected = page.waitForEvent("websocket", { timeout: SHOWN_WITHIN_MS });
    await page.evaluate(() => window.dashboard.feed.socket.close());
    const second = (await reconnected).url();
    await call("POST", `/streams/${stream.id}/join`, { participantName: "bo" }, base, key);
    await shows(cell(page, stream.id, "active"), 2);

    for (const url of [first, second]) {
      assert.match(url, /[?&]ticket=[rw]\./, "the connection presents a ticket");
      assert.ok(!url.includes(key), "the key itself never goes in a URL");
    }
    assert.notEqual(first, second, "a fresh ticket for each connection");
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await production.stop();
    await livekit.stop();
  }
});

// ---- Participants, search, API keys ------------------------------------------------------------

const participantRow = (page, identity) => page.locator(`#p-rows tr[data-identity="${identity}"]`);
const participantField = (page, identity, field) =>
  participantRow(page, identity).locator(`[data-field="${field}"]`);
const shownIdentities = (page) =>
  page.locator("#p-rows tr").evaluateAll((rows) => rows.map((row) => row.dataset.identity));

test("a stream's participants are listed a page at a time with the audience count, and stay current", async () => {
  const stream = await createStream({ roomName: "roster-room", metadata: { title: "Roster check" } });
  const ada = await joinAs(stream.id, "ada", "host");
  for (const name of ["bob", "cy", "dee", "eve"]) await joinAs(stream.id, name);
  await leave(stream.id, "eve");
  await connectMedia(ada);
  // Two a page, so four present are two pages.
  const { page, problems } = await openDashboard({ participantsPerPage: 2 }, `#stream=${stream.id}`);
  const asked = [];
  page.on("request", (r) => r.url().includes("/participants") && asked.push(new URL(r.url())));

  await shows(page.locator("#p-count"), "4 present");
  await shows(page.locator("#p-range"), "1–2 of 4");
  assert.deepEqual(await shownIdentities(page), ["ada", "bob"]);
  await shows(participantField(page, "ada", "role"), "host");
  await shows(participantField(page, "bob", "role"), "viewer");
  await shows(participantField(page, "ada", "joinedAt"), /^\d{2}:\d{2}:\d{2}$/);
  await shows(participantField(page, "ada", "connected"), "connected");
  await shows(participantField(page, "bob", "connected"), "not yet");
  await page.screenshot({ path: join(artifactsDir(), "dashboard-participants.png"), fullPage: true });

  // The second page, by the API's cursor; it is the last.
  await page.click("#p-next");
  await shows(page.locator("#p-range"), "3–4 of 4");
  assert.deepEqual(await shownIdentities(page), ["cy", "dee"]);
  assert.equal(await page.locator("#p-next").isDisabled(), true);

  // Everyone who ever joined: five, the one who left on the third page.
  await page.selectOption("#p-show", "everyone");
  await shows(page.locator("#p-count"), "5 joined in total");
  await page.click("#p-next");
  await shows(page.locator("#p-range"), "3–4 of 5");
  await page.click("#p-next");
  await shows(page.locator("#p-range"), "5–5 of 5");
  await shows(participantField(page, "eve", "connected"), "left");

  // Live: a join and a leave elsewhere re-read the page shown.
  await page.selectOption("#p-show", "present");
  await shows(page.locator("#p-range"), "1–2 of 4");
  await leave(stream.id, "ada");
  await joinAs(stream.id, "fay");
  await shows(page.locator("#p-count"), "4 present");
  await page.waitForFunction(
    () => document.querySelector('#p-rows tr[data-identity="ada"]') === null,
    null,
    { timeout: SHOWN_WITHIN_MS },
  );
  assert.deepEqual(await shownIdentities(page), ["bob", "cy"]);
  await page.click("#p-next");
  await shows(participantRow(page, "fay"), "fay");

  assert.ok(asked.length > 0);
  for (const url of asked) {
    assert.equal(url.searchParams.get("limit"), "2", `every read is one page: ${url}`);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test("the search finds a loaded stream by a fragment of its title or id, and opens any stream by its id", async () => {
  // A service of its own, so both streams are on the first page of the list.
  const own = await startOrchestrator();
  try {
    const create = (fields) => call("POST", "/streams", fields, own.base);
    const allHands = await create({ roomName: "q3-all-hands", metadata: { title: "Quarterly all-hands" } });
    const launch = await create({ roomName: "product-room", metadata: { title: "Product launch" } });
    const { page, problems } = await openDashboard({}, "", own.base);
    await row(page, launch.id).waitFor({ timeout: SHOWN_WITHIN_MS });

    await page.fill("#search", "ALL-HANDS");
    await row(page, launch.id).waitFor({ state: "hidden" });
    assert.equal(await row(page, allHands.id).isVisible(), true);
    await shows(page.locator("#stream-count"), "1 of 2");
    await shows(page.locator("#search-hint"), "paste a full stream id to open any stream");
    await page.screenshot({ path: join(artifactsDir(), "dashboard-search.png"), fullPage: true });

    await page.fill("#search", launch.id.slice(9, 18));
    await row(page, allHands.id).waitFor({ state: "hidden" });
    assert.equal(await row(page, launch.id).isVisible(), true);

    await page.fill("#search", "no stream is called this");
    await shows(page.locator("#no-match"), "No loaded stream matches");

    // A stream on no loaded page (the list shows stopped streams only): its whole id opens it.
    await page.fill("#search", "");
    await page.selectOption("#status-filter", "stopped");
    await row(page, launch.id).waitFor({ state: "detached" });
    await page.fill("#search", launch.id);
    await shows(page.locator("#d-title"), "Product launch");
    assert.equal(await page.evaluate(() => window.dashboard.selected), launch.id);
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await own.stop();
  }
});

test("with API keys and no key entered, the page says a key is needed; a read-only key watches but may not change", async () => {
  const operatorKey = `lso_${randomBytes(32).toString("hex")}`;
  const readKey = `lso_${randomBytes(32).toString("hex")}`;
  const entry = (key) => `sha256:${createHash("sha256").update(key).digest("hex")}`;
  const keyed = await startOrchestrator({ API_KEYS: `${entry(operatorKey)},${entry(readKey)}:read` });
  try {
    const base = keyed.base;
    const stream = await call("POST", "/streams", { roomName: "keyed-room" }, base, operatorKey);
    const { page, problems } = await openDashboard({}, "", base, false);

    await shows(page.locator("#key-needed"), "This service needs an API key");
    await shows(page.locator("#key-needed"), "Settings");
    assert.equal(await page.locator("#empty").isVisible(), false, "not \"No streams yet\"");
    await page.screenshot({ path: join(artifactsDir(), "dashboard-key-needed.png"), fullPage: true });

    // A wrong key is refused in so many words.
    await page.click("#enter-key");
    await page.fill("#s-key", "lso_not-a-key-of-this-service");
    await page.click("#settings-form button[type=submit]");
    await shows(page.locator("#key-needed"), "The API key in Settings was refused");

    // A read-only key shows the streams and follows them live ...
    await page.click("#open-settings");
    await page.fill("#s-key", readKey);
    await page.click("#settings-form button[type=submit]");
    await row(page, stream.id).waitFor({ timeout: SHOWN_WITHIN_MS });
    await page.locator("#key-needed").waitFor({ state: "hidden" });
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: SHOWN_WITHIN_MS });
    await call("POST", `/streams/${stream.id}/join`, { participantName: "ada" }, base, operatorKey);
    await shows(cell(page, stream.id, "active"), 1);

    // ... and a change it asks for is refused with the reason and the way out.
    await row(page, stream.id).click();
    await shows(participantRow(page, "ada"), "ada");
    await page.click("#stop");
    await page.click("#stop");
    await shows(page.locator("#s-error"), "read-only");
    await shows(page.locator("#s-error"), "To stop this stream, enter an operator key");
    assert.equal((await call("GET", `/streams/${stream.id}`, undefined, base, operatorKey)).status, "active");

    // The refused WebSocket handshakes before a key was entered are Chromium's console notes.
    const unexpected = problems.filter((p) => !/WebSocket connection to .* failed/.test(p));
    assert.deepEqual(unexpected, []);
    await page.close();
  } finally {
    await keyed.stop();
  }
});

// ---- Broadcast: ingest and outputs -------------------------------------------------------------

const outputRow = (page, id) => page.locator(`#o-rows tr[data-output-id="${id}"]`);
const outputField = (page, id, field) => outputRow(page, id).locator(`[data-field="${field}"]`);
const outputButton = (page, id, action) => outputRow(page, id).locator(`button[data-action="${action}"]`);

/** Calls one of the embedded LiveKit emulator's routes that play encoders and egress workers. */
async function emulate(livekit, path, body) {
  const response = await fetch(new URL(path, livekit), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  return { ok: response.ok, body: await response.json() };
}

/** Adds an output through the page's form. */
async function addOutputOnPage(page, { type, name = "", targets = "", autoStart = true }) {
  if (await page.locator("#output-form").isHidden()) await page.click("#o-new");
  await page.selectOption("#o-type", type);
  await page.fill("#o-name", name);
  if (type === "rtmp") await page.fill("#o-targets", targets);
  await page.setChecked("#o-auto", autoStart);
  await page.click("#output-form button[type=submit]");
}

test("a stream's ingest and outputs are made, followed live and acted on from the page", async () => {
  // A service of its own: retries 100 ms apart, and a public base for HLS playback URLs.
  const own = await startOrchestrator({
    APP__BROADCAST__RETRY_BACKOFF_MS: "100",
    APP__BROADCAST__PLAYBACK_BASE_URL: "https://cdn.example.com/live",
  });
  try {
    const base = own.base;
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const { page, problems } = await openDashboard({}, "", base);
    const broadcastReads = [];
    page.on("request", (r) => /\/(ingest|outputs)/.test(r.url()) && broadcastReads.push(`${r.method()} ${new URL(r.url()).pathname}`));

    await page.click("#new-stream");
    await page.fill("#c-room", "broadcast-room");
    await page.fill("#c-metadata", '{"title": "Broadcast check"}');
    await page.click("#create-form button[type=submit]");
    await shows(page.locator("#d-title"), "Broadcast check");
    const id = await page.evaluate(() => window.dashboard.selected);

    // No broadcast: one read of each when the stream is shown, nothing more while it lives.
    await page.locator("#ingest-form").waitFor();
    await shows(page.locator("#o-empty"), "No outputs");
    await call("POST", `/streams/${id}/join`, { participantName: "ada" }, base);
    await shows(cell(page, id, "active"), 1);
    await page.waitForTimeout(2500);
    assert.deepEqual(broadcastReads.sort(), [`GET /streams/${id}/ingest`, `GET /streams/${id}/outputs`]);

    // Two outputs that start with the stream; the second name is refused in the API's words.
    const target = "rtmps://live.example.com/app/sk-youtube-secret";
    await addOutputOnPage(page, { type: "hls" });
    await outputRow(page, "hls").waitFor();
    await addOutputOnPage(page, { type: "rtmp", name: "youtube", targets: target });
    await shows(outputField(page, "youtube", "targets"), target);
    await addOutputOnPage(page, { type: "rtmp", name: "youtube", targets: target });
    await shows(page.locator("#o-error"), 'the stream has an output "youtube" already');
    await page.click("#o-cancel");
    await shows(outputField(page, "hls", "observed"), "idle");
    await shows(outputField(page, "hls", "desired"), "on");

    // An ingest: its key masked until shown, copied whole.
    await page.selectOption("#i-type", "rtmp");
    await page.click("#ingest-form button[type=submit]");
    await shows(page.locator("#i-state"), "inactive");
    const ingest = await call("GET", `/streams/${id}/ingest`, undefined, base);
    await shows(page.locator("#i-url-shown"), ingest.url);
    assert.doesNotMatch(await page.textContent("#i-key"), new RegExp(ingest.streamKey.slice(-4)), "masked");
    await page.click("#i-show-key");
    await shows(page.locator("#i-key"), ingest.streamKey);
    await page.click("#i-copy-key");
    await shows(page.locator(".toast"), "Copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), ingest.streamKey);

    // The encoder publishes: the ingest, then both outputs, change on the page by themselves.
    assert.ok((await emulate(own.livekit, "/emulator/ingest", { streamKey: ingest.streamKey })).ok);
    await shows(page.locator("#i-state"), "publishing");
    await shows(outputField(page, "hls", "observed"), "active");
    await shows(outputField(page, "youtube", "observed"), "active");
    await shows(outputField(page, "hls", "playbackUrl"), `https://cdn.example.com/live/${id}/hls/live.m3u8`);
    await shows(outputField(page, "youtube", "targets"), target);
    await shows(page.locator("#event-log li"), "ingest publishing");
    await page.screenshot({ path: join(artifactsDir(), "dashboard-broadcast.png"), fullPage: true });

    // Stop one: it completes. Started again while every egress start fails: it retries, then
    // says why it gave up.
    await outputButton(page, "youtube", "stop").click();
    await shows(outputField(page, "youtube", "observed"), "complete");
    await shows(outputField(page, "youtube", "desired"), "off");
    assert.ok((await emulate(own.livekit, "/emulator/egress/fail-next", { count: 10, reason: "no route to the CDN" })).ok);
    await outputButton(page, "youtube", "start").click();
    await shows(outputField(page, "youtube", "observed"), "failed");
    await shows(outputField(page, "youtube", "progress"), "failed after 4 attempts: no route to the CDN");
    assert.equal(await outputField(page, "hls", "observed").textContent(), "active", "the other one runs on");

    // Rotate (two clicks): a new key is shown, and the old one no longer publishes.
    await page.click("#i-rotate");
    await shows(page.locator("#i-rotate"), "Click again");
    await page.click("#i-rotate");
    await shows(page.locator(".toast"), "New stream key");
    const rotated = await call("GET", `/streams/${id}/ingest`, undefined, base);
    assert.notEqual(rotated.streamKey, ingest.streamKey);
    await shows(page.locator("#i-key"), rotated.streamKey);
    await shows(page.locator("#i-state"), "inactive");
    assert.equal((await emulate(own.livekit, "/emulator/ingest", { streamKey: ingest.streamKey })).ok, false);

    // Remove (two clicks) and delete: gone from the page and from the API.
    await outputButton(page, "youtube", "remove").click();
    await outputButton(page, "youtube", "remove").click();
    await outputRow(page, "youtube").waitFor({ state: "detached" });
    await page.click("#i-delete");
    await page.click("#i-delete");
    await page.locator("#ingest-form").waitFor();
    assert.deepEqual((await call("GET", `/streams/${id}/outputs`, undefined, base)).map((o) => o.id), ["hls"]);
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await own.stop();
  }
});

test("changes made by another client show live, with the secrets a read-only key may not see redacted", async () => {
  const operatorKey = `lso_${randomBytes(32).toString("hex")}`;
  const readKey = `lso_${randomBytes(32).toString("hex")}`;
  const entry = (key) => `sha256:${createHash("sha256").update(key).digest("hex")}`;
  const keyed = await startOrchestrator({ API_KEYS: `${entry(operatorKey)},${entry(readKey)}:read` });
  try {
    const base = keyed.base;
    const operator = (method, path, body) => call(method, path, body, base, operatorKey);
    const stream = await operator("POST", "/streams", { roomName: "watched-room" });
    const target = "rtmp://live.example.com/app/sk-hidden-from-readers";

    // An operator's page: what another client adds appears, its secrets read whole once.
    const { page: mine, problems } = await openDashboard({ apiKey: operatorKey }, `#stream=${stream.id}`, base);
    const reads = [];
    const countReads = (page, who) =>
      page.on("request", (r) => r.method() === "GET" && /\/(ingest|outputs)/.test(r.url()) && reads.push(`${who} ${new URL(r.url()).pathname}`));
    await mine.locator("#ingest-form").waitFor();
    // Counted once the first reads are answered.
    countReads(mine, "operator");
    const ingest = await operator("POST", `/streams/${stream.id}/ingest`, { type: "whip" });
    await operator("POST", `/streams/${stream.id}/outputs`, { id: "backup", type: "rtmp", targets: [target] });
    await shows(mine.locator("#i-state"), "inactive");
    await mine.click("#i-show-key");
    await shows(mine.locator("#i-key"), ingest.streamKey);
    await shows(outputField(mine, "backup", "targets"), target);

    // A read-only key's page: the same, redacted, and said so; what it asks to change is refused.
    const { page: reader, problems: readerProblems } = await openDashboard({ apiKey: readKey }, `#stream=${stream.id}`, base);
    await shows(reader.locator("#i-key-note"), "redacted: this API key is read-only");
    countReads(reader, "reader");
    await shows(reader.locator("#i-key"), `…${ingest.streamKey.slice(-4)}`);
    assert.equal(await reader.locator("#i-show-key").isVisible(), false, "nothing to show or copy");
    await shows(outputField(reader, "backup", "targets"), "rtmp://live.example.com/…");
    assert.doesNotMatch(await reader.locator("#o-rows").textContent(), /sk-hidden-from-readers/);
    await outputButton(reader, "backup", "start").click();
    await shows(reader.locator("#o-action-error"), "read-only");

    // Started by the operator elsewhere: both pages follow, neither reads again.
    await operator("POST", `/streams/${stream.id}/outputs/backup/start`);
    await shows(outputField(mine, "backup", "desired"), "on");
    await shows(outputField(reader, "backup", "desired"), "on");
    await shows(outputField(mine, "backup", "targets"), target);
    await mine.waitForTimeout(500);
    const path = `/streams/${stream.id}`;
    assert.deepEqual(reads.sort(), [
      `operator ${path}/ingest`,
      `operator ${path}/outputs/backup`,
    ], "the secrets of what another client made, read once; nothing else, nothing by the reader");
    assert.deepEqual(problems, []);
    assert.deepEqual(readerProblems, []);
    await mine.close();
    await reader.close();
  } finally {
    await keyed.stop();
  }
});
