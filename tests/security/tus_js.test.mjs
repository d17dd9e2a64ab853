// Unit tests of the upload form's tus client helpers (webui/static/tus.js), run by `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  encodeMetadata,
  fingerprint,
  retryDelay,
  uploadId,
} from "../../webui/static/tus.js";

test("metadata is base64 of UTF-8, empty values left out", () => {
  assert.equal(
    encodeMetadata({ filename: "ümlaut clip.mp4", filetype: "video/mp4", title: "" }),
    `filename ${Buffer.from("ümlaut clip.mp4").toString("base64")},` +
      `filetype ${Buffer.from("video/mp4").toString("base64")}`,
  );
});

test("the same file gets the same fingerprint, a changed one another", () => {
  const file = { name: "a.mp4", size: 10, lastModified: 1700000000000, type: "video/mp4" };
  assert.equal(fingerprint(file), fingerprint({ ...file }));
  assert.notEqual(fingerprint(file), fingerprint({ ...file, lastModified: 1700000000001 }));
  assert.notEqual(fingerprint(file), fingerprint({ ...file, size: 11 }));
  assert.ok(fingerprint(file).startsWith("vodstack.upload:a.mp4|"));
});

test("retry delays are full jitter under a growing cap", () => {
  assert.equal(retryDelay(1, () => 0), 0);
  assert.equal(retryDelay(1, () => 1), 1000);
  assert.equal(retryDelay(3, () => 1), 4000);
  assert.equal(retryDelay(10, () => 1), 10000);
});

test("the upload id is the URL's last segment", () => {
  assert.equal(uploadId("http://h:1/v1/uploads/AbCdEfGhIjKlMnOp"), "AbCdEfGhIjKlMnOp");
  assert.equal(uploadId("/v1/uploads/AbCdEfGhIjKlMnOp/"), "AbCdEfGhIjKlMnOp");
});
