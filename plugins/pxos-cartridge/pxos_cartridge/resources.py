"""``importlib.resources`` support for archives: a Traversable over members, like ``zipfile.Path``."""

from __future__ import annotations

import io
import os
from importlib.resources.abc import Traversable, TraversableResources
from typing import Any, Iterator

from pxos_cartridge.archive import Archive


class ArchivePath(Traversable):
    """A file or directory inside an archive, for :mod:`importlib.resources` (like ``zipfile.Path``)."""

    def __init__(self, archive: Archive, at: str = "") -> None:
        self.archive = archive
        self.at = at.strip("/")

    @property
    def name(self) -> str:
        return self.at.rsplit("/", 1)[-1]

    def is_dir(self) -> bool:
        return self.archive.is_dir(self.at)

    def is_file(self) -> bool:
        return self.at in self.archive.members

    def iterdir(self) -> Iterator["ArchivePath"]:
        if not self.is_dir():
            raise NotADirectoryError(f"{self}: not a directory in the archive")
        prefix = self.at + "/" if self.at else ""
        seen = set()
        for path in self.archive.members:
            if path.startswith(prefix):
                child = path[len(prefix):].split("/", 1)[0]
                if child not in seen:
                    seen.add(child)
                    yield ArchivePath(self.archive, prefix + child)

    def joinpath(self, *descendants: "str | os.PathLike[str]") -> "ArchivePath":
        parts = [self.at] if self.at else []
        for descendant in descendants:
            parts.extend(p for p in str(descendant).split("/") if p)
        return ArchivePath(self.archive, "/".join(parts))

    def __truediv__(self, child: "str | os.PathLike[str]") -> "ArchivePath":
        return self.joinpath(child)

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode not in ("r", "rb"):
            raise ValueError(f"{self}: archives are read-only (mode {mode!r})")
        if not self.is_file():
            raise FileNotFoundError(f"{self}: no such file in the archive")
        stream = io.BytesIO(self.archive.read(self.at))
        return stream if mode == "rb" else io.TextIOWrapper(stream, *args, **kwargs)

    def read_text(self, encoding: "str | None" = None) -> str:
        return self.read_bytes().decode(encoding or "utf-8")

    def read_bytes(self) -> bytes:
        if not self.is_file():
            raise FileNotFoundError(f"{self}: no such file in the archive")
        return self.archive.read(self.at)

    def __str__(self) -> str:
        return f"{self.archive.path}/{self.at}" if self.at else str(self.archive.path)

    def __repr__(self) -> str:
        return f"ArchivePath({str(self)!r})"


class ArchiveResources(TraversableResources):
    """The resource reader of one package inside an archive."""

    def __init__(self, archive: Archive, directory: str) -> None:
        self._root = ArchivePath(archive, directory)

    def files(self) -> ArchivePath:
        return self._root
