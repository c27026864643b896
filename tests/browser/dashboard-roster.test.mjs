// The dashboard's roster pages, search and key notices (crates/http/src/dashboard/assets/
// roster.js, search.js, access.js), run in Node without a browser: the participants panel
// holds one page and pages by the API's `Link`, its reads are paced while events pour in, the
// search finds a stream by any fragment an operator knows, and a refused key is explained.

import assert from "node:assert/strict";
import { test } from "node:test";

import { failureMessage, keyNeeded } from "../../crates/http/src/dashboard/assets/access.js";
import {
  EVERYONE,
  PRESENT,
  Pacer,
  RosterPages,
  presenceOf,
} from "../../crates/http/src/dashboard/assets/roster.js";
import { isStreamId, matchesStream, searchTerms } from "../../crates/http/src/dashboard/assets/search.js";

const ID = "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90";
const people = (...names) => names.map((identity) => ({ identity, role: "viewer" }));
const nextOf = (cursor) => `/streams/${ID}/participants?limit=2&active=true&cursor=${cursor}`;

// ---- Roster pages ---------------------------------------------------------------------------

test("the first page asks for present participants, a page size at a time", () => {
  const present = new RosterPages(ID, { show: PRESENT, pageSize: 2 });
  const everyone = new RosterPages(ID, { show: EVERYONE, pageSize: 50 });

  assert.equal(present.path, `/streams/${ID}/participants?limit=2&active=true`);
  assert.equal(everyone.path, `/streams/${ID}/participants?limit=50`);
});

test("pages go forward by the Link target and back by the addresses kept, holding one page", () => {
  const pages = new RosterPages(ID, { pageSize: 2 });
  pages.accept(pages.version, { items: people("ada", "bob"), next: nextOf("p2") });

  assert.equal(pages.forward(), true);
  assert.equal(pages.path, nextOf("p2"));
  pages.accept(pages.version, { items: people("cy"), next: null });
  assert.deepEqual(pages.items.map((p) => p.identity), ["cy"], "only the page shown is held");
  assert.deepEqual(pages.range(), { from: 3, to: 3 });
  assert.equal(pages.forward(), false, "no page after the last");

  assert.equal(pages.back(), true);
  assert.equal(pages.path, `/streams/${ID}/participants?limit=2&active=true`);
  assert.equal(pages.back(), false, "nothing before the first");
});

test("an answer for a page no longer shown is dropped", () => {
  const pages = new RosterPages(ID, { pageSize: 2 });
  const asked = pages.version;
  pages.accept(asked, { items: people("ada", "bob"), next: nextOf("p2") });
  pages.forward();

  pages.accept(asked, { items: people("late"), next: null });

  assert.deepEqual(pages.items.map((p) => p.identity), ["ada", "bob"]);
  assert.equal(pages.next, null, "the next page's own answer is awaited");
});

test("a later page everyone left gives way to the page before it", () => {
  const pages = new RosterPages(ID, { pageSize: 2 });
  pages.accept(pages.version, { items: people("ada", "bob"), next: nextOf("p2") });
  pages.forward();

  const again = pages.accept(pages.version, { items: [], next: null });

  assert.equal(again, true, "the page before is read again");
  assert.equal(pages.index, 0);
});

test("the total comes from the audience counters of what is shown", () => {
  const audience = { active: 3, totalJoined: 120 };

  assert.equal(new RosterPages(ID, { show: PRESENT }).total(audience), 3);
  assert.equal(new RosterPages(ID, { show: EVERYONE }).total(audience), 120);
});

test("a participant is connected once LiveKit reports a session, and left once gone", () => {
  assert.equal(presenceOf({ sid: null, leftAt: null }), "waiting");
  assert.equal(presenceOf({ sid: "PA_1", leftAt: null }), "connected");
  assert.equal(presenceOf({ sid: "PA_1", leftAt: "2026-01-01T12:00:00Z" }), "left");
});

// ---- Pacing ---------------------------------------------------------------------------------

/** A clock the test moves by hand. */
function manualClock() {
  const clock = {
    time: 0,
    timers: [],
    now: () => clock.time,
    later: (fn, ms) => {
      const timer = { at: clock.time + ms, fn };
      clock.timers.push(timer);
      return timer;
    },
    cancel: (timer) => (clock.timers = clock.timers.filter((t) => t !== timer)),
    async advance(ms) {
      clock.time += ms;
      const due = clock.timers.filter((t) => t.at <= clock.time);
      clock.timers = clock.timers.filter((t) => t.at > clock.time);
      for (const timer of due) timer.fn();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
  return clock;
}

test("a burst of events costs one read now and one when the interval is over", async () => {
  const clock = manualClock();
  let reads = 0;
  const pacer = new Pacer(async () => (reads += 1), 1000, clock);

  for (let i = 0; i < 1000; i += 1) pacer.request();
  await clock.advance(0);
  assert.equal(reads, 1, "the first request reads at once");

  await clock.advance(999);
  assert.equal(reads, 1);
  await clock.advance(1);
  assert.equal(reads, 2, "the rest of the burst is one read, after the interval");
  await clock.advance(5000);
  assert.equal(reads, 2, "nothing asked since");
});

test("a request while a read is in flight is served after it, never alongside", async () => {
  const clock = manualClock();
  let finish;
  let inFlight = 0;
  let most = 0;
  const pacer = new Pacer(
    () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      return new Promise((resolve) => (finish = () => resolve(inFlight--)));
    },
    1000,
    clock,
  );

  pacer.request();
  await clock.advance(1500);
  pacer.request();
  finish();
  await clock.advance(0);
  await clock.advance(0);

  assert.equal(most, 1);
  assert.equal(inFlight, 1, "the second read started after the first ended");
});

test("a cancelled request is not read", async () => {
  const clock = manualClock();
  let reads = 0;
  const pacer = new Pacer(async () => (reads += 1), 1000, clock);
  pacer.request();
  await clock.advance(0);

  pacer.request();
  pacer.cancel();
  await clock.advance(2000);

  assert.equal(reads, 1);
});

// ---- Search ---------------------------------------------------------------------------------

const stream = {
  id: ID,
  roomName: "launch-room",
  roomSid: "RM_abc123",
  metadata: { title: "Launch Day Keynote", presenter: { name: "Ada Lovelace" }, tier: 3 },
};

test("a stream is found by a fragment of its id, room, LiveKit room id or metadata", () => {
  for (const query of ["0b5a3c", "8A90", "launch-r", "rm_abc", "keynote", "lovelace", "3"]) {
    assert.ok(matchesStream(stream, searchTerms(query)), query);
  }
});

test("every word of the query must be found, and metadata keys are not searched", () => {
  assert.ok(matchesStream(stream, searchTerms("  day   ada ")));
  assert.ok(!matchesStream(stream, searchTerms("day bob")));
  assert.ok(!matchesStream(stream, searchTerms("presenter")), "a key, not a value");
  assert.ok(matchesStream(stream, searchTerms("")), "an empty query shows everything");
});

test("only a whole stream id is looked up on the server", () => {
  assert.ok(isStreamId(` ${ID} `));
  assert.ok(isStreamId(ID.toUpperCase()));
  assert.ok(!isStreamId(ID.slice(0, 20)));
  assert.ok(!isStreamId("launch-room"));
});

// ---- A refused key --------------------------------------------------------------------------

const refused = (status, code, message) => ({ status, code, message });

test("without a key, a 401 says a key is needed and where to enter it", () => {
  const problem = keyNeeded(refused(401, "unauthorized", "an API key is required"), false);

  assert.match(problem.title, /needs an API key/);
  assert.match(problem.detail, /Settings/);
  assert.match(problem.detail, /generate-keys/);
});

test("with a key, a 401 says the key was refused", () => {
  const problem = keyNeeded(refused(401, "unauthorized", "the API key is not valid"), true);

  assert.match(problem.title, /refused/);
  assert.match(problem.detail, /the API key is not valid/);
});

test("a failure that is not about the key is not a key notice", () => {
  assert.equal(keyNeeded(refused(503, "store_unavailable", "down"), false), null);
  assert.equal(keyNeeded(null, false), null);
});

test("a read-only key's 403 on an action says what it may not do and where to change it", () => {
  const message = failureMessage(refused(403, "forbidden", "this API key is read-only"), "stop this stream");

  assert.match(message, /read-only/);
  assert.match(message, /To stop this stream, enter an operator key/);
  assert.equal(failureMessage(refused(409, "invalid_transition", "not active")), "not active");
});
