"""Build ``astronaut_demo.mp4``, the project's own demo clip, from public-domain stills.

Source images come from scikit-image's bundled data (``skimage.data``): ``astronaut``
(NASA portrait of Eileen Collins, public domain) and ``coffee`` (public domain per
scikit-image/imageio). The clip is 8 s at 25 fps, 640x360, H.264 (libx264 from the
``imageio-ffmpeg`` wheel):

* 0.0-4.0 s  slow zoom into the astronaut's smiling face (one face, moving box)
* 4.0-5.5 s  the coffee cup (no face; a scene cut)
* 5.5-8.0 s  the astronaut again, mirrored, panning (a new shot; re-identified, same id)

Run: ``pip install scikit-image imageio-ffmpeg && python sample_videos/make_demo.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage import data

WIDTH, HEIGHT, FPS = 640, 360, 25


def _view(image: np.ndarray, cx: float, cy: float, zoom: float) -> np.ndarray:
    """A WIDTH x HEIGHT window of ``image`` centred at (cx, cy), magnified by ``zoom``."""
    scale = zoom * HEIGHT / image.shape[0] * 1.6
    matrix = np.float32([[scale, 0, WIDTH / 2 - cx * scale], [0, scale, HEIGHT / 2 - cy * scale]])
    return cv2.warpAffine(
        image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def frames() -> list[np.ndarray]:
    """RGB uint8 frames of the demo clip."""
    astronaut, coffee = data.astronaut(), data.coffee()
    mirrored = astronaut[:, ::-1].copy()
    out = []
    for i in range(8 * FPS):
        t = i / FPS
        if t < 4.0:
            out.append(_view(astronaut, 256 + t, 150 - 4 * t, 1.15 + 0.11 * t))
        elif t < 5.5:
            out.append(_view(coffee, 300, 200, 0.9))
        else:
            out.append(_view(mirrored, 235 + 20 * (t - 5.5), 150, 1.3))
    return out


def write(path: Path) -> Path:
    """Encode the clip as H.264 (yuv420p, so ordinary players open it)."""
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (WIDTH, HEIGHT),
        fps=FPS,
        codec="libx264",
        pix_fmt_out="yuv420p",
        output_params=["-crf", "28", "-preset", "slow", "-movflags", "+faststart"],
        macro_block_size=1,
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in frames():
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


if __name__ == "__main__":
    print(write(Path(__file__).resolve().parent / "astronaut_demo.mp4"))
