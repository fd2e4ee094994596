from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.model.preprocess import crop_boxes, preprocess_faces


def test_preprocess_gray_bgr_any_size():
    crops = [np.full((100, 80, 3), 255, np.uint8), np.zeros((48, 48), np.uint8), np.full((10, 12), 51, np.uint8)]
    x = preprocess_faces(crops)
    assert x.shape == (3, 48, 48, 1) and x.dtype == np.float32
    assert x[0].max() == pytest.approx(1.0) and x[1].max() == 0.0
    assert x[2].mean() == pytest.approx(0.2)


def test_preprocess_rejects_odd_images():
    with pytest.raises(ValueError, match=r"image must be"):
        preprocess_faces([np.zeros((4, 4, 2), np.uint8)])


def test_crop_boxes_add_margin_and_clip_to_frame():
    boxes = crop_boxes(100, 200, np.array([[10, 10, 50, 50], [180, 80, 260, 140]], np.float32), margin=0.1)
    assert boxes[0] == (6, 6, 54, 54)  # 40 px box + 4 px each side
    assert boxes[1] == (172, 74, 200, 100)  # clipped at the bottom-right corner
