"""Writes docs/hooks.md and docs/api.md from the code: hooks, registrations, interfaces, the public API.

Run ``python docs/gen_reference.py`` after changing any of them; a test fails
while a committed file differs from what this prints.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from pathlib import Path
from typing import Protocol

import pxos_kernel
from pxos_kernel import hookspecs, interfaces, registrations
from pxos_kernel.values import Value

OUT = Path(__file__).with_name("hooks.md")
API = Path(__file__).with_name("api.md")
#: Headings of docs/api.md, by the private module that defines the names.
SECTIONS = {
    "Writing a plugin": ("pxos_kernel.hookspecs", "pxos_kernel.registrations"),
    "What factories return, and the values they exchange": ("pxos_kernel.interfaces",),
    "Errors": ("pxos_kernel.errors",),
    "The running kernel": ("pxos_kernel.core", "pxos_kernel.run", "pxos_kernel.programcall",
                           "pxos_kernel.sandbox", "pxos_kernel.config", "pxos_kernel.system"),
    "Command output and progress": ("pxos_kernel.output", "pxos_kernel.progressbar"),
    "Files, canonical JSON and redaction": ("pxos_kernel.files", "pxos_kernel.canonical", "pxos_kernel.redaction"),
    "The ledger core": ("pxos_kernel.ledger", "pxos_kernel.jsonl_sink", "pxos_kernel.checkpoints"),
    "Versioned registries": ("pxos_kernel.versions",),
}


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _hooks() -> list[str]:
    lines = ["## Hooks", ""]
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("pxos_"):
            continue
        options = getattr(function, f"{hookspecs.PROJECT}_spec", {}) or {}
        flags = [flag for flag in ("firstresult", "historic") if options.get(flag)]
        signature = str(inspect.signature(function)).replace("'", "")
        lines += [f"### `{name}{signature}`", ""]
        if flags:
            lines += [f"*{', '.join(flags)}*", ""]
        lines += [_doc(function), ""]
    return lines


def _dataclasses(module, title: str) -> list[str]:
    """The value classes of ``module``: dataclasses, and registrations (whose fields are their constructor's
    parameters, see pxos_kernel.registrations)."""
    lines = [f"## {title}", ""]
    for name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or not (dataclasses.is_dataclass(cls) or issubclass(cls, Value)):
            continue
        lines += [f"### `{name}`", "", _doc(cls), "", "| field | type | default |", "|---|---|---|"]
        if dataclasses.is_dataclass(cls):
            rows = [(f.name, f.type, _default(f)) for f in dataclasses.fields(cls)]
        else:
            # the attribute's annotation: a constructor may spell a type differently (Setting's ``type``)
            rows = [(p.name, cls.__annotations__.get(p.name, p.annotation),
                     "required" if p.default is p.empty else f"`{p.default!r}`")
                    for p in inspect.signature(cls).parameters.values()]
        lines += [f"| `{field}` | `{_type(annotation)}` | {default} |" for field, annotation, default in rows]
        lines.append("")
    return lines


def _type(annotation) -> str:
    return str(annotation if isinstance(annotation, str) else getattr(annotation, "__name__", annotation)) \
        .replace("'", "").replace("|", "\\|")


def _default(f: "dataclasses.Field") -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f"`{f.default_factory()!r}` (a new one each time)"  # type: ignore[misc]
    return "required"


def _protocols() -> list[str]:
    lines = ["## Interfaces (what factories return)", ""]
    for name, cls in inspect.getmembers(interfaces, inspect.isclass):
        if cls.__module__ != interfaces.__name__ or Protocol not in cls.__mro__ or cls is Protocol:
            continue
        lines += [f"### `{name}`", "", _doc(cls), ""]
        for method, function in cls.__dict__.items():
            if inspect.isfunction(function) and not method.startswith("_"):
                signature = str(inspect.signature(function)).replace("'", "")
                contract = " ".join(_doc(function).split()) or "(no contract written)"
                lines += [f"- `{method}{signature}`: {contract}"]
        lines.append("")
    return lines


def render() -> str:
    lines = [
        "# Hook reference",
        "",
        "Generated from `kernel/pxos_kernel/hookspecs.py`, `kernel/pxos_kernel/registrations.py` and `kernel/pxos_kernel/interfaces.py` by",
        "`python docs/gen_reference.py`; do not edit by hand.",
        "",
        _doc(hookspecs),
        "",
    ]
    lines += _hooks() + _dataclasses(registrations, "Registration types") + _protocols()
    lines += _dataclasses(interfaces, "Values exchanged with plugins")
    return "\n".join(lines).rstrip() + "\n"


#: What the names without a docstring of their own are.
CONSTANTS = {
    "hookimpl": "the marker of a hook implementation: `@hookimpl` (pluggy, project `pxos`)",
    "hookspec": "the marker of a hook specification, for plugins that add hooks of their own (`pxos_addhooks`)",
    "ATOM_ID": "the pattern of a record id, `ATOM-TYPE-YYYYMMDD-SEQ` (compiled regex)",
    "CORRIDOR": "the pattern of a corridor, `DISTRICT_N.CHAMBER_X.NODE_Y` (compiled regex)",
    "GENESIS_PREV": "the `prev` hash of the first record: 64 zeros",
}


def _summary(name: str, value) -> str:
    if name in CONSTANTS:
        return CONSTANTS[name]
    doc = inspect.getdoc(value)
    assert doc, f"{name} has no docstring"
    return doc.split("\n\n")[0].replace("\n", " ")


def _table(names: list[str], namespace) -> list[str]:
    lines = ["| name | what it is |", "|---|---|"]
    for name in names:
        what = _summary(name, getattr(namespace, name)).replace("|", "\\|")
        lines.append(f"| `{name}` | {what} |")
    return lines + [""]


def render_api() -> str:
    lines = ["# The public API", "",
             "Generated from `kernel/pxos_kernel/__init__.py` by `python docs/gen_reference.py`; do not edit by hand.",
             "", inspect.getdoc(pxos_kernel), ""]
    exports = pxos_kernel._EXPORTS
    for title, modules in SECTIONS.items():
        names = [n for n in exports if exports[n] in modules]
        lines += [f"## {title}", "", *_table(names, pxos_kernel)]
    listed = {m for modules in SECTIONS.values() for m in modules}
    assert set(exports.values()) <= listed, f"give these modules a section: {set(exports.values()) - listed}"
    for module in ("pxos_kernel.container", "pxos_kernel.testing"):
        namespace = importlib.import_module(module)
        names = sorted(n for n, v in vars(namespace).items()
                       if not n.startswith("_") and getattr(v, "__module__", "").startswith(module)
                       and (inspect.isfunction(v) or inspect.isclass(v)))
        lines += [f"## `{module}`", "", inspect.getdoc(namespace).split("\n\n")[0], "", *_table(names, namespace)]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    outputs = {OUT: render(), API: render_api()}
    if "--check" in sys.argv:
        sys.exit(0 if all(path.exists() and path.read_text() == text for path, text in outputs.items()) else 1)
    for path, text in outputs.items():
        path.write_text(text)
        print(f"wrote {path}")
