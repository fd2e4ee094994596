"""Live sources: URL masking, stream ids, reconnect backoff, a camera that is not there."""

from __future__ import annotations

import itertools
import re
import socket
import time
from contextlib import ExitStack as DoesNotRaise

import pytest
from lightemo_video.model.errors import LightEmoError
from lightemo_video.pipeline.streams import (
    RECONNECTING,
    STOPPED,
    LiveSource,
    StreamConfig,
    backoff_delays,
    mask_url,
    redact,
    stream_id,
)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("rtsp://user:secretpw@127.0.0.1:8554/live", "rtsp://***@127.0.0.1:8554/live"),
        ("rtsp://admin@cam.local/stream1", "rtsp://***@cam.local/stream1"),
        ("rtsp://cam.local:554/h264?channel=1", "rtsp://cam.local:554/h264?channel=1"),
        ("rtsp://u:p%40ss@10.0.0.7/a", "rtsp://***@10.0.0.7/a"),
        ("rtsp://u:p@ss/w@10.0.0.7/a", "rtsp://***@10.0.0.7/a"),  # unescaped @ and /
        (
            "rtsp://10.0.0.7/cam?user=admin&password=hunter22&channel=2",
            "rtsp://10.0.0.7/cam?user=***&password=***&channel=2",
        ),
        ("http://cam/video.mjpg?token=abc123", "http://cam/video.mjpg?token=***"),
        ("user:secretpw@10.0.0.7/live", "***@10.0.0.7/live"),
        (  # a DVR's path-style login, a password with an underscore
            "rtsp://h:554/user=admin_password=s3c_ret_channel=1_stream=0.sdp",
            "rtsp://h:554/user=***_password=***_channel=1_stream=0.sdp",
        ),
        ("rtsp://h/cam/user=admin&password=hunter22", "rtsp://h/cam/user=***&password=***"),
        (
            "http://h/video.cgi?authbasic=YWRtaW46cHc=&pw=s3cret",
            "http://h/video.cgi?authbasic=***&pw=***",
        ),
        ("", ""),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


def test_redact_removes_every_form_of_the_credentials():
    url = "rtsp://user:secret%21pw@127.0.0.1:8554/live"
    text = f"open {url} failed; auth user:secret%21pw; password secret!pw"
    cleaned = redact(text, url)
    assert "secret" not in cleaned
    assert "rtsp://***@127.0.0.1:8554/live" in cleaned
    dvr = "rtsp://h:554/user=admin_password=s3c_ret_channel=1"
    assert "s3c_ret" not in redact("401 for user admin with s3c_ret", dvr)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("rtsp://user:secretpw@127.0.0.1:8554/live", "127.0.0.1-8554-live"),
        ("rtsp://127.0.0.1:8554/live", "127.0.0.1-8554-live"),
        ("rtsp://cam.local/live", "cam.local-554-live"),
        ("rtsp://cam.local:554/live", "cam.local-554-live"),
        ("rtsp://cam/Streaming/Channels/101", "cam-554-Streaming-Channels-101"),
        ("rtsp://cam/h264?channel=2&password=pw", "cam-554-h264-channel-2"),
        ("rtsp://[::1]:8554/live", "__1-8554-live"),
        ("rtsp://cam/a b/ü?x=<1>", "cam-554-a-b-x-1"),
        (
            "rtsp://h:554/user=admin_password=s3cret_channel=1_stream=0.sdp",
            "h-554-user-_password-_channel-1_stream-0.sdp",
        ),
    ],
)
def test_stream_id(url, expected):
    assert stream_id(url) == expected


def test_stream_id_is_short_and_safe_for_long_paths():
    a = stream_id("rtsp://pw:pw@cam/" + "x" * 200 + "/1")
    b = stream_id("rtsp://cam/" + "x" * 200 + "/2")
    assert a != b and len(a) <= 80 and len(b) <= 80
    assert re.fullmatch(r"[A-Za-z0-9._-]+", a)
    assert "pw" not in a


@pytest.mark.parametrize(
    "kwargs, expected, expectation",
    [
        ({}, [1, 2, 4, 8, 16, 30, 30, 30], DoesNotRaise()),
        ({"initial_s": 0.5, "max_s": 3}, [0.5, 1, 2, 3, 3, 3, 3, 3], DoesNotRaise()),
        ({"initial_s": 2, "max_s": 2}, [2] * 8, DoesNotRaise()),
        ({"initial_s": 0}, None, pytest.raises(LightEmoError, match="initial")),
        ({"initial_s": 5, "max_s": 1}, None, pytest.raises(LightEmoError, match="max")),
        ({"factor": 0.5}, None, pytest.raises(LightEmoError, match="factor")),
    ],
)
def test_backoff_sequence(kwargs, expected, expectation):
    with expectation:
        assert list(itertools.islice(backoff_delays(**kwargs), 8)) == expected


def test_stream_config_rejects_bad_timeouts():
    with pytest.raises(LightEmoError, match="read_timeout_s"):
        StreamConfig(read_timeout_s=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_camera_that_is_not_there_is_retried_with_a_masked_error():
    url = f"rtsp://user:secretpw@127.0.0.1:{_free_port()}/live"
    config = StreamConfig(
        open_timeout_s=2, read_timeout_s=2, backoff_initial_s=0.2, backoff_max_s=0.4
    )
    source = LiveSource(url, config)
    with source:
        assert source.newest(after=-1, timeout=1.5) is None
    stats = source.stats()
    assert stats.state == STOPPED
    assert stats.failed_attempts >= 2 and stats.frames_received == 0 and stats.connections == 0
    assert "connection refused" in stats.last_error
    assert stats.last_error.startswith("rtsp://***@127.0.0.1:")
    assert "secretpw" not in repr(source) + str(stats)


def test_state_is_reconnecting_while_retrying():
    source = LiveSource(f"rtsp://127.0.0.1:{_free_port()}/x", StreamConfig(backoff_initial_s=5))
    with source:
        deadline = time.monotonic() + 5
        while source.stats().failed_attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.stats().state == RECONNECTING
