// Unit tests of the pages' pure helpers (webui/static/format.js), run by `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  formatBitrate,
  formatDuration,
  formatPercent,
  formatSize,
  levelLabel,
  levelMenuOrder,
  parseStartTime,
  startTimeFragment,
  statusLine,
  videoTitle,
} from "../../webui/static/format.js";

test("durations read like a player's clock", () => {
  assert.equal(formatDuration(7), "0:07");
  assert.equal(formatDuration(245.4), "4:05");
  assert.equal(formatDuration(3723), "1:02:03");
  assert.equal(formatDuration(null), "");
  assert.equal(formatDuration(-1), "");
  assert.equal(formatDuration(Number.NaN), "");
});

test("bit rates in kb/s and Mb/s", () => {
  assert.equal(formatBitrate(2_800_000), "2.8 Mb/s");
  assert.equal(formatBitrate(12_400_000), "12 Mb/s");
  assert.equal(formatBitrate(850_000), "850 kb/s");
  assert.equal(formatBitrate(0), "");
  assert.equal(formatBitrate(undefined), "");
});

test("sizes in decimal units", () => {
  assert.equal(formatSize(12), "12 B");
  assert.equal(formatSize(640_000), "640 kB");
  assert.equal(formatSize(3_141_592), "3.1 MB");
  assert.equal(formatSize(1_500_000_000), "1.5 GB");
});

test("quality labels from hls.js levels and API renditions", () => {
  assert.equal(levelLabel({ height: 720, bitrate: 3_000_000, averageBitrate: 2_800_000 }), "720p · 2.8 Mb/s");
  assert.equal(levelLabel({ height: 240, bitrate: 400_000 }), "240p · 400 kb/s");
  assert.equal(levelLabel({ height: 480, bandwidth: 1_500_000, average_bandwidth: 1_200_000 }), "480p · 1.2 Mb/s");
  assert.equal(levelLabel({ height: 0, bitrate: 0 }), "Audio");
});

test("the menu lists the tallest rendition first", () => {
  const levels = [
    { height: 240, bitrate: 400_000 },
    { height: 720, bitrate: 2_800_000 },
    { height: 360, bitrate: 800_000 },
  ];
  assert.deepEqual(levelMenuOrder(levels), [1, 2, 0]);
});

test("#t= start times in every accepted form", () => {
  assert.equal(parseStartTime("#t=42"), 42);
  assert.equal(parseStartTime("#t=42.5"), 42.5);
  assert.equal(parseStartTime("#t=1m30s"), 90);
  assert.equal(parseStartTime("#t=1h2m3s"), 3723);
  assert.equal(parseStartTime("#t=90s"), 90);
  assert.equal(parseStartTime("#t=1:02:03"), 3723);
  assert.equal(parseStartTime("#t=2:05"), 125);
  assert.equal(parseStartTime("#t=npt:10,20"), 10);
  assert.equal(parseStartTime("#foo=1&t=7"), 7);
});

test("anything else is no start time", () => {
  for (const hash of ["", "#", "#t=", "#t=abc", "#t=-5", "#t=1:99:99:99", "#x=3", "#t=<script>"]) {
    assert.equal(parseStartTime(hash), null, hash);
  }
  assert.equal(parseStartTime(undefined), null);
});

test("a start-time fragment round-trips", () => {
  assert.equal(startTimeFragment(42.9), "#t=42");
  assert.equal(parseStartTime(startTimeFragment(42.9)), 42);
  assert.equal(startTimeFragment(-3), "#t=0");
});

test("titles fall back to the file name", () => {
  assert.equal(videoTitle({ title: "Holiday", filename: "a.mp4" }), "Holiday");
  assert.equal(videoTitle({ title: null, filename: "a.mp4" }), "a.mp4");
  assert.equal(videoTitle({}), "Untitled video");
});

test("status lines", () => {
  assert.equal(statusLine({ status: "queued" }), "Queued: waiting for a transcoder");
  assert.equal(statusLine({ status: "processing", progress: 42.7 }), "Transcoding 42 %");
  assert.equal(statusLine({ status: "ready" }), "Ready");
  assert.equal(formatPercent(140), "100 %");
  assert.equal(formatPercent(-3), "0 %");
});
