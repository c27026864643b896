// The selected stream's broadcast: reads its ingest and outputs once when the stream is shown,
// follows its events after that (the bookkeeping is in broadcast.js, the DOM in
// broadcast-view.js), and wires the operator's actions to the REST API, each refusal said in
// the API's words. Nothing is read on a timer.

import { failureMessage } from "./access.js";
import * as api from "./api.js";
import { BroadcastState, ingestRequest, outputRequest } from "./broadcast.js";
import { OutputRows, renderIngest } from "./broadcast-view.js";
import { $, confirmed, copy, setText, toast } from "./view.js";

export class BroadcastPanel {
  /**
   * @param {object} hooks
   * @param {(streamId: string) => number} hooks.position  the seq up to which the stream's
   *   events have been handed to `event`
   * @param {() => void} hooks.onChange  called when an answer arrived (the app renders again)
   */
  constructor({ position, onChange }) {
    this.position = position;
    this.onChange = onChange;
    /** The shown stream's `BroadcastState`, or null. */
    this.state = null;
    /** Whether the operator asked to see the stream key. */
    this.revealed = false;
    this.rows = new OutputRows($("#o-rows"), {
      start: (id, button) => this.act(button, $("#o-action-error"), `start output ${id}`, () => this.start(id)),
      stop: (id, button) => this.act(button, $("#o-action-error"), `stop output ${id}`, () => this.stop(id)),
      remove: (id, button) =>
        this.act(button, $("#o-action-error"), `remove output ${id}`, () => this.remove(id, button)),
      copy: (text) => copy(text),
    });
    this.wire();
  }

  /** Shows the broadcast of `streamId` (null: none), read now; its own: nothing changes. */
  show(streamId, seq) {
    if ((this.state?.streamId ?? null) === streamId) return;
    this.open(streamId, seq);
  }

  /**
   * Reads the broadcast of `streamId` from scratch, `seq` being the stream's seq now (the key
   * changed, or the stream's position was lost and its state reloaded).
   */
  open(streamId, seq) {
    this.state = streamId ? new BroadcastState(streamId, seq) : null;
    this.revealed = false;
    this.rows.clear();
    for (const id of ["#i-error", "#o-error", "#o-action-error"]) setText($(id), "");
    $("#output-form").hidden = true;
    if (!this.state) return;
    this.call(api.getIngest, (state, token, view) => state.settleIngest(token, view)).catch((err) =>
      setText($("#i-error"), failureMessage(err, "see this stream's ingest")),
    );
    this.call(api.listOutputs, (state, token, views) => state.settleOutputs(token, views)).catch((err) =>
      setText($("#o-action-error"), failureMessage(err, "see this stream's outputs")),
    );
  }

  /** A live event of `streamId` (every event, in seq order). */
  event(streamId, event) {
    const state = this.state;
    if (state?.streamId !== streamId || !state.applyEvent(event)) return;
    this.readSecrets(state);
  }

  /**
   * Sends `request(streamId)` for the shown stream and settles its answer into the state it
   * was asked for (a stream no longer shown keeps it to itself). Rejects with the API's error.
   */
  async call(request, settle) {
    const state = this.state;
    const token = state.begin(this.position(state.streamId));
    try {
      const answer = await request(state.streamId);
      settle(state, token, answer);
      return answer;
    } catch (err) {
      state.abandon(token);
      throw err;
    } finally {
      // An answer (or a failure) may be what secrets waited for.
      this.readSecrets(state);
      this.onChange();
    }
  }

  /** Reads, once each, the secrets events showed redacted (made by another client). */
  readSecrets(state) {
    if (state !== this.state) return;
    for (const read of state.claimReads()) {
      const done =
        read.kind === "ingest"
          ? this.call(api.getIngest, (s, token, view) => s.settleIngest(token, view))
          : this.call(
              (streamId) => api.getOutput(streamId, read.id),
              (s, token, view) => s.settleOutput(token, read.id, view),
            );
      done.catch((err) => toast(failureMessage(err, "see this stream's broadcast")));
    }
  }

  /**
   * Runs an action from `button`, disabled meanwhile; a refusal goes to `errorNode`, said in
   * terms of what was `attempted` when the key is refused.
   */
  async act(button, errorNode, attempted, action) {
    button.disabled = true;
    button.dataset.busy = "1";
    setText(errorNode, "");
    try {
      await action();
    } catch (err) {
      setText(errorNode, failureMessage(err, attempted));
    } finally {
      delete button.dataset.busy;
      button.disabled = false;
      this.onChange();
    }
  }

  // ---- Actions --------------------------------------------------------------------------------

  async createIngest() {
    const fields = ingestRequest({ type: $("#i-type").value, url: $("#i-url").value });
    await this.call(
      (id) => api.createIngest(id, fields),
      (state, token, view) => state.settleIngest(token, view),
    );
    $("#ingest-form").reset();
    $("#i-url-field").hidden = true;
  }

  async rotate(button) {
    if (!confirmed(button, "Click again: the old key stops working")) return;
    await this.call(api.rotateIngestKey, (state, token, view) => state.settleIngest(token, view));
    toast("New stream key: the old one no longer works", "notice");
  }

  async deleteIngest(button) {
    if (!confirmed(button, "Click again to delete")) return;
    await this.call(api.deleteIngest, (state, token) => state.settleIngest(token, null));
  }

  async addOutput() {
    const fields = outputRequest({
      type: $("#o-type").value,
      name: $("#o-name").value,
      targets: $("#o-targets").value,
      autoStart: $("#o-auto").checked,
    });
    await this.call(
      (id) => api.addOutput(id, fields),
      (state, token, view) => state.settleOutput(token, view.id, view),
    );
    $("#output-form").reset();
    $("#o-targets-field").hidden = true;
    $("#output-form").hidden = true;
  }

  start(output) {
    return this.call(
      (id) => api.startOutput(id, output),
      (state, token, view) => state.settleOutput(token, output, view),
    );
  }

  stop(output) {
    return this.call(
      (id) => api.stopOutput(id, output),
      (state, token, view) => state.settleOutput(token, output, view),
    );
  }

  async remove(output, button) {
    if (!confirmed(button, "Click again to remove")) return;
    await this.call(
      (id) => api.removeOutput(id, output),
      (state, token) => state.settleOutput(token, output, null),
    );
  }

  // ---- Rendering and wiring -------------------------------------------------------------------

  render(now = Date.now()) {
    renderIngest(this.state, { revealed: this.revealed, now });
    this.rows.render(this.state, now);
  }

  wire() {
    const onSubmit = (form, errorNode, attempted, action) =>
      $(form).addEventListener("submit", (e) => {
        e.preventDefault();
        const button = e.submitter ?? $(form).querySelector("button[type=submit]");
        this.act(button, $(errorNode), attempted, action);
      });
    onSubmit("#ingest-form", "#i-error", "create an ingest", () => this.createIngest());
    onSubmit("#output-form", "#o-error", "add an output", () => this.addOutput());
    $("#i-type").addEventListener("change", (e) => ($("#i-url-field").hidden = e.target.value !== "url"));
    $("#o-type").addEventListener("change", (e) => ($("#o-targets-field").hidden = e.target.value !== "rtmp"));
    $("#o-new").addEventListener("click", () => {
      $("#output-form").hidden = !$("#output-form").hidden;
      $("#o-type").focus();
    });
    $("#o-cancel").addEventListener("click", () => ($("#output-form").hidden = true));
    $("#i-rotate").addEventListener("click", (e) =>
      this.act(e.currentTarget, $("#i-error"), "rotate the stream key", () => this.rotate(e.currentTarget)),
    );
    $("#i-delete").addEventListener("click", (e) =>
      this.act(e.currentTarget, $("#i-error"), "delete the ingest", () => this.deleteIngest(e.currentTarget)),
    );
    $("#i-show-key").addEventListener("click", () => {
      this.revealed = !this.revealed;
      this.onChange();
    });
    $("#i-copy-key").addEventListener("click", () => this.state?.ingest && copy(this.state.ingest.streamKey));
    $("#i-copy-url").addEventListener("click", () => this.state?.ingest && copy(this.state.ingest.url));
  }
}
