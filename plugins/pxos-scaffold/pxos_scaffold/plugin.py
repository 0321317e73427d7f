"""Entry point of the pxos-scaffold plugin: registers the ``plugin new`` command.

Loaded on every ``pxos-kernel`` start, so it imports only the kernel; the
skeleton writer loads when the command runs.
"""

from __future__ import annotations

from pxos_kernel import Subcommand, hookimpl, lazy


@hookimpl
def pxos_subcommands() -> Subcommand:
    return Subcommand("plugin new", "write a new, installable plugin skeleton",
                      lazy("pxos_scaffold.skeleton:run_plugin_new"), lazy("pxos_scaffold.skeleton:configure_plugin_new"))
