// The public API as the pages use it: JSON requests, the upload, following a video's status.
import { formatSize } from "./format.js";

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

async function request(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached; check the connection.");
  }
  const data = parseJson(await response.text());
  if (!response.ok) throw errorFrom(response.status, data);
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
 * POST one file as the raw request body; `onProgress(loaded, total)` follows XHR upload
 * progress events. Returns `{ promise, abort }`; the promise gives the API's 201 answer.
 */
export function uploadFile(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", `${VIDEOS_URL}?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener("load", () => {
      const data = parseJson(xhr.responseText);
      if (xhr.status === 201 && data) resolve(data);
      else reject(errorFrom(xhr.status, data));
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError(0, "network", `The upload of ${formatSize(file.size)} broke off.`));
    });
    xhr.addEventListener("abort", () => {
      reject(new ApiError(0, "aborted", "The upload was cancelled."));
    });
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
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
