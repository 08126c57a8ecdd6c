"""Exceptions carrying libmlinfer's status and message."""
from __future__ import annotations


class Error(Exception):
    """A libmlinfer call failed; `status` is the C status code, the message the C detail."""

    status = -1

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidArgumentError(Error, ValueError):
    status = 1


class OutOfMemoryError(Error, MemoryError):
    status = 2


class UnsupportedError(Error):
    status = 3


class IOError(Error, OSError):  # noqa: A001 - mirrors MLI_ERR_IO
    status = 4


class CorruptModelError(Error, ValueError):
    status = 5


class VersionError(Error):
    status = 6


class ShapeError(Error, ValueError):
    status = 7


class DeviceError(Error):
    status = 8


class InternalError(Error):
    status = 9


class ImageError(Error, ValueError):
    """An input image is not a JPEG, is truncated or corrupt, or exceeds the pixel limit."""
    status = 10


class InputError(Error, ValueError):
    """A value in the input cannot be scored: an unknown category under handle_unknown='error', a
    string in a numeric column, a missing value the model cannot take, a missing column. The
    message names the column (and the row and the value)."""
    status = 11


class UnsupportedModelError(Error, TypeError):
    """mlinfer.export cannot represent this estimator (the message names the class/option)."""


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, OutOfMemoryError, UnsupportedError, IOError,
                                          CorruptModelError, VersionError, ShapeError, DeviceError, InternalError,
                                          ImageError, InputError)}


def raise_for_status(status: int, message: str) -> None:
    cls = _BY_STATUS.get(status, Error)
    # pandas' NA reaches the library as a string no category is (_columns._PandasNA): named as such
    message = message.replace("'\uffff<NA>'", "<NA> (pandas' NA)")
    raise cls(message, status)
