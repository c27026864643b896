// The dashboard's bookkeeping (crates/http/src/dashboard/assets/model.js), run in Node without a
// browser: REST snapshots and live messages arriving in any order never roll a stream back, and
// the metadata editor sends the merge patch of the operator's edit.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  StreamModel,
  diffPatch,
  mergePatch,
} from "../../crates/http/src/dashboard/assets/model.js";

const ID = "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90";

function snapshot(fields = {}) {
  return {
    id: ID,
    roomName: "launch",
    status: "active",
    metadata: { title: "Launch" },
    version: 1,
    seq: 2,
    createdAt: "2026-01-01T12:00:00Z",
    audience: { active: 1, hosts: 1, viewers: 0, connected: 0, totalJoined: 1 },
    ...fields,
  };
}

function joined(seq, identity, active) {
  return {
    type: "event",
    streamId: ID,
    seq,
    event: {
      id: `e${seq}`,
      seq,
      type: "participant_joined",
      streamId: ID,
      timestamp: new Date().toISOString(),
      data: { participant: { identity, role: "viewer" }, audience: { active, viewers: active - 1 } },
    },
  };
}

test("an event newer than the snapshot updates the counts; a replayed older one only logs", () => {
  const model = new StreamModel(snapshot({ seq: 4, audience: { active: 3 } }));

  model.applyMessage(joined(2, "ada", 1));
  assert.equal(model.stream.audience.active, 3, "the snapshot already includes seq 2");

  model.applyMessage(joined(5, "eve", 4));
  assert.equal(model.stream.audience.active, 4);
  assert.equal(model.seq, 5);
  assert.deepEqual(model.log.map((entry) => entry.seq), [5, 2]);
});

test("a snapshot older than what is shown is ignored, a newer one replaces it", () => {
  const model = new StreamModel(snapshot());
  model.applyMessage(joined(3, "bob", 2));

  const older = model.applySnapshot(snapshot({ seq: 2 }));
  assert.equal(older, false);
  assert.equal(model.stream.audience.active, 2);

  const newer = model.applySnapshot(snapshot({ seq: 4, audience: { active: 5 } }));
  assert.equal(newer, true);
  assert.equal(model.stream.audience.active, 5);
});

test("a change of the stream applies its status and metadata patch and asks for a refetch", () => {
  const model = new StreamModel(snapshot());

  model.applyMessage({
    type: "event",
    streamId: ID,
    seq: 3,
    event: {
      seq: 3,
      type: "stream_updated",
      streamId: ID,
      timestamp: "2026-01-01T12:01:00Z",
      data: { status: "stopping", previousStatus: "active", metadataPatch: { title: null, tier: 2 } },
    },
  });

  assert.equal(model.stream.status, "stopping");
  assert.deepEqual(model.stream.metadata, { tier: 2 });
  assert.equal(model.stale, true, "the version is only known after a refetch");
});

test("the chart counts joins and leaves; a folded update counts its net change", () => {
  const model = new StreamModel(snapshot());
  model.applyMessage(joined(3, "bob", 2));

  model.applyMessage({ type: "audience", streamId: ID, seq: 9, audience: { active: 6 } });

  const total = model.buckets().reduce((sum, b) => ({ joins: sum.joins + b.joins, leaves: sum.leaves + b.leaves }));
  assert.deepEqual({ joins: total.joins, leaves: total.leaves }, { joins: 5, leaves: 0 });
  assert.equal(model.stream.audience.active, 6);
});

test("an edited document becomes the merge patch that produces it", () => {
  const before = { title: "Launch", tier: 1, layout: { grid: true, size: 2 } };
  const after = { title: "Launch (live)", layout: { grid: true, size: 3 }, lang: "en" };

  const patch = diffPatch(before, after);

  assert.deepEqual(patch, { title: "Launch (live)", tier: null, layout: { size: 3 }, lang: "en" });
  assert.deepEqual(mergePatch(before, patch), after);
  assert.deepEqual(diffPatch(after, after), {});
});
