// What the dashboard knows about each stream, kept current from two sources that can arrive in
// any order: REST snapshots (which carry the seq of the latest event they include) and live
// messages (each with its seq). Whichever is newer wins, so a slow list answer never rolls a
// stream back, and events the snapshot already includes only feed the log and the chart.

import { describeBroadcast } from "./broadcast.js";

/** Entries kept in a stream's event log (older ones scroll away). */
export const LOG_LIMIT = 500;
/** The chart's window and bar width. */
export const WINDOW_MS = 5 * 60 * 1000;
export const BUCKET_MS = 10 * 1000;

/** Applies a JSON Merge Patch (RFC 7396) to `target`, returning a new value. */
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const result = target && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The merge patch that turns `before` into `after` (null removes a key); {} when equal. */
export function diffPatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    const bothObjects = [old, value].every((v) => v && typeof v === "object" && !Array.isArray(v));
    if (bothObjects) {
      const inner = diffPatch(old, value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

const EMPTY_AUDIENCE = { active: 0, hosts: 0, viewers: 0, connected: 0, totalJoined: 0 };

export class StreamModel {
  constructor(snapshot) {
    this.stream = { ...snapshot, audience: { ...EMPTY_AUDIENCE, ...snapshot.audience } };
    /** The seq the shown state reflects. */
    this.seq = snapshot.seq ?? 0;
    /** Newest first: {seq, type, time, summary}. */
    this.log = [];
    /** Bucket start (ms) → {joins, leaves}. */
    this.activity = new Map();
    /** Set when an event changed the stream itself: the app refetches it (version, metadata). */
    this.stale = false;
  }

  get id() {
    return this.stream.id;
  }

  /** A REST answer about this stream; ignored when older than what is shown. */
  applySnapshot(snapshot) {
    if ((snapshot.seq ?? 0) < this.seq) return false;
    this.stream = { ...this.stream, ...snapshot, audience: { ...EMPTY_AUDIENCE, ...snapshot.audience } };
    this.seq = snapshot.seq ?? this.seq;
    this.stale = false;
    return true;
  }

  /** A live `event` or `audience` message (each seq once, in order). */
  applyMessage(message) {
    const fresh = message.seq > this.seq;
    if (message.type === "audience") {
      this.record(Date.now(), message);
      if (fresh) this.stream.audience = { ...this.stream.audience, ...message.audience };
      this.append({
        seq: message.seq,
        type: "audience",
        time: new Date(),
        summary: `audience now ${message.audience?.active ?? 0} (viewers' joins and leaves folded)`,
      });
    } else {
      const event = message.event;
      this.record(Date.parse(event.timestamp), message);
      if (fresh) this.applyEvent(event);
      this.append({ seq: event.seq, type: event.type, time: new Date(event.timestamp), summary: describe(event) });
    }
    if (fresh) this.seq = message.seq;
  }

  applyEvent(event) {
    const data = event.data ?? {};
    if (data.audience) this.stream.audience = { ...this.stream.audience, ...data.audience };
    if (event.type === "stream_updated" || event.type === "stream_stopped") {
      if (data.status) this.stream.status = data.status;
      if ("stoppedAt" in data) this.stream.stoppedAt = data.stoppedAt;
      if (data.metadataPatch) this.stream.metadata = mergePatch(this.stream.metadata, data.metadataPatch);
      this.stream.updatedAt = event.timestamp;
      this.stale = true;
    }
  }

  append(entry) {
    this.log.unshift(entry);
    if (this.log.length > LOG_LIMIT) this.log.length = LOG_LIMIT;
  }

  /** Counts joins and leaves by time; a folded update counts its net change. */
  record(time, message) {
    let joins = 0;
    let leaves = 0;
    if (message.type === "audience") {
      // Before the snapshot, the counts it replaced are unknown: no difference to take.
      if (message.seq <= this.seq) return;
      const delta = (message.audience?.active ?? 0) - this.stream.audience.active;
      joins = Math.max(delta, 0);
      leaves = Math.max(-delta, 0);
    } else if (message.event.type === "participant_joined") {
      joins = 1;
    } else if (message.event.type === "participant_left") {
      leaves = 1;
    } else {
      return;
    }
    const start = Math.floor(time / BUCKET_MS) * BUCKET_MS;
    const bucket = this.activity.get(start) ?? { joins: 0, leaves: 0 };
    bucket.joins += joins;
    bucket.leaves += leaves;
    this.activity.set(start, bucket);
    for (const key of this.activity.keys()) if (key < time - 2 * WINDOW_MS) this.activity.delete(key);
  }

  /** The chart's bars, oldest first, ending with the bucket of `now`. */
  buckets(now = Date.now()) {
    const last = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    const count = WINDOW_MS / BUCKET_MS;
    return Array.from({ length: count }, (_, i) => {
      const start = last - (count - 1 - i) * BUCKET_MS;
      return { start, ...(this.activity.get(start) ?? { joins: 0, leaves: 0 }) };
    });
  }
}

/** One line about an event, for the log. */
export function describe(event) {
  const data = event.data ?? {};
  const who = data.participant ? `${data.participant.identity} (${data.participant.role})` : "";
  switch (event.type) {
    case "stream_created":
      return `created room ${data.roomName} as ${data.status}`;
    case "stream_updated": {
      const parts = [];
      if (data.previousStatus && data.status !== data.previousStatus) {
        parts.push(`${data.previousStatus} → ${data.status}`);
      }
      if (data.metadataPatch) parts.push(`metadata ${JSON.stringify(data.metadataPatch)}`);
      if (data.egress) parts.push(`egress ${JSON.stringify(data.egress)}`);
      if (data.ingress) parts.push(`ingress ${JSON.stringify(data.ingress)}`);
      return parts.join(" · ") || "updated";
    }
    case "stream_stopped":
      return `stopped (was ${data.previousStatus})`;
    case "participant_joined":
      return `${who} joined · ${data.audience?.active ?? "?"} present`;
    case "participant_left":
      return `${who} left · ${data.audience?.active ?? "?"} present`;
    case "participant_updated":
      return `${who} updated${data.participant?.sid ? ` · session ${data.participant.sid}` : ""}`;
    default:
      return describeBroadcast(event) ?? JSON.stringify(data);
  }
}
