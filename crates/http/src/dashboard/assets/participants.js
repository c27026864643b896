// The selected stream's participants: one page of its roster at a time (identity, role, when
// they joined, whether LiveKit reports them connected), paged with the API's cursor and counted
// with the stream's audience counters, never by loading everyone. Live events about the stream
// ask for the page shown again, paced to one read a second, so it stays current while the
// audience comes and goes.

import { failureMessage } from "./access.js";
import * as api from "./api.js";
import { PRESENT, Pacer, RosterPages, presenceOf } from "./roster.js";
import { $, clock, el, setText } from "./view.js";

/** The page shown is read again at most this often while events about the stream arrive. */
const REFRESH_EVERY_MS = 1000;

export class ParticipantsPanel {
  /** @param {() => void} onChange  called when a page arrived (the app renders again) */
  constructor(onChange) {
    this.onChange = onChange;
    /** The roster of the selected stream (`RosterPages`), or null. */
    this.pages = null;
    this.error = null;
    /** The items the table shows, to rebuild its rows only when a new page arrived. */
    this.rendered = null;
    this.pacer = new Pacer(() => this.read(), REFRESH_EVERY_MS);
    $("#p-show").addEventListener("change", () => this.reopen());
    $("#p-next").addEventListener("click", () => this.pages?.forward() && this.read());
    $("#p-prev").addEventListener("click", () => this.pages?.back() && this.read());
    $("#p-first").addEventListener("click", () => this.pages?.rewind() && this.read());
  }

  /** Shows the first page of `streamId`'s roster (null: no stream); its own: nothing changes. */
  show(streamId) {
    if ((this.pages?.streamId ?? null) === streamId) return;
    this.pacer.cancel();
    this.error = null;
    this.pages = streamId
      ? new RosterPages(streamId, {
          show: $("#p-show").value,
          pageSize: api.settings.participantsPerPage,
        })
      : null;
    if (this.pages) this.read();
  }

  /** Starts again from the first page (the filter or the page size changed). */
  reopen() {
    const id = this.pages?.streamId ?? null;
    this.show(null);
    this.show(id);
  }

  /** Something happened in `streamId` (a join, a leave, a stop): read the page shown again. */
  changed(streamId) {
    if (this.pages?.streamId === streamId) this.pacer.request();
  }

  /** Reads the page shown; an answer for a page or stream no longer shown is dropped. */
  async read() {
    const pages = this.pages;
    if (!pages) return;
    const version = pages.version;
    try {
      const page = await api.listParticipants(pages.path);
      if (pages !== this.pages) return;
      this.error = null;
      if (pages.accept(version, page)) {
        await this.read();
        return;
      }
    } catch (err) {
      if (pages === this.pages) this.error = failureMessage(err, "see who is in this stream");
    }
    this.onChange();
  }

  /** Renders the roster of `stream` (the selected stream's current snapshot). */
  render(stream) {
    const pages = this.pages;
    if (!pages || !stream) return;
    const present = pages.show === PRESENT;
    const total = pages.total(stream.audience);
    setText($("#p-count"), `${total} ${present ? "present" : "joined in total"}`);
    const { from, to } = pages.range();
    setText($("#p-range"), pages.items.length ? `${from}–${to} of ${Math.max(total, to)}` : "");
    $("#p-first").disabled = $("#p-prev").disabled = pages.index === 0;
    $("#p-next").disabled = !pages.next;
    $("#p-pager").hidden = pages.index === 0 && !pages.next;
    setText($("#p-error"), this.error ?? "");
    $("#p-empty").hidden = !pages.loaded || pages.items.length > 0;
    setText($("#p-empty"), emptyText(stream, present));
    if (this.rendered !== pages.items) {
      this.rendered = pages.items;
      $("#p-rows").replaceChildren(...pages.items.map(row));
    }
  }
}

function emptyText(stream, present) {
  if (!present) return "Nobody has joined this stream yet.";
  return stream.status === "stopped" ? "The stream has stopped: everyone left." : "Nobody is present.";
}

/** A time of day, with the date when it is not today. */
function when(iso) {
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  return today ? clock(date) : `${date.toLocaleDateString()} ${clock(date)}`;
}

const PRESENCE_HINTS = {
  connected: "LiveKit reports a media session",
  waiting: "has a token; LiveKit has not reported a media session yet",
  left: "left the stream",
};

function presenceText(participant, presence) {
  if (presence === "left") return `left ${when(participant.leftAt)}`;
  if (presence === "waiting") return "not yet";
  const tracks = participant.tracks?.length ?? 0;
  return tracks ? `connected · ${tracks} track${tracks === 1 ? "" : "s"}` : "connected";
}

function row(participant) {
  const presence = presenceOf(participant);
  return el(
    "tr",
    { data: { identity: participant.identity, presence } },
    el("td", { class: "mono identity", text: participant.identity, data: { field: "identity" } }),
    el("td", { data: { field: "role" } }, el("span", { class: "role", data: { role: participant.role }, text: participant.role })),
    el("td", { class: "time", text: when(participant.joinedAt), title: participant.joinedAt, data: { field: "joinedAt" } }),
    el(
      "td",
      { data: { field: "connected" } },
      el("span", {
        class: "presence",
        data: { presence },
        title: PRESENCE_HINTS[presence],
        text: presenceText(participant, presence),
      }),
    ),
  );
}
