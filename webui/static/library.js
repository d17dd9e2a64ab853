// The library page: list (paginated by next_cursor), upload, rename, delete, live progress.
import {
  deleteVideo,
  followVideo,
  listVideos,
  renameVideo,
  uploadFile,
} from "./api.js";
import {
  formatDuration,
  formatPercent,
  formatSize,
  statusLine,
  videoTitle,
} from "./format.js";
import { unfinishedUploads } from "./tus.js";

const PAGE_SIZE = 20;

const list = document.getElementById("video-list");
const template = document.getElementById("video-item");
const emptyNote = document.getElementById("library-empty");
const message = document.getElementById("library-message");
const loadMore = document.getElementById("load-more");
const form = document.getElementById("upload-form");
const input = document.getElementById("upload-input");

const items = new Map(); // video id → VideoItem
let nextCursor = null;
let loading = false;

function showMessage(text) {
  message.textContent = text;
  message.hidden = !text;
}

function updateEmpty() {
  emptyNote.hidden = list.children.length > 0 || loading || nextCursor !== null;
}

/** One entry of the list: an upload in flight, then a video in the catalogue. */
class VideoItem {
  constructor() {
    this.root = template.content.firstElementChild.cloneNode(true);
    this.$ = (selector) => this.root.querySelector(selector);
    this.video = null;
    this.stopFollowing = null;
    this.abortUpload = null;
    this.$(".rename-button").addEventListener("click", () => this.startRename());
    this.$(".rename-cancel").addEventListener("click", () => this.endRename());
    this.$(".rename").addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveRename();
    });
    this.$(".rename input").addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.endRename();
    });
    this.$(".rename input").addEventListener("input", (event) => {
      event.target.setCustomValidity("");
    });
    this.$(".delete-button").addEventListener("click", () => this.remove());
    this.$(".abort-button").addEventListener("click", () => this.dismiss());
  }

  setPhase(phase) {
    this.root.dataset.phase = phase;
  }

  setTitle(text, href) {
    const link = this.$(".title-link");
    const plain = this.$(".title-text");
    link.textContent = href ? text : "";
    link.hidden = !href;
    if (href) link.href = href;
    plain.textContent = href ? "" : text;
    plain.hidden = Boolean(href);
  }

  setProgress(value, label) {
    const row = this.$(".progress-row");
    const bar = this.$(".progress-row progress");
    row.hidden = label === null;
    if (value === null) bar.removeAttribute("value");
    else bar.value = value;
    bar.setAttribute("aria-label", label || "");
    this.$(".progress-label").textContent = label || "";
  }

  setError(text) {
    const reason = this.$(".error-reason");
    reason.textContent = text || "";
    reason.hidden = !text;
  }

  setActions({ watch = false, manage = false, abort = null }) {
    this.$(".watch-link").hidden = !watch;
    this.$(".rename-button").hidden = !manage;
    this.$(".delete-button").hidden = !manage;
    const abortButton = this.$(".abort-button");
    abortButton.hidden = abort === null;
    if (abort) abortButton.textContent = abort;
  }

  // An upload waiting for its turn, then sending bytes.
  showUpload(file, loaded = null, total = null) {
    this.root.dataset.status = "uploading";
    this.setTitle(file.name, null);
    this.$(".status-badge").textContent = "Upload";
    this.$(".duration").textContent = formatSize(file.size);
    if (loaded === null) {
      this.setPhase("waiting");
      this.setProgress(null, "Waiting for the upload before it");
    } else {
      this.setPhase("uploading");
      const percent = total ? (100 * loaded) / total : 0;
      this.setProgress(
        percent,
        `Uploading ${formatPercent(percent)} · ${formatSize(loaded)} of ${formatSize(total)}`,
      );
    }
    this.setActions({ abort: "Cancel upload" });
  }

  showUploadFailed(file, error) {
    this.setPhase("upload-failed");
    this.root.dataset.status = "upload-failed";
    this.$(".status-badge").textContent = "Not uploaded";
    this.setProgress(null, null);
    this.setError(error.message);
    this.setActions({ abort: "Dismiss" });
  }

  // A video the catalogue knows.
  show(video) {
    this.video = video;
    this.root.dataset.id = video.id;
    this.root.dataset.status = video.status;
    this.setPhase(video.status);
    const href = `/watch/${encodeURIComponent(video.id)}`;
    this.setTitle(videoTitle(video), href);
    this.$(".thumb").href = href;
    this.$(".watch-link").href = href;
    this.$(".status-badge").textContent = video.status;
    this.$(".status-badge").dataset.status = video.status;
    const duration = formatDuration(video.duration);
    this.$(".duration").textContent = duration;
    const badge = this.$(".duration-badge");
    badge.textContent = duration;
    badge.hidden = !duration;
    const created = this.$(".created");
    created.dateTime = video.created_at;
    created.textContent = new Date(video.created_at).toLocaleString();
    const poster = this.$(".poster");
    if (video.poster_url && poster.getAttribute("src") !== video.poster_url) {
      poster.src = video.poster_url;
    }
    poster.hidden = !video.poster_url;
    if (video.status === "processing") this.setProgress(video.progress, statusLine(video));
    else if (video.status === "queued") this.setProgress(null, statusLine(video));
    else this.setProgress(null, null);
    this.setError(video.status === "failed" ? video.error : "");
    this.setActions({ watch: video.status === "ready" || Boolean(video.playable), manage: true });
    if ((video.status === "queued" || video.status === "processing") && !this.stopFollowing) {
      this.stopFollowing = followVideo(video.id, (update, error) => this.onUpdate(update, error));
    }
  }

  onUpdate(video, error) {
    if (video) {
      this.show(video);
      if (video.status === "ready" || video.status === "failed") this.stopFollowing = null;
    } else if (error.status === 404) {
      this.detach();
    }
  }

  startRename() {
    const field = this.$(".rename input");
    field.value = videoTitle(this.video);
    field.setCustomValidity("");
    this.$(".rename").hidden = false;
    this.$(".title").hidden = true;
    field.focus();
    field.select();
  }

  endRename() {
    this.$(".rename").hidden = true;
    this.$(".title").hidden = false;
  }

  async saveRename() {
    const field = this.$(".rename input");
    const title = field.value.trim();
    if (title === videoTitle(this.video)) {
      this.endRename();
      return;
    }
    try {
      const updated = await renameVideo(this.video.id, title);
      this.endRename();
      this.show(updated);
    } catch (error) {
      field.setCustomValidity(error.message);
      field.reportValidity();
    }
  }

  async remove() {
    const title = videoTitle(this.video);
    if (!window.confirm(`Delete “${title}”? Its renditions and the original are removed.`)) {
      return;
    }
    try {
      await deleteVideo(this.video.id);
      this.detach();
    } catch (error) {
      if (error.status === 404) this.detach();
      else showMessage(`Could not delete “${title}”: ${error.message}`);
    }
  }

  dismiss() {
    if (this.abortUpload) this.abortUpload();
    else this.detach();
  }

  detach() {
    if (this.stopFollowing) this.stopFollowing();
    this.stopFollowing = null;
    if (this.video) items.delete(this.video.id);
    this.root.remove();
    updateEmpty();
  }
}

function addVideo(video, { atTop = false } = {}) {
  if (items.has(video.id)) return items.get(video.id);
  const item = new VideoItem();
  item.show(video);
  items.set(video.id, item);
  if (atTop) list.prepend(item.root);
  else list.append(item.root);
  return item;
}

// Uploads cut short (a reload, a closed tab) continue when the same file is picked again.
function resumeNote() {
  if (uploading) return "";
  const names = unfinishedUploads();
  if (!names.length) return "";
  return `Unfinished upload${names.length > 1 ? "s" : ""}: ${names.join(", ")}. ` +
    "Choose the same file again to continue where it stopped.";
}

async function loadNextPage() {
  if (loading) return;
  loading = true;
  loadMore.disabled = true;
  try {
    const page = await listVideos({ cursor: nextCursor, limit: PAGE_SIZE });
    for (const video of page.videos) addVideo(video);
    nextCursor = page.next_cursor;
    showMessage(resumeNote());
  } catch (error) {
    showMessage(`The library could not be loaded: ${error.message}`);
  } finally {
    loading = false;
    loadMore.disabled = false;
    loadMore.hidden = nextCursor === null;
    updateEmpty();
  }
}

// Uploads run one at a time: parallel ones would share the bandwidth anyway, and would
// take the browser's few connections to this host away from the status polling.
const uploadQueue = [];
let uploading = false;

function enqueueUploads(files) {
  for (const file of files) {
    const item = new VideoItem();
    item.showUpload(file);
    list.prepend(item.root);
    const entry = { file, item, cancelled: false };
    item.abortUpload = () => {
      entry.cancelled = true;
      item.detach();
    };
    uploadQueue.push(entry);
  }
  updateEmpty();
  runUploads();
}

async function runUploads() {
  if (uploading) return;
  uploading = true;
  try {
    while (uploadQueue.length) {
      const entry = uploadQueue.shift();
      if (!entry.cancelled) await uploadOne(entry);
    }
  } finally {
    uploading = false;
  }
}

async function uploadOne({ file, item }) {
  item.showUpload(file, 0, file.size);
  const upload = uploadFile(file, (loaded, total) => item.showUpload(file, loaded, total));
  item.abortUpload = upload.abort;
  try {
    const created = await upload.promise;
    item.abortUpload = null;
    items.set(created.id, item);
    // The 201 answer is short; the status API has the rest (title, dates).
    item.show({ ...created, title: null, filename: file.name, created_at: new Date().toISOString() });
  } catch (error) {
    item.abortUpload = null;
    if (error.code === "aborted") item.detach();
    else item.showUploadFailed(file, error);
  }
}

function pickedFiles(fileList) {
  return Array.from(fileList || []);
}

input.addEventListener("change", () => {
  const files = pickedFiles(input.files);
  input.value = "";
  if (files.length) enqueueUploads(files);
});

form.addEventListener("submit", (event) => event.preventDefault());

// Dropping a file anywhere on the page uploads it (and never navigates away to the file).
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
  dragDepth += 1;
  form.classList.add("dragging");
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) form.classList.remove("dragging");
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  form.classList.remove("dragging");
  const files = pickedFiles(event.dataTransfer && event.dataTransfer.files);
  if (files.length) enqueueUploads(files);
});

window.addEventListener("beforeunload", (event) => {
  if (uploading) event.preventDefault();
});

loadMore.addEventListener("click", loadNextPage);
// Infinite scroll: the next page loads as the "Load more" button comes into view.
if ("IntersectionObserver" in window) {
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && nextCursor !== null) loadNextPage();
  }, { rootMargin: "400px" }).observe(loadMore);
}

loadNextPage();
