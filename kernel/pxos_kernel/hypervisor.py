"""The hypervisor (Genesis §4): run programs, describe the kernel, check it against Genesis.

A facade over the three modules that do each job, so that each reads on its own:
:mod:`pxos_kernel.run` (resolving and running programs, with their ledger
records), :mod:`pxos_kernel.introspect` (``inspect``) and
:mod:`pxos_kernel.genesis` (the guardrail report).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from pxos_kernel.registrations import Program
from pxos_kernel.run import RunResult

__all__ = ["Hypervisor", "RunResult"]


class Hypervisor:
    """Runs programs for one :class:`~pxos_kernel.core.Kernel`, describes it, and judges it."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def resolve(self, spec: str, cartridge: Optional[str] = None, *, import_now: bool = True) -> Program:
        """See :func:`pxos_kernel.run.resolve_program`."""
        from pxos_kernel.run import resolve_program

        return resolve_program(self.kernel, spec, cartridge, import_now=import_now)

    def run_program(self, spec: str, args: Sequence[str] = (), **options: Any) -> RunResult:
        """See :func:`pxos_kernel.run.run_program`."""
        from pxos_kernel.run import run_program

        return run_program(self.kernel, spec, args, **options)

    def run_command(self, argv: Sequence[str], **options: Any) -> RunResult:
        """See :func:`pxos_kernel.run.run_command`: run an untrusted command sandboxed, logged."""
        from pxos_kernel.run import run_command

        return run_command(self.kernel, argv, **options)

    def inspect_self(self, engines: bool = False) -> dict:
        """See :func:`pxos_kernel.introspect.inspect_self`."""
        from pxos_kernel.introspect import inspect_self

        return inspect_self(self.kernel, engines)

    def validate_genesis(self, subject: Any = None, context: Optional[dict] = None) -> dict:
        """See :func:`pxos_kernel.genesis.validate_genesis`."""
        from pxos_kernel.genesis import validate_genesis

        return validate_genesis(self.kernel, subject, context)
