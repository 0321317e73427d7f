"""Errors of the x86 boot emitter, all :class:`pxos_kernel.errors.BootError`."""

from __future__ import annotations

from pxos_kernel import BootError


class AssemblyError(BootError):
    """A primitive source cannot be assembled; the message starts with ``FILE:LINE:``.

    ``line`` 0 means the whole file (it could not be read); the message then starts with ``FILE:``.
    """

    def __init__(self, filename: str, line: int, problem: str) -> None:
        super().__init__(f"{filename}:{line}: {problem}" if line else f"{filename}: {problem}")
        self.filename = filename
        self.line = line
        self.problem = problem


class QemuNotFoundError(BootError):
    """``qemu-system-i386`` is not installed."""
