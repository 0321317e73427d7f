"""The public API boundary: what plugins may import from the kernel and from each other.

* The kernel's public API is ``pxos_kernel`` (its exports), the pixel
  container format ``pxos_kernel.container`` and, for tests,
  ``pxos_kernel.testing``. Every other kernel module is private.
* A plugin's public API is the modules its pyproject lists under
  ``[tool.pxos] public-modules`` (default: its top-level package alone); every
  other module of it is private. A plugin that imports another declares it as a
  dependency (an optional one, an extra, will do).

:func:`importlinter_config` turns these rules into import-linter contracts for
plugin packages; :func:`scan` applies the same rules with :mod:`ast` to what
import-linter cannot see (plugin tests, scaffolding templates, doc examples).
Run both with ``tox -e lint`` or ``python tests/contract/boundary.py``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "pxos_kernel"
KERNEL_PUBLIC = (KERNEL, f"{KERNEL}.testing", f"{KERNEL}.container")
#: Crossings allowed while their owner publishes what they need ("pxos_a.** -> pxos_b.**");
#: none are left. Remove an entry when it is fixed; the check fails on one that no longer matches.
PENDING: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dist:
    """One plugin distribution under ``plugins/``."""

    name: str
    directory: Path
    package: str
    public: tuple[str, ...]
    depends: frozenset[str]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_dists() -> list[Dist]:
    dists = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        project = data["project"]
        package = _normal(project["name"]).replace("-", "_")
        public = tuple(data.get("tool", {}).get("pxos", {}).get("public-modules", [package]))
        optional = [d for extra in project.get("optional-dependencies", {}).values() for d in extra]
        depends = frozenset(_normal(re.split(r"[<>=!~\[;\s]", d, maxsplit=1)[0])
                            for d in [*project.get("dependencies", []), *optional])
        dists.append(Dist(project["name"], pyproject.parent, package, public, depends))
    return dists


def modules(directory: Path, package: str) -> list[str]:
    """Every module of ``package`` (found under ``directory``), by dotted name."""
    found = []
    for path in sorted((directory / package).rglob("*.py")):
        parts = list(path.relative_to(directory).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(".".join(parts))
    return found


def kernel_modules() -> list[str]:
    return modules(ROOT / "kernel", KERNEL)


def _is_public(module: str, public: tuple[str, ...]) -> bool:
    return module in public


def importlinter_config(dists: list[Dist]) -> str:
    """import-linter contracts (INI) for the kernel and every plugin with private modules."""
    def block(key: str, name: str, protected: list[str], owner: str) -> str:
        listed = "\n    ".join(protected)
        text = (f"[importlinter:contract:{key}]\nname = {name}\ntype = protected\nas_packages = False\n"
                f"protected_modules =\n    {listed}\nallowed_importers =\n    {owner}\n    {owner}.**\n")
        pending = [p for p in PENDING if p.split(" -> ")[1].split(".")[0] == owner
                   and p.split(" -> ")[0].split(".")[0] in packages]
        if pending:
            text += "ignore_imports =\n    " + "\n    ".join(pending) + "\n"
        return text

    packages = {d.package for d in dists}

    lines = ["[importlinter]", "root_packages =", f"    {KERNEL}", *(f"    {d.package}" for d in dists), ""]
    private = [m for m in kernel_modules() if not _is_public(m, KERNEL_PUBLIC) and not m.startswith(f"{KERNEL}.testing.")]
    lines.append(block("kernel", "plugins import only pxos_kernel's public API (from pxos_kernel import ...)",
                       private, KERNEL))
    for dist in dists:
        private = [m for m in modules(dist.directory, dist.package) if not _is_public(m, dist.public)]
        if private:
            lines.append(block(dist.package, f"other plugins import only {dist.name}'s public modules "
                               f"({', '.join(dist.public)})", private, dist.package))
    return "\n".join(lines)


def run_importlinter(config: Path, dists: list[Dist]) -> subprocess.CompletedProcess:
    """Check the contracts over the source trees (no install needed)."""
    path = [str(ROOT / "kernel"), *(str(d.directory) for d in dists)]
    code = "import sys; sys.path[:0] = sys.argv[1].split(':'); from importlinter.cli import lint_imports_command; " \
           "sys.argv[1:] = sys.argv[2:]; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code, ":".join(path), "--no-cache", str(config)],
                          capture_output=True, text=True, cwd=ROOT)


# -- files import-linter cannot see -------------------------------------------------------


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from pxos_kernel import ledger` imports a module too
                yield node.lineno, f"{node.module}.{alias.name}"


def problems_in(source: str, where: str, dists: list[Dist], owner: Dist | None) -> list[str]:
    """Imports in ``source`` that cross the boundary, as ``where:line: message``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    by_package = {d.package: d for d in dists}
    kernel_all = set(kernel_modules())
    found = []
    for line, name in _imported(tree):
        top = name.split(".")[0]
        if top == KERNEL:
            if name in kernel_all and not _is_public(name, KERNEL_PUBLIC):
                found.append(f"{where}:{line}: imports private kernel module {name} "
                             f"(import its names from pxos_kernel)")
        elif top in by_package and (owner is None or top != owner.package):
            dist = by_package[top]
            if name in modules(dist.directory, dist.package) and not _is_public(name, dist.public):
                found.append(f"{where}:{line}: imports {name}, a private module of {dist.name} "
                             f"(public: {', '.join(dist.public)})")
    return found


def _code_blocks(markdown: str) -> Iterator[str]:
    for match in re.finditer(r"```python\n(.*?)```", markdown, re.S):
        yield match.group(1)


def scan(dists: list[Dist]) -> list[str]:
    """Boundary crossings in plugin tests, templates and docs, and undeclared plugin dependencies."""
    found = []
    for dist in dists:
        for path in sorted(dist.directory.rglob("*.py")):
            if ".egg-info" in path.parts or dist.package in path.relative_to(dist.directory).parts[:1]:
                continue
            found += problems_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), dists, dist)
        for path in sorted((dist.directory / dist.package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for line, name in _imported(tree):
                other = next((d for d in dists if d.package == name.split(".")[0] and d is not dist), None)
                problem = (f"{path.relative_to(ROOT)}:{line}: imports {other.name}, which "
                           f"{dist.name}'s pyproject does not list as a dependency") if other else ""
                if other is not None and _normal(other.name) not in dist.depends and problem not in found:
                    found.append(problem)
    for path in sorted(ROOT.glob("plugins/*/*/templates/**/*.py.tmpl")):  # plugin new's skeletons (pxos-scaffold)
        source = re.sub(r"\{\{?\s*\w+\s*\}?\}", "x", path.read_text(encoding="utf-8"))
        found += problems_in(source, str(path.relative_to(ROOT)), dists, None)
    for path in sorted([*(ROOT / "docs").glob("*.md"), *ROOT.glob("plugins/*/README.md"), ROOT / "README.md"]):
        for block in _code_blocks(path.read_text(encoding="utf-8")):
            owner = next((d for d in dists if path.is_relative_to(d.directory)), None)
            found += problems_in(block, str(path.relative_to(ROOT)), dists, owner)
    return found


def main() -> int:
    import tempfile

    dists = plugin_dists()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "importlinter.ini"
        config.write_text(importlinter_config(dists), encoding="utf-8")
        result = run_importlinter(config, dists)
    print(result.stdout + result.stderr)
    problems = scan(dists)
    print("\n".join(problems) or "tests, templates and docs keep to the boundary")
    return 1 if result.returncode or problems else 0


if __name__ == "__main__":
    sys.exit(main())
