from __future__ import annotations

from contextlib import nullcontext as does_not_raise
from pathlib import Path

import numpy as np
import pytest
from lightemo_video.model.data import class_weights, load_csv, load_faces, stratified_split
from lightemo_video.model.errors import DataError
from lightemo_video.model.labels import EMOTIONS

from tests.conftest import write_face_folder

PIXELS = " ".join(["128"] * 2304)


def _csv(tmp_path: Path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_folder_layout_loads_all_classes(tmp_path):
    write_face_folder(tmp_path / "train", {name: 3 for name in EMOTIONS})
    faces = load_faces(tmp_path, split="train")
    assert faces.images.shape == (21, 48, 48) and faces.images.dtype == np.uint8
    assert faces.counts().tolist() == [3] * 7


def test_any_folder_of_class_folders_is_one_split(tmp_path):
    write_face_folder(tmp_path, {"happy": 2, "sad": 1})
    faces = load_faces(tmp_path)
    assert sorted(faces.labels.tolist()) == [3, 3, 4]


def test_csv_layout_and_usage_filter(tmp_path):
    path = _csv(
        tmp_path, [f"0,{PIXELS},Training", f"3,{PIXELS},PublicTest", f"6,{PIXELS},PrivateTest"]
    )
    assert load_csv(path).labels.tolist() == [0, 3, 6]
    assert load_faces(path, split="PublicTest").labels.tolist() == [3]


@pytest.mark.parametrize(
    "rows, header, message",
    [
        (
            [f"0,{' '.join(['1'] * 100)},Training"],
            "emotion,pixels,Usage",
            "fer2013.csv:2: pixels has 100 values",
        ),
        (
            [f"9,{PIXELS},Training"],
            "emotion,pixels,Usage",
            "fer2013.csv:2: unknown emotion label 9",
        ),
        (
            [f"x,{PIXELS},Training"],
            "emotion,pixels,Usage",
            "fer2013.csv:2: emotion 'x' is not an integer",
        ),
        (
            [f"0,{PIXELS},Training", f"1,{PIXELS[:-3]}abc,Training"],
            "emotion,pixels,Usage",
            "fer2013.csv:3: pixels must be",
        ),
        (
            [f"0,{' '.join(['300'] * 2304)},Training"],
            "emotion,pixels,Usage",
            "fer2013.csv:2: pixel values",
        ),
        ([f"0,{PIXELS}"], "label,pixels", "missing column(s) emotion"),
    ],
)
def test_malformed_csv_rows_name_the_row(tmp_path, rows, header, message):
    path = _csv(tmp_path, rows, header)
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "row, missing",
    [
        (f"0,{PIXELS}", "Usage"),  # cut before its Usage field: was taken as a row without one
        ("0", "pixels, Usage"),
        (f"0,{PIXELS},Training,extra", None),  # one field too many
    ],
)
@pytest.mark.parametrize("usage", [None, "Training", "PublicTest"])
def test_a_row_cut_short_or_too_long_is_rejected_with_file_and_line(tmp_path, row, missing, usage):
    path = _csv(tmp_path, [f"3,{PIXELS},Training", row, f"4,{PIXELS},PublicTest"])
    with pytest.raises(DataError) as info:
        load_csv(path, usage=usage)  # whatever split is asked for, the file is broken
    message = str(info.value)
    assert message.startswith(f"{path}:3: row has "), message
    assert "expected 3 (emotion,pixels,Usage)" in message
    if missing:
        assert message.endswith(f"missing {missing}"), message


def test_a_file_without_a_usage_column_is_still_fine(tmp_path):
    path = _csv(tmp_path, [f"3,{PIXELS}", f"4,{PIXELS}"], header="emotion,pixels")
    assert load_csv(path).labels.tolist() == [3, 4]


def test_unknown_class_folder(tmp_path):
    write_face_folder(tmp_path, {"happy": 1, "contempt": 1})
    with pytest.raises(DataError, match="unknown class folder 'contempt'"):
        load_faces(tmp_path)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no class folders found"):
        load_faces(tmp_path)
    (tmp_path / "happy").mkdir()
    with pytest.raises(DataError, match="hold no images"):
        load_faces(tmp_path)


def test_unreadable_image_names_the_file(tmp_path):
    write_face_folder(tmp_path, {"happy": 1})
    bad = tmp_path / "happy" / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="broken.jpg: unreadable image"):
        load_faces(tmp_path)


@pytest.mark.parametrize(
    "path, expectation",
    [
        ("missing", pytest.raises(DataError, match="no such file or folder")),
        ("notes.txt", pytest.raises(DataError, match="expected a folder")),
        ("ok", does_not_raise()),
    ],
)
def test_load_faces_paths(tmp_path, path, expectation):
    (tmp_path / "notes.txt").write_text("hi")
    write_face_folder(tmp_path / "ok", {"sad": 1})
    with expectation:
        load_faces(tmp_path / path)


def test_class_weights_are_n_over_k_times_count():
    labels = np.array([0] * 10 + [1] * 2 + [3] * 8)
    weights = class_weights(labels)
    assert weights[0] == pytest.approx(20 / (7 * 10))
    assert weights[1] == pytest.approx(20 / (7 * 2))
    assert weights[3] == pytest.approx(20 / (7 * 8))
    assert weights[2] == 0.0  # absent class


def test_stratified_split_keeps_class_shares():
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 480, 310, 490])
    train, val = stratified_split(labels, 0.1, seed=42)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    np.testing.assert_allclose(np.bincount(labels[val]), np.bincount(labels) * 0.1, atol=1)
    assert np.array_equal(val, stratified_split(labels, 0.1, seed=42)[1])
