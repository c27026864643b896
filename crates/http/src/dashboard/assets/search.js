// Finding a stream by what an operator knows of it: a fragment of its id, its room name, its
// LiveKit room id, or any text or number in its metadata (a title, a presenter, a ticket).
//
// The search runs over the streams the page has loaded, in the browser. The API has no search
// parameter on purpose: a server-side text search would need a scan or a full-text index on
// every request, a cost that grows with the stream list. A full stream id is the one exact key
// the API answers in constant time, so the page looks that up with `GET /streams/{id}` (see
// `isStreamId`), and a stream on no loaded page is still one paste away.

const STREAM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How deep metadata is searched (metadata is small; this only bounds a pathological one). */
const MAX_DEPTH = 4;

/** Whether `text` is a whole stream id (a UUID), which the API can look up directly. */
export const isStreamId = (text) => STREAM_ID.test(text.trim());

/** The lowercase words of a query; a stream matches when it contains every one. */
export function searchTerms(query) {
  return query.toLowerCase().split(/\s+/).filter(Boolean);
}

/** Text of each metadata object, computed once per object (a change makes a new object). */
const metadataText = new WeakMap();

function leaves(value, depth, out) {
  if (typeof value === "string" || typeof value === "number") out.push(String(value));
  else if (value && typeof value === "object" && depth < MAX_DEPTH) {
    for (const inner of Object.values(value)) leaves(inner, depth + 1, out);
  }
  return out;
}

function textOfMetadata(metadata) {
  if (!metadata || typeof metadata !== "object") return "";
  let text = metadataText.get(metadata);
  if (text === undefined) {
    text = leaves(metadata, 0, []).join("\n").toLowerCase();
    metadataText.set(metadata, text);
  }
  return text;
}

/** Whether `stream` contains every term (in its id, room, LiveKit room id or metadata values). */
export function matchesStream(stream, terms) {
  if (!terms.length) return true;
  const own = [stream.id, stream.roomName, stream.roomSid ?? ""].join("\n").toLowerCase();
  const metadata = textOfMetadata(stream.metadata);
  return terms.every((term) => own.includes(term) || metadata.includes(term));
}
