"""The pxos-genesis plugin: Genesis guardrails and the ``evolve`` commands.

This module is the entry point, so it imports only the kernel and the
standard library; the checks and the pipeline load when they are used.
"""

from __future__ import annotations

from pxos_kernel import Setting, Subcommand, hookimpl, lazy


@hookimpl
def pxos_guardrails():
    from pxos_genesis.guardrails import registrations

    return registrations()


def _lazy(name: str):
    return lazy(f"pxos_genesis.evolve.commands:{name}")


@hookimpl
def pxos_settings():
    return [
        Setting("genesis", dict, None, "the evolution pipeline and the guardrails"),
        Setting("genesis.cartridge", str, None, "the cartridge evolve propose targets when none is named (else the "
                "system cartridge, pxos)"),
        Setting("genesis.network_clients", list, [], "modules the user trusts to reach the network the consented, "
                "logged way (G8)"),
        Setting("genesis.max_in_flight", int, 2, "evolution builds that may run at once"),
        Setting("genesis.build_timeout", float, 600.0, "seconds an evolution build may take"),
        Setting("genesis.workspace_mb", float, 512.0, "megabytes a build's workspace may hold"),
        Setting("genesis.bench_rounds", int, 3, "measurements of each benchmark figure a build takes (the median "
                "is kept), in turns with its parent"),
    ]


@hookimpl
def pxos_subcommands():
    return [
        Subcommand("evolve propose", "record a proposed change to a cartridge (a patch file, an agent, a coached task)",
                   _lazy("run_propose"), _lazy("configure_propose")),
        Subcommand("evolve build", "build, test and register a proposal in a sandbox workspace (never promotes)",
                   _lazy("run_build"), _lazy("configure_build")),
        Subcommand("evolve list", "list proposals and builds, with their outcomes and reasons, from the ledger",
                   _lazy("run_list"), _lazy("configure_list")),
        Subcommand("evolve show", "one proposal or build: reasoning, patch, outcome, judgement, lineage",
                   _lazy("run_show"), _lazy("configure_show")),
    ]
