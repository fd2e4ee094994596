from __future__ import annotations

import numpy as np
import pytest
from lightemo_video.model.augment import (
    augment_faces,
    cut_faces,
    epoch_indices,
    minority_mask,
    mix_faces,
    oversample_targets,
)
from lightemo_video.model.data import FaceSet, class_weights
from lightemo_video.model.labels import CLASS_INDEX, EMOTIONS


def _faces(per_class: int = 20) -> FaceSet:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(7), per_class)
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    return FaceSet(images, labels, tuple(str(i) for i in range(len(labels))))


def test_minority_mask_is_fear_angry_surprise_disgust():
    mask = minority_mask(np.arange(7))
    assert [EMOTIONS[i] for i in np.flatnonzero(mask)] == ["angry", "disgust", "fear", "surprise"]


def test_oversampling_raises_only_minority_classes():
    labels = np.repeat(np.arange(7), [3995, 436, 4097, 7215, 4830, 3171, 4965])
    targets = oversample_targets(labels)
    counts = np.bincount(labels)
    for name in ("happy", "sad", "neutral"):
        assert targets[CLASS_INDEX[name]] == counts[CLASS_INDEX[name]]
    for name in ("angry", "disgust", "fear", "surprise"):
        assert targets[CLASS_INDEX[name]] > counts[CLASS_INDEX[name]]
    order = epoch_indices(labels, np.random.default_rng(0))
    assert np.array_equal(np.bincount(labels[order], minlength=7), targets)


def test_augment_changes_pixels_keeps_shape():
    images = _faces().images[:10]
    out = augment_faces(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)


def test_training_batches_augment_only_minority_classes():
    pytest.importorskip("keras")
    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import make_sequence

    faces = _faces()
    sequence = make_sequence(faces, class_weights(faces.labels), RECIPES["paper"])
    originals = {int(i): faces.images[i] for i in range(len(faces))}
    majority_same = minority_changed = 0
    for b in range(len(sequence)):
        x, onehot, w = sequence[b]
        y = onehot.argmax(axis=1)
        idx = sequence.order[b * 32 : (b + 1) * 32]
        assert x.shape == (len(idx), 48, 48, 1) and x.dtype == np.float32 and x.max() <= 1.0
        np.testing.assert_allclose(w, class_weights(faces.labels)[y])
        for row, i in enumerate(idx):
            unchanged = np.array_equal(
                np.round(x[row, :, :, 0] * 255).astype(np.uint8), originals[int(i)]
            )
            if minority_mask(np.array([y[row]]))[0]:
                minority_changed += not unchanged
            else:
                assert unchanged, f"majority class {EMOTIONS[y[row]]} image was altered"
                majority_same += 1
    assert majority_same > 0 and minority_changed > 0


def test_shift_and_erase_options():
    images = np.full((20, 48, 48), 128, np.uint8)
    erased = augment_faces(images, np.random.default_rng(0), erase=1.0)
    assert all((face != 128).sum() >= 0.015 * 48 * 48 for face in erased)


def test_all_class_recipe_augments_every_class_without_oversampling():
    pytest.importorskip("keras")
    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import loss_weights, make_sequence

    faces = _faces()
    recipe = RECIPES["plus-bf16"].with_overrides(batch_size=16)
    sequence = make_sequence(faces, loss_weights(faces.labels, recipe.class_weighting), recipe)
    assert sorted(sequence.order.tolist()) == list(range(len(faces)))
    x, onehot, _ = sequence[0]
    idx = sequence.order[:16]
    changed = [
        not np.array_equal(np.round(x[r, :, :, 0] * 255).astype(np.uint8), faces.images[i])
        for r, i in enumerate(idx)
    ]
    assert all(changed)
    np.testing.assert_allclose(loss_weights(faces.labels, "sqrt") ** 2, class_weights(faces.labels))


def test_a_resumed_run_draws_afresh_and_an_uninterrupted_one_as_before():
    pytest.importorskip("keras")
    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import loss_weights, make_sequence

    faces = _faces()
    recipe = RECIPES["plus-bf16"].with_overrides(batch_size=16)
    weights = loss_weights(faces.labels, recipe.class_weighting)
    fresh = make_sequence(faces, weights, recipe)
    again = make_sequence(faces, weights, recipe)
    resumed = make_sequence(faces, weights, recipe, resumed_after=9)
    np.testing.assert_array_equal(fresh.order, again.order)  # reproducible
    np.testing.assert_array_equal(fresh[0][0], again[0][0])
    assert not np.array_equal(fresh.order, resumed.order)  # not epoch 1's draw once more


def test_mixup_blends_faces_targets_and_weights_in_the_same_pairs():
    rng = np.random.default_rng(3)
    x = rng.random((7, 48, 48, 1)).astype(np.float32)
    targets = np.eye(7, dtype=np.float32)  # one class per face: the targets name the pair
    weights = np.arange(1, 8, dtype=np.float32)
    blended = 0
    for seed in range(5):
        mixed_x, mixed_t, mixed_w = mix_faces(x, targets, weights, np.random.default_rng(seed), 0.2)
        assert mixed_x.dtype == mixed_t.dtype == mixed_w.dtype == np.float32
        np.testing.assert_allclose(mixed_t.sum(axis=1), 1.0, atol=1e-6)
        for i in range(7):
            share = mixed_t[i, i]
            assert share >= 0.5 - 1e-6  # its own face leads the blend
            j = int(np.argsort(mixed_t[i])[-2]) if share < 1 - 1e-6 else i
            blended += j != i
            np.testing.assert_allclose(mixed_x[i], share * x[i] + (1 - share) * x[j], atol=1e-5)
            assert np.isclose(mixed_w[i], share * weights[i] + (1 - share) * weights[j], rtol=1e-5)
    assert blended > 0


def test_cutmix_pastes_one_rectangle_of_the_partner_and_blends_by_area():
    x = (np.arange(7, dtype=np.float32)[:, None, None, None] + 1) * np.ones(
        (7, 48, 48, 1), np.float32
    )
    targets = np.eye(7, dtype=np.float32)
    weights = np.arange(1, 8, dtype=np.float32)
    cut = 0
    for seed in range(5):
        mixed_x, mixed_t, mixed_w = cut_faces(x, targets, weights, np.random.default_rng(seed), 1.0)
        assert mixed_x.dtype == mixed_t.dtype == mixed_w.dtype == np.float32
        for i in range(7):
            pasted = mixed_x[i, ..., 0] != i + 1
            share = mixed_t[i, i]
            assert share >= 0.5 - 1e-6  # its own face keeps at least half its area
            assert np.isclose(share, 1 - pasted.mean(), atol=1e-6)
            if not pasted.any():
                continue
            cut += 1
            rows, cols = np.flatnonzero(pasted.any(axis=1)), np.flatnonzero(pasted.any(axis=0))
            assert pasted.sum() == len(rows) * len(cols)  # one rectangle
            j = int(mixed_x[i, rows[0], cols[0], 0]) - 1
            np.testing.assert_allclose(mixed_t[i, j], 1 - share, atol=1e-6)
            assert np.isclose(mixed_w[i], share * weights[i] + (1 - share) * weights[j], rtol=1e-5)
    assert cut > 0


@pytest.mark.parametrize("mix", [mix_faces, cut_faces])
def test_mixing_off_leaves_the_batch_as_it_is(mix):
    x = np.zeros((4, 48, 48, 1), np.float32)
    t = np.eye(7, dtype=np.float32)[[0, 1, 2, 3]]
    w = np.ones(4, np.float32)
    out = mix(x, t, w, np.random.default_rng(0), 0.0)
    assert out[0] is x and out[1] is t and out[2] is w


@pytest.mark.parametrize("name", ["ferplus-pool-mixup-f32", "ferplus-pool-cutmix-f32"])
def test_a_mixing_recipe_trains_on_blended_batches(name):
    pytest.importorskip("keras")
    from lightemo_video.jobs.recipes import RECIPES
    from lightemo_video.jobs.train import loss_weights, make_sequence

    faces = _faces()
    recipe = RECIPES[name].with_overrides(batch_size=32)
    assert recipe.mixup > 0 or recipe.cutmix > 0
    sequence = make_sequence(faces, loss_weights(faces.labels, recipe.class_weighting), recipe)
    _, targets, _ = sequence[0]
    assert (np.count_nonzero(targets > 1e-6, axis=1) >= 2).any()  # one-hot labels came out blended
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)
