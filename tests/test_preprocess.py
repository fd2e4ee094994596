from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.model.preprocess import crop_faces, preprocess_faces


def test_preprocess_gray_bgr_any_size():
    crops = [np.full((100, 80, 3), 255, np.uint8), np.zeros((48, 48), np.uint8), np.full((10, 12), 51, np.uint8)]
    x = preprocess_faces(crops)
    assert x.shape == (3, 48, 48, 1) and x.dtype == np.float32
    assert x[0].max() == pytest.approx(1.0) and x[1].max() == 0.0
    assert x[2].mean() == pytest.approx(0.2)


def test_preprocess_rejects_odd_images():
    with pytest.raises(ValueError, match=r"image must be"):
        preprocess_faces([np.zeros((4, 4, 2), np.uint8)])


def test_crop_faces_adds_margin_and_clips_to_frame():
    frame = np.zeros((100, 200, 3), np.uint8)
    crops = crop_faces(frame, np.array([[10, 10, 50, 50], [180, 80, 260, 140]], np.float32), margin=0.1)
    assert crops[0].shape[:2] == (48, 48)  # 40 px box + 4 px each side
    assert crops[1].shape[:2] == (100 - 74, 200 - 172)  # clipped at the bottom-right corner
