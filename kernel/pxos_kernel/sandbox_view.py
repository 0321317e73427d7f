"""What a sandboxed program sees of the machine's files, and the bubblewrap command line that shows it.

A sandboxed program sees, all at the same paths as outside:

* read-only: the system's runtime directories (``/usr`` and the ``/bin``,
  ``/lib*`` links into it, a few harmless files of ``/etc``), the Python
  runtime (this interpreter's prefixes, which hold the standard library and
  site-packages) and the import roots of editable installs, one package
  directory each, never the source tree around them;
* read-only: its own code (a module, a package, a cartridge archive) and any
  path its caller names;
* read-write: its scratch directory and the paths its caller names;
* a private ``/tmp``, ``/proc`` of its own PID namespace and a minimal ``/dev``.

Nothing else exists in its view: not ``$HOME``, not ``PXOS_HOME`` (the
ledger, its key, the registries), not the project's source tree, not ``/run``
or the unix sockets there. The :func:`protected_paths` are cut out of
every directory shown read-only (:func:`around`); a writable path holding
one is refused (:func:`check_view`).
"""

from __future__ import annotations

import os
import site
import sys
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Iterable, Optional, Sequence

#: Top-level system directories a program may need to run at all (libraries, tools).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files of /etc that dynamic linking and common tools read; none of them holds a secret.
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
#: What a run with network access also needs to resolve names and verify certificates.
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates")


@dataclass(frozen=True)
class View:
    """The paths a sandboxed program sees (each at its own path), and where it starts."""

    read_only: tuple[str, ...]
    writable: tuple[str, ...]
    cwd: str
    network: bool = False
    extra_files: dict = field(default_factory=dict)  # path inside -> host file, read-only


_runtime_cache: dict = {}


def python_runtime(site_packages: bool = True) -> list[str]:
    """The directories this interpreter needs: its prefixes and, optionally, what site-packages imports.

    ``site_packages=False`` gives the interpreter and the standard library
    only: what a program running from a pixel archive needs. Computed once
    for each state of ``sys.path``.
    """
    key = (site_packages, tuple(sys.path), len(sys.meta_path))
    if key not in _runtime_cache:
        paths = {os.path.realpath(sys.executable), os.path.dirname(os.path.abspath(sys.executable))}
        paths.update({sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix})
        if site_packages:
            paths.update(e for e in sys.path if e and os.path.isabs(e) and _is_site_dir(e))
            paths.update(editable_packages().values())
        _runtime_cache.clear()
        _runtime_cache[key] = sorted(p for p in paths if os.path.exists(p))
    return list(_runtime_cache[key])


def _is_site_dir(entry: str) -> bool:
    name = os.path.basename(entry.rstrip("/"))
    return name in ("site-packages", "dist-packages") or entry in _site_dirs()


def _site_dirs() -> set[str]:
    dirs = set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return dirs


def editable_packages() -> dict[str, str]:
    """See :func:`_editable_packages`; computed once for each state of ``sys.path``."""
    key = ("editable", tuple(sys.path), len(sys.meta_path))
    if key not in _editable_cache:
        _editable_cache.clear()
        _editable_cache[key] = _editable_packages()
    return dict(_editable_cache[key])


_editable_cache: dict = {}


def _editable_packages() -> dict[str, str]:
    """Import name -> directory (or module file) of every editable install: setuptools' finders, ``.pth`` lines.

    Only the importable packages and modules are named, so a program sees
    ``plugins/pxos-cartridge/pxos_cartridge`` but not the tests, docs or
    other files beside it. A sandboxed interpreter started without ``site``
    imports them through this mapping.
    """
    found: dict[str, str] = {}
    for finder in list(sys.meta_path):
        module = sys.modules.get(getattr(finder, "__module__", "") or "")
        mapping = getattr(module, "MAPPING", None)
        if isinstance(mapping, dict) and module is not None and "editable" in module.__name__:
            found.update({str(name): str(path) for name, path in mapping.items()})
    for directory in _pth_directories():
        for path in _importables(directory):
            found.setdefault(os.path.basename(path).split(".")[0], path)
    return {name: path for name, path in sorted(found.items()) if os.path.exists(path)}


def _pth_directories() -> set[str]:
    """Directories added to sys.path by ``.pth`` files (how flit, hatch and setuptools' compat mode install)."""
    found = set()
    for site_dir in _site_dirs() | {e for e in sys.path if e.endswith(("site-packages", "dist-packages"))}:
        try:
            names = [n for n in os.listdir(site_dir) if n.endswith(".pth")]
        except OSError:
            continue
        for name in names:
            try:
                lines = Path(site_dir, name).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    path = os.path.abspath(os.path.join(site_dir, line))
                    if os.path.isdir(path) and not _is_site_dir(path):
                        found.add(path)
    return found


def _importables(directory: str) -> list[str]:
    """The packages and modules directly inside ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith((".py", ".so", ".pyd")) and os.path.isfile(path):
            found.append(path)
        elif name.isidentifier() and os.path.isfile(os.path.join(path, "__init__.py")):
            found.append(path)
    return found


def module_location(module: str, search: Optional[Sequence[str]] = None) -> Optional[str]:
    """The file or package directory of top-level ``module``, found without importing anything."""
    top = module.split(".")[0]
    spec = PathFinder.find_spec(top, [p for p in (search or sys.path) if p] or None)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return str(list(spec.submodule_search_locations)[0])
    return spec.origin if spec.origin and os.path.exists(spec.origin) else None


def protected_paths(extra: Iterable[str] = ()) -> dict[str, str]:
    """Path -> what it is, for what no sandboxed program may see: pxOS's state, the ledger key, the user's home."""
    from pxos_kernel.config import home_dir

    paths = {os.path.expanduser("~"): "your home directory", str(home_dir()): "PXOS_HOME"}
    key = os.environ.get("PXOS_LEDGER_KEY_FILE")
    if key:
        paths[os.path.expanduser(key)] = "the ledger's key file"
    found = {os.path.abspath(p): what for p, what in paths.items() if p and p != "/"}
    for path in extra:
        found.setdefault(os.path.abspath(path), "a protected path")
    return found


def check_view(paths: Iterable[str], protected: dict[str, str]) -> Optional[str]:
    """Why showing ``paths`` (writable ones) would expose a protected path, or None.

    A path *inside* a protected one is fine (a work tree under PXOS_HOME);
    one that is or contains it is not.
    """
    for path in paths:
        if path == "/":
            return "cannot show / to a sandboxed program: that is every file"
        for secret, what in protected.items():
            if _inside(secret, path):
                return f"cannot show {path} to a sandboxed program: it holds {what} ({secret})"
    return None


def around(paths: Iterable[str], protected: Iterable[str]) -> list[str]:
    """``paths`` with every protected path cut out: a directory holding one is replaced by its entries.

    So a runtime directory that holds PXOS_HOME (tox puts it inside the
    virtual environment) is shown whole except that branch, whether the
    protected path exists yet or not. Works alike for bubblewrap and Landlock.
    """
    secrets = [os.path.abspath(p) for p in protected]
    shown: list[str] = []
    for path in paths:
        shown.extend(_cut(os.path.abspath(path), [s for s in secrets if _inside(s, path)]))
    return shown


def _cut(path: str, secrets: list[str]) -> list[str]:
    if not secrets:
        return [path]
    if path in secrets or os.path.islink(path) or not os.path.isdir(path):
        return []
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    kept: list[str] = []
    for name in names:
        child = os.path.join(path, name)
        kept.extend(_cut(child, [s for s in secrets if _inside(s, child)]))
    return kept


def bwrap_command(bwrap: str, view: View, command: Sequence[str], *, disable_userns: bool) -> list[str]:
    """The bubblewrap command line that runs ``command`` in ``view``, in fresh namespaces, without privileges."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "pxos-sandbox"]
    if disable_userns:  # no nested user namespace: the program cannot gain capabilities anywhere
        argv += ["--unshare-user", "--disable-userns"]
    if view.network:
        argv.append("--share-net")
    system = [p for p in SYSTEM_DIRS if os.path.lexists(p)]
    files = [p for p in SYSTEM_FILES + (NETWORK_FILES if view.network else ()) if os.path.exists(p)]
    mounts: list[tuple[str, list[str]]] = []  # (path inside, bwrap arguments), sorted so parents come first
    for path in system:
        if os.path.islink(path):
            mounts.append((path, ["--symlink", os.readlink(path), path]))
        else:
            mounts.append((path, ["--ro-bind", path, path]))
    mounts += [("/proc", ["--proc", "/proc"]), ("/dev", ["--dev", "/dev"]), ("/tmp", ["--tmpfs", "/tmp"])]
    for path in files + list(view.read_only):
        mounts.append((path, ["--ro-bind", path, path]))
    for inside, host in view.extra_files.items():
        mounts.append((inside, ["--ro-bind", host, inside]))
    for path in view.writable:
        mounts.append((path, ["--bind", path, path]))
    seen = set()
    for _, args in sorted(mounts, key=lambda m: (m[0].rstrip("/").count("/"), m[1][0] == "--bind")):
        key = tuple(args)
        if key not in seen:
            seen.add(key)
            argv += args
    return [*argv, "--chdir", view.cwd, "--", *command]


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def minimal_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """``paths`` without those already inside another one (fewer mounts, same view)."""
    ordered = sorted({os.path.abspath(p) for p in paths}, key=lambda p: (p.count("/"), p))
    kept: list[str] = []
    for path in ordered:
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return tuple(kept)
