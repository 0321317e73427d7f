"""Errors of the x86 boot emitter, all :class:`pxos_kernel.errors.BootError`."""

from __future__ import annotations

from pxos_kernel.errors import BootError


class AssemblyError(BootError):
    """A primitive source cannot be assembled; the message starts with ``FILE:LINE:``."""

    def __init__(self, filename: str, line: int, problem: str) -> None:
        super().__init__(f"{filename}:{line}: {problem}")
        self.filename = filename
        self.line = line
        self.problem = problem


class QemuNotFoundError(BootError):
    """``qemu-system-i386`` is not installed."""
