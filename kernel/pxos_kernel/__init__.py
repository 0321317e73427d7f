"""pxOS kernel: hook specifications, plugin loading, the hypervisor and the ledger core.

This package's namespace is the kernel's public API, and the boundary plugins
keep to: a plugin imports kernel names from ``pxos_kernel`` (and, in its tests,
from ``pxos_kernel.testing``) and reads or writes pixel containers through
``pxos_kernel.container``; the other modules below it are private and may
change at any time. ``docs/api.md`` lists every name; ``tox -e lint`` (the
import contracts of ``tests/contract``) fails on a plugin that reaches past it::

    from pxos_kernel import hookimpl, StorageBackend, NotFoundError

Names are imported lazily, on first use, so that ``import pxos_kernel`` (done by
every sandboxed child and every plugin) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the private module that defines it.
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        # writing a plugin
        "pxos_kernel.hookspecs": ("hookimpl", "hookspec"),
        "pxos_kernel.registrations": (
            "StorageBackend", "InferenceEngine", "SinkSpec", "AgentSpec", "Guardrail", "BootEmitter",
            "Program", "Subcommand", "Setting", "lazy"),
        "pxos_kernel.interfaces": (
            "Storage", "Sink", "Engine", "Agent",
            "ObjectInfo", "GenerationRequest", "GenerationChunk", "Task", "Proposal", "Review", "Readiness",
            "Violation", "Verdict", "BootRequest", "BootImage"),
        "pxos_kernel.errors": (
            "PxosError", "UsageError", "ConfigError", "PluginError", "ConflictError", "NotFoundError",
            "ProgramError", "SandboxError", "LedgerError", "LedgerCorruptError", "StorageError", "FormatError",
            "IntegrityError", "InferenceError", "AgentError", "NetworkConsentError", "GuardrailError",
            "BootError", "did_you_mean"),
        # the running kernel
        "pxos_kernel.core": ("Kernel",),
        "pxos_kernel.run": ("RunResult",),
        "pxos_kernel.programcall": ("load_entry",),
        "pxos_kernel.sandbox": ("SandboxLimits", "SandboxOutcome", "SandboxUnavailable", "SandboxInterrupted",
                                "SandboxLimitError"),
        "pxos_kernel.system": ("booted_system", "missing_module", "python_command"),
        "pxos_kernel.config": ("load_yaml", "load_config", "save_config", "edit_config"),
        # commands: one way to print, parse flags and show progress
        "pxos_kernel.output": ("add_json_flag", "print_json", "print_table", "add_sandbox_flags", "sandbox_flags"),
        "pxos_kernel.progressbar": ("progress", "Progress", "progress_shown"),
        # files and formats
        "pxos_kernel.files": ("atomic_write", "atomic_writer", "file_sha256"),
        "pxos_kernel.canonical": ("canonical_json", "format_number"),
        "pxos_kernel.redaction": ("redact_url",),
        # versioned, content-addressed registries (cartridges, models)
        "pxos_kernel.versions": ("VersionRegistry", "current_user"),
        # the ledger core: records, chain, Merkle tree, sinks and queues
        "pxos_kernel.ledger": (
            "Ledger", "ATOM_ID", "CORRIDOR", "GENESIS_PREV", "check_record", "check_corridor", "record_hash",
            "leaf_hash", "node_hash", "merkle_root", "check_head_signature"),
        "pxos_kernel.jsonl_sink": ("JsonlSink",),
        "pxos_kernel.checkpoints": ("CheckpointQueue", "Checkpointer"),
    }.items()
    for name in names
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers see; tests/kernel/test_public_api.py keeps it equal to _EXPORTS
    from pxos_kernel.canonical import canonical_json, format_number
    from pxos_kernel.checkpoints import CheckpointQueue, Checkpointer
    from pxos_kernel.config import edit_config, load_config, load_yaml, save_config
    from pxos_kernel.core import Kernel
    from pxos_kernel.errors import (
        AgentError, BootError, ConfigError, ConflictError, FormatError, GuardrailError, InferenceError,
        IntegrityError, LedgerCorruptError, LedgerError, NetworkConsentError, NotFoundError, PluginError,
        ProgramError, PxosError, SandboxError, StorageError, UsageError, did_you_mean)
    from pxos_kernel.files import atomic_write, atomic_writer, file_sha256
    from pxos_kernel.hookspecs import hookimpl, hookspec
    from pxos_kernel.interfaces import (
        Agent, BootImage, BootRequest, Engine, GenerationChunk, GenerationRequest, ObjectInfo, Proposal,
        Readiness, Review, Sink, Storage, Task, Verdict, Violation)
    from pxos_kernel.jsonl_sink import JsonlSink
    from pxos_kernel.ledger import (
        ATOM_ID, CORRIDOR, GENESIS_PREV, Ledger, check_corridor, check_head_signature, check_record, leaf_hash,
        merkle_root, node_hash, record_hash)
    from pxos_kernel.output import add_json_flag, add_sandbox_flags, print_json, print_table, sandbox_flags
    from pxos_kernel.programcall import load_entry
    from pxos_kernel.progressbar import Progress, progress, progress_shown
    from pxos_kernel.redaction import redact_url
    from pxos_kernel.registrations import (
        AgentSpec, BootEmitter, Guardrail, InferenceEngine, Program, Setting, SinkSpec, StorageBackend,
        Subcommand, lazy)
    from pxos_kernel.run import RunResult
    from pxos_kernel.sandbox import (
        SandboxInterrupted, SandboxLimitError, SandboxLimits, SandboxOutcome, SandboxUnavailable)
    from pxos_kernel.system import booted_system, missing_module, python_command
    from pxos_kernel.versions import VersionRegistry, current_user


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pxos_kernel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
