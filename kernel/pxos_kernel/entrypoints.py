"""Finding entry points of group ``pxos`` without importing ``importlib.metadata``.

``importlib.metadata`` costs about 20 ms to import and parses every installed
distribution's metadata with the email parser; the CLI's start-up budget is
60 ms for everything. Entry points only need ``*.dist-info/entry_points.txt``
(and ``*.egg-info`` for old-style installs), and the distribution's name and
version are in the directory's name. The first distribution of a name found
on ``sys.path`` wins, as with ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Optional

_DIST_DIR = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(-py[^-]*)?\.(dist|egg)-info$")
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")


@dataclass(frozen=True)
class PluginEntryPoint:
    """One ``name = module:attr`` line of an ``entry_points.txt``."""

    name: str
    value: str
    distribution: str = "?"
    version: str = "?"

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
    for directory in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for entry in names:
            match = _DIST_DIR.match(entry)
            if not match:
                continue
            dist = match["name"].replace("_", "-").lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(directory, entry, "entry_points.txt"), encoding="utf-8") as stream:
                    text = stream.read()
            except OSError:
                continue
            found.extend(PluginEntryPoint(n, v, dist, match["version"]) for n, v in _parse(text, group))
    return found


def _parse(text: str, group: str) -> Iterable[tuple[str, str]]:
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.match(line)
        if section:
            inside = section["name"].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()
