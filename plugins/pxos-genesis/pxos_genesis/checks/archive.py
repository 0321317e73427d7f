"""Genesis §2: one archive holds everything the cartridge needs, and nothing undeclared is used.

Dependencies are judged statically: every module a cartridge's source imports
must be in the standard library, inside the archive, or the pxOS kernel (the
hypervisor every cartridge runs under): Genesis allows nothing else, and the
cartridge manifest has no way to declare more. Test files are judged separately: they run under the test
command, whose tools (pytest) are not the cartridge's run-time dependencies.
"""

from __future__ import annotations

import ast
import sys
from pathlib import PurePosixPath
from typing import Any, Iterator, Mapping

from pxos_genesis.checks import check, judge, ok, plural
from pxos_genesis.checks.dependencies import syntax_tree
from pxos_genesis.subject import Candidate, memo

#: Always importable inside a cartridge: the runtime it runs under.
RUNTIME_MODULES = frozenset({"pxos_kernel"})


def is_test_file(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p in ("tests", "test") for p in parts[:-1]) or parts[-1].startswith("test_") or \
        parts[-1] == "conftest.py"


def python_sources(archive: Any) -> Iterator[tuple[str, str]]:
    """(path, text) of every ``.py`` member (undecodable bytes replaced; the §11 check reports them)."""
    for name in archive.names():
        if name.endswith(".py"):
            yield name, archive.read(name).decode("utf-8", "replace")


def parsed_sources(archive: Any, context: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """``(path, text, tree)`` of every ``.py`` member, parsed once per report (``tree`` is the SyntaxError
    when a source does not parse); the checks that read imports and calls share it."""
    cache = memo(context, "syntax")
    key = str(getattr(archive, "path", id(archive)))
    if cache is not None and key in cache:
        return cache[key]
    out = []
    for path, source in python_sources(archive):
        try:
            tree: Any = ast.parse(source, filename=path)
        except SyntaxError as exc:
            tree = exc
        out.append((path, source, tree))
    if cache is not None:
        cache[key] = out
    return out


def local_modules(names: list[str]) -> set[str]:
    """Top-level module and package names that the archive provides."""
    tops = set()
    for name in names:
        parts = PurePosixPath(name).parts
        if parts[-1].endswith(".py"):
            tops.add(parts[0][:-3] if len(parts) == 1 else parts[0])
    return tops


def imported_modules(source: str, path: str, tree: Any = None) -> Iterator[tuple[str, int]]:
    """(top-level module name, line) of each absolute import in a source file."""
    tree = syntax_tree(source, path, tree)
    if tree is None:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


@check("packs_into_one_archive")
def packs_into_one_archive(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    archive = candidate.archive  # opening it verifies the container and every member's sha256
    size = candidate.archive_path.stat().st_size
    return ok(f"{candidate.archive_path.name} is one pixel archive of {size} bytes; it opened and every one of its "
              f"{plural(len(archive.names()), 'member')} matched its sha256 (archive sha256 {archive.sha256[:16]}...)")


@check("runs_with_declared_deps")
def runs_with_declared_deps(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    archive = candidate.archive
    if archive.metadata.get("system"):
        return _system_deps(archive, context)
    declared = set((archive.manifest or {}).get("dependencies") or [])
    allowed = set(sys.stdlib_module_names) | RUNTIME_MODULES | local_modules(archive.names()) | declared
    problems, files, tests = [], 0, 0
    for path, source, tree in parsed_sources(archive, context):
        if is_test_file(path):
            tests += 1
            continue
        files += 1
        for module, line in imported_modules(source, path, tree):
            if module not in allowed:
                problems.append((f"imports {module!r}, which is not in the standard library, pxos_kernel, the "
                                 "archive, nor the manifest's dependencies", f"{path}:{line}"))
    return judge(problems, f"imports of {plural(files, 'source file')} read statically: each resolves to the "
                 f"standard library, pxos_kernel, a module inside the archive or a declared dependency "
                 f"({', '.join(sorted(declared)) or 'none declared'}); {plural(tests, 'test file')} not "
                 "counted (they run under the test command)")


def _system_deps(archive: Any, context: Mapping[str, Any]) -> Any:
    from pxos_genesis.checks.dependencies import judge_system

    result, carried, missing = judge_system(archive, is_test_file, {p: t for p, _, t in parsed_sources(archive, context)})
    notes = []
    for entry in missing:
        users = sorted(result.needs_missing.get(entry["name"], ()))
        notes.append(f"{entry['name']} ({entry['reason']}" + (f"; {', '.join(users)} import it when used)"
                                                              if users else ")"))
    absent = "; ".join(notes) or "nothing"
    from pxos_genesis.checks.declared import declarations, describe, sort

    declared = sort(result.problems, declarations(archive.manifest, "the system manifest"), ("undeclared-import",),
                    archive.names())
    problems: list = list(declared.undeclared) + [
        (f"declared use {use!r} of {d.path} is not needed by the code (remove it from declared_uses)", d.path)
        for d, use in declared.unused]
    return judge(problems, f"imports of {plural(result.files, 'source file')} in {plural(len(carried), 'distribution')}"
                 " read statically: each resolves to the standard library, the distribution itself, or a requirement"
                 f" it declares ({plural(result.optional, 'optional import')} the code guards); not carried: {absent}; "
                 f"declared: {describe(declared.accepted)}")


@check("archive_complete")
def archive_complete(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    archive = candidate.archive
    names = set(archive.names())
    problems = []
    if not archive.manifest:
        problems.append(("the archive carries no cartridge manifest", candidate.archive_path.name))
    programs = (archive.manifest or {}).get("programs") or {}
    for program, entry in programs.items():
        module = str(entry).partition(":")[0]
        base = module.replace(".", "/")
        if f"{base}.py" not in names and f"{base}/__init__.py" not in names:
            problems.append((f"program {program!r} needs module {module}, which is not in the archive", program))
    relative = 0
    for path, source, tree in parsed_sources(archive, context):
        for target, line in _relative_imports(source, path, tree):
            relative += 1
            if f"{target}.py" not in names and f"{target}/__init__.py" not in names and \
                    not (target == "." or archive.is_dir(target)):
                problems.append((f"relative import of {target.replace('/', '.')} is not in the archive",
                                 f"{path}:{line}"))
    return judge(problems, f"manifest present; {plural(len(programs), 'declared program')} and "
                 f"{plural(relative, 'relative import')} resolve to modules inside the archive")


def _relative_imports(source: str, path: str, tree: Any = None) -> Iterator[tuple[str, int]]:
    """Member paths (without suffix) that relative imports in ``path`` refer to."""
    tree = syntax_tree(source, path, tree)
    if tree is None:
        return
    from pxos_genesis.checks.dependencies import import_nodes

    package = PurePosixPath(path).parent
    for node, optional in import_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0 and not optional:
            base = package
            for _ in range(node.level - 1):
                base = base.parent
            # ``from . import name``: name may be a submodule or an attribute, so only the package must exist
            yield str(base / node.module.replace(".", "/")) if node.module else str(base), node.lineno
