"""Finding entry points of group ``pxos`` without importing ``importlib.metadata``.

``importlib.metadata`` costs about 20 ms to import and parses every installed
distribution's metadata with the email parser; the CLI's start-up budget is
60 ms for everything. Entry points only need ``*.dist-info/entry_points.txt``
(and ``*.egg-info`` for old-style installs), and the distribution's name and
version are in the directory's name. The first distribution of a name found
on ``sys.path`` wins, as with ``importlib.metadata``; a zip file on the path
(pxOS run as a zipapp, a shiv or a PEX) is read like a directory.

A finder on ``sys.meta_path`` that serves distributions from elsewhere (the
archive finder of a system cartridge, see ``pxos.py``) answers first, through
``pxos_distributions()``: pairs of a ``*.dist-info`` directory name and a
function reading one of its files. A finder with ``exclusive = True`` is then
the only source: the system cartridge's plugins, not the host's.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any, Callable, Iterable, Optional

from pxos_kernel.values import Value

_INFO_SUFFIXES = (".dist-info", ".egg-info")


def _dist_dir(entry: str) -> Optional[tuple[str, str]]:
    """``(name, version)`` of a ``NAME-VERSION[-pyX.Y].dist-info`` (or ``.egg-info``) directory name, else ``None``.

    String operations, not a regular expression: compiling one cost every command's start-up half a millisecond.
    """
    if not entry.endswith(_INFO_SUFFIXES):
        return None
    name, sep, rest = entry[:entry.rindex(".")].partition("-")
    version, tagged, tag = rest.partition("-")
    if not name or not sep or not version or (tagged and not tag.startswith("py")) or "-" in tag:
        return None
    return name, version


class PluginEntryPoint(Value):
    """One ``name = module:attr`` line of an ``entry_points.txt``."""

    __slots__ = ("name", "value", "distribution", "version")
    name: str
    value: str
    distribution: str
    version: str

    def __init__(self, name: str, value: str, distribution: str = "?", version: str = "?") -> None:
        self._fill(name, value, distribution, version)

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        target = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            target = getattr(target, part)
        return target


def find_entry_points(group: str, path: Optional[Iterable[str]] = None) -> list[PluginEntryPoint]:
    """Entry points of ``group`` from every distribution on ``path`` (default ``sys.path``)."""
    seen: set[str] = set()
    found: list[PluginEntryPoint] = []

    def add(entry: str, read: Callable[[], Optional[str]]) -> None:
        named = _dist_dir(entry)
        if named is None:
            return
        dist = named[0].replace("_", "-").lower()
        if dist in seen:
            return
        seen.add(dist)
        text = read()
        if text is not None and group in text:  # most distributions' entry points are not pxOS's
            found.extend(PluginEntryPoint(n, v, dist, named[1]) for n, v in _parse(text, group))

    if path is None:
        for finder in sys.meta_path:
            listing = getattr(finder, "pxos_distributions", None)
            if listing is None:
                continue
            for entry, read_file in listing():
                add(entry, functools.partial(read_file, "entry_points.txt"))
            if getattr(finder, "exclusive", False):
                return found
    for directory in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(directory or "."))
        except NotADirectoryError:  # a zip file on the path: a zipapp, a shiv or PEX, an egg
            texts = _zipped(directory)
            for entry in sorted(texts):
                add(entry, functools.partial(texts.get, entry))
            continue
        except OSError:
            continue
        for entry in names:
            if entry.endswith(_INFO_SUFFIXES):  # a site-packages holds hundreds of other entries
                add(entry, functools.partial(_read, os.path.join(directory, entry, "entry_points.txt")))
    return found


def _zipped(archive: str) -> dict[str, Optional[str]]:
    """The top-level distribution directories of a zip file on the path, each with its entry_points.txt."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as opened:
            names = set(opened.namelist())
            tops = sorted({name.split("/", 1)[0] for name in names if "/" in name})
            return {top: opened.read(f"{top}/entry_points.txt").decode("utf-8")
                    if f"{top}/entry_points.txt" in names else None for top in tops if _dist_dir(top)}
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return {}


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError:
        return None


def _parse(text: str, group: str) -> Iterable[tuple[str, str]]:
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]" and len(line) > 2 and "]" not in line[1:-1]:  # a [section]
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()
