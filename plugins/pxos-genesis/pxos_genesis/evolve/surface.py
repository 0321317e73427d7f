"""The contract surface of a pxOS source tree, read statically with :mod:`ast`.

A candidate build is untrusted code, so nothing here imports or runs it: every
source file is parsed and these parts of the contract between the kernel and
its plugins are read off the syntax tree:

``hookspecs``
    every function decorated as a pluggy hook specification (``@hookspec``,
    ``@hookspec(firstresult=True)``, or a marker made by ``HookspecMarker``),
    with its parameters, return annotation and marker options;
``registrations``
    the fields of every public class in a ``registrations`` module (the typed
    values plugins hand to the kernel: ``StorageBackend``, ``Program`` ...):
    its constructor's parameters in order, which the kernel documents as a
    registration's field list (a dataclass's fields, for one that is a
    dataclass);
``interfaces``
    the methods and attributes of every :class:`typing.Protocol` class, and
    the fields of every dataclass in an ``interfaces`` module (``Task``,
    ``Verdict`` ...);
``formats``
    module-level ``VERSION`` / ``*_VERSION`` constants holding a literal (the
    container, archive and ledger format versions).

Only pxOS's own packages are read (top-level names starting ``pxos``); tests
and vendored dependencies are not part of the contract. The command-line
surface cannot be read this way (parsers are built by code), see
:mod:`pxos_genesis.evolve.probes`.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

_VERSION_NAME = re.compile(r"^(?:[A-Z][A-Z0-9_]*_)?VERSION$")
_SKIP_DIRS = frozenset({"tests", "test", "__pycache__", ".git", "build", "dist", ".tox", ".eggs"})


@dataclass
class Surface:
    """What one tree promises to plugins; every value is plain JSON data."""

    hookspecs: dict[str, dict] = field(default_factory=dict)
    registrations: dict[str, list[dict]] = field(default_factory=dict)
    interfaces: dict[str, dict] = field(default_factory=dict)
    formats: dict[str, Any] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"hookspecs": self.hookspecs, "registrations": self.registrations, "interfaces": self.interfaces,
                "formats": self.formats, "unreadable": self.unreadable}


def read_surface(tree: Path, prefix: str = "pxos") -> Surface:
    """The surface of every package under ``tree`` whose top-level name starts with ``prefix``."""
    surface = Surface()
    for module, path in _modules(Path(tree), prefix):
        try:
            source = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError) as exc:
            # A file that does not parse is judged by the build's syntax check; here it promises nothing.
            surface.unreadable.append(f"{path.relative_to(tree).as_posix()}: {exc}")
            continue
        _read_module(module, source, surface)
    return surface


def _modules(tree: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """``(dotted module name, path)`` of every source file of a package named ``prefix...``, sorted."""
    found = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith((".dist-info", ".egg-info")))
        here = Path(root)
        for name in sorted(files):
            if not name.endswith(".py") or name.startswith("test_") or name == "conftest.py":
                continue
            module = _module_name(here / name)
            if module and module.split(".")[0].startswith(prefix):
                found.append((module, here / name))
    # The same module found twice (a source copy and a staged copy) is read once, the first in path order.
    seen: set[str] = set()
    for module, path in sorted(found, key=lambda item: (item[0], len(item[1].parts), str(item[1]))):
        if module not in seen:
            seen.add(module)
            yield module, path


def _module_name(path: Path) -> Optional[str]:
    """The dotted name of ``path`` below every enclosing directory that has ``__init__.py``; ``None``
    for a loose script outside any package."""
    package: list[str] = []
    parent = path.parent
    while (parent / "__init__.py").is_file():
        package.insert(0, parent.name)
        parent = parent.parent
    if not package:
        return None
    return ".".join(package + ([] if path.name == "__init__.py" else [path.stem]))


def _read_module(module: str, source: ast.Module, surface: Surface) -> None:
    markers = _hookspec_markers(source)
    last = module.rsplit(".", 1)[-1]
    for node in source.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            options = _hookspec_options(node, markers)
            if options is not None:
                surface.hookspecs[node.name] = {"module": module, **_signature(node.args, node.returns),
                                                "options": options}
        elif isinstance(node, ast.ClassDef):
            if _is_protocol(node):
                surface.interfaces[f"{module}.{node.name}"] = {"kind": "protocol", "members": _protocol(node)}
            elif last == "registrations" and not node.name.startswith("_"):
                fields = _fields(node) if _is_dataclass(node) else _constructor_fields(node)
                if fields is not None:
                    surface.registrations[f"{module}.{node.name}"] = fields
            elif _is_dataclass(node) and last == "interfaces":
                surface.interfaces[f"{module}.{node.name}"] = {"kind": "dataclass", "fields": _fields(node)}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                if isinstance(target, ast.Name) and _VERSION_NAME.match(target.id) and value is not None:
                    literal = _literal(value)
                    if literal is not None:
                        surface.formats[f"{module}.{target.id}"] = literal


# -- hook specifications ----------------------------------------------------------------------


def _hookspec_markers(source: ast.Module) -> set[str]:
    """Names bound to a hookspec marker in this module (``hookspec`` itself, and ``X = HookspecMarker(...)``)."""
    names = {"hookspec"}
    for node in ast.walk(source):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func).endswith("HookspecMarker"):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _hookspec_options(node: ast.FunctionDef | ast.AsyncFunctionDef, markers: set[str]) -> Optional[dict]:
    """The marker's keyword options when ``node`` is a hook specification, else ``None``."""
    for decorator in node.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        name = _dotted(call.func if call else decorator).rsplit(".", 1)[-1]
        if name in markers:
            return {k.arg: ast.unparse(k.value) for k in (call.keywords if call else []) if k.arg}
    return None


def _signature(args: ast.arguments, returns: Optional[ast.expr]) -> dict:
    """Parameters in order (name, kind, annotation, default) and the return annotation, as text."""
    params = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "positional-only" if index < len(args.posonlyargs) else "positional"
        params.append(_param(arg, kind, default))
    if args.vararg:
        params.append(_param(args.vararg, "var-positional", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(_param(arg, "keyword-only", default))
    if args.kwarg:
        params.append(_param(args.kwarg, "var-keyword", None))
    return {"params": params, "returns": _annotation(returns)}


def _param(arg: ast.arg, kind: str, default: Optional[ast.expr]) -> dict:
    return {"name": arg.arg, "kind": kind, "annotation": _annotation(arg.annotation), "default": _text(default)}


# -- classes ----------------------------------------------------------------------------------


def _is_protocol(node: ast.ClassDef) -> bool:
    return any(_dotted(b.value if isinstance(b, ast.Subscript) else b).rsplit(".", 1)[-1] == "Protocol"
               for b in node.bases)


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any(_dotted(d.func if isinstance(d, ast.Call) else d).rsplit(".", 1)[-1] == "dataclass"
               for d in node.decorator_list)


def _fields(node: ast.ClassDef) -> list[dict]:
    """A dataclass's fields in order: name, annotation, and its default as written (``None``: required)."""
    fields = []
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = _annotation(item.annotation) or ""
            if annotation.startswith(("ClassVar", "typing.ClassVar")):
                continue
            fields.append({"name": item.target.id, "annotation": annotation, "default": _text(item.value)})
    return fields


def _constructor_fields(node: ast.ClassDef) -> Optional[list[dict]]:
    """A registration's fields: its ``__init__``'s parameters after ``self``, as :func:`_fields` gives a
    dataclass's (``None`` for a class that defines no ``__init__``, such as a base class)."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            params = _signature(item.args, None)["params"][1:]
            return [{"name": p["name"], "annotation": p["annotation"] or "", "default": p["default"]} for p in params]
    return None


def _protocol(node: ast.ClassDef) -> dict[str, dict]:
    """A Protocol's members: methods with their signatures, attributes with their annotations."""
    members: dict[str, dict] = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            members[item.name] = {"kind": "method", **_signature(item.args, item.returns)}
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members[item.target.id] = {"kind": "attribute", "annotation": _annotation(item.annotation)}
    return members


# -- helpers ----------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _text(node: Optional[ast.AST]) -> Optional[str]:
    """The source of ``node`` normalised by :func:`ast.unparse` (spacing and quotes do not matter)."""
    return None if node is None else ast.unparse(node)


def _annotation(node: Optional[ast.AST]) -> Optional[str]:
    """An annotation as text; string parts (``Optional["Program"]``) read the same as bare names."""
    if node is None:
        return None
    return ast.unparse(_Unquote().visit(ast.parse(ast.unparse(node), mode="eval")).body)


class _Unquote(ast.NodeTransformer):
    """Replaces string constants in an annotation by the expression they spell."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            try:
                return self.visit(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return node
        return node


def _literal(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return value if isinstance(value, (int, str, float, tuple)) and not isinstance(value, bool) else None
