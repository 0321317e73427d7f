"""``plugin new``: write a complete, installable plugin skeleton.

The skeleton is rendered from the templates shipped in ``pxos_scaffold/templates``:
``common/`` holds what every plugin has (pyproject.toml, README, the test
fixtures, a test of the registration), ``<kind>/`` one working implementation
of that kind, its tests, and ``usage.md.part``, the kind's section of the
README. In a template path the directory ``package`` becomes the plugin's
import package; files ending in ``.tmpl`` are filled in with
:class:`string.Template` (``$name``, ``$package``, ...), others are copied as
they are.

The skeleton is written into a temporary directory beside the target and
renamed into place at the end, so a failure never leaves half a plugin behind.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import string
import sys
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from pxos_kernel import PxosError, add_json_flag, print_json

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: The kinds of plugin ``plugin new`` can write, and what each skeleton does.
KINDS: dict[str, str] = {
    "storage": "a storage backend keeping each object as a file beside its sha256",
    "sink": "a ledger checkpoint sink on SQLite with an atomic compare-and-append",
    "inference": "an inference engine: a character bigram model fitted on a text it ships",
    "agent": "a rule-based agent proposing a patch that tidies whitespace in the task's files",
    "guardrail": "a guardrail refusing unfinished-work markers (TODO, FIXME, XXX) in files and patches",
    "boot": "a boot emitter writing an x86 BIOS boot sector that prints a message",
    "program": "a program counting the lines, words and bytes of files",
}

# Distribution-style names: lowercase words joined by single hyphens ("my-store").
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_RESERVED = {"pxos_kernel", "test", "tests", "pytest", "pluggy", "setuptools"}


class ScaffoldError(PxosError):
    """``plugin new`` was asked for something it cannot write."""


def package_name(name: str) -> str:
    """The import package of plugin ``name``: ``my-store`` -> ``my_store``."""
    return name.replace("-", "_")


def check_request(name: str, kind: str) -> None:
    """Refuse an invalid plugin name or an unknown kind with one clear line."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown plugin kind {kind!r}: choose one of {', '.join(KINDS)}")
    if not _NAME.match(name):
        raise ScaffoldError(f"plugin name {name!r} is invalid: use lowercase letters and digits in words "
                            "joined by single hyphens, starting with a letter (e.g. my-store)")
    package = package_name(name)
    if keyword.iskeyword(package) or package in sys.stdlib_module_names or package in _RESERVED:
        raise ScaffoldError(f"plugin name {name!r} is invalid: its package {package!r} would shadow "
                            "a Python keyword or module; pick another name")


def template_values(name: str, kind: str) -> dict[str, str]:
    """The ``$placeholders`` every template may use."""
    from pxos_kernel import __version__

    return {
        "name": name,
        "package": package_name(name),
        "kind": kind,
        "title": name.replace("-", " ").capitalize(),
        "summary": KINDS[kind],
        "kernel_version": __version__,
    }


def render_tree(kind: str, values: dict[str, str], dest: Path) -> list[Path]:
    """Render ``templates/common`` and ``templates/<kind>`` into ``dest``; return the files written.

    ``<kind>/usage.md.part`` is not a file of the skeleton: it becomes ``$usage``,
    the kind's own section of the common README.
    """
    templates = files("pxos_scaffold") / "templates"  # a Traversable: the system may run from a pixel archive
    usage = string.Template((templates / kind / "usage.md.part").read_text(encoding="utf-8"))
    values = {**values, "usage": usage.substitute(values).strip()}
    written = []
    for source_root in (templates / "common", templates / kind):
        for parts, source in _template_files(source_root):
            if parts[-1].endswith(".part"):
                continue
            target = dest.joinpath(*(values["package"] if part == "package" else part for part in parts))
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".tmpl":
                target = target.with_suffix("")
                text = string.Template(source.read_text(encoding="utf-8")).substitute(values)
                target.write_text(text, encoding="utf-8")
            else:
                target.write_bytes(source.read_bytes())
            written.append(target)
    return written


def _template_files(root: "Traversable", parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], "Traversable"]]:
    """``(path parts below root, file)`` of every template file, in sorted order."""
    for child in sorted(root.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _template_files(child, (*parts, child.name))
        else:
            yield (*parts, child.name), child


def write_skeleton(name: str, kind: str, target: Optional[os.PathLike | str] = None) -> Path:
    """Write the skeleton of plugin ``name`` of ``kind`` into ``target`` (default ``./name``).

    Refuses a target that exists and is not an empty directory.
    """
    check_request(name, kind)
    target = Path(target if target is not None else name).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "directory is not empty" if target.is_dir() else "exists and is not a directory"
        raise ScaffoldError(f"cannot write plugin {name!r} into {target}: it {what}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise ScaffoldError(f"cannot write plugin {name!r} into {target}: {exc.strerror}") from None
    try:
        render_tree(kind, template_values(name, kind), staging)
        os.chmod(staging, 0o755)  # mkdtemp made it private; a project directory is not
        if target.exists():
            target.rmdir()  # empty, checked above; os.replace cannot replace a directory
        os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ScaffoldError(f"cannot write plugin {name!r} into {target}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def configure_plugin_new(parser) -> None:
    parser.add_argument("name", help="plugin (and distribution) name, e.g. my-store")
    parser.add_argument("--kind", required=True, metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    parser.add_argument("-o", "--output", metavar="DIR", help="directory to create (default: ./NAME)")
    add_json_flag(parser, help="print what was written as JSON (name, kind, path, files, next steps)")


def run_plugin_new(args) -> int:
    target = write_skeleton(args.name, args.kind, args.output)
    steps = [f"pip install -e '{target}[test]'", f"python -m pytest {target / 'tests'}", "pxos-kernel plugins"]
    if args.json:
        written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
        print_json({"name": args.name, "kind": args.kind, "package": package_name(args.name), "path": str(target),
                    "summary": KINDS[args.kind], "files": written, "next": steps})
        return 0
    print(f"wrote {args.kind} plugin {args.name!r} to {target}: {KINDS[args.kind]}")
    print("next:")
    for step in steps:
        print(f"  {step}")
    return 0
