"""Unified-diff patches: which paths they touch, refusing any that could escape the tree, and applying them.

Paths are read from the patch itself and judged before anything is applied;
``git apply`` then applies all hunks or none, inside the workspace tree only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from pxos_kernel.errors import PxosError

MAX_PATCH_BYTES = 1 << 20
_HEADER = re.compile(r"^(?:--- |\+\+\+ )(\S+)")
_GIT_HEADER = re.compile(r"^diff --git (\S+) (\S+)$")
_RENAME = re.compile(r"^(?:rename|copy) (?:from|to) (.+)$")
_MODE = re.compile(r"^(?:new file mode|new mode|old mode|deleted file mode) (\d+)$")


class PatchError(PxosError):
    """A patch is unsafe, malformed or does not apply."""


def touched_paths(patch: str) -> list[str]:
    """Every tree-relative path the patch touches (first path component stripped, as with ``-p1``).

    Raises PatchError for anything that could write outside the tree: absolute
    paths, ``..``, the ``.git`` directory, symlinks, submodules, binary patches.
    """
    if len(patch.encode("utf-8")) > MAX_PATCH_BYTES:
        raise PatchError(f"patch is larger than {MAX_PATCH_BYTES} bytes")
    paths: list[str] = []
    for number, line in enumerate(patch.splitlines(), start=1):
        if line.startswith("GIT binary patch") or line.startswith("Binary files "):
            raise PatchError(f"patch line {number}: binary patches are not accepted")
        mode = _MODE.match(line)
        if mode and mode.group(1) in ("120000", "160000"):
            raise PatchError(f"patch line {number}: symlinks and submodules are not accepted (mode {mode.group(1)})")
        raw: list[str] = []
        if (m := _GIT_HEADER.match(line)):
            raw = [m.group(1), m.group(2)]
        elif (m := _HEADER.match(line)):
            raw = [m.group(1)]
        elif (m := _RENAME.match(line)):
            raw = ["x/" + m.group(1)]  # rename lines carry tree paths without the a/ b/ prefix
        for path in raw:
            if path == "/dev/null":
                continue
            paths.append(_tree_path(path, number))
    if not paths:
        raise PatchError("patch touches no file (is it a unified diff?)")
    return sorted(set(paths))


def _tree_path(path: str, number: int) -> str:
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        raise PatchError(f"patch line {number}: path {path!r} is absolute")
    parts = PurePosixPath(path).parts[1:]  # -p1: drop "a/" / "b/"
    if not parts:
        raise PatchError(f"patch line {number}: path {path!r} has no a/ or b/ prefix to strip")
    if any(p in ("..", ".") for p in parts) or parts[0] == ".git":
        raise PatchError(f"patch line {number}: path {path!r} leaves the cartridge tree")
    return "/".join(parts)


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
        raise PatchError(f"patch does not apply to the cartridge tree: {reason}")
    for path in tree.rglob("*"):
        if path.is_symlink():
            raise PatchError(f"after patching, {path.relative_to(tree)} is a symlink, which is not accepted")
    return paths
