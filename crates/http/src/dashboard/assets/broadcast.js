// A stream's broadcast as the dashboard shows it, without the DOM: its ingest (the address and
// stream key an encoder publishes with) and its outputs (HLS, RTMP targets, recordings), kept
// current from REST answers and the stream's live events.
//
// Two things make this more than "replace on every event":
// - REST answers and events race. A read is issued when every event up to seq P has been
//   applied; events after P that arrive before its answer are kept and applied again on top of
//   it, so a slow answer never rolls the panel back, and no event is lost under it.
// - Events show secrets redacted to everyone (the stream key's last four characters, an RTMP
//   target's host). What REST answered (whole for an operator key) is remembered by ingress id
//   and output name and put back on the views events bring. An ingress or an RTMP output seen
//   only in an event (made by another client) is read once over REST (`claimReads`).
//
// Reads happen when a stream is selected (its ingest and outputs, once), after the operator's
// actions, and for those secrets: never on a timer, so a stream without broadcast costs two
// reads when it is shown and nothing after.

const INGEST_EVENTS = new Set(["ingest_created", "ingest_updated", "ingest_removed"]);
const OUTPUT_EVENTS = new Set(["output_added", "output_updated", "output_removed"]);

/** Whether an event is about a stream's ingest or outputs. */
export const isBroadcastEvent = (type) => INGEST_EVENTS.has(type) || OUTPUT_EVENTS.has(type);

export class BroadcastState {
  /**
   * @param {string} streamId
   * @param {number} seq  the stream's seq when its ingest and outputs are first read: events up
   *   to it are in those answers
   */
  constructor(streamId, seq) {
    this.streamId = streamId;
    this.floor = seq;
    /** The ingest view shown, or null. */
    this.ingest = null;
    /** The output views shown, in the API's order. */
    this.outputs = [];
    /** Which first reads answered ("ingest", "outputs"): until both, the state is not known. */
    this.loaded = new Set();
    /** Reads in flight: token → the seq up to which events were applied when it was issued. */
    this.pending = new Map();
    this.tokens = 0;
    /** Events applied while reads were in flight, to apply again over their answers. */
    this.buffer = [];
    /** The stream key REST answered for each ingress id, and the targets for each output. */
    this.keys = new Map();
    this.targets = new Map();
    /** Secrets asked for already ("ingest:<ingress id>", "output:<name>"): each read once. */
    this.asked = new Set();
    /** Bumped by every change, so the page renders only when something changed. */
    this.version = 0;
  }

  get known() {
    return this.loaded.has("ingest") && this.loaded.has("outputs");
  }

  /** A read is issued now, events up to `seq` applied; its answer settles the returned token. */
  begin(seq) {
    const token = ++this.tokens;
    this.pending.set(token, Math.max(seq, this.floor));
    return token;
  }

  /** The read of `token` failed: nothing to apply. */
  abandon(token) {
    this.pending.delete(token);
    this.prune();
  }

  /** The answer of `GET`, `POST` or `rotate` on the ingest (null: there is none). */
  settleIngest(token, view) {
    this.settle(token, "ingest", () => {
      if (view) this.keys.set(view.ingressId, secretOf(view));
      this.ingest = view;
    });
  }

  /** The answer of `GET /streams/{id}/outputs`: every output. */
  settleOutputs(token, views) {
    this.settle(token, "outputs", () => {
      for (const view of views) this.targets.set(view.id, view.targets ?? []);
      this.outputs = views.slice();
    });
  }

  /** The answer about one output `id`: its view, or null when it is gone. */
  settleOutput(token, id, view) {
    this.settle(token, null, () => {
      if (view) {
        this.targets.set(view.id, view.targets ?? []);
        this.put(view);
      } else {
        this.drop(id);
      }
    });
  }

  settle(token, part, apply) {
    const since = this.pending.get(token);
    if (since === undefined) return;
    this.pending.delete(token);
    apply();
    if (part) this.loaded.add(part);
    for (const event of this.buffer) if (event.seq > since) this.apply(event);
    this.prune();
    this.version += 1;
  }

  /** Keeps only the events a read still in flight may need. */
  prune() {
    const oldest = Math.min(...this.pending.values());
    this.buffer = this.pending.size ? this.buffer.filter((event) => event.seq > oldest) : [];
  }

  /** A live event of the stream (each seq once, in order). Returns whether it changed the panel. */
  applyEvent(event) {
    if (!isBroadcastEvent(event.type) || event.seq <= this.floor) return false;
    if (this.pending.size) this.buffer.push(event);
    this.apply(event);
    this.version += 1;
    return true;
  }

  apply(event) {
    const data = event.data ?? {};
    switch (event.type) {
      case "ingest_created":
      case "ingest_updated":
        this.ingest = data.ingest ? this.withKey(data.ingest) : null;
        return;
      case "ingest_removed":
        this.ingest = null;
        return;
      case "output_added":
      case "output_updated":
        if (data.output) this.put(this.withTargets(data.output));
        return;
      case "output_removed":
        this.drop(data.outputId);
        // A new output of the same name is another output: its targets are read anew.
        this.targets.delete(data.outputId);
        this.asked.delete(`output:${data.outputId}`);
        return;
      default:
    }
  }

  put(view) {
    const at = this.outputs.findIndex((output) => output.id === view.id);
    if (at === -1) this.outputs.push(view);
    else this.outputs[at] = view;
  }

  drop(id) {
    this.outputs = this.outputs.filter((output) => output.id !== id);
  }

  withKey(view) {
    const known = this.keys.get(view.ingressId);
    return known ? { ...view, ...known } : view;
  }

  withTargets(view) {
    const known = this.targets.get(view.id);
    return known && view.type === "rtmp" ? { ...view, targets: known } : view;
  }

  /** Whether the ingest's key shown is the one REST answered (not an event's redaction). */
  get keyKnown() {
    return Boolean(this.ingest) && this.keys.has(this.ingest.ingressId);
  }

  /** Whether an output's targets shown are the ones REST answered. */
  targetsKnown(output) {
    return output.type !== "rtmp" || this.targets.has(output.id);
  }

  /**
   * The reads that would show secrets only events brought (redacted), each asked once:
   * `{kind: "ingest"}` or `{kind: "output", id}`. None until the first reads answered, nor
   * while a read is in flight (its answer may bring them).
   */
  claimReads() {
    if (!this.known || this.pending.size) return [];
    const reads = [];
    const claim = (key, read) => {
      if (this.asked.has(key)) return;
      this.asked.add(key);
      reads.push(read);
    };
    if (this.ingest && !this.keyKnown) claim(`ingest:${this.ingest.ingressId}`, { kind: "ingest" });
    for (const output of this.outputs) {
      if (!this.targetsKnown(output)) claim(`output:${output.id}`, { kind: "output", id: output.id });
    }
    return reads;
  }
}

const secretOf = (view) => ({ streamKey: view.streamKey, streamKeyRedacted: view.streamKeyRedacted });

// ---- What the panel says ----------------------------------------------------------------------

/** A stream key hidden behind dots (as long as the key, up to 24). */
export const maskedKey = (key) => "•".repeat(Math.min(Math.max(key.length, 8), 24));

/** Whether an ingest has a key to show: a URL pull is pulled by LiveKit and has none. */
export const hasKey = (ingest) => ingest.type !== "url";

/**
 * The request body of `POST /streams/{id}/outputs` from the form's fields: targets only for
 * rtmp (one per line or space), a name only when given. What the API refuses, it says.
 */
export function outputRequest({ type, name, targets, autoStart }) {
  const body = { type, autoStart: Boolean(autoStart) };
  if (name.trim()) body.id = name.trim();
  if (type === "rtmp") body.targets = targets.split(/\s+/).filter(Boolean);
  return body;
}

/** The request body of `POST /streams/{id}/ingest`: a URL only for a URL pull. */
export function ingestRequest({ type, url }) {
  return type === "url" ? { type, url: url.trim() } : { type };
}

const RUNNING = new Set(["starting", "active", "ending"]);

/** Whether Start would change anything: it is not wanted on and running already. */
export const canStart = (output) => !(output.desired === "on" && RUNNING.has(output.observed));

/** Whether Stop would change anything: it is wanted on, or an egress still runs. */
export const canStop = (output) => output.desired === "on" || RUNNING.has(output.observed);

/**
 * What an output's state needs said beside it: its attempts and last failure while it starts
 * again, the failure once it gave up; "" otherwise.
 */
export function progressOf(output) {
  const why = output.failure ? `: ${output.failure}` : "";
  if (output.observed === "failed") {
    return `failed after ${output.attempts} attempt${output.attempts === 1 ? "" : "s"}${why}`;
  }
  if (output.observed === "starting" && output.attempts > 1) {
    return `attempt ${output.attempts}${output.failure ? `, last failure${why}` : ""}`;
  }
  return "";
}

/** One line about a broadcast event, for the event log; null for any other event. */
export function describeBroadcast(event) {
  const data = event.data ?? {};
  const output = data.output;
  switch (event.type) {
    case "ingest_created":
      return `ingest created: ${data.ingest?.type} at ${data.ingest?.url}`;
    case "ingest_updated":
      return `ingest ${data.ingest?.state}${data.ingest?.error ? `: ${data.ingest.error}` : ""}`;
    case "ingest_removed":
      return "ingest removed";
    case "output_added":
      return `output ${output?.id} (${output?.type}) added${output?.autoStart ? ", starts with the stream" : ""}`;
    case "output_updated": {
      const progress = output ? progressOf(output) : "";
      return `output ${output?.id}: ${output?.observed} (wanted ${output?.desired})${progress ? ` · ${progress}` : ""}`;
    }
    case "output_removed":
      return `output ${data.outputId} removed`;
    default:
      return null;
  }
}
