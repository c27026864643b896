// The dashboard's controller: loads streams a page at a time over REST, follows each loaded
// stream over the WebSocket (with its recent history, so the log and the chart start full),
// and wires the operator's actions (create, update, stop, join) to the REST API.
//
// New streams are found by re-reading the last page of the list every few seconds (the
// WebSocket follows streams by id, it has no feed of stream creations); everything about a
// known stream arrives live.

import * as api from "./api.js";
import { drawActivity } from "./chart.js";
import { LiveFeed } from "./live.js";
import { BUCKET_MS, StreamModel, diffPatch } from "./model.js";
import { $, EventLog, StreamTable, copy, el, setStatus, setText, titleOf, toast } from "./view.js";

/** Streams per page of the list. */
const PAGE_SIZE = 25;
/** Events replayed for a stream when it is first shown (its log and chart start with them). */
const HISTORY = 200;
/** How often the last page is read again to find new streams. */
const DISCOVER_EVERY_MS = 2000;
/** `audienceIntervalMs` for streams with at least `settings.foldAbove` people present. */
const FOLD_INTERVAL_MS = 1000;

const models = new Map();
/** The list as loaded: its filter, the page read last (`tail`) and the next one's address.
 * `generation` changes when the filter does, so an answer for the old filter is dropped. */
const list = { filter: "", tail: null, next: null, loading: false, generation: 0 };
let selected = null;
let renderPending = false;

const table = new StreamTable($("#stream-rows"), select);
const eventLog = new EventLog($("#event-log"), $("#log-count"));
const feed = new LiveFeed({
  onMessage(id, message) {
    const model = models.get(id);
    if (!model) return;
    model.applyMessage(message);
    if (model.stale) refresh(id);
    schedule();
  },
  onResync: resync,
  onError: (message) => toast(`${message.message}${message.streamId ? ` (${message.streamId})` : ""}`),
  onState: showConnection,
  intervalFor: (id) =>
    (models.get(id)?.stream.audience.active ?? 0) >= api.settings.foldAbove ? FOLD_INTERVAL_MS : null,
});

/** For an operator's console, and the browser test. */
window.dashboard = { feed, models, get selected() { return selected; } };

function fail(err, where) {
  const message = err instanceof api.ApiError ? err.message : String(err);
  if (where) setText(where, message);
  else toast(message);
}

// ---- The stream list ------------------------------------------------------------------------

function firstPage() {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (list.filter) query.set("status", list.filter);
  return `/streams?${query}`;
}

function upsert(snapshot) {
  const known = models.get(snapshot.id);
  if (known) {
    known.applySnapshot(snapshot);
    return known;
  }
  const model = new StreamModel(snapshot);
  models.set(model.id, model);
  feed.watch(model.id, Math.max(0, model.seq - HISTORY));
  return model;
}

/** Loads the page at `path` (the first one, a `Link` target, or the tail again). */
async function loadPage(path) {
  const generation = list.generation;
  const page = await api.listStreams(path);
  if (generation !== list.generation) return;
  page.items.forEach(upsert);
  list.tail = path;
  list.next = page.next;
  schedule();
}

async function reload() {
  list.generation += 1;
  for (const id of models.keys()) feed.unwatch(id);
  models.clear();
  table.clear();
  list.next = null;
  try {
    await loadPage(firstPage());
  } catch (err) {
    fail(err);
  }
  if (selected) await show(selected);
}

async function loadMore() {
  if (!list.next || list.loading) return;
  list.loading = true;
  try {
    await loadPage(list.next);
  } catch (err) {
    fail(err);
  } finally {
    list.loading = false;
  }
}

/** Reads the last page again: streams created since appear, a full page gains a next link. */
async function discover() {
  if (list.next || list.loading || !list.tail || document.hidden) return;
  list.loading = true;
  try {
    await loadPage(list.tail);
  } catch {
    // Shown by the connection state and the next action; polling must not flood toasts.
  } finally {
    list.loading = false;
  }
}

const refreshing = new Set();

/** Reads one stream again (after a change of the stream itself: version, metadata). */
async function refresh(id) {
  if (refreshing.has(id)) return;
  refreshing.add(id);
  try {
    models.get(id)?.applySnapshot(await api.getStream(id));
  } catch (err) {
    fail(err);
  } finally {
    refreshing.delete(id);
    schedule();
  }
}

/** The server cannot resume this stream's position: start again from its current state. */
async function resync(id, why) {
  const model = models.get(id);
  try {
    const stream = await api.getStream(id);
    if (model) {
      model.seq = 0;
      model.applySnapshot(stream);
      const summary = `following again from seq ${stream.seq}, state reloaded: ${why}`;
      model.append({ seq: stream.seq, type: "resync", time: new Date(), summary });
    }
    feed.watch(id, stream.seq);
  } catch (err) {
    fail(err);
  }
  schedule();
}

// ---- Rendering ------------------------------------------------------------------------------

function schedule() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function render() {
  const now = Date.now();
  for (const model of models.values()) table.update(model, model.id === selected, now);
  const all = [...models.values()].map((m) => m.stream);
  setText($("#stream-count"), list.next ? `${models.size}+` : models.size);
  setText($("#sum-live"), all.filter((s) => s.status === "active").length);
  setText($("#sum-present"), all.reduce((sum, s) => sum + s.audience.active, 0));
  setText($("#sum-joined"), all.reduce((sum, s) => sum + s.audience.totalJoined, 0));
  $("#empty").hidden = models.size > 0;
  $("#load-more").hidden = !list.next;
  renderDetail(models.get(selected));
}

function renderDetail(model) {
  $("#detail-empty").hidden = Boolean(model);
  $("#detail-body").hidden = !model;
  eventLog.render(model);
  if (!model) return;
  const { stream } = model;
  setText($("#d-title"), titleOf(stream));
  setText($("#d-room"), stream.roomName);
  setText($("#d-id"), stream.id);
  setText($("#d-sid"), stream.roomSid ?? "no LiveKit room");
  setStatus($("#d-status"), stream.status);
  for (const key of ["active", "hosts", "viewers", "connected", "totalJoined"]) {
    setText($(`#d-${key}`), stream.audience[key]);
  }
  setText($("#d-seq"), `seq ${model.seq} · version ${stream.version}`);
  const metadata = $("#u-metadata");
  if (!metadata.dataset.dirty) metadata.value = JSON.stringify(stream.metadata ?? {}, null, 2);
  $("#stop").disabled = stream.status === "stopped";
  drawActivity($("#chart"), model.buckets(), BUCKET_MS);
}

function showConnection(state, detail) {
  const node = $("#connection");
  node.dataset.state = state;
  const labels = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };
  setText(node.querySelector(".label"), labels[state] ?? state);
  node.title = detail ?? "WebSocket connected: updates arrive as they happen";
  // Repeated failures to open are most often a refused handshake: say what to check.
  const stuck = state === "reconnecting" && feed.attempt >= 3;
  $("#banner").hidden = !stuck;
  if (stuck) {
    setText(
      $("#banner"),
      `Live updates are paused: the WebSocket cannot be opened (${detail}). Retrying. If the ` +
        `server requires operator keys, set one in Settings.`,
    );
  }
}

// ---- Selection and actions ------------------------------------------------------------------

function select(id) {
  if (selected !== id) {
    delete $("#u-metadata").dataset.dirty;
    $("#u-error").textContent = "";
    $("#j-output").hidden = true;
    $("#u-status").value = "";
  }
  selected = id;
  history.replaceState(null, "", id ? `#stream=${id}` : location.pathname);
  schedule();
}

/** Selects `id`, loading it when it is not on a loaded page. */
async function show(id) {
  if (!models.has(id)) {
    try {
      upsert(await api.getStream(id));
    } catch (err) {
      fail(err);
      return;
    }
  }
  select(id);
}

/** Runs an action from `button`, disabling it meanwhile; errors go to `errorNode`. */
async function act(button, errorNode, action) {
  button.disabled = true;
  setText(errorNode, "");
  try {
    await action();
  } catch (err) {
    fail(err, errorNode);
  } finally {
    button.disabled = false;
    schedule();
  }
}

function parseObject(text, name) {
  if (!text.trim()) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${err.message}`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${name} must be a JSON object`);
  }
  return value;
}

async function create() {
  const fields = { metadata: parseObject($("#c-metadata").value, "metadata") };
  const roomName = $("#c-room").value.trim();
  if (roomName) fields.roomName = roomName;
  const stream = await api.createStream(fields);
  upsert(stream);
  $("#create-form").reset();
  $("#create-form").hidden = true;
  toast(`Created ${stream.roomName}`, "notice");
  select(stream.id);
}

async function update() {
  const model = models.get(selected);
  const metadata = parseObject($("#u-metadata").value, "metadata");
  const fields = { version: model.stream.version };
  const status = $("#u-status").value;
  if (status && status !== model.stream.status) fields.status = status;
  const patch = diffPatch(model.stream.metadata ?? {}, metadata);
  if (Object.keys(patch).length) fields.metadata = patch;
  if (Object.keys(fields).length === 1) {
    toast("Nothing to change", "notice");
    return;
  }
  model.applySnapshot(await api.updateStream(model.id, fields));
  delete $("#u-metadata").dataset.dirty;
  $("#u-status").value = "";
  toast("Saved", "notice");
}

async function join() {
  const identity = $("#j-identity").value.trim();
  const ticket = await api.joinStream(selected, identity, $("#j-role").value);
  $("#j-token").value = ticket.token;
  setText($("#j-who"), `${ticket.participantName} as ${ticket.role} · LiveKit at ${ticket.wsUrl}`);
  $("#j-output").hidden = false;
}

let stopArmed = null;

async function stop(button) {
  // Two clicks: a stop cannot be undone.
  if (!stopArmed) {
    button.classList.add("armed");
    setText(button, "Click again to stop");
    stopArmed = setTimeout(() => disarm(button), 4000);
    return;
  }
  disarm(button);
  const answer = await api.stopStream(selected);
  models.get(selected)?.applySnapshot(answer.stream);
  toast(`Stopped ${answer.stream.roomName}`, "notice");
}

function disarm(button) {
  clearTimeout(stopArmed);
  stopArmed = null;
  button.classList.remove("armed");
  setText(button, "Stop stream");
}

// ---- Wiring ---------------------------------------------------------------------------------

function onSubmit(form, errorNode, action) {
  $(form).addEventListener("submit", (e) => {
    e.preventDefault();
    act(e.submitter ?? $(form).querySelector("button[type=submit]"), $(errorNode), action);
  });
}

function wire() {
  $("#status-filter").addEventListener("change", (e) => {
    list.filter = e.target.value;
    reload();
  });
  $("#new-stream").addEventListener("click", () => {
    $("#create-form").hidden = !$("#create-form").hidden;
    $("#c-room").focus();
  });
  $("#c-cancel").addEventListener("click", () => ($("#create-form").hidden = true));
  $("#load-more").addEventListener("click", loadMore);
  onSubmit("#create-form", "#c-error", create);
  onSubmit("#update-form", "#u-error", update);
  onSubmit("#join-form", "#j-error", join);
  $("#u-metadata").addEventListener("input", (e) => (e.target.dataset.dirty = "1"));
  $("#stop").addEventListener("click", (e) => act(e.currentTarget, $("#s-error"), () => stop(e.currentTarget)));
  $("#copy-id").addEventListener("click", () => copy(selected));
  $("#copy-token").addEventListener("click", () => copy($("#j-token").value, $("#j-token")));
  $("#close-detail").addEventListener("click", () => select(null));
  wireSettings();
}

function wireSettings() {
  const dialog = $("#settings");
  $("#open-settings").addEventListener("click", () => {
    $("#s-key").value = api.settings.apiKey;
    $("#s-fold").value = api.settings.foldAbove;
    dialog.showModal();
  });
  $("#s-cancel").addEventListener("click", () => dialog.close());
  $("#settings-form").addEventListener("submit", (e) => {
    e.preventDefault();
    api.saveSettings({
      apiKey: $("#s-key").value.trim(),
      foldAbove: Math.max(0, Number($("#s-fold").value) || 0),
    });
    dialog.close();
    // A new key may need a new WebSocket ticket, and changes what the list may show.
    feed.socket?.close(4001, "settings changed");
    reload();
  });
}

async function start() {
  wire();
  feed.start();
  const fromHash = /^#stream=([0-9a-f-]{36})$/.exec(location.hash)?.[1];
  if (fromHash) selected = fromHash;
  await reload();
  api.health().then(
    (h) => setText($("#server-version"), `v${h.version}`),
    () => {},
  );
  setInterval(discover, DISCOVER_EVERY_MS);
  // Ages ("12s ago") and the chart's time axis move even when nothing happens.
  setInterval(schedule, 1000);
  window.addEventListener("resize", schedule);
}

start();
