"""The cartridge manifest (``cartridge.yaml``): name, version, what to pack, programs, tests.

Include and exclude patterns are globs on the member's posix path relative to
the packed directory: ``*`` and ``?`` stay inside one path component, ``**``
spans any number of them, and a pattern that matches a directory covers
everything below it (``tests`` includes ``tests/test_a.py``). A pattern
without ``/`` also matches any single component, as in ``.gitignore``
(``*.tmp`` excludes ``a/b/c.tmp``).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from pxos_cartridge.errors import PackError

MANIFEST_NAMES = ("cartridge.yaml", "cartridge.yml")
NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
DEFAULT_EXCLUDES = ("__pycache__", "*.pyc", "*.pyo", ".git", ".hg", ".svn", ".pytest_cache", ".tox",
                    ".mypy_cache", ".DS_Store")
_KEYS = {"name", "version", "summary", "include", "exclude", "programs", "tests", "capabilities",
         "dependencies", "description", "breaking", "declared_uses"}


def find_manifest(source: Path) -> Optional[Path]:
    """The manifest file inside ``source``, if it has one."""
    for name in MANIFEST_NAMES:
        if (source / name).is_file():
            return source / name
    return None


def load_manifest(manifest: Union[str, os.PathLike, Mapping[str, Any], None]) -> dict:
    """Parse and validate a manifest given as a YAML path or a mapping (``None``: empty)."""
    if manifest is None:
        return {}
    where = "manifest"
    if not isinstance(manifest, Mapping):
        import yaml

        where = str(manifest)
        try:
            text = Path(manifest).read_text(encoding="utf-8")
        except OSError as exc:
            raise PackError(f"manifest {where}: cannot read it ({exc.strerror})") from None
        try:
            manifest = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise PackError(f"manifest {where}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(manifest, Mapping):
            raise PackError(f"manifest {where}: must be a mapping, not {type(manifest).__name__}")
    return validate_manifest(dict(manifest), where)


def validate_manifest(data: dict, where: str = "manifest") -> dict:
    """Check types of every known key; unknown keys are refused so typos do not pass silently."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise PackError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    if "name" in data and not (isinstance(data["name"], str) and NAME.match(data["name"])):
        raise PackError(f"{where}: name {data['name']!r} must be lowercase letters, digits, '-', '_' or '.'")
    if "version" in data:
        if not isinstance(data["version"], (str, int, float)) or not str(data["version"]).strip():
            raise PackError(f"{where}: version must be a non-empty string")
        data["version"] = str(data["version"])
    for key in ("include", "exclude", "capabilities", "dependencies"):
        if key in data:
            if isinstance(data[key], str):
                data[key] = [data[key]]
            if not isinstance(data[key], list) or not all(isinstance(p, str) and p for p in data[key]):
                raise PackError(f"{where}: {key} must be a list of strings")
    uses = data.get("declared_uses", [])
    if not isinstance(uses, list) or not all(
            isinstance(u, Mapping) and isinstance(u.get("path"), str) and isinstance(u.get("uses"), list)
            and str(u.get("reason") or "").strip() for u in uses):
        raise PackError(f"{where}: declared_uses must be a list of {{path, uses: [...], reason}} (see the Genesis "
                        "guardrails G8.x)")
    programs = data.get("programs", {})
    if not isinstance(programs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and ":" in v for k, v in programs.items()):
        raise PackError(f"{where}: programs must map names to 'package.module:function' strings")
    tests = data.get("tests")
    if tests is not None:
        command = tests.get("command") if isinstance(tests, Mapping) else None
        if isinstance(command, str):
            import shlex

            command = shlex.split(command)
        if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            raise PackError(f"{where}: tests.command must be a command line (a string or a list of strings)")
        data["tests"] = {**tests, "command": command}
    return data


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern:
    pattern = pattern.strip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, pattern: str) -> bool:
    """Whether posix ``path`` (or a directory above it) matches ``pattern``."""
    regex = _compile(pattern)
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    if any(regex.match(p) for p in prefixes):
        return True
    return "/" not in pattern.strip("/") and any(regex.match(part) for part in parts)


def selected(path: str, include: list[str], exclude: list[str]) -> bool:
    """Whether a member path is packed under these include and exclude patterns."""
    if include and not any(matches(path, p) for p in include):
        return False
    return not any(matches(path, p) for p in exclude)
