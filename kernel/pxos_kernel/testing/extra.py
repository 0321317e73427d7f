"""Loading a plugin object that no entry point announces, in every kernel a test builds."""

from __future__ import annotations

from typing import Any


def add_plugin(monkeypatch: Any, plugin: Any, name: str, distribution: str = "tests") -> None:
    """Make every :class:`~pxos_kernel.Kernel` built from now on (the CLI's too) also load ``plugin``.

    ``plugin`` is a module or object with ``@hookimpl`` methods, registered as
    ``name`` after the installed plugins. Adding a second plugin of the same
    ``name`` replaces the first. ``monkeypatch`` (pytest's fixture) undoes it
    all when the test ends::

        add_plugin(monkeypatch, EchoEnginePlugin(), "echo-engine")
    """
    from pxos_kernel.plugins import Plugins

    extra: dict[str, tuple[Any, str]] = getattr(Plugins.load_entry_points, "_pxos_extra", {})
    original = getattr(Plugins.load_entry_points, "__wrapped__", Plugins.load_entry_points)
    extra = {**extra, name: (plugin, distribution)}

    def load_entry_points(self: Plugins, eps: Any = None) -> None:
        original(self, eps)
        for plugin_name, (obj, dist) in extra.items():
            self.register(obj, plugin_name, dist)

    load_entry_points.__wrapped__ = original  # type: ignore[attr-defined]
    load_entry_points._pxos_extra = extra  # type: ignore[attr-defined]
    monkeypatch.setattr(Plugins, "load_entry_points", load_entry_points)
