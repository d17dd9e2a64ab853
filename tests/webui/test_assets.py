"""Static assets: versioned as a whole, tagged per file, gzipped when it pays; hls.js lookup."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from webui.assets import STATIC_DIR, load_bundle, make_asset
from webui.hlsjs import HLSJS_NAME, NPM_DIST, SOURCE_TREE, find_hlsjs


def write_static(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (directory / name).write_bytes(body)
    return directory


def test_a_text_asset_is_gzipped_and_tagged_by_content() -> None:
    body = b"export const x = 1;\n" * 200
    asset = make_asset("a.js", body)
    assert asset.content_type == "text/javascript; charset=utf-8"
    assert asset.gzip_body is not None and gzip.decompress(asset.gzip_body) == body
    assert asset.etag.startswith('"') and asset.etag.endswith('"')
    assert asset.gzip_etag != asset.etag
    assert make_asset("b.js", body).etag == asset.etag
    assert make_asset("a.js", body + b" ").etag != asset.etag


def test_small_or_incompressible_assets_are_sent_as_they_are() -> None:
    assert make_asset("tiny.css", b"a{}").gzip_body is None
    random_bytes = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(200))
    assert make_asset("noise.svg", random_bytes).gzip_body is None


def test_the_bundle_version_changes_with_any_file(tmp_path: Path) -> None:
    hlsjs = find_hlsjs(tmp_path / "absent.js")
    first = load_bundle(hlsjs, write_static(tmp_path / "s", {"a.js": b"1", "b.css": b"2"}))
    same = load_bundle(hlsjs, tmp_path / "s")
    assert first.version == same.version
    write_static(tmp_path / "s", {"b.css": b"3"})
    changed = load_bundle(hlsjs, tmp_path / "s")
    assert changed.version != first.version
    assert changed.url("a.js") == f"/assets/{changed.version}/a.js"


def test_files_of_unknown_types_are_not_served(tmp_path: Path) -> None:
    static = write_static(tmp_path / "s", {"a.js": b"1", "notes.txt": b"x", ".env": b"k"})
    bundle = load_bundle(find_hlsjs(tmp_path / "absent.js"), static)
    assert set(bundle.assets) == {"a.js"}


def test_the_shipped_assets_are_all_there() -> None:
    bundle = load_bundle(find_hlsjs(Path("/nonexistent/hls.min.js")), STATIC_DIR)
    assert {"app.css", "api.js", "format.js", "library.js", "watch.js", "icon.svg"} <= set(
        bundle.assets
    )
    assert HLSJS_NAME not in bundle.assets


def test_a_configured_hlsjs_is_served_under_its_fixed_name(tmp_path: Path) -> None:
    custom = tmp_path / "vendor" / "hls-custom.js"
    custom.parent.mkdir()
    custom.write_bytes(b"window.Hls = function () {};\n" * 100)
    hlsjs = find_hlsjs(custom)
    assert hlsjs.path == custom
    bundle = load_bundle(hlsjs, write_static(tmp_path / "s", {"a.js": b"1"}))
    assert bundle.assets[HLSJS_NAME].body == custom.read_bytes()


def test_a_missing_hlsjs_says_how_to_install_it(tmp_path: Path) -> None:
    hlsjs = find_hlsjs(tmp_path / "missing.js")
    assert hlsjs.path is None
    assert "npm ci" in hlsjs.install_hint
    assert "VODSTACK_HLSJS_PATH" in hlsjs.install_hint
    assert str(tmp_path / "missing.js") in hlsjs.install_hint


def test_by_default_hlsjs_comes_from_npm_in_the_source_tree_or_working_directory(
    tmp_path: Path,
) -> None:
    hlsjs = find_hlsjs(None, cwd=tmp_path)
    assert hlsjs.looked_at == (SOURCE_TREE / NPM_DIST, tmp_path / NPM_DIST)
    if not (SOURCE_TREE / NPM_DIST).is_file():
        (tmp_path / NPM_DIST).parent.mkdir(parents=True)
        (tmp_path / NPM_DIST).write_text("window.Hls = 1;")
        assert find_hlsjs(None, cwd=tmp_path).path == tmp_path / NPM_DIST
    else:
        assert hlsjs.path == SOURCE_TREE / NPM_DIST
