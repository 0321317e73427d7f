"""Files: written so that a crash never leaves half of one behind, and hashed in bounded memory."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Union


@contextmanager
def atomic_writer(path: Union[str, os.PathLike], mode: int = 0o644, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched::

        with atomic_writer("out.png") as out:
            out.write(data)

    ``fsync=False`` keeps the atomic rename but leaves flushing to the OS: for
    many small files (map tiles) whose caller syncs once at the end.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        # /dev/null, a FIFO, /dev/stdout: nothing to keep atomic, and renaming over a device would replace it.
        with open(target, "wb") as stream:
            yield stream
        return
    import tempfile  # here, not at the top: importing it costs start-up for commands that never write

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path: Union[str, os.PathLike], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, mode) as stream:
        stream.write(data)


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """The sha256 (hex) of a file's bytes, read in 1 MiB blocks."""
    import hashlib  # not at the top: start-up of commands that never hash stays lighter

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
