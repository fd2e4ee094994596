"""The slim install: analysis without TensorFlow, a one-line error where a command needs
the ``train`` extra, and a wheel that carries only the models offered by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import DEMO_CLIP, ROOT

CLI = "from lightemo_video.cli import app; app()"


def _without_tensorflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI (and every Ray worker it starts) as if TensorFlow were not installed."""
    block = tmp_path / "no-tensorflow"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text(
        "import sys\nsys.modules['tensorflow'] = None\nsys.modules['keras'] = None\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{block}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )


def test_analysis_export_and_reports_need_no_tensorflow(tmp_path):
    out = tmp_path / "out"
    done = _without_tensorflow(
        tmp_path,
        "analyze",
        str(DEMO_CLIP),
        "--out",
        str(out),
        "--sample-fps",
        "2",
        "--workers",
        "1",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "astronaut_demo" / "report.html").is_file()
    done = _without_tensorflow(
        tmp_path, "export", str(out / "astronaut_demo"), "--level", "segment"
    )
    assert done.returncode == 0 and ("happy" in done.stdout or "neutral" in done.stdout)


def test_commands_that_need_tensorflow_say_so_in_one_line(tmp_path):
    done = _without_tensorflow(tmp_path, "train", "--data", str(tmp_path))
    assert done.returncode == 1
    assert "lightemo-video[train]" in done.stderr and "Traceback" not in done.stderr
    keras_file = ROOT / "model" / "weights" / "lightemonet-ferplus.keras"
    done = _without_tensorflow(
        tmp_path,
        "analyze",
        str(DEMO_CLIP),
        "--out",
        str(tmp_path / "k"),
        "--model",
        str(keras_file),
        "--workers",
        "1",
    )
    assert done.returncode == 1 and "lightemo-video[train]" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_the_wheel_ships_the_named_models_only(tmp_path):
    source = tmp_path / "source"  # the tracked files only: no build leftovers
    for name in subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    stale = source / "lightemo_video.egg-info" / "SOURCES.txt"  # as an older build leaves it
    stale.parent.mkdir()
    stale.write_text(
        "model/weights/lightemonet-plus.keras\nmodel/weights/lightemonet-plus.report.html\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("lightemo_video-*.whl")
    assert wheel.stat().st_size <= 30 * 2**20
    names = zipfile.ZipFile(wheel).namelist()
    weights = sorted(Path(n).name for n in names if "/weights/" in n)
    assert weights == sorted(
        [
            "lightemonet.int8.tflite",
            "lightemonet.json",
            "lightemonet-plus-r4.int8.tflite",
            "lightemonet-plus-r4.json",
            "lightemonet-ferplus.int8.tflite",
            "lightemonet-ferplus.json",
            "lightemonet-ferplus-pool.int8.tflite",
            "lightemonet-ferplus-pool.json",
            "lightemonet-ferplus-pool.keras",
            "lightemonet-half.int8.tflite",
            "lightemonet-half.json",
        ]
    )
    detectors = sorted(Path(n).name for n in names if "/blazeface/" in n)
    assert detectors == [
        "LICENSE",
        "SOURCE.md",
        "face_detection_full_range.tflite",
        "face_detection_short_range.tflite",
    ]


def test_the_slim_install_does_not_pull_in_tensorflow():
    """Every package ``pip install lightemo-video`` brings, followed through their own
    requirements (extras left out), as the installed metadata declares them."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo = set(), ["lightemo-video"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. a platform-only dependency)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name.lower().replace("_", "-"))
    assert "tensorflow" not in seen, sorted(seen)
    assert {"ai-edge-litert", "av", "ray", "pyarrow"} <= seen
