"""Distillation targets from a real (small, untrained) Keras teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lightemo_video.model.data import FaceSet  # noqa: E402
from lightemo_video.model.distill import teacher_targets  # noqa: E402
from lightemo_video.model.errors import DataError  # noqa: E402


@pytest.fixture
def teacher(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(7, activation="softmax"),
        ]
    )
    model.save(tmp_path / "teacher.keras")
    return model, tmp_path / "teacher.keras"


def faces(n: int = 5) -> FaceSet:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    return FaceSet(images, np.arange(n) % 7, tuple(f"face{i}" for i in range(n)))


def test_targets_blend_labels_with_the_teachers_flip_averaged_probabilities(teacher):
    model, path = teacher
    plain = faces()
    x = (plain.images.astype(np.float32) / 255.0)[..., None]
    expected_probs = (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1]))) / 2
    assert not np.allclose(np.asarray(model(x)), expected_probs, atol=1e-3)  # the mirror matters

    taught = teacher_targets(plain, path, share=0.25, batch=2)  # several batches
    expected = 0.75 * np.eye(7)[plain.labels] + 0.25 * expected_probs
    np.testing.assert_allclose(taught.targets, expected, atol=1e-5)
    np.testing.assert_allclose(taught.targets.sum(axis=1), 1.0, atol=1e-5)
    assert taught.labels.tolist() == plain.labels.tolist() and taught.names == plain.names


def test_a_calibrated_teacher_teaches_the_probabilities_it_learnt(teacher, tmp_path):
    """The temperature in a model card sharpens what users are shown, not the targets."""
    model, path = teacher
    calibration = {"temperature": 0.5, "test_time_augmentation": "flip"}
    (tmp_path / "teacher.json").write_text(json.dumps({"calibration": calibration}))
    plain = faces()
    x = (plain.images.astype(np.float32) / 255.0)[..., None]
    probs = (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1]))) / 2
    taught = teacher_targets(plain, path, share=1.0)
    np.testing.assert_allclose(taught.targets, probs, atol=1e-5)


def test_soft_targets_such_as_ferplus_votes_are_blended_not_replaced_by_the_label(teacher):
    model, path = teacher
    plain = faces()
    votes = np.random.default_rng(2).dirichlet(np.ones(7), len(plain)).astype(np.float32)
    voted = FaceSet(plain.images, votes.argmax(axis=1), plain.names, targets=votes)
    x = (plain.images.astype(np.float32) / 255.0)[..., None]
    probs = (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1]))) / 2
    taught = teacher_targets(voted, path, share=0.5)
    np.testing.assert_allclose(taught.targets, 0.5 * votes + 0.5 * probs, atol=1e-5)


def test_share_outside_its_range_is_a_one_line_error(teacher):
    _, path = teacher
    with pytest.raises(DataError, match="teacher share"):
        teacher_targets(faces(), path, share=0.0)


def test_several_teachers_are_averaged_models_and_stored_probabilities_alike(teacher, tmp_path):
    model, path = teacher
    plain = faces()
    x = (plain.images.astype(np.float32) / 255.0)[..., None]
    run = (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1]))) / 2
    stored = np.random.default_rng(3).dirichlet(np.ones(7), len(plain)).astype(np.float32)
    probs_file = tmp_path / "teacher-probs.npz"
    np.savez(probs_file, probs=stored[::-1], names=np.asarray(plain.names[::-1]))  # any order

    taught = teacher_targets(plain, [path, probs_file], share=1.0)
    np.testing.assert_allclose(taught.targets, (run + stored) / 2, atol=1e-5)
    with pytest.raises(DataError, match="no teacher"):
        teacher_targets(plain, [], share=0.5)


def test_stored_probabilities_tell_apart_files_of_the_same_name_in_two_classes(tmp_path):
    """FER2013 has such pairs (angry/ and surprise/Training_8475486.jpg): different faces."""
    images = np.zeros((2, 48, 48), np.uint8)
    names = ("/data/train/angry/Training_8475486.jpg", "/data/train/surprise/Training_8475486.jpg")
    two = FaceSet(images, np.array([0, 5]), names)
    probs = np.eye(7, dtype=np.float32)[[0, 5]]
    elsewhere = [
        "/gpu/fer2013/train/surprise/Training_8475486.jpg",
        "/gpu/fer2013/train/angry/Training_8475486.jpg",
    ]
    np.savez(tmp_path / "probs.npz", probs=probs[::-1], names=np.asarray(elsewhere))
    np.testing.assert_array_equal(
        teacher_targets(two, tmp_path / "probs.npz", share=1.0).targets, probs
    )
