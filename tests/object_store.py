"""A real S3-compatible server for the tests: moto's standalone server on 127.0.0.1.

``start_s3_server()`` accepts any key, as a development MinIO would. With
``check_credentials=True`` it refuses every request after storing the objects it starts
with (no user exists), as S3 refuses requests that carry no credentials.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from tests.conftest import missing_system_component


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key_id: str
    secret: str

    def env(self, base: dict | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) pointed at this server with
        its key, and no other credential source in reach."""
        env = {k: v for k, v in (base or os.environ).items() if not k.startswith("AWS_")}
        return {
            **env,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )


def start_s3_server(
    objects: dict[str, bytes], check_credentials: bool = False
) -> tuple[subprocess.Popen, S3Server]:
    """Start moto's server on a free port holding ``objects`` (``bucket/key`` -> bytes);
    returns it and a key it takes."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        missing_system_component("moto[server] is not installed (pip install -e '.[test]')")
    port = free_port()
    buckets = sorted({name.split("/", 1)[0] for name in objects})
    unchecked = str(len(buckets) + len(objects)) if check_credentials else "inf"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": unchecked}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("moto's S3 server did not start")
            time.sleep(0.1)
    server = S3Server(f"http://127.0.0.1:{port}", "AKIATESTKEY", "test-secret-key")
    client = server.client()
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    for name, data in objects.items():
        bucket, key = name.split("/", 1)
        client.put_object(Bucket=bucket, Key=key, Body=data)
    return process, server


class HoldingProxy:
    """A TCP relay to a server that can *hold* requests: while held, what clients send
    waits in the relay (connections stay open, nothing is refused), as when a bucket stops
    answering; :meth:`release` lets it all through."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.passing = threading.Event()
        self.passing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.passing.clear()

    def release(self) -> None:
        self.passing.set()

    @property
    def holding(self) -> bool:
        return not self.passing.is_set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, gated: bool) -> None:
        try:
            while data := source.recv(65536):
                if gated:
                    self.passing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.release()
        self.listener.close()
