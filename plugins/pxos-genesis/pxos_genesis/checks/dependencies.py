"""Genesis §2.2 for a system cartridge: every import of every distribution resolves to something declared.

A system cartridge (``world pack``) carries distributions, each with its
``*.dist-info``. For each distribution, every import in its sources must
resolve to the standard library, the distribution itself, or a requirement it
declares (``Requires-Dist``, extras included) that the system either carries
or lists as not carried, with the reason (a native wheel left out of a
pure-Python system, say). Imports that the code itself treats as optional
(inside ``try: ... except ImportError``, or under ``if TYPE_CHECKING`` or a
platform test) are counted, not required. Test files are not run-time code.
An import that is none of these must be declared in the manifest's
``declared_uses`` as ``needs:MODULE`` with the reason the system can do
without it (a pytest plugin module that only loads under pytest, say).
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from pxos_genesis.checks.sourcescan import Finding

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_OPTIONAL_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_CONDITIONS = {("typing", "TYPE_CHECKING"), ("sys", "platform"), ("sys", "version_info"), ("os", "name"),
               ("platform", "system"), ("sys", "implementation")}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Distribution:
    """What a system cartridge says about one distribution it carries."""

    name: str
    root: str                   # member prefix of its import root ("site-packages/", "native/numpy/")
    files: list[str]            # member paths of its files
    top_level: set[str]
    requires: set[str] = field(default_factory=set)  # normalised names, every extra included


def distributions(archive: Any) -> list[Distribution]:
    """Every ``*.dist-info`` of the archive's import roots, with its files (from RECORD) and requirements."""
    found = []
    for path in archive.names():
        if not path.endswith(".dist-info/METADATA"):
            continue
        info = path[:-len("METADATA")]
        root = info[:info.rstrip("/").rfind("/") + 1]
        metadata = archive.read(path).decode("utf-8", "replace")
        name = next((line.split(":", 1)[1].strip() for line in metadata.splitlines()
                     if line.startswith("Name:")), info)
        requires = {normal(m[1]) for line in metadata.splitlines() if line.startswith("Requires-Dist:")
                    for m in [_NAME.match(line.split(":", 1)[1])] if m}
        record = archive.read(info + "RECORD").decode("utf-8") if info + "RECORD" in archive.members else ""
        files = [root + line.split(",", 1)[0] for line in record.splitlines() if line.strip()]
        tops = archive.read(info + "top_level.txt").decode("utf-8").split() \
            if info + "top_level.txt" in archive.members else []
        found.append(Distribution(name, root, files, set(tops), requires))
    return found


def syntax_tree(source: str, path: str, tree: Any = None) -> Optional[ast.AST]:
    """``tree`` (a report parses each source once), else ``source`` parsed; None where it is not Python.

    A report's memo holds the SyntaxError of a source that did not parse, so that is None too.
    """
    if tree is None:
        try:
            return ast.parse(source, filename=path)
        except SyntaxError:
            return None
    return None if isinstance(tree, SyntaxError) else tree


def imports(source: str, path: str, tree: Any = None) -> Iterator[tuple[str, int, bool]]:
    """``(top-level module, line, optional)`` of each absolute import; optional: the code copes without it."""
    tree = syntax_tree(source, path, tree)
    if tree is None:
        return
    for node, optional in import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno, optional
        elif node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno, optional


def import_nodes(node: ast.AST, optional: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every ``import`` and ``from ... import`` under ``node``, and whether the code copes without it
    (inside ``try`` with an ``except ImportError``, or under ``if TYPE_CHECKING`` or a platform test).
    Only statement bodies are walked: an import is always a statement."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, optional
        return
    if isinstance(node, ast.Try):
        catches = any(h.type is None or any(n in _OPTIONAL_ERRORS for n in _names(h.type)) for h in node.handlers)
        for child in node.body:
            yield from import_nodes(child, optional or catches)
        for other in [*node.handlers, *node.orelse, *node.finalbody]:
            yield from import_nodes(other, optional)
        return
    inner = optional or (isinstance(node, ast.If) and _conditional(node.test))
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(node, field, None) or ():
            if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                yield from import_nodes(child, inner)


def _conditional(test: ast.AST) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` or a platform or version test (``sys.platform``, ``os.name``...)."""
    for node in ast.walk(test):
        if isinstance(node, ast.Name) and node.id == "TYPE_CHECKING" or \
                isinstance(node, ast.Attribute) and node.attr == "TYPE_CHECKING":
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                (node.value.id, node.attr) in _CONDITIONS:
            return True
    return False


def _names(node: ast.AST) -> set[str]:
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))}


@dataclass
class Judgement:
    problems: list = field(default_factory=list)
    files: int = 0
    optional: int = 0
    needs_missing: dict = field(default_factory=dict)  # missing distribution -> importing distributions


def judge_system(archive: Any, is_test_file: Any, trees: Optional[dict] = None
                 ) -> tuple[Judgement, list[Distribution], list[dict]]:
    """Check every import of every carried distribution against what it declares and what is carried."""
    system = archive.metadata.get("system") or {}
    carried = distributions(archive)
    missing = {normal(m["name"]): m for m in system.get("missing", [])}
    provider: dict[str, str] = {}
    for dist in carried:
        for top in dist.top_level:
            provider.setdefault(top, normal(dist.name))
    for name, entry in missing.items():
        for top in entry.get("top_level") or []:
            provider.setdefault(top, name)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    result = Judgement()
    names = {normal(d.name) for d in carried}
    for dist in carried:
        own = normal(dist.name)
        for path in dist.files:
            if not path.endswith(".py") or is_test_file(path[len(dist.root):]) or path not in archive.members:
                continue
            result.files += 1
            source = archive.read(path).decode("utf-8", "replace")
            for module, line, optional in imports(source, path, (trees or {}).get(path)):
                if module in stdlib or module in dist.top_level:
                    continue
                origin: Optional[str] = provider.get(module)
                if optional:
                    result.optional += 1
                    continue
                if origin is None and normal(module) in dist.requires:
                    origin = normal(module)  # declared (an extra, say), not carried: it names the module
                if origin is not None and (origin in dist.requires or origin == own):
                    if origin not in names:
                        result.needs_missing.setdefault(origin, set()).add(dist.name)
                    continue
                if origin is None:
                    why = f"imports {module!r}, which no distribution in the system provides and {dist.name} " \
                          "does not declare"
                else:
                    why = f"imports {module!r} (from {origin}) without declaring {origin} as a requirement"
                result.problems.append(Finding("undeclared-import", path, line, why, f"needs:{module}"))
    return result, carried, list(missing.values())
