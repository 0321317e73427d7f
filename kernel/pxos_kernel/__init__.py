"""pxOS kernel: hook specifications, plugin loading, the hypervisor and the ledger core.

The public API is imported lazily so that ``import pxos_kernel`` (done by every
sandboxed child and every plugin) stays cheap::

    from pxos_kernel import hookimpl, StorageBackend, Kernel
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "hookimpl": "pxos_kernel.hookspecs",
    "hookspec": "pxos_kernel.hookspecs",
    "Kernel": "pxos_kernel.core",
    "Ledger": "pxos_kernel.ledger",
    "RunResult": "pxos_kernel.run",
    "canonical_json": "pxos_kernel.canonical",
    "atomic_write": "pxos_kernel.files",
    "atomic_writer": "pxos_kernel.files",
    **{name: "pxos_kernel.registrations" for name in (
        "StorageBackend", "InferenceEngine", "CheckpointSink", "AgentSpec", "Guardrail", "BootEmitter",
        "Program", "Subcommand", "lazy")},
    **{name: "pxos_kernel.interfaces" for name in (
        "ObjectInfo", "GenerationRequest", "GenerationChunk", "Task", "Proposal", "Review", "Readiness",
        "Violation", "Verdict", "BootRequest", "BootImage")},
    **{name: "pxos_kernel.errors" for name in (
        "PxosError", "ConfigError", "PluginError", "ConflictError", "NotFoundError", "ProgramError",
        "SandboxError", "LedgerError", "LedgerCorruptError", "StorageError", "FormatError", "IntegrityError",
        "InferenceError", "AgentError", "NetworkConsentError", "GuardrailError", "BootError")},
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pxos_kernel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
