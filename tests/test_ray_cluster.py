"""``analyze --ray-address``: a real ``ray start --head`` cluster on loopback, driven by the
installed ``lightemo-video`` command in its own process (as a user would run it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pytest

from tests.conftest import DEMO_CLIP, missing_system_component


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_system_component(f"the {name} command is not installed")
    return path


@pytest.fixture
def head_node():
    ray = _tool("ray")
    port = _free_port()
    subprocess.run(
        [
            ray,
            "start",
            "--head",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
        timeout=180,
        env=os.environ,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


def _analyze(*args: str) -> subprocess.CompletedProcess:
    cli = _tool("lightemo-video")
    return subprocess.run([cli, "analyze", *args], capture_output=True, text=True, timeout=300)


def test_analyze_on_an_existing_cluster(head_node, tmp_path):
    done = _analyze(
        str(DEMO_CLIP),
        "--out",
        str(tmp_path),
        "--ray-address",
        head_node,
        "--segment-frames",
        "100",
    )
    assert done.returncode == 0, done.stderr
    run = json.loads((tmp_path / "astronaut_demo" / "run.json").read_text())
    assert run["status"] == "ok" and run["segments"] == 2 and run["frames_analysed"] == 80
    # Without --ray-address the tool starts its own Ray, even with a cluster running here.
    embedded = _analyze(str(DEMO_CLIP), "--out", str(tmp_path / "embedded"), "--workers", "1")
    assert embedded.returncode == 0, embedded.stderr
    assert (
        json.loads((tmp_path / "embedded" / "astronaut_demo" / "run.json").read_text())["status"]
        == "ok"
    )


def test_unreachable_cluster_is_a_one_line_error(tmp_path):
    done = _analyze(
        str(DEMO_CLIP), "--out", str(tmp_path), "--ray-address", f"127.0.0.1:{_free_port()}"
    )
    assert done.returncode == 1
    assert "--ray-address: cannot connect to Ray" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_code_shipped_to_a_cluster_is_cleaned_up_when_the_command_ends():
    import sys
    from pathlib import Path

    shipped = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lightemo_video.pipeline.orchestration import shippable_package as s\n"
            "p = s(); print(p); assert (p / 'pipeline' / 'analyze.py').is_file()",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(shipped).parent.name.startswith("lightemo-ship-"):
        pytest.skip("installed layout: the package ships as it is, nothing is copied")
    assert not Path(shipped).exists()


def test_the_embedded_ray_leaves_no_session_folder_behind(tmp_path):
    import glob
    import sys

    def leftovers() -> set[str]:
        return set(glob.glob("/tmp/ray/session_2*")) | set(glob.glob("/tmp/lightemo-ray-*"))

    before = leftovers()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightemo_video.cli",
            "analyze",
            str(DEMO_CLIP),
            "--out",
            str(tmp_path / "out"),
            "--sample-fps",
            "1",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert leftovers() - before == set()
