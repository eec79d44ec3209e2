"""The exceptions users see: one line each, naming the file (or the part) and the problem."""
from __future__ import annotations

import os


class WirescoreError(Exception):
    """A user-facing error. str(exc) is one line: '<file>: <what is wrong>'."""


class StageFailure(WirescoreError):
    """Something a run calls raised: a detection profile's model, an output sink or a
    user callback. str(exc) is '<what failed>: <why>', e.g. "profile 9100002 (model
    tail): ValueError: ..." or "export flows.csv: No space left on device"; the original
    exception is __cause__ (its traceback is what `wirescore --debug` prints).

    stage: the part that failed, as the message names it."""

    def __init__(self, stage: str, exc: BaseException):
        super().__init__(f"{stage}: {describe(exc)}")
        self.stage = stage
        self.__cause__ = exc


def describe(exc: BaseException) -> str:
    """One line about exc: an OSError's text ("No space left on device", after what
    was being done when the error gives it: "cannot write EVE lines: No space left on
    device"), a WirescoreError's message, else "<type>: <first line of the message>"."""
    if isinstance(exc, OSError) and (exc.strerror or exc.errno):
        system = os.strerror(exc.errno) if exc.errno else exc.strerror
        if exc.strerror and exc.strerror != system:
            return f"{exc.strerror}: {system}"
        return system
    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, WirescoreError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
