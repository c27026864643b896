// The participants panel's bookkeeping, without the DOM: which page of a stream's roster is
// shown, and how often it may be read again.
//
// The API pages participants forward only (`GET /streams/{id}/participants`, in order of first
// join, `Link: <…?cursor=…>; rel="next"`), so the panel keeps the address of every page it went
// through (a few short strings) and exactly one page of participants. Whatever the audience,
// 100,000 viewers cost the page what ten do: one page, read again while people come and go.

/** What the roster shows: who is present now, or everyone who ever joined. */
export const PRESENT = "present";
export const EVERYONE = "everyone";

export class RosterPages {
  /**
   * @param {string} streamId
   * @param {object} options
   * @param {string} options.show  PRESENT or EVERYONE
   * @param {number} options.pageSize  participants per page (the API takes 1 to 1000)
   */
  constructor(streamId, { show = PRESENT, pageSize = 50 } = {}) {
    this.streamId = streamId;
    this.show = show;
    this.pageSize = pageSize;
    /** The address of each page from the first to the one shown (read again to refresh it). */
    this.paths = [this.firstPath()];
    /** The page shown, and the `Link` target after it (null: it is the last). */
    this.items = [];
    this.next = null;
    /** Whether a page arrived yet (until then the roster is unknown, not empty). */
    this.loaded = false;
    /** Bumped by every move, so an answer for a page no longer shown is dropped. */
    this.version = 0;
  }

  firstPath() {
    const query = new URLSearchParams({ limit: String(this.pageSize) });
    if (this.show === PRESENT) query.set("active", "true");
    return `/streams/${encodeURIComponent(this.streamId)}/participants?${query}`;
  }

  /** The address of the page shown. */
  get path() {
    return this.paths[this.paths.length - 1];
  }

  /** 0 for the first page. */
  get index() {
    return this.paths.length - 1;
  }

  /**
   * An answer for the page read at `version`. Returns whether the page must be read again: a
   * later page that emptied (everyone on it left) gives way to the one before it.
   */
  accept(version, page) {
    if (version !== this.version) return false;
    if (!page.items.length && this.index > 0) {
      this.back();
      return true;
    }
    this.items = page.items;
    this.next = page.next;
    this.loaded = true;
    return false;
  }

  /** Moves to the next page; false when there is none. */
  forward() {
    if (!this.next) return false;
    this.paths.push(this.next);
    return this.moved();
  }

  /** Moves to the previous page; false on the first. */
  back() {
    if (this.index === 0) return false;
    this.paths.pop();
    return this.moved();
  }

  /** Back to the first page. */
  rewind() {
    this.paths = [this.firstPath()];
    return this.moved();
  }

  moved() {
    this.next = null;
    this.version += 1;
    return true;
  }

  /** The positions shown (1-based), for "21–40 of 57". */
  range() {
    const from = this.index * this.pageSize + 1;
    return { from, to: from + this.items.length - 1 };
  }

  /** How many the roster holds in all, from the stream's audience counters (never counted). */
  total(audience) {
    return this.show === PRESENT ? audience.active : audience.totalJoined;
  }
}

/**
 * Whether a participant is connected: present with a media session LiveKit reported
 * (`connected`), present with a token only (`waiting`: LiveKit has not reported them yet), or
 * gone (`left`).
 */
export function presenceOf(participant) {
  if (participant.leftAt) return "left";
  return participant.sid ? "connected" : "waiting";
}

/**
 * Paces the reads of one thing (the page shown) while events about it keep arriving: at most
 * one read in flight and one start per `everyMs`; a request meanwhile is kept and served once
 * the interval is over, so the last change is always read, and a burst of 1,000 joins costs a
 * read a second, not 1,000.
 */
// Wrapped: the browser's timer functions throw when called as methods of another object.
const browserClock = {
  now: () => Date.now(),
  later: (fn, ms) => setTimeout(fn, ms),
  cancel: (timer) => clearTimeout(timer),
};

export class Pacer {
  /**
   * @param {() => Promise<void>} read
   * @param {number} everyMs
   * @param {{now: () => number, later: (fn: () => void, ms: number) => unknown, cancel: (timer: unknown) => void}} [clock]
   */
  constructor(read, everyMs, clock = browserClock) {
    this.read = read;
    this.everyMs = everyMs;
    this.clock = clock;
    this.last = -Infinity;
    this.timer = null;
    this.running = false;
    this.wanted = false;
  }

  /** Asks for a read: now if the last one started long enough ago, else when it may. */
  request() {
    if (this.running) {
      this.wanted = true;
      return;
    }
    if (this.timer !== null) return;
    const wait = this.last + this.everyMs - this.clock.now();
    if (wait <= 0) {
      this.run();
      return;
    }
    this.timer = this.clock.later(() => {
      this.timer = null;
      this.run();
    }, wait);
  }

  /** Forgets a pending request (the thing read is no longer shown). */
  cancel() {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
    this.wanted = false;
  }

  async run() {
    this.running = true;
    this.wanted = false;
    this.last = this.clock.now();
    try {
      await this.read();
    } finally {
      this.running = false;
      if (this.wanted) this.request();
    }
  }
}
