"""The one exception users see: a one-line message naming the file and the problem."""


class WirescoreError(Exception):
    """A user-facing error. str(exc) is one line: '<file>: <what is wrong>'."""
