"""Does every file a patch touched still parse? Read, never run: Python, YAML, TOML and JSON.

A syntax error found here is named with its file and line, which is a far
clearer reason for a failed experiment than the traceback a test run would
print (or, for YAML, the scanner error that used to escape from the build).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Callable, Iterable, Optional


def _python(text: str) -> Optional[str]:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"Python syntax error at line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # e.g. a NUL byte
        return f"not Python source: {exc}"
    return None


def _yaml(text: str) -> Optional[str]:
    import yaml

    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return f"not valid YAML{where}: {problem}"
    return None


def _toml(text: str) -> Optional[str]:
    import tomllib

    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return f"not valid TOML: {exc}"
    return None


def _json(text: str) -> Optional[str]:
    try:
        json.loads(text)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    return None


_PARSERS: dict[str, Callable[[str], Optional[str]]] = {
    ".py": _python, ".yaml": _yaml, ".yml": _yaml, ".toml": _toml, ".json": _json,
}


def syntax_problems(tree: Path, paths: Iterable[str]) -> list[str]:
    """``"PATH: problem"`` for every file among ``paths`` (tree-relative) that no longer parses."""
    problems = []
    for path in paths:
        parse = _PARSERS.get(Path(path).suffix)
        full = tree / path
        if parse is None or not full.is_file():
            continue
        try:
            text = full.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        problem = parse(text)
        if problem:
            problems.append(f"{path}: {problem}")
    return problems
