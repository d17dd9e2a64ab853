// A small tus 1.0 client (creation, core PATCH, termination, checksum when the browser can
// hash) for the upload form. Each file's upload URL is kept in localStorage under a
// fingerprint of the file, so picking the same file again, after a reload or a dropped
// connection, continues the upload where the server has it.

export const UPLOADS_URL = "/v1/uploads";
export const CHUNK_SIZE = 8 * 1024 * 1024;
const TUS_VERSION = "1.0.0";
const STORE_PREFIX = "vodstack.upload:";
const MAX_RETRIES = 6;
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 10000;
const RETRY_STATUSES = new Set([0, 409, 423, 460, 500, 502, 503, 504]);

export class UploadError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.code = code;
  }
}

/** Same file, same fingerprint: name, size, modification time and type. */
export function fingerprint(file) {
  return STORE_PREFIX + [file.name, file.size, file.lastModified, file.type].join("|");
}

/** Upload-Metadata: `key base64(utf-8 value)` pairs, comma-separated. */
export function encodeMetadata(values) {
  return Object.entries(values)
    .filter(([, value]) => value)
    .map(([key, value]) => {
      const bytes = new TextEncoder().encode(value);
      let binary = "";
      for (const byte of bytes) binary += String.fromCharCode(byte);
      return `${key} ${btoa(binary)}`;
    })
    .join(",");
}

/** Full-jitter exponential backoff, in milliseconds, before retry number `attempt`. */
export function retryDelay(attempt, random = Math.random) {
  return random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
}

/** The last path segment of an upload URL: the id of the video it becomes. */
export function uploadId(url) {
  return new URL(url, "http://x").pathname.split("/").filter(Boolean).pop();
}

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: uploads still work, they just do not resume
  }
}

/** Names of files whose upload is unfinished here (pick them again to continue). */
export function unfinishedUploads() {
  const store = storage();
  const names = [];
  if (!store) return names;
  for (let index = 0; index < store.length; index += 1) {
    const key = store.key(index);
    if (key && key.startsWith(STORE_PREFIX)) names.push(key.slice(STORE_PREFIX.length).split("|")[0]);
  }
  return names;
}

function errorOf(xhr, fallback) {
  let body = null;
  try {
    body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
  } catch {
    body = null;
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new UploadError(xhr.status, String(error.code || "error"), error.message);
  }
  return new UploadError(xhr.status, "http_error", fallback || `The server answered ${xhr.status}.`);
}

async function sha1Header(blob) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null; // plain http on another host: no WebCrypto, no checksum
  const digest = new Uint8Array(await subtle.digest("SHA-1", await blob.arrayBuffer()));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return `sha1 ${btoa(binary)}`;
}

/**
 * Upload `file` with tus, resuming a stored upload of the same file when the server still
 * has it. `onProgress(sent, total)` follows the bytes; `headers` go with every request
 * (an API key). Returns `{ promise, abort }`; the promise gives `{ id, url }`; `abort`
 * stops and terminates the upload on the server.
 */
export function tusUpload(file, { onProgress = () => {}, headers = {} } = {}) {
  let xhr = null;
  let aborted = false;
  let uploadUrl = null;
  const key = fingerprint(file);
  const store = storage();

  const send = (method, url, extra, body, onUploadProgress) =>
    new Promise((resolve, reject) => {
      if (aborted) {
        reject(new UploadError(0, "aborted", "The upload was cancelled."));
        return;
      }
      xhr = new XMLHttpRequest();
      xhr.open(method, url);
      const all = { "Tus-Resumable": TUS_VERSION, ...headers, ...extra };
      for (const [name, value] of Object.entries(all)) xhr.setRequestHeader(name, value);
      if (onUploadProgress) {
        xhr.upload.addEventListener("progress", (event) => onUploadProgress(event.loaded));
      }
      const request = xhr;
      request.addEventListener("load", () => resolve(request));
      request.addEventListener("error", () => resolve(request)); // status 0: retried
      request.addEventListener("abort", () => {
        reject(new UploadError(0, "aborted", "The upload was cancelled."));
      });
      request.send(body === undefined ? null : body);
    });

  const offsetOf = (request) => {
    const value = request.getResponseHeader("Upload-Offset");
    return value !== null && /^\d+$/.test(value) ? Number(value) : null;
  };

  const resume = async () => {
    const stored = store && store.getItem(key);
    if (!stored) return null;
    const answer = await send("HEAD", stored, {});
    const offset = answer.status === 200 ? offsetOf(answer) : null;
    if (offset === null) {
      if (answer.status === 401 || answer.status === 403) throw errorOf(answer);
      store.removeItem(key); // expired, terminated, or from another server
      return null;
    }
    uploadUrl = stored;
    return offset;
  };

  const create = async () => {
    const answer = await send("POST", UPLOADS_URL, {
      "Upload-Length": String(file.size),
      "Upload-Metadata": encodeMetadata({
        filename: file.name,
        filetype: file.type || "application/octet-stream",
      }),
    });
    const location = answer.getResponseHeader("Location");
    if (answer.status !== 201 || !location) {
      throw errorOf(answer, `The upload of ${file.name} could not start.`);
    }
    uploadUrl = location;
    if (store) store.setItem(key, location);
    return 0;
  };

  const patch = async (offset) => {
    const chunk = file.slice(offset, Math.min(offset + CHUNK_SIZE, file.size));
    const extra = {
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream",
    };
    const checksum = await sha1Header(chunk);
    if (checksum) extra["Upload-Checksum"] = checksum;
    return send("PATCH", uploadUrl, extra, chunk, (loaded) => {
      onProgress(Math.min(offset + loaded, file.size), file.size);
    });
  };

  const run = async () => {
    let offset = await resume();
    if (offset === null) offset = await create();
    onProgress(offset, file.size);
    let failures = 0;
    while (offset < file.size) {
      const answer = await patch(offset);
      const next = answer.status === 204 ? offsetOf(answer) : null;
      if (next !== null) {
        offset = next;
        failures = 0;
        onProgress(offset, file.size);
        continue;
      }
      if (!RETRY_STATUSES.has(answer.status) || failures >= MAX_RETRIES) {
        throw errorOf(answer, `The upload of ${file.name} broke off.`);
      }
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, retryDelay(failures)));
      const where = await send("HEAD", uploadUrl, {}); // continue where the server is
      const known = offsetOf(where);
      if (known !== null) offset = known;
    }
    if (store) store.removeItem(key);
    onProgress(file.size, file.size);
    return { id: uploadId(uploadUrl), url: uploadUrl };
  };

  const abort = () => {
    aborted = true;
    if (xhr) xhr.abort();
    if (store) store.removeItem(key);
    if (uploadUrl) {
      fetch(uploadUrl, {
        method: "DELETE",
        headers: { "Tus-Resumable": TUS_VERSION, ...headers },
      }).catch(() => {});
    }
  };

  return { promise: run(), abort };
}
