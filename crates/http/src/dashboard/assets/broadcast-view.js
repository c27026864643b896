// The selected stream's broadcast cards in the DOM: the ingest (its state, and its URL and
// stream key, the key masked until shown) and the outputs, a row per output created once and
// updated in place, so an armed Remove or a focused button survives live updates.

import { canStart, canStop, hasKey, maskedKey, progressOf } from "./broadcast.js";
import { $, ago, el, setStatus, setText } from "./view.js";

const INGEST_KINDS = {
  rtmp: "RTMP push",
  whip: "WHIP push (WebRTC)",
  url: "URL pull",
};

/**
 * Renders the ingest card from `state` (a `BroadcastState`, or null).
 * @param {object} shown  `revealed`: whether the operator asked to see the key; `now` for ages
 */
export function renderIngest(state, { revealed, now }) {
  const ingest = state?.ingest ?? null;
  const known = Boolean(state?.loaded.has("ingest"));
  $("#i-loading").hidden = known || Boolean(ingest);
  $("#ingest-form").hidden = !known || Boolean(ingest);
  for (const id of ["#i-details", "#i-state", "#i-delete"]) $(id).hidden = !ingest;
  $("#i-rotate").hidden = !ingest || !hasKey(ingest);
  $("#i-problem").hidden = !ingest?.error;
  if (!ingest) return;
  setStatus($("#i-state"), ingest.state);
  setText($("#i-kind"), INGEST_KINDS[ingest.type] ?? ingest.type);
  setText($("#i-url-label"), ingest.type === "url" ? "Pulls" : "URL");
  setText($("#i-url-shown"), ingest.url);
  $("#i-key-label").hidden = $("#i-key-row").hidden = !hasKey(ingest);
  if (hasKey(ingest)) renderKey(ingest, state.keyKnown, revealed);
  setText($("#i-updated"), ago(ingest.updatedAt, now));
  $("#i-updated").title = ingest.updatedAt;
  setText($("#i-problem"), ingest.error ? `The encoder's media failed: ${ingest.error}` : "");
}

function renderKey(ingest, known, revealed) {
  const whole = known && !ingest.streamKeyRedacted;
  const key = $("#i-key");
  key.dataset.shown = whole && revealed ? "key" : whole ? "mask" : "redacted";
  setText(key, whole && !revealed ? maskedKey(ingest.streamKey) : ingest.streamKey);
  $("#i-show-key").hidden = $("#i-copy-key").hidden = !whole;
  setText($("#i-show-key"), revealed ? "hide" : "show");
  let note = "";
  if (!known) note = "reading the key…";
  else if (ingest.streamKeyRedacted) {
    note = "redacted: this API key is read-only (an operator key sees the whole key)";
  }
  setText($("#i-key-note"), note);
}

const KIND_NAMES = { hls: "HLS", rtmp: "RTMP", recording: "recording" };

/** The outputs table: rows keyed by output name, in the API's order. */
export class OutputRows {
  /**
   * @param {HTMLElement} body  the table's tbody
   * @param {object} actions  `start`, `stop`, `remove` (id, button) and `copy` (text)
   */
  constructor(body, actions) {
    this.body = body;
    this.actions = actions;
    this.rows = new Map();
  }

  render(state, now) {
    const outputs = state?.outputs ?? [];
    const names = new Set(outputs.map((output) => output.id));
    for (const [id, row] of this.rows) {
      if (!names.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    outputs.forEach((output, index) => {
      const row = this.row(output.id);
      if (this.body.children[index] !== row) this.body.insertBefore(row, this.body.children[index] ?? null);
      this.update(row, output, state.targetsKnown(output), now);
    });
    setText($("#o-count"), state?.known ? outputs.length : "");
    $("#o-empty").hidden = !state || outputs.length > 0;
    $(".outputs-table").hidden = outputs.length === 0;
    setText(
      $("#o-empty"),
      state?.known
        ? "No outputs. Add one to send this stream to players (HLS), other platforms (RTMP) or a file."
        : "Reading the outputs…",
    );
  }

  clear() {
    this.rows.clear();
    this.body.replaceChildren();
  }

  row(id) {
    let row = this.rows.get(id);
    if (row) return row;
    const field = (name, props = {}) => el("div", { ...props, data: { field: name } });
    const button = (text, cls, action) =>
      el("button", {
        class: `btn small ${cls}`,
        type: "button",
        text,
        data: { action },
        onclick: (e) => this.actions[action](id, e.currentTarget),
      });
    row = el(
      "tr",
      { data: { outputId: id } },
      el(
        "td",
        { class: "output" },
        el(
          "div",
          { class: "name" },
          el("span", { class: "mono", text: id }),
          el("span", { class: "tag", data: { field: "type" } }),
          el("span", { class: "tag auto", data: { field: "auto" }, text: "auto start" }),
        ),
        field("targets", { class: "targets" }),
        field("playback", { class: "playback" }),
        field("location", { class: "muted location" }),
      ),
      el("td", {}, el("span", { class: "wanted", data: { field: "desired" } })),
      el(
        "td",
        { class: "state" },
        el("span", { class: "pill", data: { field: "observed" } }),
        field("progress", { class: "progress" }),
        field("updated", { class: "muted" }),
      ),
      el(
        "td",
        { class: "row-actions" },
        button("Start", "", "start"),
        button("Stop", "", "stop"),
        button("Remove", "danger", "remove"),
      ),
    );
    row.fields = Object.fromEntries(
      [...row.querySelectorAll("[data-field]")].map((node) => [node.dataset.field, node]),
    );
    row.buttons = Object.fromEntries(
      [...row.querySelectorAll("button[data-action]")].map((node) => [node.dataset.action, node]),
    );
    this.rows.set(id, row);
    return row;
  }

  update(row, output, targetsKnown, now) {
    const { fields, buttons } = row;
    setText(fields.type, KIND_NAMES[output.type] ?? output.type);
    fields.auto.hidden = !output.autoStart;
    fields.auto.title = "Starts when the stream goes live";
    this.targets(fields.targets, output.targets ?? [], targetsKnown);
    this.playback(fields.playback, output.playbackUrl);
    fields.location.hidden = !output.location || output.type === "hls";
    setText(fields.location, output.location ? `at ${output.location}` : "");
    setText(fields.desired, output.desired);
    fields.desired.dataset.desired = output.desired;
    setStatus(fields.observed, output.observed);
    setText(fields.progress, progressOf(output));
    fields.progress.hidden = !fields.progress.textContent;
    setText(fields.updated, ago(output.updatedAt, now));
    fields.updated.title = output.updatedAt;
    // An action in flight keeps its button disabled until it is answered.
    if (!buttons.start.dataset.busy) buttons.start.disabled = !canStart(output);
    if (!buttons.stop.dataset.busy) buttons.stop.disabled = !canStop(output);
  }

  targets(node, targets, known) {
    const key = `${known}:${targets.join("\n")}`;
    if (node.dataset.shown === key) return;
    node.dataset.shown = key;
    node.replaceChildren(...targets.map((target) => el("div", { class: "mono target", text: target })));
    node.hidden = targets.length === 0;
    if (!known && targets.length) node.append(el("span", { class: "muted", text: "reading the targets…" }));
  }

  playback(node, url) {
    node.hidden = !url;
    if (!url || node.dataset.url === url) return;
    node.dataset.url = url;
    node.replaceChildren(
      el("span", { class: "muted", text: "Playback " }),
      el("span", { class: "mono", data: { field: "playbackUrl" }, text: url }),
      " ",
      el("button", { class: "link", type: "button", text: "copy", onclick: () => this.actions.copy(node.dataset.url) }),
    );
  }
}
