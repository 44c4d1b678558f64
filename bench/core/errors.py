"""The library's error: bad input or a bad environment, said in one line.

A plain exception, so the library stands without the command line: `bench.cli` turns it into one line
`Error: <message>` on stderr and exit code 2 (and Ctrl-C into 130).

>>> str(BenchError("no images in data/"))
'no images in data/'
"""

from __future__ import annotations

import errno


class BenchError(Exception):
    """Bad input or an impossible option; `.message` (also `str()`) is the one line shown to a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# What the OS says, in the words a user looks for.
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "it already exists",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
}


def environment_error(e: OSError) -> BenchError:
    """A one-line BenchError for an OSError: the path and the cause (read-only, no space, ...)."""
    cause = _CAUSES.get(e.errno or 0, e.strerror or type(e).__name__)
    path = e.filename if e.filename is not None else ""
    if e.filename2 is not None:
        path = f"{path} -> {e.filename2}"
    where = f"{path}: " if path else ""
    return BenchError(f"{where}{cause}; files written before this point are kept")
