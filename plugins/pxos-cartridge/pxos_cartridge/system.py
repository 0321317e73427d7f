"""The system cartridge: the installed pxOS (kernel, plugins, their dependencies) staged into one pixel archive.

What goes in, by member path:

``site-packages/``
    the import root: every pure-Python distribution, with a ``*.dist-info``
    (METADATA, entry_points.txt, top_level.txt, WHEEL, and a RECORD of the
    staged files), so that entry points and ``importlib.metadata`` work from
    inside the archive;
``native/<name>/``
    with ``--native`` only: a distribution with compiled extensions, as its
    installed files, extracted on first import by the boot shim;
``source/``
    each plugin's own tests (and the files they read) at their places in the
    source tree, outside the import root: data that ``world test`` runs.

Distributions are found through the import system as installed: from each
``RECORD``, or, for editable installs (which list only a ``.pth`` file and a
finder), from setuptools' editable finder mapping or the ``.pth`` directory.
Their requirements are followed recursively with their markers. A
distribution with native extensions is left out unless ``--native`` (or its
pure-Python part works alone, as PyYAML's does); what is left out is listed
in the metadata with the reason, and whatever needs it says so when used.

The bytes are deterministic: members sorted, modes 0o644 or 0o755, no time
stamps, no ``__pycache__``; the version defaults to the kernel's version and
the first 12 hex digits of the staged tree's hash.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

from pxos_kernel import NotFoundError

from pxos_cartridge import boot
from pxos_cartridge.errors import PackError

SYSTEM = boot.SYSTEM
SITE = boot.SITE
FORMAT = 1
_JUNK_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".tox", ".git", ".hg", ".svn", "build"}
_JUNK_SUFFIXES = (".pyc", ".pyo")
_NATIVE_SUFFIXES = tuple(sorted(set(importlib.machinery.EXTENSION_SUFFIXES) | {".so", ".pyd", ".dylib", ".dll"}))
#: Distributions whose compiled parts only speed them up: without them they fall back to pure Python.
#: (A compiled module with a pure twin of the same name, as mypyc builds ship, is such a part too.)
PURE_FALLBACKS = {
    "pyyaml": "the C loader (libyaml) is optional; yaml falls back to its pure-Python loader",
    "markupsafe": "its _speedups module is optional",
}


def normal(name: str) -> str:
    """PEP 503 normalised distribution name: ``PyYAML`` -> ``pyyaml``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Staged:
    """One distribution as it goes into the archive."""

    name: str
    version: str
    role: str                      # "kernel", "plugin" or "dependency"
    files: dict[str, Path]         # path below the distribution's root -> source file
    native: bool = False           # packed under native/<name>/ (compiled extensions)
    native_dropped: list[str] = field(default_factory=list)  # compiled files left out of a pure fallback
    requires: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)
    project_dir: Optional[Path] = None  # the source tree of an editable install

    @property
    def prefix(self) -> str:
        return f"native/{normal(self.name)}/" if self.native else SITE

    @property
    def dist_info(self) -> str:
        return f"{re.sub(r'[-_.]+', '_', self.name)}-{self.version}.dist-info"


@dataclass
class Missing:
    name: str
    required_by: list[str]
    reason: str

    @property
    def top_level(self) -> list[str]:
        """The modules it would provide (from its installed files; none when it is not installed)."""
        dist = _distribution(self.name)
        if dist is None:
            return []
        record = [str(f) for f in dist.files or [] if not str(f).startswith("..")]
        if any(_EDITABLE_FINDER.match(f) for f in record):
            return _top_level(distribution_files(dist)[0])
        return _top_level(record)  # the RECORD's names are enough: no path of its thousands of files is built


# -- finding the installed system ----------------------------------------------------------------


_EDITABLE_FINDER = re.compile(r"__editable___.*_finder\.py$")


def installed_plugins() -> list[str]:
    """Distributions that announce an entry point in group ``pxos``, sorted."""
    found = {normal(d.metadata["Name"]) for d in metadata.distributions()
             if any(ep.group == "pxos" for ep in d.entry_points)}
    return sorted(found)


def _distribution(name: str) -> Optional[metadata.Distribution]:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _requirements(dist: metadata.Distribution, extras: Iterable[str] = ()) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, extras)`` of each requirement whose marker holds here (with ``extras`` requested)."""
    from packaging.requirements import Requirement

    wanted = [""] + list(extras)
    out = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in wanted):
            out.append((requirement.name, tuple(sorted(requirement.extras))))
    return out


def distribution_files(dist: metadata.Distribution) -> tuple[dict[str, Path], Optional[Path]]:
    """The files of ``dist`` below its import root (``{member: source}``) and, if editable, its project dir."""
    name = dist.metadata["Name"]
    record = [f for f in dist.files or [] if not str(f).startswith("..")]
    editable_finders = [f for f in record if _EDITABLE_FINDER.match(str(f))]
    path_files = [f for f in record if str(f).endswith(".pth")]
    project = _project_dir(dist)
    if editable_finders:
        mapping: dict[str, str] = {}
        for finder in editable_finders:
            mapping.update(_editable_mapping(Path(str(dist.locate_file(finder)))))
        files: dict[str, Path] = {}
        for package, where in sorted(mapping.items()):
            base = package.replace(".", "/")
            source = Path(where)
            if source.is_dir():
                files.update({f"{base}/{rel}": path for rel, path in _walk(source, name)})
            else:
                files[f"{base}{source.suffix}"] = source
        return files, project
    local = {str(f): Path(str(dist.locate_file(f))) for f in record
             if not _junk(str(f)) and ".dist-info/" not in str(f) and ".egg-info/" not in str(f)
             and not str(f).endswith(".pth")}
    if local or not path_files:
        return local, project
    # A .pth naming a source directory (setup.py develop, or setuptools' "compat" editable mode).
    files = {}
    tops = (dist.read_text("top_level.txt") or "").split()
    for pth in path_files:
        for line in Path(str(dist.locate_file(pth))).read_text(encoding="utf-8").splitlines():
            directory = Path(line.strip())
            if line.startswith(("#", "import")) or not directory.is_dir():
                continue
            for top in tops:
                if (directory / top).is_dir():
                    files.update({f"{top}/{rel}": p for rel, p in _walk(directory / top, name)})
                elif (directory / f"{top}.py").is_file():
                    files[f"{top}.py"] = directory / f"{top}.py"
    return files, project


def _editable_mapping(finder: Path) -> dict[str, str]:
    """The ``MAPPING`` of a setuptools editable finder (package name -> source directory), read with ast."""
    import ast

    tree = ast.parse(finder.read_text(encoding="utf-8"))
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign):
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "MAPPING" and value is not None:
            return dict(ast.literal_eval(value))
    raise PackError(f"cannot pack: {finder} is an editable finder without a MAPPING (unknown setuptools layout)")


def _project_dir(dist: metadata.Distribution) -> Optional[Path]:
    """The source tree of an editable install (from direct_url.json), else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    info = json.loads(text)
    if not (info.get("dir_info") or {}).get("editable") or not str(info.get("url", "")).startswith("file://"):
        return None
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(info["url"]).path))


def _junk(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in _JUNK_DIRS or p.endswith(".egg-info") for p in parts[:-1]) or rel.endswith(_JUNK_SUFFIXES) \
        or parts[-1] in (".DS_Store",)


def _walk(root: Path, owner: str) -> Iterator[tuple[str, Path]]:
    """``(posix path below root, file)`` of every file of a source package, sorted; symlinks stored as their
    targets; a symlinked directory or an unreadable entry is refused with its path."""
    for directory, dirs, names in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(d for d in dirs if d not in _JUNK_DIRS and not d.endswith(".egg-info"))
        for name in dirs:
            if os.path.islink(os.path.join(directory, name)):
                raise PackError(f"cannot pack {owner}: {Path(directory, name)} is a symbolic link to a directory "
                                "(a pixel archive holds regular files; replace it with the directory)")
        for name in sorted(names):
            rel = prefix + name
            if _junk(rel):
                continue
            path = Path(directory, name)
            if not path.is_file():
                what = "a dangling symbolic link" if path.is_symlink() else "not a regular file"
                raise PackError(f"cannot pack {owner}: {path} is {what}")
            yield rel, path


def _compiled(rel: str) -> bool:
    """Whether a file is compiled code (an extension module or a shared library it loads)."""
    name = rel.rsplit("/", 1)[-1]
    return rel.endswith(_NATIVE_SUFFIXES) or ".so." in name or ".libs/" in rel


def _pure_twin(rel: str, files: Mapping[str, Path]) -> bool:
    """Whether compiled module ``pkg/mod.cpython-311-x86_64-linux-gnu.so`` has a ``pkg/mod.py`` beside it."""
    directory, _, name = rel.rpartition("/")
    return f"{directory}/{name.split('.')[0]}.py".lstrip("/") in files


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _is_native(files: Mapping[str, Path], dist: metadata.Distribution) -> bool:
    wheel = dist.read_text("WHEEL") or ""
    return any(_compiled(rel) for rel in files) or "Root-Is-Purelib: false" in wheel


def _top_level(files: Iterable[str]) -> list[str]:
    tops = set()
    for rel in files:
        first, _, rest = rel.partition("/")
        if rest and not first.endswith((".dist-info", ".libs", ".data")) and first.isidentifier():
            tops.add(first)
        elif not rest and rel.endswith(".py") and rel[:-3].isidentifier():
            tops.add(rel[:-3])
        elif not rest and rel.endswith(_NATIVE_SUFFIXES):
            tops.add(rel.split(".")[0])
    return sorted(tops)


def collect(plugins: Optional[Iterable[str]] = None, *, native: bool = False) -> tuple[list[Staged], list[Missing]]:
    """The distributions of the system (kernel, ``plugins`` or every installed one, and their requirements)."""
    chosen = installed_plugins() if plugins is None else sorted({normal(p) for p in plugins})
    for name in chosen:
        dist = _distribution(name)
        if dist is None:
            raise NotFoundError(f"cannot pack plugin {name!r}: it is not installed (installed pxOS plugins: "
                                f"{', '.join(installed_plugins()) or 'none'})")
        if name != "pxos-kernel" and not any(ep.group == "pxos" for ep in dist.entry_points):
            raise PackError(f"cannot pack {name!r} as a plugin: it has no entry point in group 'pxos'")
    # The kernel and pxos-cartridge (the boot shim, the archive importer, the world commands) always go in.
    roots = ["pxos-kernel", "pxos-cartridge"] + [n for n in chosen if n not in ("pxos-kernel", "pxos-cartridge")]
    staged: dict[str, Staged] = {}
    missing: dict[str, Missing] = {}
    pending: list[tuple[str, tuple[str, ...], Optional[str]]] = [(name, (), None) for name in roots]
    while pending:
        name, extras, parent = pending.pop(0)
        key = normal(name)
        if key in staged or key in missing:
            (staged.get(key) or missing[key]).required_by.append(parent) if parent else None
            continue
        dist = _distribution(key)
        if dist is None:
            missing[key] = Missing(key, [parent] if parent else [], "not installed")
            continue
        files, project = distribution_files(dist)
        plugin = any(ep.group == "pxos" for ep in dist.entry_points)
        item = Staged(dist.metadata["Name"], dist.version, "kernel" if key == "pxos-kernel" else
                      "plugin" if plugin else "dependency", files, project_dir=project,
                      required_by=[parent] if parent else [])
        item.requires = [normal(r) for r, _ in _requirements(dist, extras)]
        if _is_native(files, dist):
            compiled = sorted(r for r in files if _compiled(r))
            if native:
                item.native = True
            elif key in PURE_FALLBACKS or all(_pure_twin(r, files) for r in compiled):
                item.native_dropped = compiled
                item.files = {r: p for r, p in files.items() if not _compiled(r)}
            else:
                missing[key] = Missing(key, [parent] if parent else [],
                                       f"native: needs its compiled extensions ({_few(compiled)}); "
                                       "'world pack --native' carries them")
                continue
        staged[key] = item
        pending.extend((r, e, key) for r, e in _requirements(dist, extras))
    _drop_broken(staged, missing)
    return sorted(staged.values(), key=lambda s: normal(s.name)), sorted(missing.values(), key=lambda m: m.name)


def _drop_broken(staged: dict[str, Staged], missing: dict[str, Missing]) -> None:
    """Leave out pure fallbacks that do not import without their compiled files, then every dependency
    whose own requirements are not all in (pxOS plugins stay, and say what they miss when used)."""
    fallbacks = [s for s in staged.values() if s.native_dropped]
    if fallbacks:
        failed = _probe_fallbacks(list(staged.values()), fallbacks)
        for item in fallbacks:
            if normal(item.name) in failed:
                del staged[normal(item.name)]
                missing[normal(item.name)] = Missing(normal(item.name), item.required_by,
                                                     f"native: does not import without its compiled extensions "
                                                     f"({_few(item.native_dropped)}); 'world pack --native' "
                                                     "carries them")
    changed = True
    while changed:
        changed = False
        for key, item in list(staged.items()):
            if item.role != "dependency":
                continue
            absent = [r for r in item.requires if r not in staged]
            if absent:
                del staged[key]
                missing[key] = Missing(key, item.required_by, f"needs {', '.join(absent)}, which "
                                       f"{'is' if len(absent) == 1 else 'are'} not in the system")
                changed = True
    # What only a left-out distribution needed is not needed either.
    reachable, todo = set(), [k for k, s in staged.items() if s.role != "dependency"]
    while todo:
        key = todo.pop()
        if key in reachable or key not in staged:
            continue
        reachable.add(key)
        todo.extend(staged[key].requires)
    for key in set(staged) - reachable:
        del staged[key]


def _probe_fallbacks(everything: list[Staged], fallbacks: list[Staged]) -> set[str]:
    """Names of pure fallbacks whose public top-level packages fail to import without their compiled files."""
    failed = set()
    by_name = {normal(i.name): i for i in everything}
    needed, todo = set(), [normal(f.name) for f in fallbacks]
    while todo:  # only the fallbacks and what they require are copied for the probe
        key = todo.pop()
        if key in needed or key not in by_name:
            continue
        needed.add(key)
        todo.extend(by_name[key].requires)
    with tempfile.TemporaryDirectory(prefix="pxos-pack-probe-") as tmp:
        for item in (by_name[k] for k in sorted(needed)):
            if item.native:
                continue
            for rel, source in item.files.items():
                target = Path(tmp, *rel.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_read(source, item.name))
        for item in fallbacks:
            tops = [t for t in _top_level(item.files) if not t.startswith("_")]
            code = "import sys; sys.path[:0] = [sys.argv[1]]\n" + "".join(f"import {t}\n" for t in tops)
            probe = subprocess.run([sys.executable, "-I", "-S", "-c", code, tmp], capture_output=True)
            if probe.returncode != 0 or not tops:
                failed.add(normal(item.name))
    return failed


# -- staging ---------------------------------------------------------------------------------------


def _read(source: Path, owner: str) -> bytes:
    try:
        return source.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot pack {owner}: reading {source} failed ({exc.strerror})") from None


def _mode(source: Path) -> int:
    return 0o755 if source.stat().st_mode & 0o111 else 0o644


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{path},sha256={digest},{len(data)}"


def _dist_info(item: Staged, dist: metadata.Distribution, files: dict[str, bytes]) -> dict[str, bytes]:
    """A fresh ``*.dist-info`` for the staged files: METADATA, entry points, WHEEL, top_level, RECORD."""
    info: dict[str, bytes] = {}
    for name in ("METADATA", "entry_points.txt", "WHEEL"):
        text = dist.read_text(name)
        if text is not None:
            info[name] = text.encode("utf-8")
    info["top_level.txt"] = "".join(t + "\n" for t in _top_level(files)).encode("utf-8")
    base = item.dist_info
    lines = [_record_line(rel, data) for rel, data in sorted(files.items())]
    lines += [_record_line(f"{base}/{n}", d) for n, d in sorted(info.items())] + [f"{base}/RECORD,,"]
    info["RECORD"] = ("\n".join(lines) + "\n").encode("utf-8")
    return {f"{base}/{n}": d for n, d in info.items()}


def tree_sha256(files: Mapping[str, bytes]) -> str:
    """The hash of a set of files: sha256 over ``path NUL sha256 LF`` of each, in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode("utf-8"))
    return digest.hexdigest()


def _test_files(items: list[Staged], chosen: Optional[set] = None) -> tuple[dict[str, tuple[bytes, int]], list[dict]]:
    """Each editable plugin's tests (``[tool.pxos] tests``, default ``tests``) and the files they read
    (``[tool.pxos] test-data``), under ``source/`` at their places relative to the common source root."""
    import tomllib

    projects = [(i, i.project_dir) for i in items if i.project_dir is not None and i.role != "dependency"]
    if not projects:
        return {}, []
    root = Path(os.path.commonpath([str(p) for _, p in projects]))
    projects = [(i, p) for i, p in projects if chosen is None or normal(i.name) in chosen]
    members: dict[str, tuple[bytes, int]] = {}
    suites = []
    for item, project in projects:
        config: dict = {}
        pyproject = project / "pyproject.toml"
        if pyproject.is_file():
            config = (tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool") or {}).get("pxos") or {}
        tests = [project / t for t in config.get("tests", ["tests"])]
        data = [project / d for d in config.get("test-data", [])] + [pyproject]
        paths = []
        for entry in [*tests, *data]:
            entry = entry.resolve()
            if entry.is_file():
                pairs = [(entry.name, entry)]
                base = entry.parent
            elif entry.is_dir():
                pairs, base = list(_walk(entry, item.name)), entry
            else:
                continue
            for rel, source in pairs:
                path = Path(base, rel) if entry.is_dir() else source
                member = "source/" + path.relative_to(root).as_posix()
                members[member] = (_read(source, item.name), _mode(source))
            if entry in [t.resolve() for t in tests]:
                paths.append("source/" + entry.relative_to(root).as_posix())
        if paths:
            where = project.resolve().relative_to(root).as_posix()
            suites.append({"distribution": normal(item.name), "paths": paths,
                           "project": "source" if where == "." else f"source/{where}"})
    return members, suites


def python_floor(items: list[Staged]) -> tuple[int, int]:
    """The oldest Python every staged distribution accepts (from their Requires-Python lower bounds)."""
    floor = boot.MIN_PYTHON
    for item in items:
        spec = (_distribution(item.name).metadata.get("Requires-Python") or "")  # type: ignore[union-attr]
        for match in re.finditer(r">=?\s*(\d+)\.(\d+)", spec):
            floor = max(floor, (int(match[1]), int(match[2])))
    return floor


def stage(plugins: Optional[Iterable[str]] = None, *, native: bool = False, tests: "bool | Iterable[str]" = True,
          declared_uses: Optional[list] = None, version: Optional[str] = None) -> tuple[dict, dict]:
    """``({member: (bytes, mode)}, metadata)`` of the system cartridge of what is installed here."""
    items, missing = collect(plugins, native=native)
    members: dict[str, tuple[bytes, int]] = {}
    distributions, bundles = [], []
    for item in items:
        dist = _distribution(item.name)
        assert dist is not None
        files = {rel: _read(src, item.name) for rel, src in sorted(item.files.items())}
        modes = {rel: _mode(src) for rel, src in item.files.items()}
        info = _dist_info(item, dist, files)
        tree = {**files, **info}
        for rel, data in tree.items():
            members[item.prefix + rel] = (data, modes.get(rel, 0o644))
        entry = {"name": item.name, "version": item.version, "role": item.role, "root": item.prefix.rstrip("/"),
                 "files": len(tree), "sha256": tree_sha256(tree), "requires": sorted(set(item.requires)),
                 "native": item.native}
        if item.native_dropped:
            entry["native_dropped"] = item.native_dropped
        distributions.append(entry)
        if item.native:
            bundles.append({"name": item.name, "version": item.version, "prefix": item.prefix,
                            "top_level": _top_level(files), "sha256": entry["sha256"], "tag": boot.native_tag()})
    suites: list[dict] = []
    if tests:
        chosen = None if tests is True else {normal(t) for t in tests}  # type: ignore[union-attr]
        unknown = sorted((chosen or set()) - {normal(i.name) for i in items})
        if unknown:
            raise PackError(f"cannot pack the tests of {', '.join(unknown)}: not a distribution of this system")
        test_members, suites = _test_files(items, chosen)
        members.update(test_members)
    floor = python_floor(items)
    system = {
        "format": FORMAT,
        "distributions": distributions,
        "missing": [{"name": m.name, "required_by": sorted(set(m.required_by)), "reason": m.reason,
                     "top_level": m.top_level} for m in missing],
        "python": {"requires_min": list(floor), "packed_with": sys.version.split()[0],
                   "implementation": sys.implementation.name},
        "native": {"tag": boot.native_tag(), "platform": sysconfig.get_platform(), "bundles": bundles}
        if bundles else {"bundles": []},
        "tests": suites,
    }
    from pxos_kernel import __version__

    digest = tree_sha256({path: data for path, (data, _) in members.items()})
    manifest: dict[str, Any] = {"name": SYSTEM, "version": version or f"{__version__}+{digest[:12]}",
                "summary": f"pxOS {__version__}: the kernel and {sum(i.role == 'plugin' for i in items)} plugin(s)"}
    if declared_uses:
        manifest["declared_uses"] = declared_uses
    return members, {"cartridge": manifest, "system": system}


def restage(tree: Any, packed: Mapping[str, Any], *, exclude: Iterable[str] = ()) -> tuple[dict, dict]:
    """``({member: (bytes, mode)}, metadata)`` of a system cartridge unpacked into ``tree``, as it is now.

    ``packed`` is the metadata the archive was unpacked from (its ``cartridge``
    and ``system`` parts). Each distribution's ``RECORD``, file count and
    hash are computed again from the files now in the tree (a file new under
    one of its top-level packages joins it; a removed one leaves it), and the
    version is named as :func:`stage` names it, the kernel's version and the
    tree's hash. Files in ``exclude`` are left out. Restaging an unchanged tree
    gives back exactly the members and metadata it was unpacked from, so the
    evolution pipeline's rebuilt archives are as deterministic as ``world pack``.
    """
    import copy

    root = Path(tree)
    skip = set(exclude)
    members: dict[str, tuple[bytes, int]] = {}
    for rel, path in _walk(root, "the system tree"):
        if rel not in skip:
            members[rel] = (_read(path, "the system tree"), _mode(path))
    system = copy.deepcopy(dict(packed["system"]))
    claimed: set[str] = set()
    for entry in system.get("distributions", []):
        prefix = entry["root"].rstrip("/") + "/"
        info = _find_dist_info(members, prefix, entry["name"], entry["version"])
        record = members[prefix + info + "/RECORD"][0].decode("utf-8")
        listed = [line.rsplit(",", 2)[0] for line in record.splitlines() if line.strip()]
        tops = set(members.get(prefix + info + "/top_level.txt", (b"", 0))[0].decode("utf-8").split())
        files = {rel: members[prefix + rel][0] for rel in listed
                 if not rel.startswith(info + "/") and prefix + rel in members}
        for member in members:
            rel = member[len(prefix):]
            first = rel.split("/", 1)[0]
            if member.startswith(prefix) and rel not in files and not rel.startswith(info + "/") and \
                    (first in tops or (first.endswith(".py") and first[:-3] in tops)) and member not in claimed:
                files[rel] = members[member][0]
        claimed.update(prefix + rel for rel in files)
        names = sorted(m[len(prefix) + len(info) + 1:] for m in members
                       if m.startswith(f"{prefix}{info}/") and not m.endswith("/RECORD"))
        details = {f"{info}/{n}": members[f"{prefix}{info}/{n}"][0] for n in names}
        lines = [_record_line(rel, data) for rel, data in sorted(files.items())]
        lines += [_record_line(path, data) for path, data in sorted(details.items())] + [f"{info}/RECORD,,"]
        details[f"{info}/RECORD"] = ("\n".join(lines) + "\n").encode("utf-8")
        members[f"{prefix}{info}/RECORD"] = (details[f"{info}/RECORD"], 0o644)
        whole = {**files, **details}
        entry["files"], entry["sha256"] = len(whole), tree_sha256(whole)
    digest = tree_sha256({path: data for path, (data, _) in members.items()})
    kernel = next((d for d in system.get("distributions", []) if normal(d["name"]) == "pxos-kernel"), None)
    base = kernel["version"] if kernel else str(packed["cartridge"].get("version", "0")).split("+")[0]
    manifest = dict(packed["cartridge"], version=f"{base}+{digest[:12]}")
    return members, {"cartridge": manifest, "system": system}


def _find_dist_info(members: Mapping[str, Any], prefix: str, name: str, version: str) -> str:
    """The ``NAME-VERSION.dist-info`` directory of a distribution below ``prefix`` (PackError when absent)."""
    wanted = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    if f"{prefix}{wanted}/RECORD" in members:
        return wanted
    raise PackError(f"cannot restage the system: {prefix}{wanted}/RECORD is missing")


def pack_system(dest: Any, plugins: Optional[Iterable[str]] = None, *, native: bool = False,
                tests: "bool | Iterable[str]" = True,
                version: Optional[str] = None, level: int = 6) -> dict:
    """Stage the installed system and write it to ``dest`` as one deterministic pixel archive."""
    from pxos_cartridge.archive import pack_members

    members, meta = stage(plugins, native=native, tests=tests, declared_uses=declared_uses(), version=version)
    return pack_members(dest, members, meta, level=level)


def declared_uses() -> list:
    """pxOS's own declared uses of exec, compile, import_module and network clients (``system.yaml``)."""
    from importlib.resources import files

    import yaml

    resource = files("pxos_cartridge").joinpath("system.yaml")
    data = yaml.safe_load(resource.read_text(encoding="utf-8")) if resource.is_file() else None
    return list((data or {}).get("declared_uses") or [])


def shim_source() -> bytes:
    """The boot shim's bytes (this package's ``boot.py``: ``pxos.py`` is a copy of it)."""
    from importlib.resources import files

    return files("pxos_cartridge").joinpath("boot.py").read_bytes()


def write_shim(directory: Any) -> Path:
    """Write ``pxos.py`` into ``directory`` (created if needed); return its path."""
    from pxos_kernel import atomic_write

    target = Path(directory) / "pxos.py"
    atomic_write(target, shim_source(), 0o755)
    return target
