// The public API as the pages use it: JSON requests, the upload, following a video's status.
import { tusUpload } from "./tus.js";

export const VIDEOS_URL = "/v1/videos";
// Status polling: once a second while a page is visible (the API answer is a few hundred
// bytes from one catalogue read), every five while it is hidden, backing off on errors.
export const POLL_INTERVAL_MS = 1000;
export const HIDDEN_POLL_INTERVAL_MS = 5000;
const MAX_BACKOFF_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

function errorFrom(status, body) {
  const error = body && typeof body === "object" ? body.error : null;
  if (error && typeof error.message === "string") {
    return new ApiError(status, String(error.code || "error"), error.message);
  }
  return new ApiError(status, "http_error", `The server answered ${status}.`);
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

// When the server requires API keys, the pages ask for one once and keep it in this
// browser (localStorage), sending it as `Authorization: Bearer <key>`.
const KEY_STORE = "vodstack.apiKey";

function storedKey() {
  try {
    return window.localStorage.getItem(KEY_STORE);
  } catch {
    return null;
  }
}

export function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function needsKey(error) {
  return error.status === 401 || (error.status === 403 && error.code === "invalid_api_key");
}

/** Ask for an API key after a 401/403; true when one was given (and stored). */
function askForKey(error) {
  const key = window.prompt(`${error.message}\nAPI key (kept in this browser):`);
  if (!key || !key.trim()) return false;
  try {
    window.localStorage.setItem(KEY_STORE, key.trim());
  } catch {
    return false;
  }
  return true;
}

async function request(method, url, body, retried = false) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        ...authHeaders(),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached; check the connection.");
  }
  const data = parseJson(await response.text());
  if (!response.ok) {
    const error = errorFrom(response.status, data);
    if (!retried && needsKey(error) && askForKey(error)) return request(method, url, body, true);
    throw error;
  }
  return data;
}

export function videoUrl(id) {
  return `${VIDEOS_URL}/${encodeURIComponent(id)}`;
}

export function getVideo(id) {
  return request("GET", videoUrl(id));
}

export function listVideos({ cursor = null, limit = 20 } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set("cursor", cursor);
  return request("GET", `${VIDEOS_URL}?${query}`);
}

export function renameVideo(id, title) {
  return request("PATCH", videoUrl(id), { title });
}

export function deleteVideo(id) {
  return request("DELETE", videoUrl(id));
}

/**
 * Upload one file with tus (resumable: picking the same file again after a reload or a
 * broken connection continues it); `onProgress(sent, total)` follows the bytes. Returns
 * `{ promise, abort }`; the promise gives `{ id, status: "queued", status_url }`.
 */
export function uploadFile(file, onProgress) {
  let current = null;
  let aborted = false;
  const attempt = async (retried) => {
    current = tusUpload(file, { onProgress, headers: authHeaders() });
    try {
      const done = await current.promise;
      return { id: done.id, status: "queued", status_url: videoUrl(done.id) };
    } catch (error) {
      const failure = new ApiError(error.status, error.code, error.message);
      if (!aborted && !retried && needsKey(failure) && askForKey(failure)) return attempt(true);
      throw failure;
    }
  };
  return {
    promise: attempt(false),
    abort: () => {
      aborted = true;
      if (current) current.abort();
    },
  };
}

/**
 * Poll a video's status until it is ready or failed. `onUpdate(video, error)` gets every
 * answer; a 404 (deleted) ends the polling, other errors are retried with backoff.
 * Returns a function that stops it.
 */
export function followVideo(id, onUpdate) {
  let stopped = false;
  let timer = null;
  let failures = 0;

  const delay = () => {
    const base = document.hidden ? HIDDEN_POLL_INTERVAL_MS : POLL_INTERVAL_MS;
    return failures ? Math.min(base * 2 ** failures, MAX_BACKOFF_MS) : base;
  };

  const tick = async () => {
    timer = null;
    if (stopped) return;
    try {
      const video = await getVideo(id);
      failures = 0;
      if (stopped) return;
      onUpdate(video, null);
      if (video.status === "ready" || video.status === "failed") return;
    } catch (error) {
      if (stopped) return;
      onUpdate(null, error);
      if (error.status === 404) return;
      failures += 1;
    }
    timer = setTimeout(tick, delay());
  };

  const onVisible = () => {
    if (!document.hidden && timer !== null) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}
