"""The pxos entry point of pxos-explorer: one subcommand, ``explore``.

Only the kernel is imported here; the server and its views load when the
command runs.
"""

from __future__ import annotations

from pxos_kernel import Subcommand, hookimpl, lazy


@hookimpl
def pxos_subcommands():
    return Subcommand("explore", "serve a local web explorer of the ledger, cartridges, storage, maps and models",
                      lazy("pxos_explorer.command:run_explore"), lazy("pxos_explorer.command:configure_explore"),
                      description="Serve a local web app on 127.0.0.1 behind a random token (printed in the URL): "
                      "the ledger, cartridges, storage, InfiniteMap regions, models and the system.")
