"""Serve one H.264 MP4 over RTSP on loopback, for the live-camera tests.

Run with the system Python, which has GStreamer's bindings (``gi``):

    /usr/bin/python3 tests/rtsp_server.py CLIP PORT [MOUNT]

serves ``rtsp://127.0.0.1:PORT/MOUNT`` (default ``/live``) and prints ``ready`` once it
listens. Needs the Debian packages gir1.2-gst-rtsp-server-1.0, python3-gi and
gstreamer1.0-plugins-{good,bad,ugly} (``scripts/test.sh`` installs them). Stdlib and
``gi`` only: the project's virtual environment is not on this interpreter's path.
"""

from __future__ import annotations

import sys

# The GStreamer elements the served pipeline uses; the tests check for them first.
ELEMENTS = ("qtdemux", "h264parse", "rtph264pay")


def serve(clip: str, port: str, mount: str = "/live") -> None:
    """Serve ``clip`` until killed; every client shares one pipeline (like a camera)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={clip} ! qtdemux ! h264parse "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(mount, factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


def missing_elements() -> list[str]:
    """GStreamer elements of :data:`ELEMENTS` this machine lacks (raises without gi)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import Gst, GstRtspServer  # noqa: F401  (the server's bindings)

    Gst.init(None)
    return [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        missing = missing_elements()
        if missing:
            print(f"missing GStreamer elements: {', '.join(missing)}", file=sys.stderr)
        return 1 if missing else 0
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    serve(*argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
