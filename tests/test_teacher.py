"""The wide-teacher job, end to end on a few faces: packing, a budgeted run, and a teacher
file that the student's training can load (flip-averaged, like any model file)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from lightemo_video.jobs.evaluate import validation_slice
from lightemo_video.jobs.teacher import (
    MixedBatches,
    epochs_that_fit,
    export_teacher,
    pack_faces,
    packed_images,
    train_teacher,
)
from lightemo_video.model.data import FaceSet, stratified_split
from lightemo_video.model.distill import teacher_targets
from lightemo_video.model.errors import DataError, ModelError
from lightemo_video.model.runtime import open_model_file

from tests.test_ferplus import write_csv_dataset


def test_pack_keeps_voted_faces_and_the_recipes_validation_slice(tmp_path):
    votes = [f"Training,fer{i}.png,{i % 3},{(i + 1) % 4},1,0,0,0,0,0,0,0" for i in range(30)]
    votes[4] = "Training,fer4.png,0,0,0,0,0,0,0,0,2,8"  # not a face: left out
    faces, ferplus = write_csv_dataset(tmp_path, votes)
    packed = np.load(pack_faces(tmp_path / "fer2013.csv", ferplus, tmp_path / "faces.npz"))
    keep = np.setdiff1d(np.arange(30), [4])
    assert np.array_equal(packed_images(packed), faces.images[keep])
    assert packed["votes"].shape == (29, 7)
    np.testing.assert_allclose(packed["votes"].sum(axis=1), 1.0, atol=1e-6)
    _, validation = stratified_split(faces.labels, 0.1, seed=42)  # as the recipes draw it
    expected = np.setdiff1d(validation, [4])
    assert packed["names"][packed["validation"]].tolist() == [faces.names[i] for i in expected]

    # A teacher trained on the pack names the slice the way a model card does, so that
    # `evaluate --validation` scores it on these same faces.
    train_teacher(tmp_path / "faces.npz", tmp_path / "out", 5, max_epochs=1, width=4, batch_size=8)
    sliced = validation_slice(tmp_path / "fer2013.csv", tmp_path / "out" / "teacher.keras")
    assert [n for n in sliced.names if n != faces.names[4]] == [faces.names[i] for i in expected]


def _random_pack(path, n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    votes = rng.dirichlet(np.ones(7), n).astype(np.float32)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    validation = np.arange(n) % 4 == 0
    names = np.array([f"/data/fer2013/train/happy/face{i}.jpg" for i in range(n)])
    np.savez(path, images=images, votes=votes, validation=validation, names=names)
    return images, votes


def test_a_short_run_writes_a_teacher_the_student_can_use(tmp_path):
    n = 96
    images, votes = _random_pack(tmp_path / "faces.npz", n)
    out = tmp_path / "out"
    report = train_teacher(
        tmp_path / "faces.npz",
        out,
        5,
        max_epochs=2,
        width=4,
        batch_size=16,
        precision="mixed_bfloat16",
    )
    assert report["epochs_run"] == 2 and report["precision"] == "mixed_bfloat16"
    assert report["train_images"] == 72 and report["validation_images"] == 24
    assert json.loads((tmp_path / "out" / "teacher.json").read_text())["best_epoch"] in (1, 2)
    probs = np.load(tmp_path / "out" / "teacher-probs.npz")["probs"]
    assert probs.shape == (n, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    saved = keras.models.load_model(out / "teacher.keras")  # float32 whatever it trained in
    assert {w.dtype for w in saved.weights} == {"float32"} and saved.dtype_policy.name == "float32"
    teacher = open_model_file(tmp_path / "out" / "teacher.keras", tta="flip")
    again = teacher.predict((images[:8].astype(np.float32) / 255.0)[..., None])
    np.testing.assert_allclose(again, probs[:8], atol=1e-3)  # the probabilities it wrote

    # Exported, it outlives the run as model files that any model option takes by path.
    card = json.loads(export_teacher(out, tmp_path / "teachers" / "t").read_text())
    assert card["files"] == {"keras": "t.keras", "tflite": "t.int8.tflite"}
    assert card["test_time_augmentation"] == "flip" and card["best_epoch"] == report["best_epoch"]
    int8 = open_model_file(tmp_path / "teachers" / "t.int8.tflite")  # flip, from the card
    faces = (images[:8].astype(np.float32) / 255.0)[..., None]
    np.testing.assert_allclose(int8.predict(faces), probs[:8], atol=0.05)

    # The student reads them by file name, wherever its copy of the dataset lives.
    order = np.array([5, 0, 17, 3])
    student = FaceSet(
        images[order],
        np.zeros(4, np.int64),
        tuple(f"../shared/fer2013/train/happy/face{i}.jpg" for i in order),
        targets=votes[order],
    )
    blended = teacher_targets(student, tmp_path / "out" / "teacher-probs.npz", share=0.5)
    np.testing.assert_allclose(blended.targets, 0.5 * votes[order] + 0.5 * probs[order], atol=1e-6)
    stranger = FaceSet(images[:1], np.zeros(1, np.int64), ("train/happy/other.jpg",))
    with pytest.raises(DataError, match="no teacher probabilities for 1 of 1 faces"):
        teacher_targets(stranger, tmp_path / "out" / "teacher-probs.npz", share=0.5)


def test_mixup_keeps_targets_distributions_and_favours_the_first_face():
    x = np.stack([np.zeros((48, 48, 1)), np.ones((48, 48, 1))]).astype(np.float32)
    y = np.eye(7, dtype=np.float32)[[0, 1]]
    batches = MixedBatches(x, y, batch_size=2, mixup=0.4, seed=1)
    xb, yb = batches[0]
    np.testing.assert_allclose(yb.sum(axis=1), 1.0, atol=1e-6)
    assert (yb.max(axis=1) >= 0.5).all()
    np.testing.assert_allclose(xb[:, 0, 0, 0], yb[:, 1], atol=1e-6)  # pixels mix as targets do


def test_a_pack_without_a_validation_slice_is_refused(tmp_path):
    empty = np.zeros((4, 48, 48), np.uint8)
    np.savez(
        tmp_path / "faces.npz",
        images=empty,
        votes=np.full((4, 7), 1 / 7),
        validation=np.zeros(4, bool),
        names=np.array(["a", "b", "c", "d"]),
    )
    with pytest.raises(DataError, match="validation"):
        train_teacher(tmp_path / "faces.npz", tmp_path / "out", max_epochs=1, width=4)


def test_a_run_goes_on_from_a_finished_teacher_of_its_width(tmp_path):
    import keras

    _random_pack(tmp_path / "faces.npz")
    first = tmp_path / "first"
    train_teacher(tmp_path / "faces.npz", first, 5, max_epochs=1, width=4, batch_size=16)
    start = keras.models.load_model(first / "teacher.keras")
    # At a rate of zero the weights it learns are the ones it started from.
    again = train_teacher(
        tmp_path / "faces.npz",
        tmp_path / "again",
        5,
        max_epochs=1,
        width=4,
        batch_size=16,
        learning_rate=0.0,
        init_from=first / "teacher.keras",
    )
    assert again["init_from"] == str(first / "teacher.keras")
    went_on = keras.models.load_model(tmp_path / "again" / "teacher.keras")
    for a, b in zip(start.trainable_weights, went_on.trainable_weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ModelError, match="pass its --width"):
        train_teacher(
            tmp_path / "faces.npz",
            tmp_path / "wider",
            5,
            max_epochs=1,
            width=8,
            init_from=first / "teacher.keras",
        )


def test_the_schedule_fits_the_time_left_and_only_ever_shortens():
    assert epochs_that_fit(1, 100.0, 1000.0, planned=150) == 11
    assert epochs_that_fit(1, 1.0, 1000.0, planned=150) == 150  # the cap
    # Epochs slower than the first one promised: 4 fewer than planned.
    assert epochs_that_fit(10, 240.0, 20 * 240.0, planned=34) == 30
    assert epochs_that_fit(10, 200.0, 50 * 200.0, planned=34) == 34  # faster: no longer
    assert epochs_that_fit(10, 240.0, -50.0, planned=34) == 10  # out of time: stop now
