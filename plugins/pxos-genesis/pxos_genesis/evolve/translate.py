"""Patches written against a source checkout, applied to a system cartridge.

A human makes a change in a clone of the repository (``git diff`` gives
``a/plugins/pxos-pixelfs/pxos_pixelfs/store.py``), but the system cartridge
lays the same files out as they are installed: the code under
``site-packages/pxos_pixelfs/store.py``, the tests under
``source/plugins/pxos-pixelfs/tests/``. :func:`translate_patch` rewrites every
path of such a patch to its member path, when there is exactly one way to do
so, and leaves a patch already in member paths alone.

The rule for a path ``P`` of the checkout, first match wins:

1. ``P`` is a member (or, for a new file, its directory holds members): kept;
2. ``source/P`` is: the test trees and their data;
3. ``site-packages/S`` is, for the longest tail ``S`` of ``P`` that starts at a
   package directory (``plugins/pxos-pixelfs/pxos_pixelfs/store.py`` ->
   ``pxos_pixelfs/store.py``): the installed code.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Iterable, Optional

SITE = "site-packages/"
SOURCE = "source/"
_HEADER = re.compile(r"^(diff --git |--- |\+\+\+ |rename from |rename to )(.*)$")


def _directories(members: Iterable[str]) -> set[str]:
    found = set()
    for member in members:
        parent = PurePosixPath(member).parent
        while str(parent) not in (".", ""):
            found.add(str(parent))
            parent = parent.parent
    return found


def member_for(path: str, members: set[str], directories: set[str], *, new: bool = False) -> Optional[str]:
    """The member path a checkout path ``path`` names, or None when none does."""
    def known(candidate: str) -> bool:
        if new:
            return str(PurePosixPath(candidate).parent) in directories
        return candidate in members

    if known(path):
        return path
    if known(SOURCE + path):
        return SOURCE + path
    parts = path.split("/")
    for start in range(1, len(parts)):
        candidate = SITE + "/".join(parts[start:])
        if known(candidate) and SITE + parts[start] in directories:
            return candidate
    return None


def translate_patch(patch: str, members: Iterable[str]) -> tuple[str, dict[str, str]]:
    """``(patch in member paths, {checkout path: member path})``; paths with no match are left as they are
    (the build then says which file the cartridge does not have). A patch that cannot be read is returned
    unchanged: the build says what is wrong with it."""
    from pxos_genesis.evolve.patches import PatchError, changed_files

    names = set(members)
    directories = _directories(names)
    try:
        changes = changed_files(patch)
    except PatchError:
        return patch, {}
    mapping = {}
    for change in changes:
        target = member_for(change.path, names, directories, new=change.action == "create")
        if target is not None and target != change.path:
            mapping[change.path] = target
    if not mapping:
        return patch, {}
    out = []
    for line in patch.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _HEADER.match(body)
        if match is None:
            out.append(line)
            continue
        head, rest = match.groups()
        if head == "diff --git ":
            rest = " ".join(_rewrite(word, mapping, prefixed=True) for word in rest.split(" "))
        else:
            path, tab, tail = rest.partition("\t")
            rest = _rewrite(path, mapping, prefixed=not head.startswith("rename")) + tab + tail
        out.append(head + rest + line[len(body):])
    return "".join(out), mapping


def _rewrite(path: str, mapping: dict[str, str], *, prefixed: bool) -> str:
    if not prefixed:
        return mapping.get(path, path)
    prefix, _, rel = path.partition("/")
    return f"{prefix}/{mapping[rel]}" if rel in mapping else path
