"""Writes docs/hooks.md from the code: hook specifications, registration types, interfaces.

Run ``python docs/gen_reference.py`` after changing any of them; a test fails
while the committed file differs from what this prints.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from pathlib import Path
from typing import Protocol

from pxos_kernel import hookspecs, interfaces, registrations

OUT = Path(__file__).with_name("hooks.md")


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
    lines = [f"## {title}", ""]
    for name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or not dataclasses.is_dataclass(cls):
            continue
        fields = ", ".join(f"`{f.name}`" for f in dataclasses.fields(cls))
        lines += [f"### `{name}`", "", f"Fields: {fields}", "", _doc(cls), ""]
    return lines


def _protocols() -> list[str]:
    lines = ["## Interfaces (what factories return)", ""]
    for name, cls in inspect.getmembers(interfaces, inspect.isclass):
        if cls.__module__ != interfaces.__name__ or Protocol not in cls.__mro__ or cls is Protocol:
            continue
        lines += [f"### `{name}`", "", _doc(cls), ""]
        for method, function in cls.__dict__.items():
            if inspect.isfunction(function) and not method.startswith("_"):
                signature = str(inspect.signature(function)).replace("'", "")
                lines += [f"- `{method}{signature}`: {_doc(function).splitlines()[0] if function.__doc__ else ''}"]
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


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text() == render() else 1)
    OUT.write_text(render())
    print(f"wrote {OUT}")
