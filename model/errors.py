"""One exception family for the whole tool; the CLI turns these into one-line messages."""

from __future__ import annotations


class LightEmoError(Exception):
    """Base error: says which input failed and why.

    Args:
        source: the file, row, URL (already redacted) or option that failed.
        reason: what is wrong with it, in plain words.
    """

    def __init__(self, source: object, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class DataError(LightEmoError):
    """A dataset folder, image or CSV row that cannot be used for training or evaluation."""


class ModelError(LightEmoError):
    """A model file that is missing, unreadable or of the wrong shape."""


class InputError(LightEmoError):
    """A video path that is missing, not a video, empty or corrupt."""


class UnreachableInput(InputError):
    """An input that could not be read just now (no answer, access refused, a server
    error): the input itself may be fine, so its earlier results are kept."""


class OutputError(LightEmoError):
    """An output folder or file that cannot be created or written."""


class StreamError(LightEmoError):
    """A live camera that cannot be reached or stops sending frames."""
