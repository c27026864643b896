// The REST client of the dashboard: every call goes through `request`, which adds the API key
// (when one is set) and turns the API's error envelope into an `ApiError` carrying
// `error.message`, so every screen shows the server's own words.

const SETTINGS_KEY = "orchestrator.dashboard.settings";

/** Operator settings, kept in this browser only (localStorage). */
export const settings = {
  /** Sent as `Authorization: Bearer …` on every REST call when not empty. */
  apiKey: "",
  /** Streams with at least this many people present are followed with `audienceIntervalMs`. */
  foldAbove: 500,
  /** Participants per page of a stream's roster (the API takes 1 to 1000). */
  participantsPerPage: 50,
  ...readSettings(),
};

function readSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "{}");
  } catch {
    return {};
  }
}

export function saveSettings(changes) {
  Object.assign(settings, changes);
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
}

/** A refused or failed call: `message` is the API's `error.message`. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  if (settings.apiKey) all.Authorization = `Bearer ${settings.apiKey}`;
  return all;
}

async function failure(response) {
  let error = {};
  try {
    error = (await response.json()).error ?? {};
  } catch {
    // Not the envelope (a proxy's page, say): the status line says what happened.
  }
  return new ApiError(
    response.status,
    error.code ?? `http_${response.status}`,
    error.message ?? `${response.status} ${response.statusText}`,
    error.field,
  );
}

/**
 * One REST call. Resolves to `{body, response}`; rejects with an `ApiError`.
 * @param {string} method
 * @param {string} path  absolute path with its query (`/streams?limit=25`)
 * @param {object} [body] sent as JSON
 */
export async function request(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network_error", `the orchestrator cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await failure(response);
  // 204 (a delete) has no body.
  return { body: response.status === 204 ? null : await response.json(), response };
}

/** The `rel="next"` target of a `Link` header, or null. */
export function nextLink(link) {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link ?? "");
  return match ? match[1] : null;
}

/** One page of a listing from `path` (its first page, or a `Link` target): `{items, next}`. */
async function listPage(path) {
  const { body, response } = await request("GET", path);
  return { items: body, next: nextLink(response.headers.get("Link")) };
}

/** A page of streams (`/streams?…`). */
export const listStreams = listPage;

/** A page of a stream's participants (`/streams/{id}/participants?…`). */
export const listParticipants = listPage;

const streamPath = (id) => `/streams/${encodeURIComponent(id)}`;

export const getStream = async (id) => (await request("GET", streamPath(id))).body;

export const getState = async (id) => (await request("GET", `${streamPath(id)}/state`)).body;

export const createStream = async (fields) => (await request("POST", "/streams", fields)).body;

/** PATCH with `version`, so a change someone else made meanwhile is a 409, not overwritten. */
export const updateStream = async (id, fields) =>
  (await request("PATCH", streamPath(id), fields)).body;

export const stopStream = async (id) => (await request("DELETE", streamPath(id))).body;

export const joinStream = async (id, participantName, role) =>
  (await request("POST", `${streamPath(id)}/join`, { participantName, role })).body;

/** `null` instead of the API's 404 with `code` (the thing asked for does not exist). */
async function orNone(code, read) {
  try {
    return await read();
  } catch (err) {
    if (err.status === 404 && err.code === code) return null;
    throw err;
  }
}

const ingestPath = (id) => `${streamPath(id)}/ingest`;

/** The stream's ingest, or null when it has none. */
export const getIngest = (id) =>
  orNone("ingest_not_found", async () => (await request("GET", ingestPath(id))).body);

/** `fields`: `{type: "rtmp" | "whip"}` or `{type: "url", url}`. */
export const createIngest = async (id, fields) => (await request("POST", ingestPath(id), fields)).body;

export const rotateIngestKey = async (id) => (await request("POST", `${ingestPath(id)}/rotate`)).body;

export const deleteIngest = async (id) => {
  await request("DELETE", ingestPath(id));
};

const outputsPath = (id) => `${streamPath(id)}/outputs`;
const outputPath = (id, output) => `${outputsPath(id)}/${encodeURIComponent(output)}`;

export const listOutputs = async (id) => (await request("GET", outputsPath(id))).body;

/** One output, or null when it is gone. */
export const getOutput = (id, output) =>
  orNone("output_not_found", async () => (await request("GET", outputPath(id, output))).body);

export const addOutput = async (id, fields) => (await request("POST", outputsPath(id), fields)).body;

export const startOutput = async (id, output) =>
  (await request("POST", `${outputPath(id, output)}/start`)).body;

export const stopOutput = async (id, output) =>
  (await request("POST", `${outputPath(id, output)}/stop`)).body;

export const removeOutput = async (id, output) => {
  await request("DELETE", outputPath(id, output));
};

export const health = async () => (await request("GET", "/health")).body;

/**
 * The WebSocket address to connect to. The one place that knows how the WebSocket is
 * authorized: with an API key, browsers (which cannot set headers on a WebSocket) present a
 * short-lived ticket obtained over REST with the key.
 */
export async function socketUrl() {
  const url = new URL("/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const ticket = await websocketTicket();
  if (ticket) url.searchParams.set("ticket", ticket);
  return url.toString();
}

/**
 * A ticket for the next WebSocket connection (browsers cannot send a key on one), traded for
 * `settings.apiKey` over REST; null when no key is set (a service without keys needs none).
 * Tickets live seconds: one is fetched for every connection, never kept.
 */
async function websocketTicket() {
  if (!settings.apiKey) return null;
  return (await request("POST", "/ws-tickets", {})).body.ticket;
}
