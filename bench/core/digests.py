"""Content digests of input files (test images, masks), cached by file identity.

A stored result is keyed by what its inputs *contain*, not by their paths: a mask folder regenerated in
place, or an image replaced, changes the digest of exactly the pairs it touches. Hashing 12,000 images
at every run would cost seconds to minutes, so digests are cached per file under its identity (size,
mtime, ctime, inode): a file rewritten in any way gets a new ctime, which no user tool can set back.

>>> cache = DigestCache(None)
>>> cache.digest(Path(__file__)) == cache.digest(Path(__file__))
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.core.files import write_json

CACHE_FILE = "inputs-cache.json"
DIGEST_CHARS = 16  # 64 bits of BLAKE2b: collisions among a test set's files are out of the question


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b of the file's bytes, DIGEST_CHARS hex digits."""
    h = hashlib.blake2b(digest_size=DIGEST_CHARS // 2)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def bytes_digest(data: bytes) -> str:
    """`file_digest` of bytes already read (a reader that hashes what it decodes)."""
    return hashlib.blake2b(data, digest_size=DIGEST_CHARS // 2).hexdigest()


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class DigestCache:
    """file -> digest (and the checks it passed), remembered in a JSON file while the file is unchanged."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        if self.path is not None:
            try:
                data = json.loads(self.path.read_text())
                if isinstance(data, dict):
                    self.entries = {k: v for k, v in data.items() if isinstance(v, dict)}
            except (OSError, ValueError):
                pass  # no cache yet, or a corrupt one: everything is hashed again

    def _entry(self, path: Path) -> dict[str, Any]:
        key = str(Path(path).resolve())
        ident = _identity(Path(path).stat())
        entry = self.entries.get(key)
        if entry is None or entry.get("id") != ident:
            entry = {"id": ident, "digest": file_digest(path)}
            self.entries[key] = entry
            self.dirty = True
        return entry

    def digest(self, path: Path) -> str:
        return self._entry(path)["digest"]

    def digests(self, paths: Iterable[Path], workers: int = 1) -> list[str]:
        """Digests of many files, hashed in threads (hashlib releases the GIL on large buffers)."""
        paths = list(paths)
        if workers <= 1 or len(paths) < 2:
            return [self.digest(p) for p in paths]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            entries = list(pool.map(self._entry, paths))
        return [e["digest"] for e in entries]

    def passed(self, path: Path, check: str) -> bool:
        """True when `path`, unchanged since, already passed `check` (a string naming the check)."""
        return check in self._entry(path).get("checks", ())

    def mark_passed(self, path: Path, check: str) -> None:
        entry = self._entry(path)
        checks = entry.setdefault("checks", [])
        if check not in checks:
            checks.append(check)
            self.dirty = True

    def save(self) -> None:
        """Write the cache (atomically) when something new was learned."""
        if self.path is not None and self.dirty:
            write_json(self.path, self.entries)
            self.dirty = False
