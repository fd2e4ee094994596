"""Under ``CI=true`` a missing system component fails the run instead of skipping quietly
(the RTSP server the live tests need lives in tests/: see test_monitor.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

_PROBE = textwrap.dedent(
    """
    from tests.conftest import missing_system_component

    def test_needs_a_component():
        missing_system_component("the frobnicator is not installed")
    """
)


@pytest.mark.parametrize(
    "ci, outcome", [("true", "1 failed"), ("", "1 skipped"), ("false", "1 skipped")]
)
def test_a_missing_component_fails_under_ci_and_skips_elsewhere(tmp_path, ci, outcome):
    probe = tmp_path / "test_probe.py"
    probe.write_text(_PROBE)
    env = {**os.environ, "CI": ci}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", str(probe)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in run.stdout, run.stdout
    assert "the frobnicator is not installed" in run.stdout
    assert (run.returncode != 0) == (ci == "true")
