// Calls to the service from the pages: same-origin, the session cookie, X-CSRF-Token on changes.

let csrf = "";

/** Remember the session's CSRF value (from POST / GET /ui/session). */
export function setCsrf(value) {
  csrf = value || "";
}

/** An error answer of the API: .status (HTTP) and .detail (the problem JSON's one-line detail). */
export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

const SAFE = new Set(["GET", "HEAD"]);

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const detail = body && typeof body === "object" && body.detail ? String(body.detail) : `HTTP ${response.status}`;
    throw new ApiError(response.status, detail, body);
  }
  return body;
}

/**
 * Call the API: api("/v1/jobs", {method: "POST", json | form, signal}) → the parsed JSON answer;
 * throws ApiError for an error status. form: a FormData or URLSearchParams body.
 */
export async function api(path, { method = "GET", json, form, signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, signal, credentials: "same-origin", cache: "no-store" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    headers["Content-Type"] = "application/json";
  } else if (form !== undefined) {
    init.body = form;
  }
  if (!SAFE.has(method)) headers["X-CSRF-Token"] = csrf;
  return answer(await fetch(path, init));
}

/**
 * POST a multipart form with upload progress (XMLHttpRequest: fetch reports none).
 * onProgress(loaded, total) in bytes. Resolves with the parsed JSON answer, rejects with ApiError.
 */
export function uploadForm(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, (body && body.detail) || `HTTP ${xhr.status}`, body));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "the upload failed (network error)", null)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "the upload was canceled", null)));
    xhr.send(form);
  });
}

const enc = encodeURIComponent;

/** The video's media URL (range requests; the session cookie authorizes it). */
export function mediaUrl(videoId) {
  return `/v1/videos/${enc(videoId)}/media`;
}

/** A thumbnail's URL (a JPEG named in the video's results). */
export function thumbnailUrl(videoId, name) {
  return `/v1/videos/${enc(videoId)}/thumbnails/${enc(name)}`;
}

/** An export's URL (webvtt | csv | activitynet | otio | ...), downloaded with the session cookie. */
export function exportUrl(videoId, format) {
  return `/v1/videos/${enc(videoId)}/export?format=${enc(format)}`;
}

/**
 * The Server-Sent Events URL of jobs' live progress (for EventSource; the session cookie authorizes it);
 * with createdAfter (a job's created_at), the stream also tells of jobs created later (`created` events).
 */
export function jobEventsUrl(ids, createdAfter) {
  const after = createdAfter ? `&created_after=${enc(createdAfter)}` : "";
  return `/v1/jobs/events?ids=${ids.map(enc).join(",")}${after}`;
}

/** Whether the page may hold a session: the server sets a readable marker cookie beside the HttpOnly one. */
export function maybeSignedIn() {
  return document.cookie.split(";").some((c) => c.trim().startsWith("vidstruct_signed_in="));
}

/** Sign in with an API key; resolves {scope, key_prefix, csrf}. The key goes only into this POST's body. */
export async function signIn(key) {
  const session = await api("/ui/session", { method: "POST", json: { key } });
  setCsrf(session.csrf);
  return session;
}

/** The current session ({scope, key_prefix, csrf}), or null when not signed in. */
export async function currentSession() {
  if (!maybeSignedIn()) return null;
  try {
    const session = await api("/ui/session");
    setCsrf(session.csrf);
    return session;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Sign out: the server ends this session's token and clears the cookie. */
export async function signOut() {
  await api("/ui/session", { method: "DELETE" });
  setCsrf("");
}

/** Sign out everywhere: every session of the signed-in key made until now ends, this one included. */
export async function signOutEverywhere() {
  await api("/ui/session/end-all", { method: "POST" });
  setCsrf("");
}
