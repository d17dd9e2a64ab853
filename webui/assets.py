"""Static assets in memory: read once at start-up, hashed, gzipped ahead of time.

All assets share one version (a hash of every name and byte) that is part of their URL,
`/assets/<version>/<name>`, so they can be cached as immutable, and relative imports
between the ES modules resolve under the same version.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from webui.hlsjs import HLSJS_NAME, HlsJs

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ASSET_ROUTE = "/assets/{version}/{name}"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_COMPRESSIBLE = (".js", ".mjs", ".css", ".svg")
# Below this, gzip saves less than the request headers weigh.
_MIN_COMPRESSED_SIZE = 1024


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    etag: str
    gzip_body: bytes | None = None

    @property
    def gzip_etag(self) -> str:
        """A gzip body is another representation, so it has its own tag (RFC 9110 §8.8.3)."""
        return self.etag[:-1] + '-gz"'


@dataclass(frozen=True)
class AssetBundle:
    assets: Mapping[str, Asset]
    version: str
    hlsjs: HlsJs

    def url(self, name: str) -> str:
        return f"/assets/{self.version}/{name}"

    def get(self, name: str) -> Asset | None:
        return self.assets.get(name)


# Compressed bodies by content hash: every app in a process (tests start many) shares them.
_gzip_cache: dict[str, bytes | None] = {}


def _compressed(digest: str, body: bytes) -> bytes | None:
    """The gzip body when it saves at least a tenth, else None."""
    if digest not in _gzip_cache:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        _gzip_cache[digest] = packed if len(packed) < len(body) * 0.9 else None
    return _gzip_cache[digest]


def make_asset(name: str, body: bytes) -> Asset:
    suffix = Path(name).suffix.lower()
    content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
    digest = hashlib.sha256(body).hexdigest()[:32]
    etag = f'"{digest}"'
    gzip_body = None
    if suffix in _COMPRESSIBLE and len(body) >= _MIN_COMPRESSED_SIZE:
        gzip_body = _compressed(digest, body)
    return Asset(name=name, body=body, content_type=content_type, etag=etag, gzip_body=gzip_body)


def bundle_version(assets: Mapping[str, Asset]) -> str:
    digest = hashlib.sha256()
    for name in sorted(assets):
        digest.update(name.encode() + b"\0" + assets[name].etag.encode() + b"\0")
    return digest.hexdigest()[:12]


def load_bundle(hlsjs: HlsJs, static_dir: Path = STATIC_DIR) -> AssetBundle:
    """Read every asset (blocking: run it in a thread) plus hls.js when it is installed."""
    assets: dict[str, Asset] = {}
    for path in sorted(static_dir.iterdir()):
        if path.is_file() and path.suffix.lower() in CONTENT_TYPES:
            assets[path.name] = make_asset(path.name, path.read_bytes())
    if hlsjs.path is not None:
        try:
            assets[HLSJS_NAME] = make_asset(HLSJS_NAME, hlsjs.path.read_bytes())
        except OSError as exc:
            log.warning("cannot read %s: %s", hlsjs.path, exc)
            hlsjs = replace(hlsjs, path=None)
    return AssetBundle(assets=assets, version=bundle_version(assets), hlsjs=hlsjs)
