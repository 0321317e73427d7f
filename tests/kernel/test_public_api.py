"""``pxos_kernel``'s namespace is the public API: every export resolves, type checkers see the same names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pxos_kernel


def _type_checking_names() -> set[str]:
    tree = ast.parse(Path(pxos_kernel.__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    return {alias.name for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}


def test_type_checkers_see_exactly_the_exports():
    assert _type_checking_names() == set(pxos_kernel._EXPORTS)


@pytest.mark.parametrize("name", sorted(pxos_kernel._EXPORTS))
def test_each_export_resolves_from_its_module(name):
    module = importlib.import_module(pxos_kernel._EXPORTS[name])
    assert getattr(pxos_kernel, name) is getattr(module, name)


def test_every_export_is_documented():
    api = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert [n for n in pxos_kernel.__all__ if n != "__version__" and f"| `{n}` |" not in api] == []


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Plugins'"):
        pxos_kernel.Plugins  # noqa: B018
