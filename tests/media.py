"""Video fixtures made with the ffmpeg that imageio-ffmpeg bundles, and an independent
reading of their presentation times (ffmpeg's ``showinfo`` filter, not our decoder)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def has_encoder(name: str) -> bool:
    listed = subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True
    ).stdout
    return f" {name} " in listed


def make_vfr(
    source: Path,
    target: Path,
    fast_s: float = 2.0,
    slow_every: int = 6,
    extra: tuple = (),
    loops: int = 0,
) -> Path:
    """Variable frame rate as phones write it: ``fast_s`` seconds at 30 fps, then
    ``fast_s`` seconds at 30/``slow_every`` fps, alternating (PTS kept, ``-fps_mode vfr``);
    ``loops`` more passes of ``source`` make it longer."""
    keep = f"lt(mod(t\\,{2 * fast_s})\\,{fast_s})+not(mod(n\\,{slow_every}))"
    ffmpeg(
        "-stream_loop",
        str(loops),
        "-i",
        str(source),
        "-vf",
        f"fps=30,select='{keep}'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "veryfast",
        *extra,
        str(target),
    )
    return target


def make_rotated(source: Path, target: Path, degrees: int) -> Path:
    """The same pictures stored turned, with display rotation metadata that turns them
    back: a portrait phone video's layout."""
    turn = {90: "transpose=clock", 270: "transpose=cclock", 180: "hflip,vflip"}[degrees]
    stored = target.with_suffix(".stored.mp4")
    ffmpeg("-i", str(source), "-vf", turn, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(stored))
    ffmpeg("-display_rotation", str(degrees), "-i", str(stored), "-c", "copy", str(target))
    stored.unlink()
    return target


def presentation_times(path: Path) -> list[float]:
    """Seconds of every displayed frame from the first one, as ffmpeg's showinfo reports them."""
    done = subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-i",
            str(path),
            "-vf",
            "showinfo",
            "-fps_mode",
            "passthrough",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    times = [float(t) for t in re.findall(r"pts_time:\s*(-?[\d.]+)", done.stderr)]
    if not times:
        pytest.fail(f"showinfo reported no frames for {path}")
    return [t - times[0] for t in times]
