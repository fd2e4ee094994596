"""Freed memory is reused: repeated large allocations stop costing page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Allocate, touch and free 8 blocks of 5 MB, 20 times: the shape of a training step.
PATTERN = """
import resource, sys
import numpy as np
from lightemo_video.pipeline.memory import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
for round_ in range(21):
    if round_ == 1:  # the first round always faults its pages in
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [np.ones(5 << 20, dtype=np.uint8) for _ in range(8)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only"
)
def test_tuned_malloc_reuses_freed_blocks():
    default, tuned = page_faults("default"), page_faults("tuned")
    assert default > 20 * 2_000  # glibc gave >= 8 MB back every round (4 KiB pages)
    assert tuned < default / 10
