#!/usr/bin/env bash
# Installs lightemo-video and analyses the bundled demo clip into outputs/astronaut_demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"  # Debian has only python3
"$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e .
lightemo-video analyze sample_videos/astronaut_demo.mp4 --annotate
lightemo-video export outputs/astronaut_demo --level segment
