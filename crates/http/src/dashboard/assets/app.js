// The dashboard's controller: loads streams a page at a time over REST, follows each loaded
// stream over the WebSocket (with its recent history, so the log and the chart start full),
// shows the selected stream's participants a page at a time, and wires the operator's actions
// (create, update, stop, join) to the REST API.
//
// New streams are found by re-reading the last page of the list every few seconds (the
// WebSocket follows streams by id, it has no feed of stream creations); everything about a
// known stream arrives live. The search filters the loaded streams and looks a pasted id up.
// A service that refuses the page's key says so in place of the list.

import { failureMessage, isKeyRefused, keyNeeded } from "./access.js";
import * as api from "./api.js";
import { BroadcastPanel } from "./broadcast-panel.js";
import { drawActivity } from "./chart.js";
import { LiveFeed } from "./live.js";
import { BUCKET_MS, StreamModel, diffPatch } from "./model.js";
import { ParticipantsPanel } from "./participants.js";
import { isStreamId, matchesStream, searchTerms } from "./search.js";
import { $, EventLog, StreamTable, confirmed, copy, setStatus, setText, titleOf, toast } from "./view.js";

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
 * `generation` changes when the filter does, so an answer for the old filter is dropped.
 * `query` is the search over loaded streams, `lookup` what looking a pasted id up found out;
 * `denied` the refusal of the page's key (401/403) while the service refuses it. */
const list = {
  filter: "",
  tail: null,
  next: null,
  loading: false,
  generation: 0,
  query: "",
  lookup: null,
  denied: null,
};
let selected = null;
let renderPending = false;

const table = new StreamTable($("#stream-rows"), select);
const eventLog = new EventLog($("#event-log"), $("#log-count"));
const participants = new ParticipantsPanel(schedule);
const broadcast = new BroadcastPanel({ position: (id) => feed.position(id) ?? 0, onChange: schedule });
const feed = new LiveFeed({
  onMessage(id, message) {
    const model = models.get(id);
    if (!model) return;
    model.applyMessage(message);
    if (message.type === "event") broadcast.event(id, message.event);
    if (model.stale) refresh(id);
    participants.changed(id);
    schedule();
  },
  onResync: resync,
  onError: (message) => toast(`${message.message}${message.streamId ? ` (${message.streamId})` : ""}`),
  onState: showConnection,
  intervalFor: (id) =>
    (models.get(id)?.stream.audience.active ?? 0) >= api.settings.foldAbove ? FOLD_INTERVAL_MS : null,
});

/** For an operator's console, and the browser test. */
window.dashboard = { feed, models, broadcast, get selected() { return selected; } };

/** Shows why `attempted` failed: in `where`, or as a toast. */
function fail(err, where, attempted) {
  const message = failureMessage(err, attempted);
  if (where) setText(where, message);
  else toast(message);
}

/** A refusal of the list: a refused key is shown in place of the list, anything else told. */
function listFailed(err, quietly = false) {
  if (isKeyRefused(err)) {
    list.denied = err;
    schedule();
  } else if (!quietly) {
    fail(err, null, "list streams");
  }
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
  list.denied = null;
  schedule();
}

async function reload() {
  list.generation += 1;
  for (const id of models.keys()) feed.unwatch(id);
  models.clear();
  table.clear();
  list.next = null;
  // Read again once the stream is shown again (a new key may see its secrets, or not), from
  // the position its events are followed from now.
  broadcast.show(null);
  try {
    await loadPage(firstPage());
  } catch (err) {
    listFailed(err);
  }
  if (selected && !list.denied) await show(selected);
}

async function loadMore() {
  if (!list.next || list.loading) return;
  list.loading = true;
  try {
    await loadPage(list.next);
  } catch (err) {
    listFailed(err);
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
  } catch (err) {
    // Polling must not flood toasts: a refused key is shown in place of the list, anything
    // else by the connection state and the next action.
    listFailed(err, true);
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
    // Its broadcast events since the last one seen are lost too: read it again.
    if (id === selected) broadcast.open(id, stream.seq);
  } catch (err) {
    fail(err);
  }
  participants.changed(id);
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
  const terms = searchTerms(list.query);
  let matching = 0;
  for (const model of models.values()) {
    const match = matchesStream(model.stream, terms);
    if (match) matching += 1;
    table.update(model, model.id === selected, now, match);
  }
  const all = [...models.values()].map((m) => m.stream);
  const loaded = list.next ? `${models.size}+` : String(models.size);
  setText($("#stream-count"), terms.length ? `${matching} of ${loaded}` : loaded);
  setText($("#sum-live"), all.filter((s) => s.status === "active").length);
  setText($("#sum-present"), all.reduce((sum, s) => sum + s.audience.active, 0));
  setText($("#sum-joined"), all.reduce((sum, s) => sum + s.audience.totalJoined, 0));
  $("#empty").hidden = models.size > 0 || Boolean(list.denied);
  $(".streams-table").hidden = Boolean(list.denied);
  $("#load-more").hidden = !list.next;
  renderSearch(terms, matching);
  renderKeyNeeded();
  renderDetail(models.get(selected), now);
}

function renderSearch(terms, matching) {
  const searching = terms.length > 0;
  $("#no-match").hidden = !searching || matching > 0 || models.size === 0;
  setText(
    $("#no-match"),
    `No loaded stream matches “${list.query.trim()}”. Load more streams, or paste a stream's full id.`,
  );
  $("#search-hint").hidden = !searching;
  const further = list.next ? " (Load more to search further)" : "";
  setText(
    $("#search-hint"),
    list.lookup ??
      `Searches the ${models.size} loaded streams${further} by id, room and metadata; ` +
        "paste a full stream id to open any stream.",
  );
}

function renderKeyNeeded() {
  const problem = keyNeeded(list.denied, Boolean(api.settings.apiKey));
  $("#key-needed").hidden = !problem;
  if (!problem) return;
  setText($("#key-needed-title"), problem.title);
  setText($("#key-needed-detail"), problem.detail);
}

function renderDetail(model, now = Date.now()) {
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
  participants.render(stream);
  broadcast.render(now);
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
  participants.show(id);
  broadcast.show(id, models.get(id)?.seq ?? 0);
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

/** Searching: loaded streams are filtered as the operator types; a whole id is looked up. */
async function search(query) {
  list.query = query;
  list.lookup = null;
  schedule();
  if (!isStreamId(query)) return;
  const id = query.trim().toLowerCase();
  try {
    if (!models.has(id)) upsert(await api.getStream(id));
  } catch (err) {
    if (list.query !== query) return;
    list.lookup = err.status === 404 ? `No stream has the id ${id}.` : failureMessage(err, "look this stream up");
    schedule();
    return;
  }
  if (list.query === query) select(id);
}

/**
 * Runs an action from `button`, disabling it meanwhile; errors go to `errorNode`, said in
 * terms of what was `attempted` when the key is refused.
 */
async function act(button, errorNode, attempted, action) {
  button.disabled = true;
  setText(errorNode, "");
  try {
    await action();
  } catch (err) {
    fail(err, errorNode, attempted);
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

async function stop(button) {
  // Two clicks: a stop cannot be undone.
  if (!confirmed(button, "Click again to stop")) return;
  const answer = await api.stopStream(selected);
  models.get(selected)?.applySnapshot(answer.stream);
  toast(`Stopped ${answer.stream.roomName}`, "notice");
}

// ---- Wiring ---------------------------------------------------------------------------------

function onSubmit(form, errorNode, attempted, action) {
  $(form).addEventListener("submit", (e) => {
    e.preventDefault();
    act(e.submitter ?? $(form).querySelector("button[type=submit]"), $(errorNode), attempted, action);
  });
}

function wire() {
  $("#status-filter").addEventListener("change", (e) => {
    list.filter = e.target.value;
    reload();
  });
  $("#search").addEventListener("input", (e) => search(e.target.value));
  $("#new-stream").addEventListener("click", () => {
    $("#create-form").hidden = !$("#create-form").hidden;
    $("#c-room").focus();
  });
  $("#c-cancel").addEventListener("click", () => ($("#create-form").hidden = true));
  $("#load-more").addEventListener("click", loadMore);
  onSubmit("#create-form", "#c-error", "create a stream", create);
  onSubmit("#update-form", "#u-error", "change this stream", update);
  onSubmit("#join-form", "#j-error", "get a join token", join);
  $("#u-metadata").addEventListener("input", (e) => (e.target.dataset.dirty = "1"));
  $("#stop").addEventListener("click", (e) =>
    act(e.currentTarget, $("#s-error"), "stop this stream", () => stop(e.currentTarget)),
  );
  $("#copy-id").addEventListener("click", () => copy(selected));
  $("#copy-token").addEventListener("click", () => copy($("#j-token").value, $("#j-token")));
  $("#close-detail").addEventListener("click", () => select(null));
  wireSettings();
}

function wireSettings() {
  const dialog = $("#settings");
  const open = () => {
    $("#s-key").value = api.settings.apiKey;
    $("#s-page").value = api.settings.participantsPerPage;
    $("#s-fold").value = api.settings.foldAbove;
    dialog.showModal();
    $("#s-key").focus();
  };
  $("#open-settings").addEventListener("click", open);
  $("#enter-key").addEventListener("click", open);
  $("#s-cancel").addEventListener("click", () => dialog.close());
  $("#settings-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const perPage = Math.round(Number($("#s-page").value)) || api.settings.participantsPerPage;
    api.saveSettings({
      apiKey: $("#s-key").value.trim(),
      participantsPerPage: Math.min(1000, Math.max(1, perPage)),
      foldAbove: Math.max(0, Number($("#s-fold").value) || 0),
    });
    dialog.close();
    // A new key needs a new WebSocket ticket now (not after the backoff), and changes what
    // the list and the roster may show.
    feed.restart();
    reload();
    participants.reopen();
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
