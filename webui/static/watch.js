// The watch page: follow the video's status until it is playable, then play it with hls.js
// (or the browser's own HLS where Media Source Extensions are missing, i.e. iOS Safari).
// A video published while it is transcoded is playable before it is "ready": its playlists
// grow (EVENT) and say to start at the beginning (EXT-X-START), and the player follows
// them to the end.
import { followVideo } from "./api.js";
import {
  levelLabel,
  levelMenuOrder,
  parseStartTime,
  startTimeFragment,
  statusLine,
  videoTitle,
} from "./format.js";

const HLS_TYPE = "application/vnd.apple.mpegurl";
const MAX_RECOVERIES = 3;

const root = document.getElementById("watch");
const videoEl = document.getElementById("video");
const statusPanel = document.getElementById("status-panel");
const statusText = document.getElementById("status-text");
const statusProgress = document.getElementById("status-progress");
const statusError = document.getElementById("status-error");
const titleEl = document.getElementById("video-title");
const controls = document.getElementById("player-controls");
const quality = document.getElementById("quality");
const currentLevel = document.getElementById("current-level");
const copyTime = document.getElementById("copy-time");
const hlsjsMissing = document.getElementById("hlsjs-missing");
const playerError = document.getElementById("player-error");

// For people and tests alike: the Hls instance (null when the browser plays natively).
window.player = null;
// `startedAs`: the video's status when playback started; `stalls`: playback positions where
// the video ran out of data after it had started playing (seeks excluded).
window.playerState = {
  mode: null, fatalErrors: [], levelSwitches: [], startedAs: null, stalls: [],
};

let started = false;

function showStatus(text, { progress = undefined, error = "" } = {}) {
  statusPanel.hidden = false;
  statusText.textContent = text;
  statusProgress.hidden = progress === undefined;
  if (progress === null) statusProgress.removeAttribute("value");
  else if (progress !== undefined) statusProgress.value = progress;
  statusError.textContent = error;
  statusError.hidden = !error;
}

function showPlayerError(text) {
  playerError.textContent = text;
  playerError.hidden = !text;
}

function onStatus(video, error) {
  if (!video) {
    if (error.status === 404) showStatus("This video has been deleted.");
    else showStatus(`Cannot reach the server (${error.message}); retrying…`);
    return;
  }
  titleEl.textContent = videoTitle(video);
  document.title = `${videoTitle(video)} · vodstack`;
  root.dataset.status = video.status;
  if (video.playable && video.playback_url && video.status !== "failed") {
    startPlayback(video);
    return;
  }
  switch (video.status) {
    case "ready":
      startPlayback(video);
      break;
    case "processing":
      showStatus(`${statusLine(video)}: the video will play here when it is ready.`, {
        progress: video.progress,
      });
      break;
    case "queued":
      showStatus(`${statusLine(video)}. The video will play here when it is ready.`, {
        progress: null,
      });
      break;
    case "failed":
      showStatus("This video could not be processed.", { error: video.error });
      break;
    default:
      showStatus(statusLine(video));
  }
}

function startPlayback(video) {
  if (started) return;
  started = true;
  window.playerState.startedAs = video.status;
  statusPanel.hidden = true;
  videoEl.hidden = false;
  if (video.poster_url) videoEl.poster = video.poster_url;
  const start = parseStartTime(window.location.hash);
  const Hls = window.Hls;
  if (!Hls) hlsjsMissing.hidden = false;
  if (Hls && Hls.isSupported()) {
    playWithHlsJs(Hls, video, start);
  } else if (videoEl.canPlayType(HLS_TYPE)) {
    playNatively(video, start);
  } else if (Hls) {
    showPlayerError("This browser can play neither HLS nor Media Source Extensions video.");
  }
}

function playWithHlsJs(Hls, video, start) {
  const hls = new Hls({ startPosition: start ?? -1 });
  window.player = hls;
  window.playerState.mode = "hls.js";
  let recoveries = 0;

  hls.on(Hls.Events.MANIFEST_PARSED, () => buildQualityMenu(hls));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
    const level = hls.levels[data.level];
    window.playerState.levelSwitches.push({ level: data.level, height: level && level.height });
    showCurrentLevel(hls);
  });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    window.playerState.fatalErrors.push({ type: data.type, details: data.details });
    if (recoveries < MAX_RECOVERIES && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      recoveries += 1;
      showPlayerError("The network failed; trying again…");
      setTimeout(() => hls.startLoad(), 1000 * recoveries);
    } else if (recoveries < MAX_RECOVERIES && data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      recoveries += 1;
      hls.recoverMediaError();
    } else {
      hls.destroy();
      showPlayerError(`Playback stopped: ${data.details}. Reload the page to try again.`);
    }
  });
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    if (!playerError.hidden && recoveries) showPlayerError("");
  });
  hls.attachMedia(videoEl);
  hls.loadSource(video.playback_url);
}

function buildQualityMenu(hls) {
  quality.replaceChildren(new Option("Auto", "-1"));
  for (const index of levelMenuOrder(hls.levels)) {
    quality.append(new Option(levelLabel(hls.levels[index]), String(index)));
  }
  quality.disabled = false;
  quality.value = String(hls.manualLevel ?? -1);
  quality.onchange = () => {
    // currentLevel switches at once (flushing what is buffered); -1 is automatic again.
    hls.currentLevel = Number(quality.value);
    showCurrentLevel(hls);
  };
  controls.hidden = false;
}

function showCurrentLevel(hls) {
  const level = hls.levels[hls.currentLevel];
  const auto = hls.autoLevelEnabled ? " (auto)" : "";
  currentLevel.textContent = level ? `${levelLabel(level)}${auto}` : "–";
  currentLevel.dataset.height = level ? String(level.height) : "";
}

function playNatively(video, start) {
  window.playerState.mode = "native";
  // The browser picks the rendition itself: the menu lists the ladder but cannot choose.
  quality.replaceChildren(new Option("Auto (chosen by the browser)", "-1"));
  for (const rendition of video.renditions || []) {
    const option = new Option(levelLabel(rendition), rendition.name);
    option.disabled = true;
    quality.append(option);
  }
  quality.disabled = true;
  currentLevel.textContent = "chosen by the browser";
  controls.hidden = false;
  if (start !== null) {
    videoEl.addEventListener("loadedmetadata", () => { videoEl.currentTime = start; }, {
      once: true,
    });
  }
  videoEl.src = video.playback_url;
}

function seekToFragment() {
  const start = parseStartTime(window.location.hash);
  if (start !== null && started) videoEl.currentTime = start;
}

copyTime.addEventListener("click", async () => {
  const fragment = startTimeFragment(videoEl.currentTime);
  window.history.replaceState(null, "", fragment);
  try {
    await navigator.clipboard.writeText(window.location.href);
    copyTime.textContent = "Link copied";
  } catch {
    copyTime.textContent = "Link is in the address bar";
  }
  setTimeout(() => { copyTime.textContent = "Link to this moment"; }, 2500);
});

let playedOnce = false;
videoEl.addEventListener("playing", () => { playedOnce = true; });
videoEl.addEventListener("waiting", () => {
  if (playedOnce && !videoEl.seeking) window.playerState.stalls.push(videoEl.currentTime);
});

window.addEventListener("hashchange", seekToFragment);
videoEl.addEventListener("error", () => {
  if (window.playerState.mode === "native" && videoEl.error) {
    showPlayerError(`Playback failed (media error ${videoEl.error.code}).`);
  }
});

followVideo(root.dataset.videoId, onStatus);
