"""Finding hls.js: installed from npm (`npm ci` in the source tree) or at `hlsjs_path`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HLSJS_NAME = "hls.min.js"
SOURCE_TREE = Path(__file__).resolve().parents[1]
NPM_DIST = Path("node_modules") / "hls.js" / "dist" / HLSJS_NAME


def default_candidates(cwd: Path | None = None) -> list[Path]:
    """Where `npm ci` puts hls.js: in the source tree, else in the working directory."""
    candidates = [SOURCE_TREE / NPM_DIST]
    if cwd is not None:
        candidates.append(cwd / NPM_DIST)
    return candidates


@dataclass(frozen=True)
class HlsJs:
    path: Path | None
    """The hls.js file that will be served; None when it is not installed."""
    looked_at: tuple[Path, ...]

    @property
    def install_hint(self) -> str:
        where = ", ".join(str(p) for p in self.looked_at)
        return (
            f"hls.js is not installed (looked for {where}). Run `npm ci --omit=dev` in "
            f"{SOURCE_TREE}, or point VODSTACK_HLSJS_PATH (--hlsjs-path) at hls.min.js, "
            "then restart vodstack."
        )


def find_hlsjs(configured: Path | None, cwd: Path | None = None) -> HlsJs:
    """The configured file, else the first npm install found (blocking: stats files)."""
    candidates = [configured] if configured is not None else default_candidates(cwd)
    for candidate in candidates:
        if candidate.is_file():
            return HlsJs(path=candidate, looked_at=tuple(candidates))
    return HlsJs(path=None, looked_at=tuple(candidates))
