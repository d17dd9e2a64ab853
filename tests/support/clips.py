"""Generated test clips (ffmpeg testsrc2 + sine), made once per session and reused."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClipSpec:
    duration: float = 10.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    audio: bool = True
    container: str = "mp4"
    rotate: int | None = None
    """Display-matrix rotation in degrees to tag the file with (portrait phone video)."""

    @property
    def name(self) -> str:
        parts = [f"{self.width}x{self.height}", f"{self.fps}fps", f"{self.duration:g}s"]
        parts.append("av" if self.audio else "v")
        if self.rotate is not None:
            parts.append(f"rot{self.rotate}")
        return "clip-" + "-".join(parts) + "." + self.container


def generate_clip(spec: ClipSpec, directory: Path) -> Path:
    path = directory / spec.name
    if path.exists():
        return path
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i",
        f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}:duration={spec.duration}",
    ]
    if spec.audio:
        sine = f"sine=frequency=440:sample_rate=48000:duration={spec.duration}"
        cmd += ["-f", "lavfi", "-i", sine]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if spec.audio:
        cmd += ["-c:a", "aac", "-b:a", "96k"]
    tmp = path.with_suffix(".tmp" + path.suffix)
    cmd += ["-movflags", "+faststart", str(tmp)] if spec.container == "mp4" else [str(tmp)]
    subprocess.run(cmd, check=True, timeout=120)
    if spec.rotate is not None:
        # ffmpeg 5.1 turns the `rotate` tag into a display matrix only on a stream copy.
        rotated = path.with_suffix(".rot" + path.suffix)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(tmp),
             "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={spec.rotate}", str(rotated)],
            check=True, timeout=120,
        )
        rotated.replace(tmp)
    tmp.rename(path)
    return path
