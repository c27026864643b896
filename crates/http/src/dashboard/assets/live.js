// The dashboard's one WebSocket. It follows any number of streams, remembers for each the last
// seq it delivered (of an `event` or an `audience` update), and after a drop reconnects and
// subscribes every stream again with `afterSeq` = that seq: the server replays what was missed,
// so nothing is lost and nothing is delivered twice. A position the server can no longer resume
// (`resync_required`) is handed back to the app, which reloads the stream's state over REST.

import { socketUrl } from "./api.js";

/** Waits before the 1st, 2nd, … reconnection attempt (then the last, for ever). */
const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10000];
/** The client pings this often, and gives a connection up after hearing nothing for long. */
const PING_EVERY_MS = 15000;
const SILENCE_LIMIT_MS = 40000;

export class LiveFeed {
  /**
   * @param {object} handlers
   * @param {(id: string, message: object) => void} handlers.onMessage  an `event` or `audience`,
   *   in seq order, each seq once
   * @param {(id: string, why: string) => void} handlers.onResync  the stream is no longer followed
   * @param {(message: object) => void} handlers.onError  an `error` message of the server
   * @param {(state: string, detail?: string) => void} handlers.onState  connecting | live |
   *   reconnecting
   * @param {(id: string) => number | null} handlers.intervalFor  `audienceIntervalMs` to ask for
   */
  constructor(handlers) {
    this.handlers = handlers;
    /** streamId → {seq: last delivered (null: from now), epoch, interval, ready} */
    this.subs = new Map();
    this.socket = null;
    this.state = "connecting";
    this.attempt = 0;
    /** The pending reconnection, and a count of connections begun (the newest one wins). */
    this.retryTimer = null;
    this.opening = 0;
    this.lastHeard = 0;
    /** Counted for the operator (and the browser test): connections opened, and any seq the
     * server repeated or skipped, which its contract says never happens. */
    this.stats = { connects: 0, resumed: 0, duplicates: 0, gaps: 0 };
    setInterval(() => this.keepAlive(), PING_EVERY_MS);
  }

  start() {
    this.connect();
  }

  /** Follows `id` from seq `after` (null: from now on). Already followed: nothing changes. */
  watch(id, after = null) {
    if (this.subs.has(id)) return;
    const sub = { seq: after, epoch: null, interval: null, ready: false };
    this.subs.set(id, sub);
    this.subscribe(id, sub);
  }

  unwatch(id) {
    if (this.subs.delete(id)) this.send({ type: "unsubscribe", streamId: id });
  }

  /** The last seq delivered for `id`, or null. */
  position(id) {
    return this.subs.get(id)?.seq ?? null;
  }

  /**
   * Opens a new connection now, whatever the backoff: the API key changed, and the next
   * ticket (or the service's refusal) should not wait for a retry up to 10 s away.
   */
  restart() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempt = 0;
    const socket = this.socket;
    // Forgotten before it closes, so its close handler does not schedule a retry as well.
    this.socket = null;
    socket?.close(4001, "settings changed");
    this.connect();
  }

  async connect() {
    const opening = ++this.opening;
    if (this.state !== "reconnecting") this.setState("connecting");
    let url;
    try {
      url = await socketUrl();
    } catch (err) {
      if (opening === this.opening) this.retry(err.message);
      return;
    }
    // A restart began another connection meanwhile: that one is kept.
    if (opening !== this.opening) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (message) => this.receive(message.data);
    // `error` is always followed by `close`, which retries.
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry(event.reason || `connection closed (${event.code})`);
    };
  }

  opened(socket) {
    if (this.socket !== socket) return;
    this.attempt = 0;
    this.lastHeard = Date.now();
    if (this.stats.connects > 0) this.stats.resumed += 1;
    this.stats.connects += 1;
    this.setState("live");
    for (const [id, sub] of this.subs) this.subscribe(id, sub);
  }

  retry(reason) {
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting", reason);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  setState(state, detail) {
    this.state = state;
    this.handlers.onState(state, detail);
  }

  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Asks for `id` from its last position; the folding mode is decided again each time. */
  subscribe(id, sub) {
    sub.interval = this.handlers.intervalFor(id);
    // Until `subscribed` answers, frames for this stream belong to an earlier subscription
    // (unsubscribed, but already on the wire): the new one replays them from `seq`.
    sub.ready = false;
    const message = { type: "subscribe", streamId: id };
    if (sub.seq !== null) message.afterSeq = sub.seq;
    if (sub.seq !== null && sub.epoch) message.epoch = sub.epoch;
    if (sub.interval) message.audienceIntervalMs = sub.interval;
    this.send(message);
  }

  receive(text) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const sub = this.subs.get(message.streamId);
    switch (message.type) {
      case "subscribed":
        if (!sub) return;
        sub.epoch = message.epoch;
        sub.seq ??= message.afterSeq;
        sub.ready = true;
        return;
      case "event":
      case "audience":
        this.deliver(sub, message);
        return;
      case "resync_required":
        if (!sub) return;
        this.subs.delete(message.streamId);
        this.handlers.onResync(message.streamId, message.message);
        return;
      case "error":
        this.failed(sub, message);
        return;
      default:
        // connected, pong, unsubscribed: nothing to do.
    }
  }

  deliver(sub, message) {
    // Unwatched meanwhile (the server stops once it reads the unsubscribe), or not yet
    // answered (see `subscribe`).
    if (!sub?.ready) return;
    if (sub.seq !== null && message.seq <= sub.seq) {
      this.stats.duplicates += 1;
      return;
    }
    // Folding skips viewers' seqs on purpose; without it every seq arrives.
    const skipped = sub.seq !== null && message.seq !== sub.seq + 1;
    if (skipped && !sub.interval) this.stats.gaps += 1;
    sub.seq = message.seq;
    this.handlers.onMessage(message.streamId, message);
  }

  failed(sub, message) {
    if (sub && message.code === "stream_not_found") this.subs.delete(message.streamId);
    // The replay failed (the store is down): try again from the same position.
    if (sub && message.code === "store_unavailable") {
      setTimeout(() => this.subs.get(message.streamId) === sub && this.subscribe(message.streamId, sub), 1000);
    }
    this.handlers.onError(message);
  }

  keepAlive() {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    // A connection that went silent (a laptop's network changed, a proxy dropped it) may not
    // close by itself for minutes: close it, and the close handler resumes on a new one.
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      this.socket.close(4000, "no answer from the server");
      return;
    }
    this.send({ type: "ping" });
  }
}
