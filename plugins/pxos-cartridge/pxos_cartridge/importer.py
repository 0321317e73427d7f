"""Import Python straight from a ``.pxa`` archive: a ``sys.meta_path`` finder in the spirit of zipimport.

::

    from pxos_cartridge.importer import install
    finder = install("app.pxa")      # `import app` now reads app/__init__.py from the archive

The archive is read and verified once, then every module is served from
memory. Modules look as they would from a zip: ``__file__`` is
``<archive>/<member>``, packages have ``__path__``, relative imports work,
``importlib.resources.files(package)`` walks the archive, and the source is
registered lazily with :mod:`linecache`, so tracebacks show archived lines.
A directory without ``__init__.py`` imports as an empty (namespace-like) package.

The finder, loader and resource reader are the boot shim's
(:mod:`pxos_cartridge.boot`, which is also ``pxos.py``): the same code imports
cartridges here and the whole system when pxOS boots from its system cartridge.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator, Union

from pxos_kernel import NotFoundError

from pxos_cartridge import boot
from pxos_cartridge.archive import Archive, PathLike, open_archive

ArchiveLoader = boot.ArchiveLoader


class ArchiveFinder(boot.ArchiveFinder):
    """Finds modules in one archive (its root is the import root). Put it on ``sys.meta_path`` with :func:`install`."""

    def __init__(self, archive: Union[PathLike, Archive]) -> None:
        super().__init__(archive if isinstance(archive, Archive) else open_archive(archive))

    @classmethod
    @contextlib.contextmanager
    def installed(cls, archive: Union[PathLike, Archive]) -> Iterator["ArchiveFinder"]:
        """Install a finder for the duration of a ``with`` block."""
        finder = install(archive)
        try:
            yield finder
        finally:
            uninstall(finder)


def install(archive: Union[PathLike, Archive]) -> ArchiveFinder:
    """Open ``archive`` (if a path) and put a finder for it first on ``sys.meta_path``."""
    finder = ArchiveFinder(archive)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: ArchiveFinder) -> None:
    """Take ``finder`` off ``sys.meta_path`` (modules already imported stay imported)."""
    try:
        sys.meta_path.remove(finder)
    except ValueError:
        raise NotFoundError(f"{finder!r} is not installed") from None
