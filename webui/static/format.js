// Pure formatting and parsing helpers shared by the pages (no DOM, tested under node).

/** "0:07", "4:05", "1:02:03" for a duration in seconds; "" when unknown. */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** "2.8 Mb/s", "850 kb/s" for bits per second; "" when unknown. */
export function formatBitrate(bps) {
  if (typeof bps !== "number" || !Number.isFinite(bps) || bps <= 0) return "";
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mb/s`;
  return `${Math.max(1, Math.round(bps / 1e3))} kb/s`;
}

/** "3.1 MB", "640 kB", "12 B" (decimal units, as file managers show them). */
export function formatSize(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** "720p · 2.8 Mb/s" for an hls.js level or an API rendition. */
export function levelLabel(level) {
  const height = level.height ? `${level.height}p` : "Audio";
  const bps = level.averageBitrate || level.average_bandwidth || level.bitrate || level.bandwidth;
  const rate = formatBitrate(bps);
  return rate ? `${height} · ${rate}` : height;
}

/** Indices of `levels` from the tallest (then the highest bit rate) down: menu order. */
export function levelMenuOrder(levels) {
  return levels
    .map((level, index) => ({ index, height: level.height || 0, bitrate: level.bitrate || 0 }))
    .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate)
    .map((entry) => entry.index);
}

/**
 * The start time of a `#t=…` fragment in seconds, or null: `#t=42`, `#t=42.5`, `#t=1m30s`,
 * `#t=1h2m3s`, `#t=1:02:03` (Media Fragments' `npt` form also: `#t=npt:42`). Only a start
 * is used; an end (`#t=10,20`) is ignored.
 */
export function parseStartTime(hash) {
  if (typeof hash !== "string") return null;
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  let value = params.get("t");
  if (value === null) return null;
  value = value.trim().replace(/^npt:/, "").split(",")[0];
  let seconds = null;
  let match;
  if (/^\d+(\.\d+)?$/.test(value)) {
    seconds = Number(value);
  } else if ((match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value)) && value) {
    seconds = Number(match[1] || 0) * 3600 + Number(match[2] || 0) * 60 + Number(match[3] || 0);
  } else if ((match = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(value))) {
    seconds = Number(match[1] || 0) * 3600 + Number(match[2]) * 60 + Number(match[3]);
  }
  return seconds !== null && Number.isFinite(seconds) ? seconds : null;
}

/** The fragment that starts playback at `seconds` (whole seconds). */
export function startTimeFragment(seconds) {
  return `#t=${Math.max(0, Math.floor(seconds))}`;
}

/** What a video is called on the pages: its title, else its file name. */
export function videoTitle(video) {
  return video.title || video.filename || "Untitled video";
}

/** Progress in percent as shown next to a bar: "42 %". */
export function formatPercent(value) {
  const clamped = Math.min(100, Math.max(0, Number(value) || 0));
  return `${Math.floor(clamped)} %`;
}

/** One line for a video's state, for the library and the watch page. */
export function statusLine(video) {
  switch (video.status) {
    case "queued":
      return "Queued: waiting for a transcoder";
    case "processing":
      return `Transcoding ${formatPercent(video.progress)}`;
    case "ready":
      return "Ready";
    case "failed":
      return "Failed";
    default:
      return String(video.status);
  }
}
