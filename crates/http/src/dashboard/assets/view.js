// Rendering: small DOM helpers, the stream table (rows updated in place, keyed by stream id),
// the detail panel's figures and the event log. No framework: the page is small, and every
// element keeps its identity, so an operator's selection or focus survives live updates.

export const $ = (selector) => document.querySelector(selector);

/** Creates an element: `el("td", {class: "num", text: "3", data: {field: "active"}}, …children)`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Sets `text` on `node` only when it changed (no needless layout). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** `1 host`, `2 hosts`. */
export const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;

export function clock(date) {
  return date.toLocaleTimeString([], { hour12: false });
}

export function setStatus(node, status) {
  node.dataset.status = status;
  setText(node, status);
}

/** A title for a stream: its metadata's `title` when it has one, else its room name. */
export function titleOf(stream) {
  const title = stream.metadata?.title;
  return typeof title === "string" && title ? title : stream.roomName;
}

/** The stream table's rows, created once per stream and updated in place. */
export class StreamTable {
  constructor(body, onSelect) {
    this.body = body;
    this.onSelect = onSelect;
    this.rows = new Map();
  }

  row(model) {
    let row = this.rows.get(model.id);
    if (row) return row;
    const cell = (field, cls) => el("td", { class: cls, data: { field } });
    row = el(
      "tr",
      { data: { streamId: model.id }, tabindex: "0" },
      el(
        "td",
        { class: "room" },
        el("div", { class: "name", data: { field: "title" } }),
        el("div", { class: "sub mono", data: { field: "room" } }),
      ),
      el("td", {}, el("span", { class: "pill", data: { field: "status" } })),
      el(
        "td",
        { class: "num" },
        el("div", { class: "big", data: { field: "active" } }),
        el("div", { class: "sub", data: { field: "roles" } }),
      ),
      cell("joined", "num"),
      cell("seq", "num mono"),
      cell("created", "age"),
    );
    row.fields = Object.fromEntries(
      [...row.querySelectorAll("[data-field]")].map((node) => [node.dataset.field, node]),
    );
    row.addEventListener("click", () => this.onSelect(model.id));
    row.addEventListener("keydown", (e) => e.key === "Enter" && this.onSelect(model.id));
    this.rows.set(model.id, row);
    this.body.append(row);
    return row;
  }

  /** Updates the row of `model`; `visible` false hides it (it does not match the search). */
  update(model, selected, now, visible = true) {
    const row = this.row(model);
    const { stream } = model;
    const field = (name) => row.fields[name];
    row.hidden = !visible;
    row.classList.toggle("selected", selected);
    row.classList.toggle("ended", stream.status === "stopped");
    const title = titleOf(stream);
    setText(field("title"), title);
    field("title").title = title;
    const shortId = stream.id.slice(0, 8);
    setText(field("room"), title === stream.roomName ? shortId : `${stream.roomName} · ${shortId}`);
    setStatus(field("status"), stream.status);
    setText(field("active"), stream.audience.active);
    setText(field("roles"), `${count(stream.audience.hosts, "host")} · ${count(stream.audience.viewers, "viewer")}`);
    setText(field("joined"), stream.audience.totalJoined);
    setText(field("seq"), model.seq);
    setText(field("created"), ago(stream.createdAt, now));
    field("created").title = stream.createdAt;
  }

  clear() {
    this.rows.clear();
    this.body.replaceChildren();
  }
}

/** The event log of the selected stream (newest first), re-rendered only when it grew. */
export class EventLog {
  constructor(list, counter) {
    this.list = list;
    this.counter = counter;
    this.shown = null;
  }

  render(model) {
    const top = model?.log[0]?.seq ?? null;
    const key = model ? `${model.id}:${top}:${model.log.length}` : null;
    if (key === this.shown) return;
    this.shown = key;
    if (!model) {
      this.list.replaceChildren();
      return;
    }
    setText(this.counter, `${model.log.length} events`);
    this.list.replaceChildren(
      ...model.log.map((entry) =>
        el(
          "li",
          { data: { seq: entry.seq, type: entry.type } },
          el("span", { class: "seq mono", text: `#${entry.seq}` }),
          el("span", { class: "time mono", text: clock(entry.time) }),
          el("span", { class: "type", data: { type: entry.type }, text: entry.type }),
          el("span", { class: "what", text: entry.summary }),
        ),
      ),
    );
    if (!model.log.length) {
      this.list.append(el("li", { class: "empty", text: "No events received yet." }));
    }
  }
}

/** Buttons waiting for their confirming click: button → {label, timer}. */
const armed = new WeakMap();
/** How long a first click waits for the second. */
const ARMED_MS = 4000;

/**
 * A confirmation by a second click, for what cannot be undone: the first click arms `button`
 * (it says `prompt` for a few seconds) and answers false; a click while armed answers true.
 */
export function confirmed(button, prompt) {
  if (armed.has(button)) {
    disarm(button);
    return true;
  }
  armed.set(button, { label: button.textContent, timer: setTimeout(() => disarm(button), ARMED_MS) });
  button.classList.add("armed");
  button.textContent = prompt;
  return false;
}

function disarm(button) {
  const state = armed.get(button);
  if (!state) return;
  armed.delete(button);
  clearTimeout(state.timer);
  button.classList.remove("armed");
  button.textContent = state.label;
}

/** A message in the corner: errors stay until dismissed or 8 s; notices 3 s. */
export function toast(message, kind = "error") {
  const item = el(
    "div",
    { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    el("span", { text: message }),
    el("button", { class: "close", "aria-label": "Dismiss", text: "×", onclick: () => item.remove() }),
  );
  $("#toasts").append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3000);
}

/** Copies `text`; falls back to selecting `field` where the Clipboard API is unavailable. */
export async function copy(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard", "notice");
  } catch {
    field?.select();
    toast("Copy refused by the browser: the text is selected, press Ctrl+C", "notice");
  }
}
