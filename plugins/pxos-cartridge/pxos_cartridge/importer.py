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
"""

from __future__ import annotations

import contextlib
import linecache
import sys
from functools import partial
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Iterator, Optional, Sequence, Union

from pxos_kernel import NotFoundError

from pxos_cartridge.archive import Archive, PathLike, open_archive


class ArchiveLoader(Loader):
    """Loads modules of one archive; shared by every module the finder finds there."""

    def __init__(self, archive: Archive, index: dict[str, tuple[Optional[str], bool]]) -> None:
        self.archive = archive
        self._index = index  # module name -> (member path or None for an implicit package, is_package)

    def _entry(self, fullname: str) -> tuple[Optional[str], bool]:
        try:
            return self._index[fullname]
        except KeyError:
            raise ImportError(f"{fullname!r} is not in archive {self.archive.path}", name=fullname) from None

    def is_package(self, fullname: str) -> bool:
        return self._entry(fullname)[1]

    def get_filename(self, fullname: str) -> str:
        member = self._entry(fullname)[0]
        if member is None:
            raise ImportError(f"{fullname!r} is an implicit package with no file", name=fullname)
        return f"{self.archive.path}/{member}"

    def get_source(self, fullname: str) -> Optional[str]:
        from importlib.util import decode_source

        member = self._entry(fullname)[0]
        return "" if member is None else decode_source(self.archive.read(member))

    def get_code(self, fullname: str) -> Any:
        member = self._entry(fullname)[0]
        if member is None:
            return compile("", f"<implicit package {fullname}>", "exec", dont_inherit=True)
        # compile() takes the raw bytes and honours a PEP 263 coding cookie itself.
        return compile(self.archive.read(member), self.get_filename(fullname), "exec", dont_inherit=True)

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        code = self.get_code(name)
        if self._index[name][0] is not None:
            # A lazy linecache entry: the source is read only if a traceback asks for it.
            linecache.cache[code.co_filename] = (partial(self.get_source, name),)
        exec(code, module.__dict__)

    def get_data(self, path: str) -> bytes:
        """The bytes of ``<archive>/<member>`` (what ``pkgutil.get_data`` asks a loader for)."""
        prefix = f"{self.archive.path}/"
        member = path[len(prefix):] if path.startswith(prefix) else None
        if member not in self.archive.members:
            raise FileNotFoundError(f"{path}: no such member in the archive")
        return self.archive.read(member)

    def get_resource_reader(self, fullname: str) -> Any:
        """An :class:`~pxos_cartridge.resources.ArchiveResources` for a package, for importlib.resources."""
        member, is_package = self._entry(fullname)
        if not is_package:
            return None
        # Imported here: importlib.resources is heavy, and most programs never ask for a resource.
        from pxos_cartridge.resources import ArchiveResources

        directory = fullname.replace(".", "/") if member is None else member.rpartition("/")[0]
        return ArchiveResources(self.archive, directory)


def _index(archive: Archive) -> dict[str, tuple[Optional[str], bool]]:
    """Map every importable module name to its member path and whether it is a package."""
    index: dict[str, tuple[Optional[str], bool]] = {}
    for path in archive.members:
        if not path.endswith(".py"):
            continue
        parts = path[:-3].split("/")
        if not all(part.isidentifier() for part in parts):
            continue
        if parts[-1] == "__init__":
            if len(parts) > 1:
                index[".".join(parts[:-1])] = (path, True)
        else:
            index.setdefault(".".join(parts), (path, False))
        for depth in range(1, len(parts) - (parts[-1] == "__init__")):
            index.setdefault(".".join(parts[:depth]), (None, True))  # a directory above: implicit package
    return index


class ArchiveFinder(MetaPathFinder):
    """Finds modules in one archive. Put it on ``sys.meta_path`` with :func:`install`."""

    def __init__(self, archive: Union[PathLike, Archive]) -> None:
        self.archive = archive if isinstance(archive, Archive) else open_archive(archive)
        self._index = _index(self.archive)
        self.loader = ArchiveLoader(self.archive, self._index)

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        entry = self._index.get(fullname)
        if entry is None:
            return None
        member, is_package = entry
        origin = None if member is None else f"{self.archive.path}/{member}"
        spec = ModuleSpec(fullname, self.loader, origin=origin, is_package=is_package)
        spec.has_location = member is not None
        if is_package:
            spec.submodule_search_locations = [f"{self.archive.path}/{fullname.replace('.', '/')}"]
        return spec

    def modules(self) -> list[str]:
        """Every module name this archive provides."""
        return sorted(self._index)

    def invalidate_caches(self) -> None:
        """Nothing to do: an archive never changes once opened."""

    @classmethod
    @contextlib.contextmanager
    def installed(cls, archive: Union[PathLike, Archive]) -> Iterator["ArchiveFinder"]:
        """Install a finder for the duration of a ``with`` block."""
        finder = install(archive)
        try:
            yield finder
        finally:
            uninstall(finder)

    def __repr__(self) -> str:
        return f"<ArchiveFinder {self.archive.path}>"


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
