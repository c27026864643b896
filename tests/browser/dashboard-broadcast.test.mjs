// The dashboard's broadcast bookkeeping (crates/http/src/dashboard/assets/broadcast.js), run in
// Node without a browser: REST answers and live events arriving in any order leave the ingest
// and the outputs as the last change made them, secrets REST answered survive the redacted
// views events carry, a secret seen only in an event is read once, and the panel's words and
// request bodies are what the API expects.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  BroadcastState,
  canStart,
  canStop,
  describeBroadcast,
  ingestRequest,
  maskedKey,
  outputRequest,
  progressOf,
} from "../../crates/http/src/dashboard/assets/broadcast.js";
import { describe } from "../../crates/http/src/dashboard/assets/model.js";

const ID = "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90";
const KEY = "sk_Zp8wQ2mR7tY4uI9oP3aS";
const TARGET = "rtmps://live.example.com/app/secret-key";

function ingestView(fields = {}) {
  return {
    ingressId: "IN_1",
    type: "rtmp",
    url: "rtmp://media.example.com/live",
    streamKey: KEY,
    streamKeyRedacted: false,
    state: "inactive",
    createdAt: "2026-01-01T12:00:00.000Z",
    updatedAt: "2026-01-01T12:00:00.000Z",
    ...fields,
  };
}

/** The ingest as events show it to everyone: its key redacted. */
const redactedIngest = (fields = {}) =>
  ingestView({ streamKey: `…${KEY.slice(-4)}`, streamKeyRedacted: true, ...fields });

function outputView(fields = {}) {
  return {
    id: "hls",
    type: "hls",
    autoStart: true,
    desired: "off",
    observed: "idle",
    attempts: 0,
    updatedAt: "2026-01-01T12:00:00.000Z",
    ...fields,
  };
}

const rtmpOutput = (fields = {}) => outputView({ id: "youtube", type: "rtmp", targets: [TARGET], ...fields });
const redactedRtmp = (fields = {}) => rtmpOutput({ targets: ["rtmps://live.example.com/…"], ...fields });

const event = (seq, type, data) => ({ seq, type, streamId: ID, timestamp: new Date().toISOString(), data });

/** A state whose first reads (at seq `at`) answered `ingest` and `outputs`. */
function loaded({ at = 5, ingest = null, outputs = [] } = {}) {
  const state = new BroadcastState(ID, at);
  const first = state.begin(at);
  const second = state.begin(at);
  state.settleIngest(first, ingest);
  state.settleOutputs(second, outputs);
  return state;
}

const observedOf = (state) => Object.fromEntries(state.outputs.map((o) => [o.id, o.observed]));

// ---- Answers and events ------------------------------------------------------------------------

test("events after the first reads move the outputs; events the reads already include are ignored", () => {
  const state = loaded({ at: 5, outputs: [outputView({ observed: "starting" })] });

  assert.equal(state.applyEvent(event(4, "output_updated", { output: outputView({ observed: "idle" }) })), false);
  assert.equal(state.applyEvent(event(6, "output_updated", { output: outputView({ observed: "active" }) })), true);
  state.applyEvent(event(7, "output_added", { output: outputView({ id: "archive", type: "recording" }) }));

  assert.deepEqual(observedOf(state), { hls: "active", archive: "idle" });
  state.applyEvent(event(8, "output_removed", { outputId: "hls" }));
  assert.deepEqual(observedOf(state), { archive: "idle" });
});

test("an event that arrives while a read is in flight is applied again over its slower answer", () => {
  const state = loaded({ at: 5, outputs: [outputView({ desired: "on", observed: "starting" })] });
  const asked = state.begin(5);

  state.applyEvent(event(6, "output_updated", { output: outputView({ desired: "on", observed: "active" }) }));
  // The answer was read before seq 6 was written.
  state.settleOutput(asked, "hls", outputView({ desired: "on", observed: "starting" }));

  assert.deepEqual(observedOf(state), { hls: "active" }, "not rolled back");
  assert.deepEqual(state.buffer, [], "nothing kept once no read is in flight");
});

test("a removal that arrives before the answer that still lists the output is not undone", () => {
  const state = new BroadcastState(ID, 0);
  const ingest = state.begin(0);
  const outputs = state.begin(0);
  state.settleIngest(ingest, null);

  state.applyEvent(event(1, "output_removed", { outputId: "hls" }));
  state.settleOutputs(outputs, [outputView()]);

  assert.deepEqual(state.outputs, []);
  assert.equal(state.known, true);
});

test("an answer about one output leaves events about the others applied", () => {
  const state = loaded({ at: 5, outputs: [outputView(), rtmpOutput()] });
  const asked = state.begin(5);

  state.applyEvent(event(6, "output_updated", { output: redactedRtmp({ observed: "active" }) }));
  state.settleOutput(asked, "hls", outputView({ desired: "on", observed: "starting" }));

  assert.deepEqual(observedOf(state), { hls: "starting", youtube: "active" });
});

test("a failed read keeps nothing for later", () => {
  const state = loaded();
  const asked = state.begin(5);
  state.applyEvent(event(6, "output_added", { output: outputView() }));

  state.abandon(asked);

  assert.equal(state.pending.size, 0);
  assert.deepEqual(state.buffer, []);
  assert.deepEqual(observedOf(state), { hls: "idle" });
});

// ---- Secrets -----------------------------------------------------------------------------------

test("the whole key and targets REST answered survive the redacted views of later events", () => {
  const state = loaded({ ingest: ingestView(), outputs: [rtmpOutput()] });

  state.applyEvent(event(6, "ingest_updated", { ingest: redactedIngest({ state: "publishing" }) }));
  state.applyEvent(event(7, "output_updated", { output: redactedRtmp({ observed: "active" }) }));

  assert.equal(state.ingest.state, "publishing");
  assert.equal(state.ingest.streamKey, KEY);
  assert.equal(state.ingest.streamKeyRedacted, false);
  assert.equal(state.keyKnown, true);
  assert.deepEqual(state.outputs[0].targets, [TARGET]);
  assert.deepEqual(state.claimReads(), [], "nothing to read");
});

test("a read-only key's redacted answer is what is shown, and is not read again", () => {
  const state = loaded({ ingest: redactedIngest() });

  state.applyEvent(event(6, "ingest_updated", { ingest: redactedIngest({ state: "buffering" }) }));

  assert.equal(state.ingest.streamKeyRedacted, true);
  assert.equal(state.keyKnown, true, "the API's answer for this key");
  assert.deepEqual(state.claimReads(), []);
});

test("an ingest made or rotated elsewhere is read once, and not while an answer may bring it", () => {
  const state = loaded({ ingest: ingestView() });
  state.applyEvent(event(6, "ingest_updated", { ingest: redactedIngest({ ingressId: "IN_2" }) }));
  assert.equal(state.keyKnown, false);

  const mine = state.begin(6);
  assert.deepEqual(state.claimReads(), [], "a read in flight");
  state.abandon(mine);

  assert.deepEqual(state.claimReads(), [{ kind: "ingest" }]);
  assert.deepEqual(state.claimReads(), [], "asked once");
  const read = state.begin(6);
  state.settleIngest(read, ingestView({ ingressId: "IN_2", streamKey: "sk_new_key_0123456789" }));
  assert.equal(state.ingest.streamKey, "sk_new_key_0123456789");
});

test("a rotation answered whole stays whole when its redacted event is applied again over it", () => {
  const state = loaded({ ingest: ingestView() });
  const rotate = state.begin(5);

  state.applyEvent(event(6, "ingest_updated", { ingest: redactedIngest({ ingressId: "IN_2" }) }));
  state.settleIngest(rotate, ingestView({ ingressId: "IN_2", streamKey: "sk_rotated_0123456789" }));

  assert.equal(state.ingest.ingressId, "IN_2");
  assert.equal(state.ingest.streamKey, "sk_rotated_0123456789");
  assert.deepEqual(state.claimReads(), []);
});

test("an rtmp output added elsewhere is read for its targets; one of the same name re-added is read again", () => {
  const state = loaded();
  state.applyEvent(event(6, "output_added", { output: redactedRtmp() }));
  state.applyEvent(event(7, "output_added", { output: outputView() }));

  assert.deepEqual(state.claimReads(), [{ kind: "output", id: "youtube" }], "hls has no targets");
  state.settleOutput(state.begin(7), "youtube", rtmpOutput());
  assert.deepEqual(state.outputs[0].targets, [TARGET]);

  state.applyEvent(event(8, "output_removed", { outputId: "youtube" }));
  state.applyEvent(event(9, "output_added", { output: redactedRtmp({ targets: ["rtmp://other.example.com/…"] }) }));
  assert.deepEqual(state.outputs.find((o) => o.id === "youtube").targets, ["rtmp://other.example.com/…"]);
  assert.deepEqual(state.claimReads(), [{ kind: "output", id: "youtube" }]);
});

test("nothing is read for secrets before the first answers", () => {
  const state = new BroadcastState(ID, 0);
  state.begin(0);
  state.applyEvent(event(1, "ingest_created", { ingest: redactedIngest() }));

  assert.deepEqual(state.claimReads(), []);
});

// ---- What the panel says and sends -----------------------------------------------------------

test("the output form becomes the API's request: targets only for rtmp, a name only when given", () => {
  assert.deepEqual(outputRequest({ type: "hls", name: " ", targets: "ignored", autoStart: true }), {
    type: "hls",
    autoStart: true,
  });
  assert.deepEqual(
    outputRequest({ type: "rtmp", name: "youtube", targets: ` ${TARGET}\n\nrtmp://b.example.com/k `, autoStart: false }),
    { type: "rtmp", id: "youtube", autoStart: false, targets: [TARGET, "rtmp://b.example.com/k"] },
  );
  assert.deepEqual(ingestRequest({ type: "rtmp", url: "leftover" }), { type: "rtmp" });
  assert.deepEqual(ingestRequest({ type: "url", url: " https://cdn.example.com/a.m3u8 " }), {
    type: "url",
    url: "https://cdn.example.com/a.m3u8",
  });
});

test("Start and Stop are offered when they would change something", () => {
  assert.equal(canStart(outputView({ desired: "off", observed: "idle" })), true);
  assert.equal(canStart(outputView({ desired: "on", observed: "active" })), false);
  assert.equal(canStart(outputView({ desired: "on", observed: "failed" })), true, "try again");
  assert.equal(canStop(outputView({ desired: "on", observed: "failed" })), true);
  assert.equal(canStop(outputView({ desired: "off", observed: "ending" })), true, "still running");
  assert.equal(canStop(outputView({ desired: "off", observed: "complete" })), false);
});

test("a retrying output shows its attempt and last failure, a failed one why it gave up", () => {
  const failure = "simulated failure";

  assert.equal(progressOf(outputView({ observed: "starting", attempts: 1 })), "");
  assert.equal(progressOf(outputView({ observed: "starting", attempts: 2, failure })), `attempt 2, last failure: ${failure}`);
  assert.equal(progressOf(outputView({ observed: "failed", attempts: 4, failure })), `failed after 4 attempts: ${failure}`);
  assert.equal(progressOf(outputView({ observed: "active", attempts: 2, failure })), "");
});

test("the stream key is masked by dots, never by its own characters", () => {
  assert.equal(maskedKey(KEY), "•".repeat(KEY.length));
  assert.equal(maskedKey("x".repeat(100)).length, 24);
  assert.ok(!maskedKey(KEY).includes(KEY.slice(-4)));
});

test("the event log says what each broadcast event did", () => {
  const said = (type, data) => describe(event(9, type, data));

  assert.equal(said("ingest_updated", { ingest: redactedIngest({ state: "publishing" }) }), "ingest publishing");
  assert.equal(said("ingest_removed", { ingest: null }), "ingest removed");
  assert.equal(said("output_added", { output: outputView() }), "output hls (hls) added, starts with the stream");
  assert.equal(
    said("output_updated", { output: outputView({ desired: "on", observed: "failed", attempts: 4, failure: "no route" }) }),
    "output hls: failed (wanted on) · failed after 4 attempts: no route",
  );
  assert.equal(said("output_removed", { outputId: "hls" }), "output hls removed");
  assert.equal(describeBroadcast(event(9, "participant_joined", {})), null);
});
