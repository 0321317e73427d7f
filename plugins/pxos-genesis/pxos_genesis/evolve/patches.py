"""Unified-diff patches: which files they change, refusing any that could escape the tree, and applying them.

Paths are read from the patch itself and judged before anything is applied;
``git apply`` then applies all hunks or none, inside the workspace tree only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from pxos_kernel import PxosError

MAX_PATCH_BYTES = 1 << 20
_OLD = re.compile(r"^--- (\S+)")
_NEW = re.compile(r"^\+\+\+ (\S+)")
_GIT_HEADER = re.compile(r"^diff --git (\S+) (\S+)$")
_RENAME = re.compile(r"^rename (from|to) (.+)$")
_MODE = re.compile(r"^(new file mode|new mode|old mode|deleted file mode) (\d+)$")


class PatchError(PxosError):
    """A patch is unsafe, malformed or does not apply."""


@dataclass(frozen=True)
class FileChange:
    """One file a patch changes: ``create``, ``modify`` or ``delete`` (a rename is a delete and a create)."""

    path: str
    action: str


def changed_files(patch: str) -> list[FileChange]:
    """Every tree-relative file the patch changes (first path component stripped, as with ``-p1``).

    Raises PatchError for anything that could write outside the tree: absolute
    paths, ``..``, the ``.git`` directory, symlinks, submodules, binary
    patches; and for a text that changes no file at all.
    """
    if len(patch.encode("utf-8")) > MAX_PATCH_BYTES:
        raise PatchError(f"patch is larger than {MAX_PATCH_BYTES} bytes")
    changes: dict[str, str] = {}
    old: Optional[str] = None
    git: Optional[tuple[str, str]] = None
    for number, line in enumerate(patch.splitlines(), start=1):
        if line.startswith("GIT binary patch") or line.startswith("Binary files "):
            raise PatchError(f"patch line {number}: binary patches are not accepted")
        if (m := _GIT_HEADER.match(line)):
            git = (_tree_path(m.group(1), number), _tree_path(m.group(2), number))
            changes.setdefault(git[1], "modify")
        elif (m := _MODE.match(line)):
            if m.group(2) in ("120000", "160000"):
                raise PatchError(f"patch line {number}: symlinks and submodules are not accepted "
                                 f"(mode {m.group(2)})")
            if git and m.group(1) == "new file mode":
                changes[git[1]] = "create"
            elif git and m.group(1) == "deleted file mode":
                changes[git[0]] = "delete"
        elif (m := _RENAME.match(line)):
            path = _tree_path("x/" + m.group(2), number)  # rename lines carry tree paths without a/ or b/
            changes[path] = "delete" if m.group(1) == "from" else "create"
        elif (m := _OLD.match(line)):
            old = m.group(1)
        elif (m := _NEW.match(line)) and old is not None:
            new = m.group(1)
            if old == "/dev/null" and new != "/dev/null":
                changes[_tree_path(new, number)] = "create"
            elif new == "/dev/null" and old != "/dev/null":
                changes[_tree_path(old, number - 1)] = "delete"
            else:
                before, after = _tree_path(old, number - 1), _tree_path(new, number)
                if before != after:
                    changes[before] = "delete"
                    changes[after] = "create"
                else:
                    changes.setdefault(after, "modify")
            old = None
    if not changes:
        raise PatchError("the patch changes no file: it is not a unified diff")
    return [FileChange(path, action) for path, action in sorted(changes.items())]


def touched_paths(patch: str) -> list[str]:
    """The sorted paths of :func:`changed_files`."""
    return [change.path for change in changed_files(patch)]


def _tree_path(path: str, number: int) -> str:
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        raise PatchError(f"patch line {number}: path {path!r} is absolute")
    parts = PurePosixPath(path).parts[1:]  # -p1: drop "a/" / "b/"
    if not parts:
        raise PatchError(f"patch line {number}: path {path!r} has no a/ or b/ prefix to strip")
    if any(p in ("..", ".") for p in parts) or parts[0] == ".git":
        raise PatchError(f"patch line {number}: path {path!r} leaves the cartridge tree")
    return "/".join(parts)


def check_targets(changes: list[FileChange], tree: Path, label: str) -> None:
    """PatchError when the patch changes or deletes a file ``tree`` (the unpacked ``label``) does not have,
    or creates one it already has."""
    for change in changes:
        exists = (tree / change.path).is_file()
        if change.action in ("modify", "delete") and not exists:
            raise PatchError(f"the patch changes {change.path}, which is not in {label}")
        if change.action == "create" and exists:
            raise PatchError(f"the patch creates {change.path}, which {label} already has")


def apply_patch(patch: str, tree: Path) -> list[str]:
    """Apply ``patch`` inside ``tree`` (all hunks or none); return the paths it touched."""
    paths = touched_paths(patch)
    git = shutil.which("git")
    if git is None:
        raise PatchError("applying patches needs git (apt-get install git)")
    tree = tree.resolve()
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False, encoding="utf-8") as stream:
        stream.write(patch if patch.endswith("\n") else patch + "\n")
    try:
        # The ceiling stops git from finding a repository above the workspace and patching that instead.
        env = {"PATH": os.environ.get("PATH", os.defpath), "GIT_CEILING_DIRECTORIES": str(tree.parent),
               "HOME": str(tree.parent), "LANG": "C"}
        done = subprocess.run([git, "apply", "-p1", "--whitespace=nowarn", stream.name], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(stream.name)
    if done.returncode != 0:
        reason = " ".join(done.stderr.strip().splitlines()[:3]) or f"git apply exited {done.returncode}"
        raise PatchError(f"the patch does not apply: {reason}")
    for path in tree.rglob("*"):
        if path.is_symlink():
            raise PatchError(f"after patching, {path.relative_to(tree)} is a symlink, which is not accepted")
    return paths
