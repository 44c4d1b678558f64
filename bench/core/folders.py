"""Owned output folders: every command writes only into a folder of its own kind, under an OS lock.

A folder written by a command carries a marker file, `.pconv-bench.json` (its kind and format version),
and a lock file, `.pconv-bench.lock`. A command:

* refuses, before writing anything, a path that is a file, a folder marked with another kind, or a
  non-empty folder that pconv-bench did not write (`check_claim`);
* holds an exclusive `fcntl.flock` on the lock file for its whole life (`claim`); a second writer gets a
  one-line error naming the holder's PID. The kernel drops the lock when its process dies, so a lock
  left by a killed process is reclaimed automatically. Shared holders (`shared=True`) and named
  sub-locks (`sublock`) let parts of one folder have separate writers;
* deletes or replaces only files it wrote, at paths checked by `inside` (relative, no `..`, no
  symlink escaping the folder).

Folders written before markers existed (no marker; the marker's `format` counts from 1) are recognised
by their own files (`LEGACY_SIGNS`) and adopted as their kind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bench.core.errors import BenchError
from bench.core.files import MARKER, clean_temp_files, shown, write_json

LOCK = ".pconv-bench.lock"
# The file listing a prepared folder's contents (an image set, a mask set), written last: its presence means
# the folder is complete.
MANIFEST = "manifest.csv"
FORMAT = 1

# What each kind of folder is, for messages.
KINDS: dict[str, str] = {
    "data": "an image set (bench data prepare)",
    "masks": "a mask set (bench masks generate/import)",
    "train": "a training run (bench train)",
    "eval": "an evaluation (bench evaluate)",
    "reproduce": "a reproduce work folder (bench reproduce)",
    "results": "a results folder (bench reproduce --results)",
    "export": "an export of the protocol's inputs (bench export)",
}
# Files by which folders written before markers existed are recognised.
LEGACY_SIGNS: dict[str, tuple[str, ...]] = {
    # Checked in this order: a results folder also holds a copy of run.json, a reproduce folder holds
    # folders of other kinds.
    "reproduce": ("stages",),
    "results": ("environment.json",),
    "data": ("dataset.json",),
    "masks": ("generate.json", "preview.png"),
    "train": ("last.pt", "log.csv"),
    "eval": ("run.json",),
}
# Entries that do not make a folder "non-empty" (made by the OS, or our own lock left alone).
_IGNORABLE = {".DS_Store", "lost+found"}


def inside(root: Path, rel: str | os.PathLike, what: str = "path") -> Path:
    """`root / rel`, checked: `rel` must be relative, without `..`, and must not leave `root` through a
    symlink. Raises BenchError naming `what` otherwise. The file itself need not exist."""
    text = str(rel)
    p = PurePosixPath(text.replace("\\", "/"))
    # A colon is an ordinary character in a name here; only a drive ("C:" before a separator) is refused.
    drive = bool(p.parts) and len(p.parts[0]) == 2 and p.parts[0][1] == ":" and p.parts[0][0].isalpha()
    if not text or p.is_absolute() or text.startswith(("/", "\\")) or ".." in p.parts or drive:
        raise BenchError(f"{what} {text!r} is not a plain relative path inside {shown(root)}")
    full = Path(root) / Path(*p.parts)
    real_root = Path(root).resolve()
    real = full.resolve()
    if real != real_root and real_root not in real.parents:
        raise BenchError(f"{what} {text!r} leads out of {shown(root)} (through a symbolic link)")
    return full


def read_kind(folder: Path) -> str | None:
    """The kind in the folder's marker; None when it has none. A corrupt marker is a BenchError."""
    marker = Path(folder) / MARKER
    try:
        data = json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise BenchError(f"{marker} is unreadable ({e}); remove it if the folder is yours") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise BenchError(f"{marker} names an unknown kind {kind!r}")
    return kind


def _legacy_kind(folder: Path) -> str | None:
    for kind, signs in LEGACY_SIGNS.items():
        if any((folder / s).exists() for s in signs):
            return kind
    return None


def check_claim(folder: Path, kind: str, option: str = "--out", busy_ok: bool = False) -> bool:
    """Raise BenchError unless `folder` may be written by a command of `kind`; writes nothing.

    A folder another process holds is refused too (naming the process), unless `busy_ok`. Returns True
    when the folder already exists (and is ours or empty).
    """
    folder = Path(folder)
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    if folder.is_symlink() and not folder.exists():
        raise BenchError(f"{option} {folder} is a broken symbolic link")
    if folder.exists() and not folder.is_dir():
        raise BenchError(f"{option} {folder} exists and is not a folder")
    if not folder.exists():
        for parent in folder.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise BenchError(f"{option} {folder}: {parent} is not a folder")
                break
        return False
    have = read_kind(folder)
    if have is None:
        legacy = _legacy_kind(folder)
        if legacy is not None:
            have = legacy
    if have is not None and have != kind:
        raise BenchError(f"{option} {folder} is {KINDS[have]}, not {KINDS[kind]}; choose another folder")
    if have is None:
        try:
            entries = [
                e
                for e in os.listdir(folder)
                if e not in _IGNORABLE and not e.startswith((".pconv-bench", "..pconv-bench"))
            ]
        except OSError as e:
            raise BenchError(f"{option} {folder} cannot be read ({e.strerror})") from None
        if entries:
            raise BenchError(
                f"{option} {folder} is not empty and was not written by pconv-bench "
                f"({len(entries)} entries, e.g. {sorted(entries)[0]!r}); choose a new or empty folder"
            )
    if not busy_ok and (folder / LOCK).exists():
        FolderLock(folder).acquire(what=f"{option} {folder}").release()  # in use: a BenchError
    return True


class FolderLock:
    """An flock on `folder/LOCK` (or `folder/LOCK.name` for a sub-lock), held until `release()`."""

    def __init__(self, folder: Path, name: str = "", shared: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / (LOCK if not name else f"{LOCK}.{name}")
        self.shared = shared
        self.fd: int | None = None

    def acquire(self, wait: bool = False, what: str = "") -> FolderLock:
        try:
            # O_NOFOLLOW: the PID written into the lock file must not land in a file a link points to.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise BenchError(f"lock file {shown(self.path)} is a symbolic link; remove it") from None
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            # A read-only folder: nobody can write there, so there is nothing to lock against. An
            # existing lock file can still be locked through a read-only descriptor.
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                return self
        op = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            if wait:
                fcntl.flock(fd, op)
            else:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(self.path)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise BenchError(
                f"{what or self.folder} is in use by {who} (lock {self.path}); wait for it to finish "
                "or choose another folder"
            ) from None
        if not self.shared:
            pid = f"{os.getpid()}\n".encode()
            with contextlib.suppress(OSError):
                if os.pread(fd, 64, 0) != pid:  # the holder's PID, for the message a second writer gets
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, pid, 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return None  # a former writer's PID: the lock is held shared (e.g. by an evaluation reading it)
    except OSError:
        pass
    return int(text)


def write_marker(folder: Path, kind: str) -> None:
    """Write the marker (atomically) unless it is already there."""
    if read_kind(folder) == kind:
        return
    write_json(Path(folder) / MARKER, {"kind": kind, "format": FORMAT, "tool": "pconv-bench"})


@contextlib.contextmanager
def claim(
    folder: Path, kind: str, *, option: str = "--out", wait: bool = False, shared: bool = False
) -> Iterator[Path]:
    """Check, create, mark and lock `folder` for a command of `kind`; the lock is held inside the block.

    Call it once inputs are validated: it is the first thing that writes. With `wait`, a folder in use
    is waited for instead of refused (several processes asking for one shared cache). A folder this
    call created is removed again when the block fails before writing anything else into it.
    """
    folder = Path(folder)
    existed = check_claim(folder, kind, option, busy_ok=wait or shared)
    created: list[Path] = []
    if not existed:
        created = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(folder, shared=shared).acquire(wait=wait, what=f"{option} {folder}")
    ok = False
    try:
        check_claim(folder, kind, option, busy_ok=True)  # again, under the lock: another may have been first
        if not shared and lock.fd is not None:
            # Held alone: a temporary file left here can only be a killed writer's (a full copy of a
            # checkpoint, say); shared holders may be writing theirs.
            clean_temp_files(folder)
        if read_kind(folder) != kind:
            try:
                write_marker(folder, kind)
            except OSError as e:
                if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
        yield folder
        ok = True
    finally:
        lock.release()
        if not ok and created:
            _remove_if_untouched(folder, created)


def _remove_if_untouched(folder: Path, created: list[Path]) -> None:
    """Undo `claim` on a new folder that holds nothing but our marker and lock."""
    with contextlib.suppress(OSError):
        if set(os.listdir(folder)) <= {MARKER, LOCK}:
            for name in (MARKER, LOCK):
                (folder / name).unlink(missing_ok=True)
            for p in created:  # deepest first
                p.rmdir()


def sublock(folder: Path, name: str, what: str = "", wait: bool = False) -> FolderLock:
    """An exclusive lock on one part of a folder (e.g. one shard of an evaluation); with `wait`, a part in
    use is waited for instead of refused."""
    return FolderLock(folder, name=name).acquire(wait=wait, what=what or f"{folder} ({name})")
