#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, lints the code with
# ruff (pyproject.toml's settings), then runs the tests.
# System packages: GStreamer's RTSP server (live-camera tests) and Chromium (report
# screenshot test); skipped when apt-get is not available or we are not root.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"  # Debian has only python3

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-ugly gstreamer1.0-libav chromium >/dev/null
fi
"$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test,train]"
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m pytest -q "$@"
