"""The kernel's own plugin: the features a bare kernel has, built with the public hooks."""

from __future__ import annotations

from pxos_kernel.hookspecs import hookimpl
from pxos_kernel.registrations import Program, Setting, SinkSpec, Subcommand, lazy


def _jsonl_sink(settings: dict):
    from pathlib import Path

    from pxos_kernel.jsonl_sink import JsonlSink

    path = settings.get("path") or Path(settings["root"]) / "ledger.jsonl"
    return JsonlSink(path, durability=settings.get("durability", "flush"))


@hookimpl
def pxos_sinks():
    return SinkSpec("jsonl", _jsonl_sink, "one JSON record a line in PXOS_HOME/ledger/ledger.jsonl (stdlib only)")


@hookimpl
def pxos_settings():
    """The settings the kernel reads; plugins declare theirs, and those of what they register, the same way."""
    return [
        Setting("defaults", dict, None, "the backend of each family when a command names none, e.g. "
                "{storage: pixelfs, sink: sqlite} (else the world manifest's)"),
        Setting("ledger", dict, None, "the ledger, and the settings handed to its sink (defaults.sink)"),
        Setting("ledger.hmac_key_file", str, None, "a file holding a key (16 bytes or more) that makes the hash "
                "chain unforgeable without it (else PXOS_LEDGER_KEY_FILE)"),
        Setting("ledger.path", str, None, "the ledger's file for a file-based sink (jsonl: "
                "PXOS_HOME/ledger/ledger.jsonl)"),
        Setting("ledger.durability", str, None, "when an append reaches the disk, as the sink names it (jsonl: "
                "flush, the default, survives a crash; fsync survives power loss)"),
        Setting("sandbox", dict, None, "limits of sandboxed runs: timeout, memory_mb, cpu_seconds, processes, "
                "mechanism (checked when a run starts)"),
        Setting("storage", dict, None, "settings of each storage backend, by scheme"),
        Setting("inference", dict, None, "settings of each inference engine, by name"),
        Setting("agents", dict, None, "settings of each agent, by name"),
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
        ("config show", "config", "list every setting the installed plugins declare, its value and where it comes from"),
        ("config get", "config", "print the value of one setting"),
        ("config set", "config", "change one setting in config.yaml, keeping its comments (checked first)"),
        ("config unset", "config", "remove one setting from config.yaml (it returns to its default)"),
        ("config validate", "config", "check config.yaml against every installed plugin's settings"),
    ]
    ident = lambda name: name.replace(" ", "_").replace("-", "_")  # noqa: E731
    return [
        Subcommand(name, summary, lazy(f"pxos_kernel.commands.{module}:run_{ident(name)}"),
                   lazy(f"pxos_kernel.commands.{module}:configure_{ident(name)}"))
        for name, module, summary in commands
    ]
