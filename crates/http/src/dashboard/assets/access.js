// What to tell an operator when the service refuses the page's API key, in words that say what
// to do: a service started with `API_KEYS` answers `401 unauthorized` to a call without a key
// (or with one it does not know), and `403 forbidden` to a change asked with a read-only key.
// The page would otherwise show an empty list ("No streams yet") or the bare API message.

/** Whether `err` (an `ApiError`) is a refusal of the key rather than of the request. */
export const isKeyRefused = (err) => err?.status === 401 || err?.status === 403;

/**
 * Why the page can show nothing, when the list itself was refused: `{title, detail}`, or null
 * when `err` is not about the key.
 * @param {object} err  an `ApiError`
 * @param {boolean} hasKey  whether a key is set in Settings
 */
export function keyNeeded(err, hasKey) {
  if (err?.status === 401 && !hasKey) {
    return {
      title: "This service needs an API key",
      detail:
        "It was started with API_KEYS, so every call without a key is refused (401 unauthorized). " +
        "Enter a key in Settings (top right): an operator key, or a read-only key to watch only. " +
        "The command “orchestrator generate-keys” makes a key and the entry to add to API_KEYS.",
    };
  }
  if (err?.status === 401) {
    return {
      title: "The API key in Settings was refused",
      detail:
        `The service answered 401 unauthorized: ${err.message}. Check the key in Settings ` +
        "(top right), or ask for one the service is configured with.",
    };
  }
  if (err?.status === 403) {
    return {
      title: "This API key may not read streams",
      detail: `The service answered 403 forbidden: ${err.message}. Enter another key in Settings.`,
    };
  }
  return null;
}

/**
 * The message for an action that failed: for a refused key, what the key lacks and where to
 * enter another; otherwise the API's own words.
 * @param {object} err  an `ApiError` (or any error)
 * @param {string} [attempted]  what the operator tried, as a verb phrase ("stop this stream")
 */
export function failureMessage(err, attempted = "do this") {
  if (err?.status === 403 && err.code === "forbidden") {
    return (
      `The API key in Settings is read-only: it may watch streams but not change them. ` +
      `To ${attempted}, enter an operator key (one without :read) in Settings.`
    );
  }
  if (err?.status === 401) {
    return `An API key is needed to ${attempted} (${err.message}): enter one in Settings.`;
  }
  return err?.message ?? String(err);
}
