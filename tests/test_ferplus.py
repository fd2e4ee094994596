"""FER+ crowd labels mapped onto FER2013 images: both layouts, dropped rows, bad files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from lightemo_video.model.data import load_faces
from lightemo_video.model.errors import DataError
from lightemo_video.model.ferplus import blend_ferplus, ferplus_labels
from lightemo_video.model.labels import CLASS_INDEX

from tests.conftest import shared_path

HEADER = (
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
)


def write_csv_dataset(tmp_path, votes: list[str]):
    """A fer2013.csv with one row per vote line (FER+ rows follow its rows)."""
    pixels = " ".join(["128"] * 48 * 48)
    (tmp_path / "fer2013.csv").write_text(
        "emotion,pixels,Usage\n" + "".join(f"3,{pixels},Training\n" for _ in votes)
    )
    ferplus = tmp_path / "ferplus"
    ferplus.mkdir()
    (ferplus / "fer2013new.csv").write_text(HEADER + "\n" + "\n".join(votes) + "\n")
    return load_faces(tmp_path / "fer2013.csv"), ferplus


def test_votes_become_plurality_labels_and_distributions(tmp_path):
    faces, ferplus = write_csv_dataset(
        tmp_path,
        [
            "Training,fer0.png,0,8,0,0,2,0,0,0,0,0",  # happy 80%, angry 20%
            "Training,,0,10,0,0,0,0,0,0,0,0",  # excluded by FER+ (no image name)
            "Training,fer2.png,1,0,0,0,0,0,0,6,3,0",  # mostly contempt: dropped
            "Training,fer3.png,0,0,0,0,0,0,0,0,2,8",  # not a face: dropped
            "Training,fer4.png,2,0,0,5,0,0,0,3,0,0",  # sad, contempt votes left out
        ],
    )
    relabelled = ferplus_labels(faces, ferplus)
    assert [n.rsplit(":", 1)[1] for n in relabelled.names] == [
        "2",
        "6",
    ]  # CSV lines of rows 0 and 4
    assert relabelled.labels.tolist() == [CLASS_INDEX["happy"], CLASS_INDEX["sad"]]
    np.testing.assert_allclose(
        relabelled.targets[0][[CLASS_INDEX["happy"], CLASS_INDEX["angry"]]], [0.8, 0.2]
    )
    np.testing.assert_allclose(relabelled.targets.sum(axis=1), 1.0)
    assert relabelled.targets[1][CLASS_INDEX["neutral"]] == pytest.approx(2 / 7)
    assert relabelled.subset(np.array([1])).targets.shape == (1, 7)


def test_blend_keeps_every_face_and_its_fer2013_label(tmp_path):
    faces, ferplus = write_csv_dataset(
        tmp_path,
        [
            "Training,fer0.png,0,0,0,8,2,0,0,0,0,0",  # FER+ sad/angry; FER2013 says happy
            "Training,fer1.png,0,0,0,0,0,0,0,0,2,8",  # not a face: one-hot target
        ],
    )
    blended = blend_ferplus(faces, ferplus, share=0.3)
    sad, happy, angry = CLASS_INDEX["sad"], CLASS_INDEX["happy"], CLASS_INDEX["angry"]
    assert blended.labels.tolist() == [happy, happy] and len(blended) == 2
    np.testing.assert_allclose(
        blended.targets[0][[happy, sad, angry]], [0.7, 0.24, 0.06], atol=1e-6
    )
    np.testing.assert_allclose(blended.targets[1], np.eye(7)[happy])
    np.testing.assert_allclose(blended.targets.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(DataError, match="FER2013 label leads"):
        blend_ferplus(faces, ferplus, share=0.5)


def test_bad_vote_files_are_one_line_errors(tmp_path):
    faces, ferplus = write_csv_dataset(tmp_path, ["Training,fer0.png,0,x,0,0,0,0,0,0,0,0"])
    with pytest.raises(DataError, match=r"fer2013new.csv:2: vote counts must be numbers"):
        ferplus_labels(faces, ferplus)
    with pytest.raises(DataError, match="FER\\+ vote file not found"):
        ferplus_labels(faces, tmp_path / "nowhere")


def test_public_test_images_get_their_ferplus_votes():
    root = shared_path("datasets", "ferplus")
    faces = load_faces(shared_path("datasets", "fer2013", "test"))
    relabelled = ferplus_labels(faces, root)
    assert len(faces) - 60 <= len(relabelled) < len(faces)  # few unmatched or non-emotion
    with (root / "fer2013_to_ferplus.csv").open() as handle:
        first = next(csv.DictReader(handle))
    with (root / "fer2013new.csv").open() as handle:
        row = list(csv.DictReader(handle))[int(first["ferplus_row"])]
    i = next(k for k, n in enumerate(relabelled.names) if n.endswith(first["fer2013_path"]))
    votes = np.array(
        [
            float(row[c])
            for c in ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
        ]
    )
    np.testing.assert_allclose(relabelled.targets[i], votes / votes.sum(), rtol=1e-6)
    original = dict(zip(faces.names, faces.labels, strict=True))
    agreement = np.mean(
        [original[n] == label for n, label in zip(relabelled.names, relabelled.labels, strict=True)]
    )
    assert 0.55 < agreement < 0.75  # FER+ relabels about a third of FER2013
