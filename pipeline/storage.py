"""Object storage (``s3://``, ``gs://``) and web servers (``http(s)://``) as inputs and outputs.

Videos are never downloaded whole: S3 and GCS objects open as seekable pyarrow files
that fetch byte ranges on demand, and ``http(s)://`` URLs are opened by FFmpeg itself,
which seeks with HTTP range requests. Each Ray task opens its own handle on its own
segment, so only the bytes of that segment travel, and only to that worker.

Credentials come from the providers' standard chains (``AWS_*`` variables,
``~/.aws``, instance profiles; Google application default credentials), read on each
node that opens a file; ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) points S3 at a
compatible server such as MinIO or Ceph. Nothing here stores or prints a secret: every
URL shown goes through :func:`display`, which masks ``user:pass@`` and signed-URL
query parameters.
"""

from __future__ import annotations

import base64
import functools
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

import pyarrow.fs as pafs
from lightemo_video.model.errors import InputError, UnreachableInput
from lightemo_video.pipeline.streams import mask_url, redact

OBJECT_SCHEMES = frozenset({"s3", "gs", "gcs"})
HTTP_SCHEMES = frozenset({"http", "https"})
CONNECT_TIMEOUT_S = 5.0
"""How long connecting to a storage endpoint may take: a dead endpoint fails in seconds."""
READ_TIMEOUT_S = 60.0
READ_BUFFER_BYTES = 1 << 20
"""Bytes FFmpeg asks for per read of a storage handle: one ranged request each, large
enough that request latency does not dominate, small enough that a seek wastes little."""

Location = Path | str
"""A local path, or a URL (``s3://bucket/key``, ``gs://bucket/key``, ``https://...``)."""


def is_url(location: object) -> bool:
    """Whether ``location`` is a URL this module opens (not a local path)."""
    scheme = urlsplit(str(location)).scheme.lower() if "://" in str(location) else ""
    return scheme in OBJECT_SCHEMES or scheme in HTTP_SCHEMES


def location(text: str | Path) -> Location:
    """A URL kept as text (``Path`` would fold its ``//``), anything else as a ``Path``."""
    return str(text) if is_url(text) else Path(text)


def readable(location: Location) -> bool:
    """Whether ``location`` is worth opening: any URL (opening it says why not), or an
    existing local file."""
    return is_url(location) or Path(location).is_file()


# Query parameters of a signed URL that change each time the same object is signed.
SIGNING_TIME = frozenset(
    {"x-amz-date", "x-amz-expires", "x-goog-date", "x-goog-expires", "expires"}
)


def display(location: Location) -> Location:
    """``location`` as it may be shown, logged and stored: a URL as text with its
    credentials masked and without the signing time of a signed URL (so the same
    object signed anew is the same input, and a rerun skips it), a local path unchanged."""
    if not is_url(location):
        return location
    parts = urlsplit(mask_url(str(location)))
    kept = [p for p in parts.query.split("&") if p.split("=")[0].lower() not in SIGNING_TIME]
    return urlunsplit(parts._replace(query="&".join(kept)))


def scrub(text: str, location: Location) -> str:
    """``text`` (a third-party message that may quote ``location``) with the URL's
    credentials masked."""
    return redact(text, str(location)) if is_url(location) else text


def name_of(location: Location) -> str:
    """The file or object name (last path part), without a URL's query string."""
    if is_url(location):
        return PurePosixPath(urlsplit(str(location)).path).name
    return Path(location).name


def stem_of(location: Location) -> str:
    """The file or object name without its suffix: the default ``video_id``, made a
    name every table and file system takes: bytes that are not UTF-8 become ``_``, and
    leading dots too (no hidden folders, no clash with ``OUT/.staging``)."""
    stem = PurePosixPath(name_of(location)).stem
    readable = stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    visible = readable.replace("\ufffd", "_")
    return "_" * (len(visible) - len(visible.lstrip("."))) + visible.lstrip(".") or "video"


def join(base: str, *parts: str) -> str:
    """``base`` (a URL prefix or local folder) and ``parts`` joined with ``/``."""
    return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class ObjectStat:
    """Size and version of an object: what decides whether a rerun may skip it."""

    st_size: int
    st_mtime_ns: int
    etag: str | None


def filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for an ``s3://`` or ``gs://`` URL, and the ``bucket/key``
    path within it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in OBJECT_SCHEMES or not parts.netloc:
        expected = "expected s3://bucket/key or gs://bucket/key"
        raise InputError(display(url), f"not an object storage URL; {expected}")
    path = (parts.netloc + parts.path).rstrip("/")
    if scheme == "s3":
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return _s3(parts.netloc, s3_endpoint(), region), path
    return _gcs(), path


def s3_endpoint() -> str | None:
    """The S3-compatible endpoint set for this process (``AWS_ENDPOINT_URL_S3`` or
    ``AWS_ENDPOINT_URL``), or None for AWS itself."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


@functools.lru_cache(maxsize=32)
def _s3(bucket: str, endpoint: str | None, region: str | None) -> pafs.S3FileSystem:
    """One S3 client per bucket and setting, with a short connect timeout and the
    standard credential chain (the endpoint is passed on: pyarrow's constructor does
    not read ``AWS_ENDPOINT_URL``)."""
    options: dict = {}
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
        options = {"endpoint_override": parts.netloc, "scheme": parts.scheme or "https"}
        region = region or "us-east-1"
    elif region is None:
        try:
            region = pafs.resolve_s3_region(bucket)
        except OSError:
            region = None  # a missing bucket or no network: the first request says which
    return pafs.S3FileSystem(
        region=region,
        allow_delayed_open=True,  # a file smaller than one upload part is one PUT
        connect_timeout=CONNECT_TIMEOUT_S,
        request_timeout=READ_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        **options,
    )


@functools.lru_cache(maxsize=1)
def _gcs() -> pafs.GcsFileSystem:
    return pafs.GcsFileSystem(retry_time_limit=timedelta(seconds=READ_TIMEOUT_S))


def reason(exc: BaseException, url: str) -> str:
    """A one-line reason for a storage error, without credentials."""
    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        return "no such object"
    if re.search(r"ACCESS_DENIED|AccessDenied|\b403\b|Forbidden", text):
        if _credentials_in_sight():
            return "access denied: the credentials found are not allowed to do this"
        return (
            "access denied and no credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role)"
        )
    if re.search(r"InvalidAccessKeyId|SignatureDoesNotMatch|INVALID_ACCESS_KEY|SIGNATURE", text):
        return "the storage server rejected the credentials"
    if re.search(r"NETWORK_CONNECTION|curlCode|Could not connect|timed out|refused", text):
        endpoint = s3_endpoint() if urlsplit(url).scheme == "s3" else None
        where = f" at {mask_url(endpoint)}" if endpoint else ""
        wait = f"{CONNECT_TIMEOUT_S:.0f} s"
        return f"cannot reach the storage endpoint{where} (refused, or no answer within {wait})"
    if re.search(r"NO_SUCH_BUCKET|NoSuchBucket|Bucket .* not found", text):
        return "no such bucket"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return mask_url(first)


def input_error(exc: BaseException, url: str) -> InputError:
    """The error for a failed read of ``url``: :class:`UnreachableInput` unless the
    object or its bucket is missing (then the input itself is gone)."""
    why = reason(exc, url)
    missing = why.startswith("no such")
    return (InputError if missing else UnreachableInput)(display(url), why)


def _credentials_in_sight() -> bool:
    """Whether this process has S3 credentials the standard chain would pick up (an
    instance role cannot be seen without asking the network, so it does not count)."""
    env = os.environ
    if any(env.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")):
        return True
    shared = env.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials")
    return Path(shared).is_file()


def _missing(fs: pafs.FileSystem, path: str, url: str, what: str) -> InputError:
    """Why ``path`` is not there: its bucket is missing, or only the object or prefix."""
    bucket = path.split("/", 1)[0]
    try:
        has_bucket = fs.get_file_info(bucket).type != pafs.FileType.NotFound
    except OSError as exc:
        return input_error(exc, url)
    return InputError(display(url), what if has_bucket else f"no such bucket '{bucket}'")


def stat(url: str) -> ObjectStat:
    """Size, modification time and ETag of an object or http(s) resource.

    Raises:
        InputError: missing bucket or object, a folder, no credentials, unreachable endpoint.
    """
    if urlsplit(url).scheme.lower() in HTTP_SCHEMES:
        return _http_stat(url)
    fs, path = filesystem(url)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise _missing(fs, path, url, "no such object")
        if info.type != pafs.FileType.File:
            raise InputError(display(url), "is a prefix (folder), not a video file")
        with fs.open_input_file(path) as handle:
            meta = handle.metadata() or {}
    except OSError as exc:
        raise input_error(exc, url) from None
    etag = meta.get(b"ETag") or meta.get("ETag")
    etag = etag.decode() if isinstance(etag, bytes) else etag
    return ObjectStat(info.size or 0, info.mtime_ns or 0, etag)


def _http_stat(url: str) -> ObjectStat:
    """Size and version from a one-byte ranged GET (signed URLs are signed for GET, so
    a HEAD request would be refused). ``user:password@`` in the URL is sent as basic
    authentication, as FFmpeg does."""
    parts = urlsplit(url)
    asked = {"Range": "bytes=0-0"}
    if parts.username is not None:
        login = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        asked["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    try:
        request = urllib.request.Request(url, headers=asked)
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as answer:
            headers = answer.headers
    except urllib.error.HTTPError as exc:
        gone = InputError if exc.code in (404, 410) else UnreachableInput
        raise gone(display(url), f"the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        why = getattr(exc, "reason", exc)
        shown = f"cannot reach the server ({mask_url(str(why))})"
        raise UnreachableInput(display(url), shown) from None
    modified = headers.get("Last-Modified")
    mtime_ns = int(parsedate_to_datetime(modified).timestamp() * 1e9) if modified else 0
    total = (headers.get("Content-Range") or "").rpartition("/")[2]  # "bytes 0-0/12345"
    size = int(total) if total.isdigit() else int(headers.get("Content-Length") or 0)
    return ObjectStat(size, mtime_ns, headers.get("ETag"))


def list_videos(url: str, suffixes: Iterable[str]) -> tuple[list[str], list[InputError]]:
    """Expand an object URL into video objects: itself, or every object under it (as
    a prefix, recursively) whose name ends in one of ``suffixes``.

    An ``http(s)://`` URL is one file. An object named explicitly is kept whatever its
    suffix, as local files are, so a non-video gets its own error when it is probed.
    """
    if urlsplit(url).scheme.lower() in HTTP_SCHEMES:
        return [url], []
    scheme = urlsplit(url).scheme.lower()
    try:
        fs, path = filesystem(url)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            return [url], []
        if info.type == pafs.FileType.NotFound:
            return [], [_missing(fs, path, url, "no such object or prefix")]
        found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except InputError as exc:
        return [], [exc]
    except OSError as exc:
        return [], [input_error(exc, url)]
    wanted = {s.lower() for s in suffixes}
    videos = sorted(
        f"{scheme}://{f.path}"
        for f in found
        if f.type == pafs.FileType.File and PurePosixPath(f.path).suffix.lower() in wanted
    )
    if not videos:
        return [], [InputError(display(url), "prefix holds no video files")]
    return videos, []


@contextmanager
def opened(location: Location) -> Iterator[str | BinaryIO]:
    """What FFmpeg should open for ``location``: a local path or http(s) URL as text,
    or a seekable handle on an object that reads byte ranges on demand."""
    if not is_url(location) or urlsplit(str(location)).scheme.lower() in HTTP_SCHEMES:
        yield str(location)
        return
    fs, path = filesystem(str(location))
    try:
        handle = fs.open_input_file(path)
    except OSError as exc:
        raise input_error(exc, str(location)) from None
    with handle:
        yield handle


def av_options(location: Location) -> dict:
    """``av.open`` keyword arguments for ``location``: larger reads for storage handles,
    bounded waits for network inputs."""
    if not is_url(location):
        return {}
    return {"buffer_size": READ_BUFFER_BYTES, "timeout": (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)}


# Outputs: whole objects, written one at a time.


def write_object(url: str, data: bytes) -> None:
    """Store ``data`` as one object, which appears whole when the write completes."""
    fs, path = filesystem(url)
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def upload(local: Path, url: str) -> None:
    """Store a local file as one object (readers see the old object or the whole new one)."""
    write_object(url, Path(local).read_bytes())


def read_object(url: str) -> bytes | None:
    """An object's bytes, or None when it does not exist."""
    fs, path = filesystem(url)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def delete_objects(urls: Iterable[str]) -> None:
    """Delete objects; one already gone is not an error."""
    for url in urls:
        fs, path = filesystem(url)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass


def list_names(url: str) -> list[str]:
    """Paths (relative to ``url``, ``/``-separated) of every object under a prefix."""
    fs, path = filesystem(url)
    selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    return sorted(
        f.path[len(path) + 1 :] for f in fs.get_file_info(selector) if f.type == pafs.FileType.File
    )
