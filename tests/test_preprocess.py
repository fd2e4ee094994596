from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.model.preprocess import crop_boxes, preprocess_faces


def test_preprocess_gray_bgr_any_size():
    crops = [
        np.full((100, 80, 3), 255, np.uint8),
        np.zeros((48, 48), np.uint8),
        np.full((10, 12), 51, np.uint8),
    ]
    x = preprocess_faces(crops)
    assert x.shape == (3, 48, 48, 1) and x.dtype == np.float32
    assert x[0].max() == pytest.approx(1.0) and x[1].max() == 0.0
    assert x[2].mean() == pytest.approx(0.2)


def test_preprocess_rejects_odd_images():
    with pytest.raises(ValueError, match=r"image must be"):
        preprocess_faces([np.zeros((4, 4, 2), np.uint8)])


def test_crop_boxes_add_margin_and_clip_to_frame():
    boxes = crop_boxes(
        100, 200, np.array([[10, 10, 50, 50], [180, 80, 260, 140]], np.float32), margin=0.1
    )
    assert boxes[0] == (6, 6, 54, 54)  # 40 px box + 4 px each side
    assert boxes[1] == (172, 74, 200, 100)  # clipped at the bottom-right corner


def test_a_face_cut_by_the_frame_edge_keeps_its_shape():
    """Half a face at the left edge: the missing half is filled with the edge's pixels,
    rather than the visible half being stretched to a square."""
    from lightemo_video.pipeline.classify import squared

    crop = np.tile(np.arange(20, dtype=np.uint8) * 10, (40, 1))  # 40 high, 20 wide
    left = squared(crop, (0, 100, 20, 140), width=640, height=480)
    assert left.shape == (40, 40)
    np.testing.assert_array_equal(left[:, 20:], crop)  # the face where it was
    assert (left[:, :20] == crop[:, :1]).all()  # the edge repeated outward
    right = squared(crop, (620, 100, 640, 140), width=640, height=480)
    np.testing.assert_array_equal(right[:, :20], crop)
    tall = squared(crop.T.copy(), (100, 460, 140, 480), width=640, height=480)
    assert tall.shape == (40, 40)
    inside = squared(crop, (100, 100, 120, 140), width=640, height=480)  # not cut: as it is
    assert inside.shape == (40, 20)
