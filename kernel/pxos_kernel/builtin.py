"""The kernel's own plugin: the features a bare kernel has, built with the public hooks."""

from __future__ import annotations

from pxos_kernel.hookspecs import hookimpl
from pxos_kernel.registrations import ConfigSection, Program, SinkSpec, Subcommand, lazy


def _jsonl_sink(settings: dict):
    from pathlib import Path

    from pxos_kernel.jsonl_sink import JsonlSink

    path = settings.get("path") or Path(settings["root"]) / "ledger.jsonl"
    return JsonlSink(path, durability=settings.get("durability", "flush"))


@hookimpl
def pxos_sinks():
    return SinkSpec("jsonl", _jsonl_sink, "one JSON record a line in PXOS_HOME/ledger/ledger.jsonl (stdlib only)")


@hookimpl
def pxos_config_sections():
    """The sections the kernel reads; each family's settings section holds one mapping per name."""
    return [
        ConfigSection("defaults", "the backend of each family when a command names none"),  # checked by config.py
        ConfigSection("ledger", "the ledger and the settings given to its sink",
                      {"hmac_key_file": str, "durability": str, "path": str}, open=True),
        ConfigSection("sandbox", "limits of sandboxed runs"),  # checked by SandboxLimits.from_settings
        ConfigSection("network", "hosts agents may contact", {"consent": list}),
        ConfigSection("plugins", "plugin selection"),
        ConfigSection("storage", "settings of each storage backend, by scheme"),
        ConfigSection("inference", "settings of each inference engine, by name"),
        ConfigSection("agents", "settings of each agent, by name"),
    ]


@hookimpl
def pxos_programs():
    return Program("hello", "pxos_kernel.programs:hello", "print a greeting (the smallest possible program)")


@hookimpl
def pxos_subcommands():
    commands = [
        ("plugins", "core", "list installed plugins, what they registered and load errors"),
        ("inspect", "core", "describe this kernel: plugins, registries, world, ledger, sandbox"),
        ("genesis", "core", "run every registered guardrail against the world or a cartridge"),
        ("log", "core", "show the execution history from the ledger"),
        ("run", "run", "run a program through the hypervisor"),
        ("plugin new", "scaffold", "write a new, installable plugin skeleton"),
        ("ledger verify", "ledger", "recompute every hash and link of the ledger"),
        ("ledger repair", "ledger", "set aside a torn last record left by a crash"),
        ("ledger seal", "ledger", "write a signed head (size, head hash, Merkle root) for 'verify --head'"),
        ("storage put", "storage", "store a file under SCHEME://KEY"),
        ("storage get", "storage", "read SCHEME://KEY into a file or stdout"),
        ("storage ls", "storage", "list objects under SCHEME://PREFIX"),
        ("storage info", "storage", "describe one stored object"),
        ("storage verify", "storage", "re-read an object and check its checksum"),
        ("storage show", "storage", "write a viewable PNG preview of an object"),
        ("storage backends", "storage", "list storage backends"),
        ("boot targets", "boot", "list boot targets"),
        ("boot build", "boot", "build a boot image and record it in the ledger"),
        ("boot run", "boot", "start a boot image in an emulator"),
    ]
    ident = lambda name: name.replace(" ", "_").replace("-", "_")  # noqa: E731
    return [
        Subcommand(name, summary, lazy(f"pxos_kernel.commands.{module}:run_{ident(name)}"),
                   lazy(f"pxos_kernel.commands.{module}:configure_{ident(name)}"))
        for name, module, summary in commands
    ]
