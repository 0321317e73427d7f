"""pxos-scaffold: ``pxos-kernel plugin new``, a complete, installable plugin skeleton of each kind.

Public API (what other code may use): :data:`KINDS`, :func:`write_skeleton`
and :class:`ScaffoldError`. They load on first use: the entry point
(``pxos_scaffold.plugin``) is imported on every CLI start, and the skeleton
writer's imports must not cost that start anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pxos_scaffold.skeleton import KINDS, ScaffoldError, write_skeleton

__all__ = ["KINDS", "ScaffoldError", "write_skeleton"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'pxos_scaffold' has no attribute {name!r}")
    from pxos_scaffold import skeleton

    return getattr(skeleton, name)
